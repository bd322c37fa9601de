"""Recognising speech in call recordings with Whisper, offline.

`make_transcriber(options)` loads the model once; `Transcriber.transcribe(path, call)`
decodes the recording (qa.audio), measures voice activity per channel, recognises each
channel in windows of at most `window_s` seconds (5 minutes) cut at pauses (so an hour-long file is
never handed to the recogniser whole), and returns an `AudioTranscription`: a
`qa.model.Transcript` with roles, Simplified `text`, the engine's `raw_text` and word
timestamps, and the `VoiceActivity` the silence and overlap checks use.

Engines: `faster-whisper` (default; CTranslate2, `FasterWhisperTranscriber`) and
`openai-whisper` (optional, PyTorch, `qa.openai_engine`); both run `WhisperPipeline`,
so roles, times and text are made the same way and only the recogniser differs.

Roles: on a 2-channel recording the channel is the role (`agent_channel`, default left);
on a mono recording `qa.roles.mono_roles` decides from what is said, else `unknown`.

Decoding settings were chosen by measurement on the human-labelled Mandarin clips
(bench/asr.py): float32 beam 5 gave a lower character error rate than int8; batched
decoding of pause-cut chunks (faster-whisper) took a quarter less CPU than 30 s windows
decoded in turn, with the same CER on the clips and a lower one over a 3-minute call;
recognising the two channels at once on two single-threaded workers took the same CPU
as one worker with two threads, so there is one worker; a single temperature (no fallback: the
fallback stalled for 20 s on short bad clips); no conditioning on the previous window's
text (it carries a hallucination on); no initial prompt ever (Whisper copies a prompt
into the transcript, and a QA tool would then pass a call where nobody said the phrase);
with language auto, the language asked of Whisper once per call rather than once per
window and repair pass (each asking is a 30 s encoder pass), and with faster-whisper
asked of the first decoder batch's encoder output, so it costs no encoder pass at all;
the chunks of both channels' windows decoded in shared batches (a 3-minute call: one
batch of 7 rather than 4 and 3), which gives the same segments.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.audio import SAMPLE_RATE, DecodedAudio, VadSettings, decode, file_sha256, speech_intervals, voice_activity
from qa.checks import Interval, VoiceActivity
from qa.errors import AudioError, QAError
from qa.model import Call, Segment, Transcript, Word
from qa.roles import mono_roles
from qa.text import detect_language, to_display
from qa.weights import ResolvedModel, prepare_engine_environment, resolve_model

__all__ = ["TranscribeOptions", "Transcriber", "AudioTranscription", "make_transcriber",
           "FasterWhisperTranscriber", "FirstBatchLanguage", "WhisperPipeline", "batch_within_budget", "encoder_piece", "RecognisedSegment", "recognition_windows", "align_to_speech", "missed_speech", "spans_a_pause", "LANGUAGES", "ENGINES"]

LANGUAGES = ("auto", "zh", "en")
ENGINES = ("faster-whisper", "openai-whisper")
COMPUTE_TYPES = ("float32", "int8", "int8_float32", "int16")


@dataclass(frozen=True)
class TranscribeOptions:
    engine: str = "faster-whisper"
    # faster-whisper: a CTranslate2 Whisper directory, None: the installed weight package;
    # openai-whisper: a .pt checkpoint file (qa convert-weights makes one).
    model: str | None = None
    language: str = "auto"            # auto | zh | en
    agent_channel: str = "left"       # which channel of a 2-channel recording is the agent
    compute_type: str = "float32"
    beam_size: int = 5
    threads: int = 0                  # threads per recognition worker; 0: the engine's default
    # Channels recognised at once (faster-whisper: CTranslate2 workers sharing one model).
    workers: int = 1
    # faster-whisper: >0 recognises a window's speech in chunks of up to 30 s cut at pauses,
    # this many at once (its BatchedInferencePipeline); 0: 30 s windows one after another.
    # Batched measured 21-28% less CPU on a 187 s call, the same CER on the clips and a
    # lower CER over the call (chunks end in pauses, not mid-word).
    batch_size: int = 8
    window_s: float = 300.0           # longest stretch of audio handed to Whisper at once
    # faster-whisper batched: fewer chunks are decoded at once when the resident memory
    # would otherwise pass this many MB (the decoder takes about 41 MB per chunk at beam
    # 5); 0: always batch_size.
    memory_budget_mb: int = 950
    # Audio kept around the recogniser's own speech cuts: 800 ms keeps a short first word
    # (the 好 that opens a sentence) that 400 ms clipped on the labelled clips.
    speech_pad_ms: int = 800
    # With language auto: "call" asks Whisper once per call, from up to 30 s of the speech
    # of the channel that speaks most, and recognises every window in that language (one
    # encoder pass per call); "window" lets the engine detect it again for every window
    # and repair pass (an extra encoder pass each; the earlier behaviour, kept to measure);
    # "batch" (faster-whisper, joint batching; elsewhere the same as "call") asks once per
    # call from the longest chunk of the first decoder batch, on the encoder output that
    # batch computes anyway (no encoder pass of its own).
    language_detection: str = "batch"
    # faster-whisper batched: "joint" decodes the chunks of every window of both channels
    # in shared batches on recordings up to `window_s` long (a 3-minute call: one batch of 7 rather than 4 and 3, fewer decoder
    # steps at a lower cost per step); "separate": each window's chunks on their own.
    channel_batching: str = "joint"
    vad: VadSettings = field(default_factory=VadSettings)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise QAError(f"unknown engine {self.engine!r} (expected one of {', '.join(ENGINES)})")
        if self.language not in LANGUAGES:
            raise QAError(f"unknown language {self.language!r} (expected auto, zh or en)")
        if self.agent_channel not in ("left", "right"):
            raise QAError(f"agent channel must be left or right, not {self.agent_channel!r}")
        if self.compute_type not in COMPUTE_TYPES:
            raise QAError(f"unknown compute type {self.compute_type!r} "
                          f"(expected one of {', '.join(COMPUTE_TYPES)})")
        if self.language_detection not in ("call", "window", "batch"):
            raise QAError(f"language detection must be call, window or batch, not "
                          f"{self.language_detection!r}")
        if self.channel_batching not in ("joint", "separate"):
            raise QAError(f"channel batching must be joint or separate, not "
                          f"{self.channel_batching!r}")
        if self.beam_size < 1:
            raise QAError("beam size must be at least 1")
        if self.workers < 1 or self.threads < 0 or self.batch_size < 0:
            raise QAError("workers must be at least 1 and threads at least 0")


@dataclass(frozen=True)
class AudioTranscription:
    transcript: Transcript
    voice: VoiceActivity | None  # per-role speech from the audio; None for mono recordings


class Transcriber(Protocol):
    engine_id: str

    def transcribe(self, path: str | Path, call: Call | None = None) -> AudioTranscription:
        """Transcribe one recording; raises AudioError (a QAError) on bad input."""
        ...


def make_transcriber(options: TranscribeOptions = TranscribeOptions()) -> Transcriber:
    """Load the engine and model once; the transcriber is reused for many files.
    faster-whisper (default) takes a CTranslate2 directory or the installed weight
    package; openai-whisper (qa.openai_engine) a `.pt` checkpoint file, `options.model`.
    Raises WeightsError when no model is found, QAError when the engine is not
    installed (both say what to install or pass)."""
    if options.engine == "openai-whisper":
        from qa.openai_engine import OpenAIWhisperTranscriber

        return OpenAIWhisperTranscriber(options)
    return FasterWhisperTranscriber(options)


def recognition_windows(intervals: tuple[Interval, ...], duration: float, window_s: float,
                        pad_s: float = 0.5) -> list[tuple[float, float]]:
    """(start, end) stretches covering the speech intervals, each at most `window_s` long
    where possible, cut in pauses between intervals (an interval longer than a window is
    cut hard)."""
    windows: list[tuple[float, float]] = []
    start = end = None
    for iv in intervals:
        s, e = max(0.0, iv.start - pad_s), min(duration, iv.end + pad_s)
        if start is None:
            start, end = s, e
        elif e - start <= window_s:
            end = max(end, e)
        else:
            windows.append((start, end))
            start, end = max(s, end), e
        while end - start > window_s:
            windows.append((start, start + window_s))
            start += window_s
    if start is not None:
        windows.append((start, end))
    return windows


def snap_to_speech(start: float, end: float,
                   intervals: tuple[Interval, ...]) -> tuple[float, float]:
    """A segment's times narrowed to the voice activity it overlaps: Whisper's first word
    often starts at the beginning of its window, where the VAD heard nobody yet."""
    overlapping = [iv for iv in intervals if iv.end > start and iv.start < end]
    if not overlapping:
        return start, end
    snapped = max(start, overlapping[0].start), min(end, overlapping[-1].end)
    return snapped if snapped[0] < snapped[1] else (start, end)


def align_to_speech(times: list[tuple[float, float]],
                    intervals: tuple[Interval, ...]) -> list[tuple[float, float]]:
    """One channel's segment times (in order) fitted to its voice activity: narrowed to
    the speech they overlap, then widened to the edges of the speech interval they start
    and end in, unless a neighbouring segment lies in that interval too. The VAD places
    the edges of speech better than Whisper's word timing, which ends words early."""
    narrowed = [snap_to_speech(s, e, intervals) for s, e in times]
    fitted = []
    for i, (start, end) in enumerate(narrowed):
        prev_end = narrowed[i - 1][1] if i else None
        next_start = narrowed[i + 1][0] if i + 1 < len(narrowed) else None
        for iv in intervals:
            if iv.start <= start <= iv.end and (prev_end is None or prev_end <= iv.start):
                start = iv.start
            if iv.start <= end <= iv.end and (next_start is None or next_start >= iv.end):
                end = iv.end
        fitted.append((start, end))
    return fitted


