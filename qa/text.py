"""Text normalisation for matching Chinese and English call transcripts.

- `to_display`: Traditional -> Simplified (OpenCC), NFKC width folding, tidy spaces.
- `match_text`: the form phrases are matched on (no punctuation, no spaces between CJK,
  lower case), with an offset back to the display text for every character, and a pinyin
  key of the same length so homophones (招商因行 / 招商银行) match at the same offsets.
- `tokenize`: jieba words with a bank and securities domain dictionary.
- `find_pii` / `redact`: card, ID and phone numbers, spoken digits included (幺, 洞, 两).

All functions are pure; the OpenCC converter, pinyin table and jieba dictionary are loaded
once, lazily.
"""

from __future__ import annotations

import datetime
import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

__all__ = [
    "to_simplified", "to_display", "to_display_many", "detect_language", "MatchText",
    "match_text", "match_texts",
    "normalise_phrase", "pinyin_key", "tokenize", "PiiSpan", "find_pii", "redact",
    "spoken_digit_runs", "luhn_valid", "china_id_valid",
]

_SPACE_RE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters converted to Simplified (other text unchanged)."""
    return _t2s().convert(text) if text else text


def to_display(text: str) -> str:
    """The stored display form: NFKC (full-width letters, digits and punctuation folded),
    Simplified Chinese, runs of white space collapsed to one space, trimmed."""
    folded = _nfkc(text)
    return _SPACE_RE.sub(" ", to_simplified(folded)).strip()


# Texts already normalised, kept across calls: agents say the same scripted lines (and
# customers the same short answers) call after call. Each memory starts afresh when full.
KEPT_TEXTS = 50_000
_DISPLAYS: dict[str, str] = {}
# display -> (display, text, offsets, pinyin, loose): plain tuples of strings, which the
# garbage collector stops tracking, where tens of thousands of kept MatchText objects
# were walked by every full collection
_MATCH_FORMS: dict[str, tuple] = {}


def kept_many(memory: dict, keys: Sequence, work, limit: int) -> list:
    """`work(keys)` through `memory`: only the distinct keys not in it are worked out
    (in one call of `work`, in their order) and kept; a memory that would hold more than
    `limit` keys starts afresh."""
    new = list(dict.fromkeys(k for k in keys if k not in memory))
    if new and len(memory) + len(new) > limit:
        memory.clear()
        new = list(dict.fromkeys(keys))
    if new:
        memory.update(zip(new, work(new)))
    return [memory[k] for k in keys]


def keep(memory: dict, key, value, limit: int):
    """Store `value` under `key` in a memory of at most `limit` keys (a full memory starts
    afresh), and return it. The caller looks the key up first."""
    if len(memory) >= limit:
        memory.clear()
    memory[key] = value
    return value


class Kept:
    """A pure function of one text whose results are kept across calls (at most
    KEPT_TEXTS of them, then the memory starts afresh). Results are shared: read them,
    do not change them."""

    def __init__(self, function, key=None):
        """`key`: what the result is kept under (default: the argument itself), for an
        argument that is a function of it (a MatchText of its display text): kept
        strings, unlike kept objects, are no work for the garbage collector."""
        self.function = function
        self.key = key
        self.memory: dict = {}
        functools.update_wrapper(self, function)

    def __call__(self, text):
        memory = self.memory
        key = text if self.key is None else self.key(text)
        if key in memory:
            return memory[key]
        return keep(memory, key, self.function(text), KEPT_TEXTS)


def to_display_many(texts: Sequence[str]) -> list[str]:
    """`to_display` of each text, with OpenCC run once over all of them joined by line
    breaks (a call's segments: one conversion instead of forty); texts seen before are
    not converted again."""
    return kept_many(_DISPLAYS, texts, _to_display_joined, KEPT_TEXTS)


def _to_display_joined(texts: Sequence[str]) -> list[str]:
    """Line breaks inside a text are white space to `to_display` anyway, so they become
    spaces first. (NFKC stays per text: its quick check passes most texts untouched,
    which a joined text loses.) Each line's white space is collapsed by str.split, which
    splits on exactly the characters `\\s` matches (str.isspace), twice as fast as
    the regular expression."""
    folded = "\n".join(_nfkc(t).replace("\n", " ") for t in texts)
    parts = to_simplified(folded).split("\n")
    if len(parts) != len(texts):  # the conversion made or removed a line break
        return [to_display(t) for t in texts]
    return [" ".join(p.split()) for p in parts]


# Full-width ASCII (，？！：Ａ１) and the ideographic space: each character's NFKC form is
# its full compatibility decomposition, a single ASCII character.
_FULL_WIDTH = {c: unicodedata.normalize("NFKD", chr(c)) for c in (*range(0xFF01, 0xFF5F), 0x3000)}


def _nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text). A text that fails NFKC's quick check (most
    often for full-width punctuation, which ASR writes in Chinese) is normalised
    character by character in C, several times slower than the check; its full-width
    characters are first replaced by their decompositions, which leaves the text's
    compatibility decomposition, and so its NFKC form, unchanged, and usually lets the
    quick check pass."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text.translate(_FULL_WIDTH))


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def detect_language(text: str) -> str:
    """'zh' when a fifth or more of the letters are CJK characters, else 'en'."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "zh"
    cjk = sum(1 for ch in letters if _is_cjk(ch))
    return "zh" if cjk * 5 >= len(letters) else "en"


# --- pinyin keys ---------------------------------------------------------------------
# Each CJK character becomes one private-use character that stands for its toneless
# pinyin syllable, so a pinyin key has exactly one character per match character and
# offsets carry over unchanged. The loose key also merges the initials and finals that
# southern accents and ASR confuse (zh/z, ch/c, sh/s, l/n, -ng/-n, nin/ni).

_SYLLABLE_CODES: dict[str, str] = {}
_LOOSE_RULES = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"),
                ("ang", "an"))


