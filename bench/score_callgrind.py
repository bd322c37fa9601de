"""Instructions per call of scoring, deterministic (run on demand, not a test).

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/score.cg \\
        .venv/bin/python bench/score_callgrind.py [--calls 20] [--no-tone] [--distinct]

Scores bench/score.py's synthetic calls with its padded rubric. Valgrind runs without
instrumenting until two warm-up calls are done; `callgrind_control -i on` then switches
instrumentation on for the measured calls only, so callgrind's "Collected" total divided
by --calls is the instruction count per call. Wall clock on a shared machine varies with
its load; this does not.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from score import padded_rubric, synthetic_call  # noqa: E402
from qa.model import transcript_from_dict  # noqa: E402
from qa.rubric import score_transcript  # noqa: E402
from qa.rubrics import freeze_loaded  # noqa: E402


def instrumentation(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True,
                   check=False, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--no-tone", action="store_true", help="rules only")
    parser.add_argument("--distinct", action="store_true",
                        help="segment texts that rarely repeat across calls (see score.py)")
    args = parser.parse_args()
    rng = random.Random(42)
    calls = [synthetic_call(rng, i, 40, args.distinct) for i in range(args.calls + 1)]
    rubric, _, _ = padded_rubric(500)
    if args.no_tone:
        next(i for i in rubric.items() if i.id == "forbidden_words").checks[0]._tone = None
    freeze_loaded()  # as `qa score` and `qa batch` do once their rubric is loaded
    for _ in range(2):  # warm caches
        score_transcript(rubric, transcript_from_dict(calls[-1]))
    instrumentation("on")
    for data in calls[:args.calls]:
        score_transcript(rubric, transcript_from_dict(data))
    instrumentation("off")
    print(f"{args.calls} calls scored: divide callgrind's Collected total by {args.calls}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