def missed_speech(intervals: tuple[Interval, ...], segments: list[tuple[float, float]],
                  min_s: float = 0.4, covered_share: float = 0.3) -> list[Interval]:
    """Speech intervals of at least `min_s` that recognised segments cover less than
    `covered_share` of."""
    missed = []
    for iv in intervals:
        length = iv.end - iv.start
        if length < min_s:
            continue
        covered = sum(max(0.0, min(iv.end, e) - max(iv.start, s)) for s, e in segments)
        if covered < covered_share * length:
            missed.append(iv)
    return missed


def spans_a_pause(start: float, end: float, intervals: tuple[Interval, ...],
                  max_pause_s: float = 2.0) -> bool:
    """Whether a segment runs across a pause of `max_pause_s` or more between two speech
    intervals (one sentence does not; a misaligned one does)."""
    inside = [iv for iv in intervals if iv.end > start and iv.start < end]
    return any(b.start - a.end >= max_pause_s for a, b in zip(inside, inside[1:]))


def _confidence(avg_logprob: float) -> float:
    return round(min(1.0, max(0.0, math.exp(avg_logprob))), 3)


@dataclass
class FirstBatchLanguage:
    """The call's language, decided by the engine from the first batch it decodes
    (`language_detection="batch"`); `code` is None until then, and every later window
    and repair pass is recognised in it."""

    code: str | None = None


