"""Where the memory of one transcription goes: resident memory (VmRSS) sampled every few
milliseconds by a thread, the peak attributed to the innermost stage running at the time
(audio decode, talk VAD, the recogniser's VAD, mel features, encoder, generate, word
alignment, language detection), and the resident memory left after each stage.

    .venv/bin/python bench/asr_memory.py --minutes 10 --every 8     # dense speech
    .venv/bin/python bench/asr_memory.py --setting faster-whisper/batch_size=0
    .venv/bin/python bench/asr_memory.py --recording long.wav       # a recording of yours

The recording is built like bench/asr.py's memory test (a 2-channel 8 kHz call, a clip
every `--every` seconds, channels alternating) unless `--recording` names one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.asr import long_recording, parse_setting  # noqa: E402
from qa.transcribe import make_transcriber  # noqa: E402


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def malloc_trim() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)


class Sampler:
    """A thread reading VmRSS every `interval` s; the peak is kept per innermost stage."""

    def __init__(self, interval: float = 0.003, trim: bool = False):
        self.interval = interval
        self.trim = trim
        self.stack: list[str] = ["(outside stages)"]
        self.peak: dict[str, float] = defaultdict(float)
        self.after: dict[str, list[float]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = status_mb("VmRSS")
            stage = self.stack[-1]
            self.peak[stage] = max(self.peak[stage], rss)
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def timed(self, name: str, fn):
        sampler = self

        def wrapper(*args, **kwargs):
            sampler.stack.append(name)
            sampler.calls[name] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                sampler.stack.pop()
                if sampler.trim:
                    malloc_trim()
                sampler.after[name].append(status_mb("VmRSS"))
        return wrapper


class WrappedModel:
    """The CTranslate2 Whisper model with generate/align/detect_language/encode staged."""

    def __init__(self, model, sampler: Sampler):
        self._model = model
        self._sampler = sampler

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        if name in ("generate", "align", "detect_language", "encode"):
            return self._sampler.timed(f"ct2.{name}", attr)
        return attr


def instrument(transcriber, sampler: Sampler) -> None:
    import faster_whisper.transcribe as fwt
    import faster_whisper.vad as fwv

    import qa.audio
    import qa.transcribe as qt

    model = transcriber._model
    model.model = WrappedModel(model.model, sampler)
    fe = type(model.feature_extractor)
    fe.__call__ = sampler.timed("mel features", fe.__call__)
    fwt.get_speech_timestamps = sampler.timed("recogniser VAD", fwt.get_speech_timestamps)
    qt.speech_intervals = sampler.timed("talk VAD (speech_intervals)", qt.speech_intervals)
    qa.audio.decode = qt.decode = sampler.timed("decode + resample", qa.audio.decode)
    cls = type(model)
    cls.add_word_timestamps = sampler.timed("word timestamps", cls.add_word_timestamps)
    fwt.BatchedInferencePipeline.forward = sampler.timed(
        "batched forward (other)", fwt.BatchedInferencePipeline.forward)
    qt.WhisperPipeline._recognise = sampler.timed("recognise channel (other)",
                                                  qt.WhisperPipeline._recognise)
    qt.WhisperPipeline._call_language = sampler.timed("call language",
                                                      qt.WhisperPipeline._call_language)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", default="faster-whisper")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--every", type=float, default=8.0)
    parser.add_argument("--recording", type=Path)
    parser.add_argument("--trim", action="store_true",
                        help="malloc_trim(0) after every stage (how much is freed but kept)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.setting, args.trim)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.recording
        if path is None:
            path = Path(tmp) / "long.wav"
            long_recording(path, args.minutes, args.every)
        # a fresh process, as bench/asr.py's memory test: building the recording has its own peak
        subprocess.run([sys.executable, __file__, "--child", str(path), "--setting", args.setting]
                       + ["--trim"] * args.trim, check=True)


def child(path: Path, setting: str, trim: bool) -> None:
    transcriber = make_transcriber(parse_setting(setting, None))
    loaded = status_mb("VmRSS")
    sampler = Sampler(trim=trim)
    instrument(transcriber, sampler)
    sampler.start()
    cpu = time.process_time()
    result = transcriber.transcribe(path)
    cpu = time.process_time() - cpu
    sampler.stop()
    duration = result.transcript.call.duration_s or 0.0
    print(f"{setting}: {duration / 60:.0f} min 2-channel, {len(result.transcript.segments)} "
          f"segments, {cpu / duration:.3f} CPU s/s; model loaded {loaded:.0f} MB, peak "
          f"(VmHWM) {status_mb('VmHWM'):.0f} MB, resident at the end {status_mb('VmRSS'):.0f} MB")
    print(f"  {'stage':<32} {'peak MB':>8} {'calls':>6}  resident after (first / max / last)")
    for name in sorted(sampler.peak, key=sampler.peak.get, reverse=True):
        after = sampler.after.get(name) or [0.0]
        print(f"  {name:<32} {sampler.peak[name]:8.0f} {sampler.calls.get(name, 0):6d}  "
              f"{after[0]:.0f} / {max(after):.0f} / {after[-1]:.0f}")


if __name__ == "__main__":
    main()
