"""Train the agent tone models that back up the forbidden-word lexicons.

    .venv/bin/python scripts/train_agent_tone.py [--dialogues ../shared/data/dialogues]

Training data: the agent segments of the project's own hand-labelled calls (TRAIN_SETS:
for Chinese tests/data/{labelled,holdout,holdout2..holdout8,holdout10,holdout11}/zh, for
English tests/data/{labelled,holdout,holdout2,holdout3}/en; a segment is positive when its
call's labels list it in forbidden_segments), plus the training-only sentences written for
the models in data/agent_tone/{zh,en}.tsv (`label<TAB>text`; see data/agent_tone/README.md).
Held-out evaluation: tests/data/holdout9 (zh) and holdout4 (en), never trained on (their errors
were looked at while the lexicons were fixed, so they are not fully blind); for Chinese also the share of real agent
turns in ../shared/data/dialogues the model flags (evaluation only; those texts are not
trained on). The generalisation figure is bench/tone_loso.py's leave-one-set-out totals,
which chose the hyper-parameters and thresholds below. Writes models/agent_tone_zh and
models/agent_tone_en (model.skops + card.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.classify import binary_metrics, train_segment_model  # noqa: E402
from qa.models import save_model  # noqa: E402

# English keeps its earlier recipe (trained on four sets, C=3, p >= 0.7): retrained on more
# sets, the English model flagged polite wordings of the rude classes in
# tests/phrasings/en.tsv ("you don't need to call every day, we'll text you") whatever
# polite training sentences were added (README, "Tone models").
TRAIN_SETS = {"zh": ("labelled", "holdout", "holdout2", "holdout3", "holdout4", "holdout5",
                     "holdout6", "holdout7", "holdout8", "holdout10", "holdout11"),
              "en": ("labelled", "holdout", "holdout2", "holdout3")}
HELD_OUT = {"zh": "holdout9", "en": "holdout4"}
EXTRA = REPO / "data" / "agent_tone"
THRESHOLD = {"zh": 0.8, "en": 0.7}
# chosen by leave-one-set-out evaluation over the labelled sets (bench/tone_loso.py)
HYPER_PARAMETERS: dict[str, dict] = {"zh": {"c": 10.0}, "en": {"c": 3.0}}
DIALOGUES = REPO.parent / "shared" / "data" / "dialogues"


def agent_segments(kinds: tuple[str, ...], language: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for kind in kinds:
        for path in sorted((REPO / "tests" / "data" / kind / language).glob("*.json")):
            call = json.loads(path.read_text(encoding="utf-8"))
            rude = set(call["labels"]["forbidden_segments"])
            for index, segment in enumerate(call["segments"]):
                if segment["speaker"] == "agent":
                    texts.append(segment["text"])
                    labels.append(int(index in rude))
    return texts, labels


def training_sentences(language: str) -> tuple[list[str], list[int]]:
    """The training-only sentences of data/agent_tone/LANGUAGE.tsv (none when absent)."""
    path = EXTRA / f"{language}.tsv"
    texts, labels = [], []
    if not path.is_file():
        return texts, labels
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if label not in ("0", "1") or not text.strip():
            raise ValueError(f"{path}:{number}: expected 0 or 1, a tab and a sentence")
        texts.append(text.strip())
        labels.append(int(label))
    return texts, labels


def training_data(kinds: tuple[str, ...], language: str) -> tuple[list[str], list[int]]:
    """The agent segments of the labelled sets `kinds` and the training-only sentences."""
    texts, labels = agent_segments(kinds, language)
    extra_texts, extra_labels = training_sentences(language)
    return texts + extra_texts, labels + extra_labels


def train(kinds: tuple[str, ...], language: str, **hyper_parameters):
    """The tone model of `language` trained on `kinds` by this recipe (HYPER_PARAMETERS,
    each overridable)."""
    texts, labels = training_data(kinds, language)
    chosen = {**HYPER_PARAMETERS[language], **hyper_parameters}
    return train_segment_model(f"agent_tone_{language}", texts, labels, language, **chosen)


def real_agent_turns(folder: Path) -> list[str]:
    turns = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for turn in json.loads(line)["turns"]:
                if turn.get("role") == "agent" and turn.get("text", "").strip():
                    turns.append(turn["text"])
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=Path, default=DIALOGUES,
                        help="the real dialogues (default ../shared/data/dialogues)")
    dialogues = parser.parse_args().dialogues
    for language in ("zh", "en"):
        sets, held_out = TRAIN_SETS[language], HELD_OUT[language]
        texts, labels = training_data(sets, language)
        extra_texts, extra_labels = training_sentences(language)
        name = f"agent_tone_{language}"
        model = train(sets, language)
        held_texts, held_labels = agent_segments((held_out,), language)
        threshold = THRESHOLD[language]
        held = binary_metrics(model.probabilities(held_texts), held_labels, threshold)
        metrics = {"held_out": {"set": f"tests/data/{held_out}/{language}", **held.as_dict()}}
        if language == "zh" and dialogues.is_dir():
            real = real_agent_turns(dialogues)
            flagged = sum(1 for p in model.probabilities(real) if p >= threshold)
            metrics["real_agent_turns_flagged"] = {"turns": len(real), "flagged": flagged,
                                                   "share": round(flagged / len(real), 4)}
        model.card["recommended_threshold"] = threshold
        save_model(model, REPO / "models" / name, metrics,
                   trained_on=f"{len(texts)} agent segments ({sum(labels)} rude): those of the project's "
                              f"hand-labelled calls in tests/data/{{{','.join(sets)}}}/{language} and "
                              f"{len(extra_texts)} training-only sentences ({sum(extra_labels)} rude) in "
                              f"data/agent_tone/{language}.tsv",
                   limits="Written calls, not real recordings: trust it as a second opinion behind "
                          "the lexicon, at the recommended threshold. Flags tone, not facts: it "
                          "cannot tell a true statement said curtly from a rude one.")
        print(f"{name}: trained on {len(texts)} segments ({sum(labels)} rude); held out "
              f"{held_out}: precision {held.precision:.3f}, recall {held.recall:.3f} at "
              f"p >= {threshold} ({held.true_positive} tp, {held.false_positive} fp, "
              f"{held.false_negative} fn)" + (
                  f"; real agent turns flagged {metrics['real_agent_turns_flagged']['flagged']} of "
                  f"{metrics['real_agent_turns_flagged']['turns']}" if "real_agent_turns_flagged" in metrics else ""))


if __name__ == "__main__":
    main()