def _syllable_code(syllable: str) -> str:
    code = _SYLLABLE_CODES.get(syllable)
    if code is None:
        code = chr(0xE000 + len(_SYLLABLE_CODES))
        _SYLLABLE_CODES[syllable] = code
    return code


def _loosen(syllable: str) -> str:
    for tight, loose in _LOOSE_RULES:
        if tight in syllable:
            syllable = syllable.replace(tight, loose)
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    # 您/你 (nin/ni) are confused constantly by ASR and by speakers themselves.
    return "ni" if syllable == "nin" else syllable


_KEYS: dict[str, tuple[str, str]] = {}
# The same keys as str.translate tables (code point -> key), so a whole text is keyed in C,
# and as arrays over the Basic Multilingual Plane (every key is one character of it), so a
# long text (a call's texts joined) is keyed by two array lookups.
_STRICT_TABLE: dict[int, str] = {}
_LOOSE_TABLE: dict[int, str] = {}
_BMP = 0x10000
_ARRAY_MIN_CHARS = 256  # shorter texts are keyed faster by str.translate


def _char_keys(ch: str) -> tuple[str, str]:
    """(pinyin key, loose key) of one character; a character that is not CJK is its own
    key. Computed once per character and kept."""
    keys = _KEYS.get(ch)
    if keys is None:
        keys = _compute_char_keys(ch)
        _KEYS[ch] = keys
        _STRICT_TABLE[ord(ch)] = keys[0]
        _LOOSE_TABLE[ord(ch)] = keys[1]
        if _KEY_ARRAYS and ord(ch) < _BMP:
            strict, loose, known = _KEY_ARRAYS
            strict[ord(ch)], loose[ord(ch)], known[ord(ch)] = ord(keys[0]), ord(keys[1]), True
    return keys


_KEY_ARRAYS: list = []  # [strict, loose, known] once built


def _key_arrays() -> list:
    """[strict key, loose key, whether keyed] per BMP code point (a character not CJK is
    its own key, so it counts as keyed)."""
    if not _KEY_ARRAYS:
        import numpy as np

        strict = np.arange(_BMP, dtype=np.uint32)
        loose = strict.copy()
        known = np.array([not _is_cjk(chr(c)) for c in range(_BMP)])
        for code, key in _STRICT_TABLE.items():
            if code < _BMP:
                strict[code], loose[code], known[code] = ord(key), ord(_LOOSE_TABLE[code]), True
        _KEY_ARRAYS.extend((strict, loose, known))
    return _KEY_ARRAYS