@dataclass(frozen=True)
class RecognisedSegment:
    """What an engine heard in a stretch of audio, times relative to its start."""

    start: float
    end: float
    text: str
    avg_logprob: float
    words: tuple[tuple[float, float, str, float], ...]  # (start, end, word, probability)


class WhisperPipeline:
    """What both engines share: decoding, voice activity, windows cut at pauses, the
    repair passes, roles and the transcript. An engine supplies `engine_id` and
    `_decode(samples, language)`, which recognises one window of 16 kHz float samples, dropping
    the stretches the recogniser's own VAD finds silent (speech padded by
    `speech_pad_ms`), in the language given (None: the engine detects it), and returns
    segments timed from the window's start; and `_language_probabilities(samples)`."""

    options: TranscribeOptions
    engine_id: str
    model_label: str

    def _decode(self, samples: np.ndarray, language: str | None) -> list[RecognisedSegment]:
        raise NotImplementedError

    def _language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        """Whisper's probability of each language code for up to 30 s of 16 kHz speech."""
        raise NotImplementedError

    def _call_language(self, audio: DecodedAudio,
                       intervals: list[tuple[Interval, ...]]) -> str | None:
        """The language every window is recognised in: the one asked for; with auto and
        `language_detection="call"`, the likelier of zh and en (the languages callqa
        checks) in Whisper's reading of the first 30 s of speech of the channel that
        speaks most; None (the engine detects per window) with `"window"`."""
        if self.options.language != "auto":
            return self.options.language
        if self.options.language_detection == "window":
            return None
        channel = max(range(len(intervals)),
                      key=lambda ch: sum(iv.end - iv.start for iv in intervals[ch]))
        pieces, total = [], 0.0
        for iv in intervals[channel]:
            if total >= 30.0:
                break
            pieces.append(audio.window(channel, iv.start, min(iv.end, iv.start + 30.0 - total)))
            total += pieces[-1].size / SAMPLE_RATE
        if not pieces:
            return None
        probabilities = self._language_probabilities(np.concatenate(pieces))
        return max(("zh", "en"), key=lambda code: probabilities.get(code, 0.0))

    def _workers(self) -> int:
        """How many channels this engine recognises at once."""
        return 1

    def transcribe(self, path: str | Path, call: Call | None = None) -> AudioTranscription:
        path = Path(path)
        with decode(path) as audio:  # its temporary sample files closed when done
            return self._transcribe(path, audio, call)

    def _transcribe(self, path: Path, audio: DecodedAudio, call: Call | None) -> AudioTranscription:
        stereo = audio.channel_count == 2
        agent_index = 0 if self.options.agent_channel == "left" else 1
        channels = range(audio.channel_count)
        speakers = [("agent" if ch == agent_index else "customer") if stereo else "unknown"
                    for ch in channels]
        with ThreadPoolExecutor(max_workers=self._workers()) as pool:
            intervals = list(pool.map(
                lambda ch: speech_intervals(audio, ch, self.options.vad), channels))
            language = self._call_language(audio, intervals)
            if _joint(self.options, audio):
                segments = self._recognise(audio, list(channels), intervals, speakers, language)
            else:
                recognised = pool.map(lambda ch: self._recognise(
                    audio, [ch], intervals, speakers, language), channels)
                segments = [s for channel_segments in recognised for s in channel_segments]
        if not segments:
            raise AudioError(str(path), "", f"no speech recognised in {audio.duration:.1f} s "
                                            f"of audio")
        segments.sort(key=lambda s: (s.start, s.end))
        call = self._call(path, audio, call)
        if not stereo:
            roles = mono_roles([s.text for s in segments], call.organisation)
            segments = [replace(s, speaker=r) for s, r in zip(segments, roles)]  # type: ignore[arg-type]
        voice = (voice_activity(intervals[agent_index], intervals[1 - agent_index], audio.duration)
                 if stereo else None)
        language = (self.options.language if self.options.language != "auto"
                    else detect_language(" ".join(s.text for s in segments)))
        transcript = Transcript(
            call_id=call.call_id, language=language, segments=tuple(segments), call=call,
            engine=self.engine_id, model=self.model_label,
            extra={"audio": {"channels": audio.channel_count, "source_rate": audio.source_rate,
                             "codec": audio.codec, "duration_s": round(audio.duration, 3),
                             "agent_channel": self.options.agent_channel if stereo else None,
                             "roles": "channel" if stereo else "mono-cues"},
                   "voice_activity": _voice_dict(voice, intervals[0] if not stereo else ())})
        return AudioTranscription(transcript, voice)

    def _call(self, path: Path, audio: DecodedAudio, call: Call | None) -> Call:
        call = call or Call(call_id=path.stem)
        return replace(call, audio_path=call.audio_path or str(path),
                       audio_sha256=call.audio_sha256 or file_sha256(path),
                       duration_s=call.duration_s or round(audio.duration, 3))

    def _recognise(self, audio: DecodedAudio, channels: list[int],
                   intervals: list[tuple[Interval, ...]], speakers: list[str],
                   language: str | None) -> list[Segment]:
        """The speech of `channels`, recognised together: their windows in order of time,
        so an engine can decode the chunks of both channels in the same batches."""
        windows = sorted((start, ch, end) for ch in channels for start, end in
                         recognition_windows(intervals[ch], audio.duration, self.options.window_s))
        found: dict[int, list[Segment]] = {ch: [] for ch in channels}
        for (_start, ch, _end), segments in zip(windows, self._recognise_windows(
                audio, windows, speakers, language)):
            found[ch].extend(segments)
        # Whisper sometimes skips a sentence of the speech it is given; the segment after
        # it then has its words aligned back across the pause. Such segments are dropped,
        # and speech the VAD heard that no remaining segment covers is recognised again on
        # its own.
        repairs = []
        for ch in channels:
            found[ch] = [s for s in found[ch] if not spans_a_pause(s.start, s.end, intervals[ch])]
            repairs.extend((max(0.0, iv.start - 0.3), ch, min(audio.duration, iv.end + 0.3))
                           for iv in missed_speech(intervals[ch],
                                                   [(s.start, s.end) for s in found[ch]]))
        repairs.sort()
        for (_start, ch, _end), segments in zip(repairs, self._recognise_windows(
                audio, repairs, speakers, language)):
            found[ch].extend(segments)
        fitted_segments = []
        for ch in channels:
            recognised = sorted(found[ch], key=lambda s: s.start)
            fitted = align_to_speech([(s.start, s.end) for s in recognised], intervals[ch])
            fitted_segments.extend(replace(s, start=a, end=max(a, b))
                                   for s, (a, b) in zip(recognised, fitted))
        return fitted_segments

    def _recognise_windows(self, audio: DecodedAudio, windows: list[tuple[float, int, float]],
                           speakers: list[str], language: str | None) -> list[list[Segment]]:
        """The segments of each (start, channel, end) window, in order; the samples of a
        window are cut from the audio only when the engine asks for them."""
        samples = (audio.window(ch, start, end) for start, ch, end in windows)
        decoded = self._decode_windows(samples, language, shared=_joint(self.options, audio))
        return [self._segments(found, start, speakers[ch])
                for (start, ch, _end), found in zip(windows, decoded)]

    def _decode_windows(self, windows: Iterable[np.ndarray], language: str | None,
                        shared: bool = False) -> Iterator[list[RecognisedSegment]]:
        """`_decode` of each window in turn; an engine that batches across windows
        overrides this (`shared`: it may)."""
        for samples in windows:
            yield self._decode(samples, language)

    @staticmethod
    def _segments(found: list[RecognisedSegment], start: float, speaker: str) -> list[Segment]:
        """What an engine heard in a window starting at `start`, as transcript segments."""
        segments = []
        for seg in found:
            raw = seg.text.strip()
            if not raw:
                continue
            words = tuple(Word(_seconds(start + ws), _seconds(start + we), word, _seconds(p))
                          for ws, we, word, p in seg.words)
            segments.append(Segment(
                start=words[0].start if words else _seconds(start + seg.start),
                end=words[-1].end if words else _seconds(start + seg.end),
                speaker=speaker,  # type: ignore[arg-type]
                text=to_display(raw), raw_text=raw,
                confidence=_confidence(seg.avg_logprob), words=words))
        return segments


