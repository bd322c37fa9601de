"""Leave-one-set-out evaluation of the agent tone model recipe (scripts/train_agent_tone.py).

    .venv/bin/python bench/tone_loso.py                      # the recipe as shipped
    .venv/bin/python bench/tone_loso.py --language zh --grid c=1,3,10 rude_weight=-,5
    .venv/bin/python bench/tone_loso.py --thresholds 0.7,0.8 --show-misses
    .venv/bin/python bench/tone_loso.py --dialogues /work/shared/data/dialogues  # from a worktree

For each labelled set (tests/data/labelled, holdout, holdout2 .. holdout11) and language,
a tone model is trained by the recipe on the other sets' agent segments plus the
training-only sentences (the recipe's data/agent_tone files, the phrasings and the real
turns it trains on) and applied to the held-out set the way the forbidden check applies
it: only to the agent segments where no lexicon phrase matched and no tone_exempt pattern
matches the whole segment. Those segments are found by running the rubric's forbidden_words check with its
tone model switched off. Per held-out set it reports:

- missed: rude segments (the labels' forbidden_segments) the lexicon misses, and how many
  of them the model flags (its recall there, the figure that matters: elsewhere the
  lexicon has already failed the segment);
- rude: the model's recall on all rude segments of the set (how it would do on a set whose
  wording the lexicon does not know; the lexicons were fixed on every set, so "missed" is
  small);
- false hits: non-rude agent segments without a lexicon hit that the model flags;
- dialogues: the real agent turns of ../shared/data/dialogues without a lexicon hit that
  the fold's model flags (evaluation only, never trained on; Chinese text, so for the
  Chinese model only). The test allows 8 of 1,606 turns for lexicon and model together;
  the lexicon's own hits are printed once.

Totals over the sets come last; choose hyper-parameters, threshold and training data by
them, not by any one set. `--grid` takes name=value lists of train_segment_model keyword
arguments (c, rude_weight, min_df, ngram_range as 1-3; `-` for the default) and evaluates
every combination.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import train_agent_tone as recipe  # noqa: E402
from qa.checks import prepare, run_check  # noqa: E402
from qa.rubrics import load_rubric  # noqa: E402
from qa.transcripts import dialogue_transcripts, iter_transcripts  # noqa: E402

SETS = recipe.LABELLED_SETS
RUBRIC = {"zh": "zh-bank-hotline", "en": "en-card-services"}
ITEM = "forbidden_words"


@dataclass(frozen=True)
class AgentSegment:
    call_id: str
    index: int
    form: str  # match form, as the forbidden check hands it to the model
    rude: bool
    lexicon_hit: bool
    exempt: bool = False  # the check's tone_exempt patterns keep it from the model

    @property
    def asked(self) -> bool:
        """Whether the forbidden check would hand this segment to the model."""
        return not self.lexicon_hit and not self.exempt


def lexicon_only_check(language: str):
    """The rubric's forbidden_words check with its tone model switched off."""
    item = next(i for i in load_rubric(RUBRIC[language]).items() if i.id == ITEM)
    (check,) = item.checks
    lexicon_only = check.model_copy()
    lexicon_only.__pydantic_private__ = {**check.__pydantic_private__, "_tone": None}
    return lexicon_only


def lexicon_hits(ctx, check) -> set[int]:
    return {f.segment_index for f in run_check(ctx, check, ITEM)
            if f.passed is False and f.segment_index is not None}


def set_segments(kind: str, language: str, check) -> list[AgentSegment]:
    out = []
    for path, transcript in iter_transcripts(REPO / "tests" / "data" / kind / language):
        if isinstance(transcript, Exception):
            raise transcript
        rude = set(transcript.extra["labels"]["forbidden_segments"])
        ctx = prepare(transcript)
        hit = lexicon_hits(ctx, check)
        out += [AgentSegment(transcript.call_id, ps.index, ps.match.text, ps.index in rude,
                             ps.index in hit, check.tone_exempted(ps))
                for ps in ctx.by_speaker("agent")]
    return out


def dialogue_segments(folder: Path, check, skip: tuple[str, ...] = ()) -> list[AgentSegment]:
    """The real agent turns, read as tests/test_labelled.py reads them, of the dialogue
    files whose stems are not in `skip` (those trained on)."""
    out = []
    transcripts = (t for path in sorted(folder.glob("*.jsonl")) if path.stem not in skip
                   for t in dialogue_transcripts(path))
    for transcript in transcripts:
        ctx = prepare(transcript)
        hit = lexicon_hits(ctx, check)
        out += [AgentSegment(transcript.call_id, ps.index, ps.match.text, False,
                             ps.index in hit, check.tone_exempted(ps))
                for ps in ctx.by_speaker("agent")]
    return out


@dataclass
class Fold:
    kind: str
    missed: int = 0
    missed_caught: int = 0
    rude: int = 0
    rude_caught: int = 0
    false_hits: int = 0
    clean: int = 0  # non-rude segments without a lexicon hit
    dialogue_flags: int = 0

    def add(self, other: "Fold") -> None:
        for name in ("missed", "missed_caught", "rude", "rude_caught", "false_hits", "clean",
                     "dialogue_flags"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self) -> str:
        def share(a: int, b: int) -> str:
            return f"{a}/{b} ({a / b:.2f})" if b else f"{a}/0 (-)"
        return (f"{self.kind:<10} missed {share(self.missed_caught, self.missed):<14} "
                f"rude {share(self.rude_caught, self.rude):<15} false hits "
                f"{self.false_hits:>2}/{self.clean:<4} dialogues {self.dialogue_flags}")