# Readings a character takes from the one before it, as key rewrites of the same length: 行
# after yin is hang (银行, and 因行 / 音行 as ASR writes it), where each character alone is keyed
# yin, xing; so 银航 and 银杭 match 银行 by sound, as 因行 does.
_CONTEXT_READINGS = (("yin", "xing", "hang"),)
_CONTEXT_REWRITES: list[tuple[tuple[str, str], tuple[str, str]]] = []


def _context_rewrites() -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((strict before, after), (loose before, after)) key rewrites, built once."""
    if not _CONTEXT_REWRITES:
        for first, alone, after in _CONTEXT_READINGS:
            strict = (_syllable_code(first) + _syllable_code(alone),
                      _syllable_code(first) + _syllable_code(after))
            loose = (_syllable_code(_loosen(first)) + _syllable_code(_loosen(alone)),
                     _syllable_code(_loosen(first)) + _syllable_code(_loosen(after)))
            _CONTEXT_REWRITES.append((strict, loose))
    return _CONTEXT_REWRITES


def in_context(key: str, loose: bool = False) -> str:
    """A pinyin key (the loose one with `loose`) with the readings characters take from the
    one before them (_CONTEXT_READINGS). Keys of texts and of key patterns both go through it."""
    for strict_rewrite, loose_rewrite in _context_rewrites():
        before, after = loose_rewrite if loose else strict_rewrite
        if before in key:
            key = key.replace(before, after)
    return key


def _keys_of(text: str) -> tuple[str, str]:
    """(pinyin key, loose key) of a match-form text."""
    strict, loose = _keys_of_characters(text)
    return in_context(strict), in_context(loose, loose=True)


def _keys_of_characters(text: str) -> tuple[str, str]:
    if len(text) >= _ARRAY_MIN_CHARS:
        import numpy as np

        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if int(codes.max()) < _BMP:
            strict, loose, known = _key_arrays()
            unknown = codes[~known[codes]]
            if unknown.size:
                for code in np.unique(unknown).tolist():
                    _char_keys(chr(code))
            return (strict[codes].tobytes().decode("utf-32-le"),
                    loose[codes].tobytes().decode("utf-32-le"))
    for ch in set(text).difference(_KEYS):
        _char_keys(ch)
    return text.translate(_STRICT_TABLE), text.translate(_LOOSE_TABLE)


def _compute_char_keys(ch: str) -> tuple[str, str]:
    if not _is_cjk(ch):
        return ch, ch
    from pypinyin import Style, lazy_pinyin

    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0]
    if not syllable or not syllable.isascii():
        return ch, ch
    return _syllable_code(syllable), _syllable_code(_loosen(syllable))


# Digits read one by one. In a run of three or more they are digits of a number, not words.
NUMERAL_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}
for _d in "0123456789":
    NUMERAL_DIGITS[_d] = _d
_NUMERAL_SET = frozenset(NUMERAL_DIGITS)
_NUMERAL_TABLE = str.maketrans(NUMERAL_DIGITS)
# Patterns of one repeated character class are written `[x][x]*` rather than `[x]+`
# (`[x][x]{2,}` for `[x]{3,}`): the same matches, but a pattern that starts with a class
# lets `re` skip to the next character of it, where a leading repeat is tried at every
# character of the text (half the time on a call's texts).
_NUMERAL_CLASS = "[" + "".join(NUMERAL_DIGITS) + "]"
_NUMERAL_RUN_RE = re.compile(_NUMERAL_CLASS + _NUMERAL_CLASS + "{2,}")
_NUMERAL_RE = re.compile(_NUMERAL_CLASS)


class MatchText:
    """A display text in match form. `text[i]` came from `display[offsets[i]]`;
    `pinyin[i]` and `loose[i]` are the keys of `text[i]`. Immutable; the offsets of a
    text without Latin words are worked out only when asked for (most segments never
    produce evidence)."""

    __slots__ = ("display", "text", "pinyin", "loose", "_offsets")

    def __init__(self, display: str, text: str, offsets: tuple[int, ...] | None,
                 pinyin: str, loose: str):
        self.display, self.text, self.pinyin, self.loose = display, text, pinyin, loose
        self._offsets = offsets

    @property
    def offsets(self) -> tuple[int, ...]:
        if self._offsets is None:
            self._offsets = tuple(i for i, ch in enumerate(self.display) if ch.isalnum())
        return self._offsets

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MatchText) and (self.display, self.text) == (other.display, other.text)

    def __hash__(self) -> int:
        return hash((self.display, self.text))

    def __repr__(self) -> str:
        return f"MatchText(display={self.display!r}, text={self.text!r})"

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Display-text character span [start, end) of match-form span [start, end)."""
        return self.offsets[start], self.offsets[end - 1] + 1

    def evidence(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.display[a:b]


_LATIN_RE = re.compile(r"[A-Za-z]")
_NOT_ALNUM_RE = re.compile(r"[\W_][\W_]*")  # what str.isalnum() rejects


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@functools.lru_cache(maxsize=2048)
def _latin_base(lower: str) -> str:
    """A Latin letter with diacritics as its plain letter (á -> a, ø stays ø): Siobhán is
    said and written Siobhan in the agent's name; other characters unchanged."""
    if lower.isascii():
        return lower
    base = "".join(c for c in unicodedata.normalize("NFD", lower) if not unicodedata.combining(c))
    return base if base and base.isascii() and base.isalpha() else lower


def _match_chars_with_words(display: str) -> tuple[list[str], list[int]]:
    chars: list[str] = []
    offsets: list[int] = []
    pending_space = False
    for i, ch in enumerate(display):
        if ch.isalnum():
            lower = ch.lower()  # may be two characters (İ -> i̇); both map back to ch
            if not lower.isascii():
                lower = _latin_base(lower)
            if pending_space and chars and _word_char(chars[-1]) and _word_char(lower[0]):
                chars.append(" ")
                offsets.append(i - 1)
            pending_space = False
            for part in lower:
                chars.append(part)
                offsets.append(i)
        elif ch in "'’":
            continue
        else:
            pending_space = True
    return chars, offsets


def match_text(display: str) -> MatchText:
    """The match form of a display text (see MatchText).

    Punctuation and spaces are dropped, except one space between two Latin words so that
    English phrases keep their word boundaries; letters are lower-cased; apostrophes vanish
    (don't -> dont). Runs of three or more spoken digits (九五五八八) read as ASCII digits in
    the pinyin keys, so they match a number written in digits.
    """
    offsets: tuple[int, ...] | None
    if _has_words(display):
        chars, offset_list = _match_chars_with_words(display)
        text, offsets = "".join(chars), tuple(offset_list)
    else:  # no Latin words: no word spaces to keep, nothing to lower-case
        text, offsets = _NOT_ALNUM_RE.sub("", display), None
    keyed = text if _NUMERAL_SET.isdisjoint(text) else _NUMERAL_RUN_RE.sub(
        lambda run: run.group().translate(_NUMERAL_TABLE), text)
    pinyin, loose = _keys_of(keyed)
    return MatchText(display, text, offsets, pinyin, loose)


_NOT_WORD_KEEP_LINES_RE = re.compile(r"[^\w\n][^\w\n]*")


def _without_punctuation(joined: str) -> str:
    """`joined` without the characters str.isalnum() rejects, line breaks kept (as
    _NOT_ALNUM_RE, sparing \\n): `\\w` is isalnum() or an underscore. Two steps, as
    one pattern that spares line breaks but not underscores, (?:[^\\w\\n]|_)+, is tried
    at every character and took twice as long."""
    return _NOT_WORD_KEEP_LINES_RE.sub("", joined.replace("_", ""))


def _has_words(display: str) -> bool:
    """Latin words to keep apart, or letters to lower-case: match_text's slow path."""
    return _LATIN_RE.search(display) is not None or display.lower() != display


def match_texts(displays: Sequence[str]) -> list[MatchText]:
    """`match_text` of each display text (worked out once for a text seen before). Those
    without Latin words (most of a Chinese call) are reduced and keyed in one pass over
    all of them joined by line breaks."""
    new_match_text = MatchText
    return [new_match_text(*fields) for fields in
            kept_many(_MATCH_FORMS, displays, _match_fields_joined, KEPT_TEXTS)]


def _fields(m: MatchText) -> tuple:
    return m.display, m.text, m._offsets, m.pinyin, m.loose


def _match_fields_joined(displays: Sequence[str]) -> list[tuple]:
    """MatchText fields of each display text (see match_texts)."""
    joined = "\n".join(displays)
    if joined.count("\n") == len(displays) - 1 and not _has_words(joined):
        joinable, plain = [True] * len(displays), displays  # the usual Chinese call
    else:
        joinable = [not _has_words(d) and "\n" not in d for d in displays]
        plain = [d for d, ok in zip(displays, joinable) if ok]
        joined = "\n".join(plain)
    if len(plain) < 2:
        return [_fields(match_text(d)) for d in displays]
    text = _without_punctuation(joined)
    keyed = text if _NUMERAL_SET.isdisjoint(text) else _NUMERAL_RUN_RE.sub(
        lambda run: run.group().translate(_NUMERAL_TABLE), text)
    pinyin, loose = _keys_of(keyed)
    forms = iter(zip(plain, text.split("\n"), pinyin.split("\n"), loose.split("\n")))
    out = []
    for display, ok in zip(displays, joinable):
        if ok:
            d, t, p, lo = next(forms)
            out.append((d, t, None, p, lo))
        else:
            out.append(_fields(match_text(display)))
    return out


def normalise_phrase(phrase: str) -> str:
    """A lexicon phrase in match form (display-normalised, then match form)."""
    return match_text(to_display(phrase)).text


def pinyin_key(phrase: str, loose: bool = False) -> str:
    """The pinyin key of a phrase in match form (see MatchText)."""
    m = match_text(to_display(phrase))
    return m.loose if loose else m.pinyin


# --- tokenisation ----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    words = resources.files("qa").joinpath("data/domain_words.txt").read_text("utf-8")
    for line in words.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, *freq = line.split()
            tokenizer.add_word(word, int(freq[0]) if freq else 20000)
    return tokenizer


_EN_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str, language: str | None = None, hmm: bool = True) -> list[str]:
    """Words of a display text: jieba (with the bank/securities domain dictionary) for
    Chinese, lower-cased word tokens for English. Punctuation and spaces are dropped.
    `hmm=False` skips jieba's guessing of words not in its dictionaries (faster)."""
    language = language or detect_language(text)
    if language.startswith("en"):
        return _EN_WORD_RE.findall(text.lower())
    return [w for w in _jieba().lcut(text, HMM=hmm) if w.strip() and any(c.isalnum() for c in w)]


