"""Decoder CPU of the bench's ~3-minute 2-channel call with both channels' chunks in one
batch against each channel's window on its own (4 + 3 chunks): the same encoder outputs
are handed to the beam search (`generate`) both ways, the two alternating per round.

    .venv/bin/python bench/asr_joint_batch.py --rounds 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ctranslate2  # noqa: E402
import numpy as np  # noqa: E402

import qa.transcribe as qt  # noqa: E402
from bench.asr import speed_call  # noqa: E402
from qa.audio import decode, speech_intervals  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    transcriber = qt.make_transcriber(qt.TranscribeOptions(threads=args.threads))
    model = transcriber._model
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call-3min.wav"
        speed_call(path)
        audio = decode(path)
    pipeline = qt._window_batching_pipeline()(model)
    arguments = transcriber._batched_arguments("zh")
    windows = [pipeline.prepare(audio.window(ch, start, end), arguments, 8)
               for ch in (0, 1)
               for start, end in qt.recognition_windows(
                   speech_intervals(audio, ch, transcriber.options.vad), audio.duration, 300.0)]
    encoded = [np.asarray(model.encode(w.features)).copy() for w in windows]
    print(f"chunks per window {[w.size for w in windows]}; load {os.getloadavg()[0]:.1f}")

    def decode_batches(batches: list[list[int]]) -> None:
        for batch in batches:
            model.next_encoding = ctranslate2.StorageView.from_array(
                np.ascontiguousarray(np.concatenate([encoded[i] for i in batch])))
            pipeline.generate_segment_batched(
                np.concatenate([windows[i].features for i in batch]), windows[0].tokenizer,
                windows[0].options)

    every = list(range(len(windows)))
    for round_ in range(1, args.rounds + 1):
        for name, batches in (("each window on its own", [[i] for i in every]),
                              ("all windows in one batch", [every])):
            cpu, wall = cpu_seconds(), time.perf_counter()
            decode_batches(batches)
            print(f"round {round_} {name:<26} generate CPU {cpu_seconds() - cpu:5.1f} s, "
                  f"wall {time.perf_counter() - wall:5.1f} s, load {os.getloadavg()[0]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
