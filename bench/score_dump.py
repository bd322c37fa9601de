"""Dump every scorecard this checkout's code gives, for a byte-for-byte comparison of two
checkouts (run on demand, not a test).

    .venv/bin/python bench/score_dump.py OUT.jsonl [--bench-calls 300]
    (cd /other/checkout && .venv/bin/python bench/score_dump.py OTHER.jsonl) && cmp OUT.jsonl OTHER.jsonl

Scores, with the code of the checkout the script sits in: every transcript under
tests/data/ and samples/ with the bundled rubric of its language (scorecard JSON redacted
and not, and the Scorecard dataclasses' repr), then --bench-calls of bench/score.py's
calls, plain and --distinct, with the bundled zh rubric and with the bench's padded one.
One scorecard a line, in a fixed order.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score import padded_rubric, synthetic_call  # noqa: E402
from qa.cli import redact_scorecard  # noqa: E402
from qa.model import transcript_from_dict  # noqa: E402
from qa.rubric import score_transcript, scorecard_to_dict  # noqa: E402
from qa.rubrics import RubricChooser  # noqa: E402
from qa.transcripts import iter_transcripts  # noqa: E402


def lines(card) -> list[str]:
    data = scorecard_to_dict(card)
    return [json.dumps(data, ensure_ascii=False), json.dumps(redact_scorecard(data),
                                                             ensure_ascii=False), repr(card)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--bench-calls", type=int, default=300)
    args = parser.parse_args()
    chooser = RubricChooser("auto")
    count = 0
    with args.out.open("w", encoding="utf-8") as out:
        for folder in ("tests/data", "samples"):
            for path, item in iter_transcripts(ROOT / folder):
                name = path.relative_to(ROOT)
                if isinstance(item, Exception):
                    out.write(f"{name}\terror\t{item}\n")
                    continue
                for line in lines(score_transcript(chooser.for_language(item.language), item)):
                    out.write(f"{name}\t{line}\n")
                count += 1
        bundled = chooser.for_language("zh")
        padded, _, _ = padded_rubric(500)
        for distinct in (False, True):
            rng = random.Random(11 + distinct)
            calls = [synthetic_call(rng, i, 40, distinct) for i in range(args.bench_calls)]
            for label, rubric in (("bundled", bundled), ("padded", padded)):
                for data in calls:
                    card = score_transcript(rubric, transcript_from_dict(data))
                    for line in lines(card):
                        out.write(f"bench distinct={distinct} {label}\t{line}\n")
                    count += 1
    print(f"{count} scorecards -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