# --- numbers, PII and redaction ----------------------------------------------------------

_RUN_SEPARATORS = set(" -,，.、")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SECRET_CUE_RE = re.compile(
    r"(密码|验证码|动态码|校验码|安全码|cvv2?|cvc|pin码|\bpin\b|password|passcode|security code|"
    r"verification code|one[- ]time code)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DigitRun:
    """Digits read from display[start:end]; positions are the display indices of each."""

    start: int
    end: int
    digits: str
    positions: tuple[int, ...]


@dataclass(frozen=True)
class PiiSpan:
    kind: str  # card | id_number | phone | secret | number
    start: int
    end: int
    digits: str
    positions: tuple[int, ...]
    valid: bool  # checksum (Luhn / ID check digit) or pattern confirmed


_DATE_TIME_RE = re.compile(
    r"\d{4}\s?[-/.年]\s?\d{1,2}\s?[-/.月]\s?\d{1,2}日?|\d{1,2}\s?[:：]\s?\d{2}(?:[:：]\d{2})?")


def spoken_digit_runs(display: str, min_digits: int = 3) -> list[DigitRun]:
    """Runs of digits, written (6225 8801) or spoken one by one (幺三八, 洞, 两), allowing
    spaces, hyphens and commas between them. An ID number's final X is included. Dates
    and clock times written in digits (2026-01-15 10:30) are not runs."""
    runs: list[DigitRun] = []
    blocked = {i for m in _DATE_TIME_RE.finditer(display) for i in range(m.start(), m.end())}
    i, n = 0, len(display)
    while i < n:
        if display[i] not in NUMERAL_DIGITS or i in blocked:
            i += 1
            continue
        positions: list[int] = []
        digits: list[str] = []
        j = i
        while j < n:
            ch = display[j]
            if j in blocked:
                break
            if ch in NUMERAL_DIGITS:
                positions.append(j)
                digits.append(NUMERAL_DIGITS[ch])
                j += 1
            elif ch in "xX" and len(digits) == 17:
                positions.append(j)
                digits.append("X")
                j += 1
                break
            elif (ch in _RUN_SEPARATORS and j + 1 < n and display[j + 1] in NUMERAL_DIGITS
                  and j + 1 not in blocked):
                j += 1
            else:
                break
        # Chinese numerals alone (一二 in 一二年级) count only as part of a longer run.
        if len(digits) >= min_digits:
            runs.append(DigitRun(positions[0], positions[-1] + 1, "".join(digits),
                                 tuple(positions)))
        i = j if j > i else i + 1
    return runs


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def china_id_valid(digits: str) -> bool:
    """An 18-character resident ID number with a plausible birth date and check digit."""
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    try:
        born = datetime.date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS)) % 11]
    return digits[17].upper() == check


