"""How verify_identity would fare on calls whose disclosure wordings the rules do not know.

Scores every labelled call under tests/data (both languages) with the bundled rubrics'
verify_identity check, its disclosure list (`then`) cut down, with and without the
`performed` event (a credential request the customer answers, or the agent confirming the
check): `full` keeps the list, `half` keeps the lexicon and every other pattern,
`lexicon-only` drops every pattern. Prints agreement with the labels and the errors.

    .venv/bin/python scripts/verify_identity_ablation.py
"""

from __future__ import annotations

from pathlib import Path

from qa.checks import PhraseSet, prepare, run_check
from qa.rubric import check_status
from qa.rubrics import LexiconDirectory, load_rubric
from qa.transcripts import iter_transcripts

REPO = Path(__file__).resolve().parent.parent
RUBRIC = {"zh": "zh-bank-hotline", "en": "en-card-services"}


def main() -> None:
    lexicons = LexiconDirectory(REPO / "rubrics" / "lexicons")
    calls = {lang: [t for folder in sorted((REPO / "tests" / "data").glob(f"*/{lang}"))
                    for _, t in iter_transcripts(folder)] for lang in RUBRIC}
    for mode in ("full", "half", "lexicon-only"):
        for performed in (False, True):
            agree = total = 0
            errors: dict[str, int] = {}
            for lang, rubric_id in RUBRIC.items():
                item = next(i for i in load_rubric(rubric_id).items() if i.id == "verify_identity")
                check = item.checks[0].model_copy(deep=True)
                if mode != "full":
                    patterns = check.then.patterns[::2] if mode == "half" else []
                    check.then = PhraseSet(lexicon=check.then.lexicon, speaker="agent",
                                           patterns=patterns)
                if not performed:
                    check.performed = None
                check.bind(lexicons)
                for t in calls[lang]:
                    label = t.extra["labels"]["verify_identity"]
                    got = check_status(run_check(prepare(t), check, item.id))
                    total += 1
                    agree += got == label
                    if got != label:
                        errors[f"{label}->{got}"] = errors.get(f"{label}->{got}", 0) + 1
            print(f"disclosure list {mode:12s} performed {'on ' if performed else 'off'}: "
                  f"{agree}/{total} = {agree / total:.1%}  errors {errors}")


if __name__ == "__main__":
    main()
