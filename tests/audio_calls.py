"""Building test recordings from real clips: 2-channel calls with clips placed on the agent
and customer channels, and resampled copies (8 kHz telephone audio, 44.1 kHz). Used by
the tests and by bench/asr.py."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.audio import SAMPLE_RATE, decode

SHARED_AUDIO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "audio"


@dataclass(frozen=True)
class Placement:
    channel: int      # 0 left, 1 right
    clip: str         # file name in ../shared/data/audio
    at: float         # where the clip's speech starts in the call (seconds)


@dataclass(frozen=True)
class PlacedClip:
    channel: int
    clip: str
    start: float      # speech start and end in the built call
    end: float


def resample(samples: np.ndarray, rate: int, source_rate: int = SAMPLE_RATE) -> np.ndarray:
    """int16 samples (channels, n) resampled with FFmpeg's resampler."""
    import av

    samples = np.atleast_2d(samples)
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="s16p", layout=layout)
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="s16p", layout=layout, rate=rate)
    out = [f.to_ndarray() for f in resampler.resample(frame)]
    out += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(out, axis=1)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write int16 samples shaped (channels, n) as a PCM WAV file."""
    samples = np.atleast_2d(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples.T).astype("<i2").tobytes())
    return path


def trimmed_clip(name: str, threshold: float = 0.05) -> np.ndarray:
    """A clip at 16 kHz int16 with leading and trailing quiet cut (20 ms frames whose RMS
    is under `threshold` of the loudest frame's, -26 dB), so its boundaries are where its
    speech is."""
    samples = decode(SHARED_AUDIO / name).channels[0]
    frame = SAMPLE_RATE // 50
    n = len(samples) // frame
    rms = np.sqrt(((samples[:n * frame].astype(np.float64).reshape(n, frame) / 32768) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= threshold * rms.max())
    return samples[loud[0] * frame:(loud[-1] + 1) * frame]


def build_call(path: Path, placements: list[Placement], duration: float,
               rate: int = SAMPLE_RATE) -> list[PlacedClip]:
    """A 2-channel WAV of `duration` seconds with each clip's speech starting at its
    placement; returns where each clip's speech lies."""
    total = int(duration * SAMPLE_RATE)
    call = np.zeros((2, total), dtype=np.int16)
    placed = []
    for p in placements:
        clip = trimmed_clip(p.clip)
        first = int(p.at * SAMPLE_RATE)
        last = min(total, first + len(clip))
        call[p.channel, first:last] = clip[:last - first]
        placed.append(PlacedClip(p.channel, p.clip, p.at, round(last / SAMPLE_RATE, 3)))
    if rate != SAMPLE_RATE:
        call = resample(call, rate)
    write_wav(path, call, rate)
    return placed
