"""Decoding call recordings and measuring who speaks when.

`decode(path)` reads wav/mp3/m4a/ogg/flac/... at any sample rate (8 kHz telephone audio
included) through PyAV (FFmpeg bundled, no system ffmpeg needed) into 16 kHz mono
channels, one per recorded channel (2-channel recordings keep agent and customer apart).
The decoded samples are streamed to disk as they come, int16, one unlinked temporary
file per channel, and read back as float32 windows of a few minutes for the recogniser
and the VAD: an hour-long recording never sits in memory, neither as int16 (an hour of 2
channels is 230 MB) nor as float copies.

`speech_intervals(channel)` runs the Silero VAD model that faster-whisper ships as ONNX
(no torch) over a channel in blocks, giving merged speech intervals in seconds.
`voice_activity(...)` turns the intervals of a 2-channel call into a
`qa.checks.VoiceActivity` for the silence and overlap checks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.checks import Interval, VoiceActivity
from qa.errors import AudioError
from qa.weights import prepare_engine_environment

__all__ = [
    "AUDIO_EXTENSIONS", "SAMPLE_RATE", "AudioError", "DecodedAudio", "decode",
    "speech_intervals", "voice_activity", "file_sha256", "VadSettings", "audio_files",
]

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".mp4", ".aac", ".ogg", ".oga", ".opus",
                              ".flac", ".wma", ".amr", ".webm"})
SAMPLE_RATE = 16_000
_INT16_SCALE = 32768.0
# A recording whose loudest sample is below this (about -66 dBFS) holds no speech.
_SILENT_PEAK = 16


class DecodedAudio:
    """A recording at 16 kHz: 1 or 2 channels of int16 samples, each in an unlinked
    temporary file (gone when this object is, or at `close()`), read a window at a time."""

    def __init__(self, path: str, files: tuple, length: int, source_rate: int, codec: str):
        self.path = path
        self.source_rate = source_rate
        self.codec = codec
        self.length = length          # samples per channel
        self._files = files

    @property
    def channel_count(self) -> int:
        return len(self._files)

    @property
    def duration(self) -> float:
        return self.length / SAMPLE_RATE

    @property
    def channels(self) -> tuple[np.ndarray, ...]:
        """Each channel's int16 samples as a read-only memory map of its file (pages are
        read when touched: for short clips and tests; the pipeline reads `window`s)."""
        return tuple(np.memmap(f, dtype=np.int16, mode="r", shape=(self.length,))
                     for f in self._files)

    def window(self, channel: int, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
        """Float32 samples in [-1, 1) of one channel between two times (a new array, read
        from the channel's file; nothing of the file stays in this process's memory)."""
        first = min(self.length, max(0, int(round(start_s * SAMPLE_RATE))))
        last = self.length if end_s is None else min(self.length, int(round(end_s * SAMPLE_RATE)))
        samples = np.empty(max(0, last - first), dtype=np.int16)
        if samples.size:
            read = os.preadv(self._files[channel].fileno(), [samples], first * 2)
            if read != samples.nbytes:
                raise AudioError(self.path, "", f"decoded samples could not be read back "
                                                f"({read} of {samples.nbytes} bytes)")
        window = samples.astype(np.float32)
        window /= _INT16_SCALE
        return window

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> DecodedAudio:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _open(path: Path):
    import av

    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise AudioError(str(path), "", f"not a readable audio file ({_ffmpeg_reason(exc)})") from None


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


class _ChannelFiles:
    """Decoded int16 blocks (channels, samples) gathered 10 s at a time and appended to
    one temporary file per channel, with the sample count and the loudest sample seen
    (decoders give frames of about 1000 samples: a write per frame cost a third more CPU)."""

    STAGE = 10 * SAMPLE_RATE

    def __init__(self, path: Path, channels: int):
        self.path = path
        try:
            self.files = tuple(tempfile.TemporaryFile(prefix="callqa-audio-")
                               for _ in range(channels))
        except OSError as exc:
            raise AudioError(str(path), "", f"cannot make a temporary file for the decoded "
                                            f"samples in {tempfile.gettempdir()} ({exc})") from None
        self._stage = np.empty((channels, self.STAGE), dtype=np.int16)
        self._staged = 0
        self._written = 0
        self.peak = 0

    @property
    def size(self) -> int:
        """Samples per channel decoded so far."""
        return self._written + self._staged

    def append(self, block: np.ndarray) -> None:
        done = 0
        while done < block.shape[1]:
            n = min(block.shape[1] - done, self.STAGE - self._staged)
            self._stage[:, self._staged:self._staged + n] = block[:, done:done + n]
            self._staged += n
            done += n
            if self._staged == self.STAGE:
                self._write()

    def _write(self) -> None:
        staged = self._stage[:, :self._staged]
        if not staged.size:
            return
        try:
            for f, row in zip(self.files, staged):
                f.write(np.ascontiguousarray(row))
        except OSError as exc:
            self.close()
            raise AudioError(str(self.path), "", f"cannot write the decoded samples to "
                                                 f"{tempfile.gettempdir()} ({exc})") from None
        self._written += self._staged
        # max and min, not abs(): no temporary copy
        self.peak = max(self.peak, int(staged.max()), -int(staged.min()))
        self._staged = 0

    def finish(self) -> tuple:
        self._write()
        for f in self.files:
            f.flush()
        return self.files

    def close(self) -> None:
        for f in self.files:
            f.close()


def decode(path: str | Path) -> DecodedAudio:
    """Decode a recording to 16 kHz int16, streamed to one temporary file per channel.

    Raises AudioError naming the file when it is missing, empty, corrupt, has no audio
    stream, uses a codec FFmpeg cannot decode, has more than two channels, holds no
    samples, or is silent.
    """
    import av

    path = Path(path)
    if not path.exists():
        raise AudioError(str(path), "", "no such file")
    if not path.is_file():
        raise AudioError(str(path), "", "not a file")
    if path.stat().st_size == 0:
        raise AudioError(str(path), "", "empty file (0 bytes)")
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioError(str(path), "", "no audio stream in the file")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        if ctx is None:
            raise AudioError(str(path), "", "unsupported codec: FFmpeg has no decoder for "
                                            "this file's audio")
        codec = ctx.name
        channels = ctx.channels
        if channels > 2:
            raise AudioError(str(path), "", f"{channels} channels: callqa reads mono or "
                                            f"2-channel (agent/customer) recordings")
        layout = "stereo" if channels == 2 else "mono"
        resampler = av.AudioResampler(format="s16p", layout=layout, rate=SAMPLE_RATE)
        buffer = _ChannelFiles(path, 2 if channels == 2 else 1)
        source_rate = ctx.sample_rate
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    buffer.append(out.to_ndarray())
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray())
        except av.error.DecoderNotFoundError:
            buffer.close()
            raise AudioError(str(path), "", f"unsupported codec ({codec}): FFmpeg has no "
                                            f"decoder for it") from None
        except av.error.FFmpegError as exc:
            if buffer.size == 0:
                buffer.close()
                raise AudioError(str(path), "", f"corrupt audio ({_ffmpeg_reason(exc)})") from None
            # A damaged tail: keep what decoded (a truncated recording is still a call).
    files = buffer.finish()
    if buffer.size == 0:
        buffer.close()
        raise AudioError(str(path), "", "zero-length recording: no audio samples")
    if buffer.peak < _SILENT_PEAK:
        buffer.close()
        raise AudioError(str(path), "", f"silent recording ({buffer.size / SAMPLE_RATE:.1f} s "
                                        f"of silence)")
    return DecodedAudio(str(path), files, buffer.size, source_rate, codec)


@dataclass(frozen=True)
class VadSettings:
    """Silero VAD settings for measuring talk (tighter than the ones used to cut audio
    for the recogniser, so silences and overlaps come out at their real length)."""

    threshold: float = 0.45
    min_speech_ms: int = 200
    min_silence_ms: int = 300
    speech_pad_ms: int = 150
    block_s: float = 300.0


def speech_intervals(audio: DecodedAudio, channel: int,
                     settings: VadSettings = VadSettings()) -> tuple[Interval, ...]:
    """Speech intervals (seconds) of one channel, from the Silero VAD model run over
    blocks of `block_s` (speech running across a block edge is joined up again)."""
    prepare_engine_environment()
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=settings.threshold,
                         min_speech_duration_ms=settings.min_speech_ms,
                         min_silence_duration_ms=settings.min_silence_ms,
                         speech_pad_ms=settings.speech_pad_ms)
    found: list[Interval] = []
    step = settings.block_s
    start = 0.0
    while start < audio.duration:
        samples = audio.window(channel, start, start + step)
        for ts in get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE):
            iv = Interval(round(start + ts["start"] / SAMPLE_RATE, 3),
                          round(start + ts["end"] / SAMPLE_RATE, 3))
            if found and iv.start - found[-1].end <= settings.min_silence_ms / 1000:
                found[-1] = Interval(found[-1].start, max(found[-1].end, iv.end))
            else:
                found.append(iv)
        start += step
    return tuple(found)


def voice_activity(agent: tuple[Interval, ...], customer: tuple[Interval, ...],
                   duration: float) -> VoiceActivity:
    return VoiceActivity(agent=agent, customer=customer, duration=round(duration, 3))


def audio_files(paths: list[Path] | tuple[Path, ...]) -> list[Path]:
    """The recordings the paths name: each file as given (whatever its suffix, so a wrong
    file is reported rather than skipped), and every file with an audio suffix below a
    folder, sorted."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            files.append(path)
    return files