def parse_grid(pairs: list[str]) -> list[dict]:
    def value(name: str, text: str):
        if text == "-":
            return None
        if name == "ngram_range":
            low, high = text.split("-")
            return (int(low), int(high))
        return int(text) if name == "min_df" else float(text)
    axes = []
    for pair in pairs:
        name, _, values = pair.partition("=")
        axes.append([(name, value(name, v)) for v in values.split(",")])
    return [{k: v for k, v in combo if v is not None} for combo in itertools.product(*axes)] or [{}]


def evaluate(language: str, segments: dict[str, list[AgentSegment]],
             dialogues: list[AgentSegment], hyper: dict, thresholds: list[float],
             show_misses: bool, totals_only: bool, files: tuple[str, ...] | None = None,
             train_dialogues: tuple[str, ...] | None = None, folder: Path | None = None) -> None:
    folds = {t: [] for t in thresholds}
    candidates = [d.form for d in dialogues if d.asked]
    for kind in SETS:
        model = recipe.train(tuple(k for k in SETS if k != kind), language, files, train_dialogues,
                             folder, **hyper)
        held = segments[kind]
        unmatched = [s for s in held if s.asked]
        p_unmatched = model.probabilities([s.form for s in unmatched], normalised=True)
        rude = [s for s in held if s.rude]
        p_rude = model.probabilities([s.form for s in rude], normalised=True)
        p_dialogue = model.probabilities(candidates, normalised=True)
        for t in thresholds:
            fold = Fold(kind)
            for s, p in zip(unmatched, p_unmatched):
                if s.rude:
                    fold.missed += 1
                    fold.missed_caught += p >= t
                else:
                    fold.clean += 1
                    fold.false_hits += p >= t
            fold.rude, fold.rude_caught = len(rude), sum(p >= t for p in p_rude)
            fold.dialogue_flags = sum(p >= t for p in p_dialogue)
            folds[t].append(fold)
        if show_misses:
            t = thresholds[-1]
            for s, p in zip(unmatched, p_unmatched):
                if (s.rude and p < t) or (not s.rude and p >= t):
                    print(f"    {kind} out: {'MISS' if s.rude else 'FALSE'} {s.call_id}#{s.index} "
                          f"p={p:.2f} {s.form}")
            for text, p in zip(candidates, p_dialogue):
                if p >= t:
                    print(f"    {kind} out: DIALOGUE p={p:.2f} {text}")
    for t in thresholds:
        print(f"{language} {hyper or 'recipe'} at p >= {t}:")
        total = Fold("total")
        for fold in folds[t]:
            if not totals_only:
                print("  " + fold.row())
            total.add(fold)
        print("  " + total.row())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", choices=("zh", "en"), action="append")
    parser.add_argument("--thresholds", default=None,
                        help="comma-separated; default the recipe's threshold")
    parser.add_argument("--grid", nargs="*", default=[], metavar="NAME=V1,V2")
    parser.add_argument("--dialogues", type=Path, default=recipe.DIALOGUES,
                        help="the real dialogues (default ../shared/data/dialogues)")
    parser.add_argument("--totals", action="store_true", help="print the totals only")
    parser.add_argument("--files", default=None,
                        help="comma-separated training sentence files (names in data/agent_tone "
                             "or absolute paths) instead of the recipe's")
    parser.add_argument("--train-dialogues", default=None,
                        help="comma-separated dialogue file stems trained on as professional "
                             "instead of the recipe's ('' for none); the rest measure false hits")
    parser.add_argument("--show-misses", action="store_true",
                        help="list the lexicon-missed errors at the last threshold")
    args = parser.parse_args()
    for language in args.language or ["zh", "en"]:
        check = lexicon_only_check(language)
        segments = {kind: set_segments(kind, language, check) for kind in SETS}
        if not args.dialogues.is_dir():
            parser.error(f"{args.dialogues} is not a folder (--dialogues)")
        # the real dialogues are Chinese: a false-hit measure for the Chinese model only
        files = tuple(args.files.split(",")) if args.files else None
        train_dialogues = (tuple(filter(None, args.train_dialogues.split(",")))
                           if args.train_dialogues is not None else None)
        skip = recipe.TRAIN_DIALOGUES[language] if train_dialogues is None else train_dialogues
        dialogues = (dialogue_segments(args.dialogues, check, skip) if language == "zh"
                     else [])
        lexicon_flags = len({(d.call_id, d.index) for d in dialogues if d.lexicon_hit})
        print(f"{language}: {sum(map(len, segments.values()))} agent segments in "
              f"{len(SETS)} sets; " + (f"real dialogues: {len(dialogues)} agent turns, "
                                       f"{lexicon_flags} flagged by the lexicon alone"
                                       if dialogues else "real dialogues: not measured"))
        thresholds = ([float(t) for t in args.thresholds.split(",")] if args.thresholds
                      else [recipe.THRESHOLD[language]])
        for hyper in parse_grid(args.grid):
            evaluate(language, segments, dialogues, hyper, thresholds, args.show_misses,
                     args.totals, files, train_dialogues, args.dialogues)


if __name__ == "__main__":
    main()