class FasterWhisperTranscriber(WhisperPipeline):
    """Whisper through faster-whisper (CTranslate2 on CPU), from local weights only."""

    def __init__(self, options: TranscribeOptions = TranscribeOptions()):
        self.options = options
        self.model_info: ResolvedModel = resolve_model(options.model)
        self.model_label = self.model_info.label
        prepare_engine_environment()
        import ctranslate2
        import faster_whisper

        try:
            self._model = _piecewise_encoder_model()(str(self.model_info.path), device="cpu",
                                       compute_type=options.compute_type,
                                       cpu_threads=options.threads, num_workers=options.workers,
                                       local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise QAError(f"{self.model_info.path}: cannot load the Whisper model ({exc})") from None
        self._model.memory_budget_mb = options.memory_budget_mb
        self.engine_id = (f"faster-whisper {faster_whisper.__version__} (ctranslate2 "
                          f"{ctranslate2.__version__}) {self.model_info.label} "
                          f"{options.compute_type} beam {options.beam_size}"
                          + (f" batched {options.batch_size}" if options.batch_size else ""))

    def _workers(self) -> int:
        return self.options.workers

    def _call_language(self, audio: DecodedAudio,
                       intervals: list[tuple[Interval, ...]]) -> str | FirstBatchLanguage | None:
        opts = self.options
        if (opts.language == "auto" and opts.language_detection == "batch" and opts.batch_size
                and _joint(opts, audio)):
            return FirstBatchLanguage() if self._model.model.is_multilingual else "en"
        return super()._call_language(audio, intervals)

    def _language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        if not self._model.model.is_multilingual:
            return {"en": 1.0}
        _language, _probability, probabilities = self._model.detect_language(audio=samples)
        release_freed_memory()
        return dict(probabilities)

    def _batched_arguments(self, language: str | None) -> dict:
        opts = self.options
        return dict(language=language, beam_size=opts.beam_size, temperature=0.0,
                    vad_filter=True, vad_parameters={"speech_pad_ms": opts.speech_pad_ms},
                    word_timestamps=True, without_timestamps=False, initial_prompt=None)

    def _decode(self, samples: np.ndarray, language: str | None) -> list[RecognisedSegment]:
        opts = self.options
        if opts.batch_size:
            from faster_whisper import BatchedInferencePipeline

            found, _info = BatchedInferencePipeline(self._model).transcribe(
                samples, **self._batched_arguments(language),
                batch_size=batch_within_budget(opts.batch_size, opts.memory_budget_mb,
                                               resident_mb()))
        else:
            found, _info = self._model.transcribe(
                samples, language=language,
                beam_size=opts.beam_size, temperature=0.0, condition_on_previous_text=False,
                vad_filter=True, vad_parameters={"speech_pad_ms": opts.speech_pad_ms},
                word_timestamps=True, initial_prompt=None)
        recognised = _recognised_segments(found)
        release_freed_memory()
        return recognised

    def _decode_windows(self, windows: Iterable[np.ndarray], language: str | None,
                        shared: bool = False) -> Iterator[list[RecognisedSegment]]:
        """With batching and `shared` (`channel_batching="joint"`, a short recording): each window's speech in chunks
        of up to 30 s cut at pauses (as `_decode`), the chunks of consecutive windows
        (both channels, in order of time) decoded in shared batches of up to
        `batch_size` (fewer when the memory budget says so); a window's segments are
        given as soon as all its chunks are decoded. Per chunk the same as `_decode`:
        each chunk is encoded and beam-searched on its own, and word timing carries on
        only within a window."""
        opts = self.options
        if not opts.batch_size or not shared:
            yield from super()._decode_windows(windows, language)
            return
        pipeline = _window_batching_pipeline()(self._model)
        choice = language if isinstance(language, FirstBatchLanguage) else None
        # before the first batch decides the language, windows are prepared in zh and
        # given the decided language's tokenizer when it is known
        arguments = self._batched_arguments((choice.code or "zh") if choice else language)
        waiting: deque = deque()   # windows whose segments are not yet given, in order
        pending: deque = deque()   # (window, chunk index) not yet decoded, in order

        def decode_batch() -> None:
            size = batch_within_budget(opts.batch_size, opts.memory_budget_mb, resident_mb())
            key = pending[0][0].key
            batch = []
            while pending and len(batch) < size and pending[0][0].key == key:
                batch.append(pending.popleft())
            if choice is not None and choice.code is None:
                choice.code = arguments["language"] = pipeline.detect_language(batch)
                for window in waiting:
                    window.set_tokenizer(pipeline.tokenizer(choice.code))
            pipeline.decode(batch)

        def finished() -> Iterator[list[RecognisedSegment]]:
            while waiting and waiting[0].complete:
                yield _recognised_segments(waiting.popleft().segments)

        for samples in windows:
            window = pipeline.prepare(samples, arguments, opts.batch_size)
            del samples
            waiting.append(window)
            pending.extend((window, i) for i in range(window.size))
            while len(pending) >= opts.batch_size:
                decode_batch()
            yield from finished()
        while pending:
            decode_batch()
            yield from finished()
        yield from finished()


def _joint(options: TranscribeOptions, audio: DecodedAudio) -> bool:
    """Whether both channels' windows share decoder batches: with `channel_batching`
    joint, on recordings of one window (5 minutes) or less. Longer ones decode each
    window on its own: shared full batches of 8 took the 10-minute dense recording to
    1,141 MB (894 MB separate)."""
    return options.channel_batching == "joint" and audio.duration <= options.window_s


def _recognised_segments(found) -> list[RecognisedSegment]:
    return [RecognisedSegment(seg.start, seg.end, seg.text, seg.avg_logprob,
                              tuple((w.start, w.end, w.word, w.probability)
                                    for w in seg.words or ()))
            for seg in found]


class _PreparedWindow:
    """A window's chunks as faster-whisper's batched pipeline prepares them (mel
    features, tokenizer, options), their decoded output as batches fill it in, and the
    window's segments (a lazy generator over that output, times restored to the window)."""

    def __init__(self, features, tokenizer, chunks_metadata: list[dict], options):
        self.features = features
        self.size = len(features)
        self.set_tokenizer(tokenizer)
        self.chunks_metadata = chunks_metadata
        self.options = options
        self.outputs: list[list[dict] | None] = [None] * self.size
        self.decoded = 0
        self.last_speech_timestamp = 0.0
        self.segments = None

    def set_tokenizer(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.key = tokenizer.language_code  # chunks in one batch share the prompt

    @property
    def complete(self) -> bool:
        return self.decoded == self.size

    def generated(self):
        """The segments of the decoded chunks, as BatchedInferencePipeline yields them."""
        from faster_whisper.transcribe import Segment as FasterSegment, Word as FasterWord

        options, seg_idx = self.options, 0
        for result in self.outputs:
            for segment in result or ():
                seg_idx += 1
                yield FasterSegment(
                    seek=segment["seek"], id=seg_idx, text=segment["text"],
                    start=round(segment["start"], 3), end=round(segment["end"], 3),
                    words=(None if not options.word_timestamps
                           else [FasterWord(**word) for word in segment["words"]]),
                    tokens=segment["tokens"], avg_logprob=segment["avg_logprob"],
                    no_speech_prob=segment["no_speech_prob"],
                    compression_ratio=segment["compression_ratio"],
                    temperature=options.temperatures[0])


@functools.cache
def _window_batching_pipeline():
    """faster-whisper's BatchedInferencePipeline split in two: `prepare` does what its
    `transcribe` does before decoding (VAD, chunks, features, tokenizer, options) for one
    window, and `decode` decodes chunks of several windows in one batch: one encoder
    pass and one beam search for the batch, one word alignment, then each window's word
    timing finished on its own (faster-whisper carries the last speech time from chunk
    to chunk; that stays within a window)."""
    from dataclasses import replace as replace_options
    from math import ceil

    import ctranslate2
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.tokenizer import Tokenizer

    class WindowBatchingPipeline(BatchedInferencePipeline):
        _prepared: _PreparedWindow | None = None
        _encoder_output = None

        def prepare(self, samples: np.ndarray, arguments: dict, batch_size: int) -> _PreparedWindow:
            segments, _info = self.transcribe(samples, **arguments, batch_size=batch_size)
            window, self._prepared = self._prepared, None
            window.segments = segments
            return window

        def _batched_segments_generator(self, features, tokenizer, chunks_metadata,
                                        batch_size, options, log_progress):
            self._prepared = _PreparedWindow(features, tokenizer, chunks_metadata, options)
            return self._prepared.generated()

        def generate_segment_batched(self, features, tokenizer, options):
            self._encoder_output, output = super().generate_segment_batched(
                features, tokenizer, options)
            return self._encoder_output, output

        def tokenizer(self, language: str):
            return Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                             task="transcribe", language=language)

        def detect_language(self, batch: list[tuple[_PreparedWindow, int]]) -> str:
            """The likelier of zh and en in Whisper's reading of the batch's longest chunk;
            the batch's encoder output is kept for `decode`."""
            encoded = self.model.encode(np.stack([w.features[i] for w, i in batch]))
            longest = max(range(len(batch)),
                          key=lambda k: batch[k][0].chunks_metadata[batch[k][1]]["duration"])
            row = np.ascontiguousarray(np.asarray(encoded)[longest:longest + 1])
            found = self.model.model.detect_language(ctranslate2.StorageView.from_array(row))
            probabilities = {token[2:-2]: p for token, p in found[0]}
            self.model.next_encoding = encoded
            return max(("zh", "en"), key=lambda code: probabilities.get(code, 0.0))

        def decode(self, batch: list[tuple[_PreparedWindow, int]]) -> None:
            first = batch[0][0]
            tokenizer, options = first.tokenizer, first.options
            metadata = [w.chunks_metadata[i] for w, i in batch]
            outputs = self.forward(np.stack([w.features[i] for w, i in batch]), tokenizer,
                                   metadata, replace_options(options, word_timestamps=False))
            encoder_output, self._encoder_output = self._encoder_output, None
            if options.word_timestamps:
                sizes = [int(ceil(m["duration"]) * self.model.frames_per_second)
                         for m in metadata]
                alignments = self.model.find_alignment(
                    tokenizer, [[t for sub in out for t in sub["tokens"] if t < tokenizer.eot]
                                for out in outputs], encoder_output, sizes)
                for window in dict.fromkeys(w for w, _i in batch):
                    mine = [k for k, (w, _i) in enumerate(batch) if w is window]
                    self.model.precomputed_alignments = [alignments[k] for k in mine]
                    window.last_speech_timestamp = self.model.add_word_timestamps(
                        [outputs[k] for k in mine], tokenizer, encoder_output,
                        [sizes[k] for k in mine], options.prepend_punctuations,
                        options.append_punctuations, window.last_speech_timestamp)
            for (window, i), output in zip(batch, outputs):
                window.outputs[i] = output
                window.decoded += 1
                if window.complete:
                    window.features = None

    return WindowBatchingPipeline


@functools.cache
def _piecewise_encoder_model():
    """faster-whisper's WhisperModel whose encoder takes a batch of windows in pieces
    (`encoder_piece`), with the memory freed by the encoder given back before the
    decoder runs and that of the beam search before the word alignment. The encoder's
    self-attention holds 8 heads x 1500 x 1500 float32 scores per 30 s window (72 MB,
    about 125 MB with the rest of its activations), so a batch of 8 took 750-790 MB on
    top of the model (bench/asr_memory.py); each window is encoded on its own either
    way, so the output is bit-identical."""
    import ctranslate2
    from faster_whisper import WhisperModel

    class PiecewiseEncoderModel(WhisperModel):
        memory_budget_mb = 0
        # an encoding already made of the features the next encode is given (the first
        # batch's, made to detect the language: _window_batching_pipeline)
        next_encoding: ctranslate2.StorageView | None = None

        def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
            if self.next_encoding is not None:
                encoded, self.next_encoding = self.next_encoding, None
                return encoded
            piece = encoder_piece(self.memory_budget_mb, resident_mb())
            if features.ndim < 3 or features.shape[0] <= piece:
                return super().encode(features)
            pieces = [np.asarray(super(PiecewiseEncoderModel, self).encode(
                          np.ascontiguousarray(features[i:i + piece])))
                      for i in range(0, features.shape[0], piece)]
            encoded = ctranslate2.StorageView.from_array(np.concatenate(pieces))
            release_freed_memory()  # the encoder's activations, before the decoder's
            return encoded

        # alignments found for a batch of several windows (_window_batching_pipeline),
        # handed to add_word_timestamps of each window's share
        precomputed_alignments: list | None = None

        def find_alignment(self, *args, **kwargs):
            if self.precomputed_alignments is not None:
                found, self.precomputed_alignments = self.precomputed_alignments, None
                return found
            release_freed_memory()  # the beam search's, before the word alignment's
            return super().find_alignment(*args, **kwargs)

    return PiecewiseEncoderModel


# Resident memory the encoder takes per 30 s window encoded at once, and the decoder per
# chunk decoded at once and besides (Whisper base, float32, beam 5; bench/asr_memory.py:
# encoder pieces of 1 / 2 / 8 windows 130 / 250 / 760 MB, decoder batches of 2 / 4 / 8
# chunks 122 / 204 / 333 MB over what was resident before).
ENCODER_MB_PER_WINDOW = 125
DECODER_MB_PER_CHUNK = 41
DECODER_MB_FIXED = 60


def encoder_piece(budget_mb: int, resident: float | None) -> int:
    """Windows to encode at once: 2 while they fit in the memory budget, else 1 (the CPU
    is the same within noise: 8 windows took 18-21 CPU s in pieces of 8, 18-24 in
    pieces of 1 or 2 at load 7)."""
    if resident is None or budget_mb <= 0:
        return 2
    return 2 if resident + 2 * ENCODER_MB_PER_WINDOW <= budget_mb else 1


def batch_within_budget(batch_size: int, budget_mb: int, resident: float | None) -> int:
    """How many chunks to decode at once so the process stays within `budget_mb` of
    resident memory: `batch_size` while it fits, fewer (at least 1) when what is
    resident already (`resident`, MB; None: unknown) leaves less room (what the model,
    the window being recognised and the allocator keep; the samples are on disk)."""
    if resident is None or budget_mb <= 0:
        return batch_size
    room = budget_mb - resident - DECODER_MB_FIXED
    return max(1, min(batch_size, int(room // DECODER_MB_PER_CHUNK)))


def resident_mb() -> float | None:
    """This process's resident memory (VmRSS, MB) after giving freed memory back; None
    where /proc is not there."""
    release_freed_memory()
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def release_freed_memory() -> None:
    """Give memory the allocator holds freed back to the system (glibc `malloc_trim`).
    Between windows, freed activations of the encoder, decoder and VAD stay in glibc's
    heaps and arenas: on 10 minutes of dense speech 220 MB of the resident memory was
    such memory (bench/asr_memory.py --trim). Does nothing where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _seconds(value: float) -> float:
    return round(float(value), 3)


def _voice_dict(voice: VoiceActivity | None, mono: tuple[Interval, ...]) -> dict:
    """Voice activity as JSON (kept in the transcript so scoring a saved transcript can
    use the audio's silences): per role for 2-channel audio, one list for mono."""
    def spans(ivs):
        return [[iv.start, iv.end] for iv in ivs]
    if voice is not None:
        return {"agent": spans(voice.agent), "customer": spans(voice.customer),
                "duration": voice.duration}
    return {"speech": spans(mono)}