def _classify_run(run: DigitRun) -> tuple[str, bool] | None:
    d = run.digits
    if len(d) == 18 and china_id_valid(d):
        return "id_number", True
    if 15 <= len(d) <= 19 and d.isdigit():
        return "card", luhn_valid(d)
    if len(d) == 11 and re.fullmatch(r"1[3-9]\d{9}", d):
        return "phone", True
    if 10 <= len(d) <= 12 and d.startswith("0"):
        return "phone", True
    if len(d) >= 9:
        return "number", False
    return None


def find_pii(display: str) -> list[PiiSpan]:
    """Card numbers (Luhn checked), 18-digit ID numbers (check digit), mobile and landline
    phone numbers, other long numbers, and secrets said after a cue (密码是…, CVV …)."""
    if len(_NUMERAL_RE.findall(display)) < 3:
        return []
    spans: list[PiiSpan] = []
    lowered = display.lower()
    for run in spoken_digit_runs(display):
        kind = _classify_run(run)
        if kind is not None:
            spans.append(PiiSpan(kind[0], run.start, run.end, run.digits, run.positions,
                                 kind[1]))
            continue
        cue = None
        for m in _SECRET_CUE_RE.finditer(lowered, max(0, run.start - 12), run.start):
            cue = m
        if cue is not None and 3 <= len(run.digits) <= 8:
            spans.append(PiiSpan("secret", run.start, run.end, run.digits, run.positions, True))
    return spans


_KEEP_LAST = {"card": 4, "id_number": 4, "phone": 4, "number": 0, "secret": 0}
_KEEP_FIRST = {"phone": 3}


def redact(display: str, kinds: frozenset[str] | set[str] | None = None,
           mask: str = "*") -> str:
    """The display text with PII digits replaced by `mask`, one for one, so character
    offsets stay valid. Cards and ID numbers keep their last four digits, mobile numbers
    their first three and last four (138****5678); secrets and other long numbers are
    masked entirely. `kinds` limits which kinds are masked (default: all)."""
    spans = find_pii(display)
    if not spans:
        return display
    chars = list(display)
    for span in spans:
        if kinds is not None and span.kind not in kinds:
            continue
        keep_first = _KEEP_FIRST.get(span.kind, 0)
        keep_last = _KEEP_LAST.get(span.kind, 0)
        count = len(span.positions)
        if count - keep_first - keep_last < 4:
            keep_first, keep_last = 0, min(keep_last, max(0, count - 6))
        for k, pos in enumerate(span.positions):
            if k < keep_first or k >= count - keep_last:
                continue
            chars[pos] = mask
    return "".join(chars)
