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
window and repair pass (each asking is a 30 s encoder pass).
"""

from __future__ import annotations

import functools
import math
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
           "FasterWhisperTranscriber", "WhisperPipeline", "batch_within_budget", "encoder_piece", "RecognisedSegment", "recognition_windows", "align_to_speech", "missed_speech", "spans_a_pause", "LANGUAGES", "ENGINES"]

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
    # and repair pass (an extra encoder pass each; the earlier behaviour, kept to measure).
    language_detection: str = "call"
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
        if self.language_detection not in ("call", "window"):
            raise QAError(f"language detection must be call or window, not "
                          f"{self.language_detection!r}")
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
        audio = decode(path)
        stereo = audio.channel_count == 2
        agent_index = 0 if self.options.agent_channel == "left" else 1
        channels = range(audio.channel_count)
        with ThreadPoolExecutor(max_workers=self._workers()) as pool:
            intervals = list(pool.map(
                lambda ch: speech_intervals(audio, ch, self.options.vad), channels))
            language = self._call_language(audio, intervals)
            recognised = pool.map(lambda ch: self._recognise(
                audio, ch, intervals[ch],
                ("agent" if ch == agent_index else "customer") if stereo else "unknown",
                language), channels)
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

    def _recognise(self, audio: DecodedAudio, channel: int, intervals: tuple[Interval, ...],
                   speaker: str, language: str | None) -> list[Segment]:
        recognised: list[Segment] = []
        for start, end in recognition_windows(intervals, audio.duration, self.options.window_s):
            recognised.extend(self._recognise_window(audio, channel, start, end, speaker,
                                                     language))
        # Whisper sometimes skips a sentence of the speech it is given; the segment after
        # it then has its words aligned back across the pause. Such segments are dropped,
        # and speech the VAD heard that no remaining segment covers is recognised again on
        # its own.
        recognised = [s for s in recognised if not spans_a_pause(s.start, s.end, intervals)]
        for iv in missed_speech(intervals, [(s.start, s.end) for s in recognised]):
            recognised.extend(self._recognise_window(audio, channel, max(0.0, iv.start - 0.3),
                                                     min(audio.duration, iv.end + 0.3), speaker,
                                                     language))
        recognised.sort(key=lambda s: s.start)
        fitted = align_to_speech([(s.start, s.end) for s in recognised], intervals)
        return [replace(s, start=a, end=max(a, b)) for s, (a, b) in zip(recognised, fitted)]

    def _recognise_window(self, audio: DecodedAudio, channel: int, start: float, end: float,
                          speaker: str, language: str | None) -> list[Segment]:
        segments = []
        for seg in self._decode(audio.window(channel, start, end), language):
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

    def _language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        if not self._model.model.is_multilingual:
            return {"en": 1.0}
        _language, _probability, probabilities = self._model.detect_language(audio=samples)
        release_freed_memory()
        return dict(probabilities)

    def _decode(self, samples: np.ndarray, language: str | None) -> list[RecognisedSegment]:
        opts = self.options
        if opts.batch_size:
            from faster_whisper import BatchedInferencePipeline

            found, _info = BatchedInferencePipeline(self._model).transcribe(
                samples, language=language, beam_size=opts.beam_size, temperature=0.0,
                vad_filter=True, vad_parameters={"speech_pad_ms": opts.speech_pad_ms},
                word_timestamps=True, without_timestamps=False, initial_prompt=None,
                batch_size=batch_within_budget(opts.batch_size, opts.memory_budget_mb,
                                               resident_mb()))
        else:
            found, _info = self._model.transcribe(
                samples, language=language,
                beam_size=opts.beam_size, temperature=0.0, condition_on_previous_text=False,
                vad_filter=True, vad_parameters={"speech_pad_ms": opts.speech_pad_ms},
                word_timestamps=True, initial_prompt=None)
        recognised = [RecognisedSegment(seg.start, seg.end, seg.text, seg.avg_logprob,
                                        tuple((w.start, w.end, w.word, w.probability)
                                              for w in seg.words or ()))
                      for seg in found]
        release_freed_memory()
        return recognised


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

        def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
            piece = encoder_piece(self.memory_budget_mb, resident_mb())
            if features.ndim < 3 or features.shape[0] <= piece:
                return super().encode(features)
            pieces = [np.asarray(super(PiecewiseEncoderModel, self).encode(
                          np.ascontiguousarray(features[i:i + piece])))
                      for i in range(0, features.shape[0], piece)]
            encoded = ctranslate2.StorageView.from_array(np.concatenate(pieces))
            release_freed_memory()  # the encoder's activations, before the decoder's
            return encoded

        def find_alignment(self, *args, **kwargs):
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
