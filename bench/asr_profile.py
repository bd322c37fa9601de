"""Where the CPU of one transcription goes: CPU seconds (process time, all threads) and
calls per stage of the faster-whisper pipeline on the bench's ~3-minute 2-channel call.

    .venv/bin/python bench/asr_profile.py                          # default settings
    .venv/bin/python bench/asr_profile.py --setting faster-whisper/batch_size=0

Stages are timed inclusively (the encoder passes inside language detection are also
counted under `encode`); `encoder windows` counts 30 s mel windows through the encoder.
Times are process CPU seconds, so they do not depend much on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.asr import parse_setting, peak_rss_mb, speed_call  # noqa: E402
from qa.audio import decode  # noqa: E402
from qa.transcribe import make_transcriber  # noqa: E402

CPU: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
ITEMS: dict[str, int] = defaultdict(int)


def timed(name: str, fn, items=None):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU[name] += time.process_time() - start
            CALLS[name] += 1
            if items is not None:
                ITEMS[name] += items(*args, **kwargs)
    return wrapper


class TimedModel:
    """The CTranslate2 Whisper model with its generate/align/detect_language timed."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        if name in ("generate", "align", "detect_language", "encode"):
            return timed(f"ct2.{name}", attr, items=lambda x, *a, **k: _batch(x))
        return attr


def _batch(x) -> int:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else len(x)


def instrument(transcriber) -> None:
    import faster_whisper.transcribe as fwt
    import faster_whisper.vad as fwv

    import qa.audio
    import qa.transcribe as qt

    model = transcriber._model
    model.model = TimedModel(model.model)
    cls = type(model)
    cls.encode = timed("encode (incl. language detection's)", cls.encode,
                       items=lambda self, f, *a, **k: 1 if f.ndim == 2 else f.shape[0])
    cls.detect_language = timed("detect_language", cls.detect_language)
    cls.add_word_timestamps = timed("word timestamps (add_word_timestamps)", cls.add_word_timestamps)
    fe = type(model.feature_extractor)
    fe.__call__ = timed("mel features", fe.__call__)
    fwv.get_speech_timestamps = timed("silero vad", fwv.get_speech_timestamps)
    fwt.get_speech_timestamps = fwv.get_speech_timestamps
    qa.audio.decode = qt.decode = timed("decode + resample", qa.audio.decode)
    pipe = qt.WhisperPipeline
    phase = {"name": "windows"}
    window = pipe._recognise_windows
    recognise = pipe._recognise
    missed = qt.missed_speech

    def recognise_window(self, *args):
        return timed(f"recognise: {phase['name']}", window)(self, *args)

    def recognise_channel(self, *args):
        phase["name"] = "windows"
        return recognise(self, *args)

    def missed_speech(*args, **kwargs):
        phase["name"] = "repair passes"
        return missed(*args, **kwargs)
    pipe._recognise_windows = recognise_window
    pipe._recognise = timed("recognise channels (windows + repairs)", recognise_channel)
    qt.missed_speech = missed_speech
    fwt.BatchedInferencePipeline.forward = timed("batched forward", fwt.BatchedInferencePipeline.forward)
    qt.speech_intervals = timed("speech_intervals (talk VAD)", qt.speech_intervals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", default="faster-whisper")
    args = parser.parse_args()
    transcriber = make_transcriber(parse_setting(args.setting, None))
    instrument(transcriber)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call-3min.wav"
        speed_call(path)
        duration = decode(path).duration
        for k in list(CPU):
            CPU.pop(k)
            CALLS.pop(k)
            ITEMS.pop(k, None)
        wall, cpu = time.perf_counter(), time.process_time()
        result = transcriber.transcribe(path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{args.setting}: {duration:.0f} s 2-channel call, {len(result.transcript.segments)} "
          f"segments; CPU {cpu:.1f} s = {cpu / duration:.3f} s per audio second; wall RTF "
          f"{wall / duration:.3f} at load {os.getloadavg()[0]:.1f}; peak resident memory "
          f"{peak_rss_mb():.0f} MB")
    for name in sorted(CPU, key=CPU.get, reverse=True):
        items = f", {ITEMS[name]} items" if name in ITEMS else ""
        print(f"  {name:<48} {CPU[name]:6.1f} CPU s ({CPU[name] / cpu:5.1%}) "
              f"{CALLS[name]} calls{items}")


if __name__ == "__main__":
    main()
