"""Peak memory and CPU of scoring many calls in one process (run on demand, not a test).

    .venv/bin/python bench/score_memory.py [--calls 10000] [--distinct] [--no-tone]

Scores bench/score.py's synthetic calls with its padded rubric, one call made at a time
(so the calls themselves take no memory), and prints the process's peak resident set
size before and after scoring, with the CPU time per call. Scoring keeps per-text work
across calls (up to 50,000 texts in each memory, see qa.text.KEPT_TEXTS): with
--distinct, whose texts hardly ever repeat, the memories fill up and start afresh, so
this is the peak a nightly batch worker reaches.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from score import padded_rubric, synthetic_call  # noqa: E402
from qa.model import transcript_from_dict  # noqa: E402
from qa.rubric import score_transcript  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--distinct", action="store_true",
                        help="segment texts that rarely repeat across calls (see score.py)")
    parser.add_argument("--no-tone", action="store_true", help="rules only")
    args = parser.parse_args()
    rubric, _, _ = padded_rubric(500)
    if args.no_tone:
        next(i for i in rubric.items() if i.id == "forbidden_words").checks[0]._tone = None
    rng = random.Random(42)
    score_transcript(rubric, transcript_from_dict(synthetic_call(rng, -1, 40, args.distinct)))
    before = peak_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(args.calls):
        score_transcript(rubric, transcript_from_dict(synthetic_call(rng, i, 40, args.distinct)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{args.calls} calls{' (distinct texts)' if args.distinct else ''}: peak RSS "
          f"{before:.0f} MB after loading, {peak_mb():.0f} MB after scoring; "
          f"{1000 * cpu / args.calls:.2f} ms CPU, {1000 * wall / args.calls:.2f} ms wall per "
          f"call (call generation included)")


if __name__ == "__main__":
    main()
