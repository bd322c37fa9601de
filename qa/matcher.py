"""Find many lexicon phrases in one pass, tolerant of ASR errors.

A `PhraseMatcher` holds Aho-Corasick automatons over three keys of every phrase: the match
form (exact), the pinyin key (homophones: 招商因行 for 招商银行) and, when asked, the loose
pinyin key (zh/z, -ng/-n, 您/你 merged). All keys have one character per match-form
character (see qa.text.MatchText), so every hit maps back to the display text.
Allow-list contexts suppress hits they contain (不知道您现在是否方便 covers 不知道).
`fuzzy_locate` aligns one phrase approximately (rapidfuzz) for standard phrases said with
dropped or extra characters.
"""

from __future__ import annotations

import functools
import operator
import re
import types
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import ahocorasick_rs
import jellyfish
from rapidfuzz import fuzz

from qa.text import MatchText, _char_keys, _is_cjk, in_context, kept_many, match_text, to_display

MatchForm = Literal["exact", "pinyin", "loose", "fuzzy", "sound", "regex"]


@dataclass(frozen=True)
class LexiconEntry:
    phrase: str
    category: str = ""
    severity: str = ""


@dataclass(frozen=True)
class PhraseHit:
    """`entry` matched match-form characters [start, end) by `form` (score 100 unless
    fuzzy)."""

    entry: LexiconEntry
    start: int
    end: int
    form: MatchForm
    score: float = 100.0


def _cjk_count(text: str) -> int:
    return sum(1 for ch in text if _is_cjk(ch))


def _digit_count(text: str) -> int:
    return sum(1 for ch in text if ch.isdigit())


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _on_word_boundaries(text: str, start: int, end: int) -> bool:
    if _is_word(text[start]) and start > 0 and _is_word(text[start - 1]):
        return False
    if _is_word(text[end - 1]) and end < len(text) and _is_word(text[end]):
        return False
    return True


class KeyAutomaton:
    """Aho-Corasick over distinct non-empty keys, each with a value: `find(haystack)` gives
    (key number, start, end) of every occurrence of every key, overlapping ones included,
    in character offsets; `values[key number]` is its value. ahocorasick-rs, which picks
    its automaton by the number of keys: a DFA for a few (one table lookup per byte), a
    contiguous NFA for many (a rubric's shared scan: its DFA would take 14 MB, which a
    call's other work evicts from the caches). pyahocorasick, used before, searched a
    node's children one by one: the root of a 500-phrase lexicon has some 300, tried for
    every character that starts no phrase."""

    __slots__ = ("values", "_search")

    def __init__(self, keys: Sequence[str], values: Sequence):
        self.values = tuple(values)
        self._search = ahocorasick_rs.AhoCorasick(
            list(keys), matchkind=ahocorasick_rs.MATCHKIND_STANDARD).find_matches_as_indexes

    def find(self, haystack: str) -> list[tuple[int, int, int]]:
        return self._search(haystack, True)


def _automaton(keys: Iterable[tuple[str, int]]) -> KeyAutomaton | None:
    """An automaton whose values are (entry indices, needs a word-boundary check): only
    keys that start or end with a Latin letter or digit need one."""
    grouped: dict[str, list[int]] = {}
    for key, index in keys:
        if key:
            grouped.setdefault(key, []).append(index)
    if not grouped:
        return None
    return KeyAutomaton(list(grouped), [(tuple(indices), _is_word(key[0]) or _is_word(key[-1]))
                                        for key, indices in grouped.items()])


def _iter_hits(automaton: KeyAutomaton | None, haystack: str):
    if automaton is None or not haystack:
        return
    values = automaton.values
    for key, start, end in automaton.find(haystack):
        yield start, end, values[key][0]


def _mostly_inside(hit: PhraseHit, allowed: list[tuple[int, int]]) -> bool:
    """Whether an allowed context covers at least half of a hit: the hit is then part of
    the polite phrase (这个[我不清楚的地方帮您核实一下] cancels 这个我不清楚)."""
    length = hit.end - hit.start
    return any(2 * (min(hit.end, b) - max(hit.start, a)) >= length for a, b in allowed)


class PhraseMatcher:
    """All occurrences of a lexicon's phrases in a MatchText.

    pinyin: also match homophones for phrases of at least `min_pinyin_chars` CJK
    characters (short phrases have too many homophones to match safely).
    loose: also match on the loose pinyin key (for standard phrases, not forbidden ones).
    allow: phrases whose occurrence around a hit (covering at least half of it) cancels it.
    """

    def __init__(self, entries: Sequence[LexiconEntry], *, pinyin: bool = True,
                 loose: bool = False, min_pinyin_chars: int = 3,
                 allow: Sequence[str] = ()):
        self.entries = tuple(entries)
        forms = [match_text(to_display(e.phrase)) for e in self.entries]
        # Digits count like characters: "95588" matches 九五五八八 through the key.
        eligible = [(f, i) for i, f in enumerate(forms)
                    if _cjk_count(f.text) >= min_pinyin_chars or _digit_count(f.text) >= 3]
        self.keys: dict[str, list[tuple[str, int]]] = {
            "exact": [(f.text, i) for i, f in enumerate(forms)],
            "pinyin": [(f.pinyin, i) for f, i in eligible] if pinyin else [],
            "loose": [(f.loose, i) for f, i in eligible] if loose else [],
        }
        self._exact = _automaton(self.keys["exact"])
        self._pinyin = _automaton(self.keys["pinyin"])
        self._loose = _automaton(self.keys["loose"])
        allow_forms = [match_text(to_display(a)) for a in allow]
        self._allow_exact = _automaton((f.text, i) for i, f in enumerate(allow_forms))
        self._allow_pinyin = _automaton(
            (f.pinyin, i) for i, f in enumerate(allow_forms)
            if _cjk_count(f.text) >= min_pinyin_chars) if pinyin else None

    def __len__(self) -> int:
        return len(self.entries)

    def allowed_spans(self, m: MatchText) -> list[tuple[int, int]]:
        """Match-form spans of the allow-list contexts said in `m`."""
        if self._allow_exact is None and self._allow_pinyin is None:
            return []
        spans = [(s, e) for s, e, _ in _iter_hits(self._allow_exact, m.text)]
        spans += [(s, e) for s, e, _ in _iter_hits(self._allow_pinyin, m.pinyin)]
        return spans

    def raw_hits(self, m: MatchText) -> list[tuple[str, int, int, tuple[int, ...], bool]]:
        """(form, start, end, entry indices, needs a word-boundary check) of every key
        found, exact first (what SharedScan computes for many matchers at once)."""
        out = []
        for form, automaton, haystack in (("exact", self._exact, m.text),
                                          ("pinyin", self._pinyin, m.pinyin),
                                          ("loose", self._loose, m.loose)):
            if automaton is None:
                continue
            values = automaton.values
            for key, start, end in automaton.find(haystack):
                indices, check_boundary = values[key]
                out.append((form, start, end, indices, check_boundary))
        return out

    def find(self, m: MatchText, apply_allow: bool = True,
             raw: Sequence[tuple[str, int, int, tuple[int, ...], bool]] | None = None
             ) -> list[PhraseHit]:
        """Every hit, exact first; a homophone hit on the same span as an exact hit of the
        same phrase is dropped. Sorted by position. Hits inside an allow-list context are
        dropped unless `apply_allow` is false (see `without_allowed`). `raw` is this
        matcher's share of a SharedScan of `m`, when there is one."""
        hits: list[PhraseHit] = []
        seen: set[tuple[int, int, int]] = set()
        entries = self.entries
        text = m.text
        for form, start, end, indices, check_boundary in (self.raw_hits(m) if raw is None else raw):
            if check_boundary and not _on_word_boundaries(text, start, end):
                continue
            for index in indices:
                key = (start, end, index)
                if key in seen:
                    continue
                seen.add(key)
                hits.append(PhraseHit(entries[index], start, end, form))  # type: ignore[arg-type]
        if hits and apply_allow:
            hits = self.without_allowed(m, hits)
        if len(hits) > 1:
            hits.sort(key=lambda h: (h.start, -h.end, h.form != "exact"))
        return hits


    def without_allowed(self, m: MatchText, hits: list[PhraseHit]) -> list[PhraseHit]:
        """`hits` less those mostly inside an allow-list context said in `m`."""
        allowed = self.allowed_spans(m)
        if not allowed:
            return hits
        return [h for h in hits if not _mostly_inside(h, allowed)]


KEPT_SCANS = 50_000  # texts whose shared-scan hits are kept (see SharedScan.scan_call_kept)
NO_HITS: Mapping = types.MappingProxyType({})  # a text's hits when it has none (read only)
_KEY_OF = {form: operator.attrgetter(name) for form, name in
           (("exact", "text"), ("pinyin", "pinyin"), ("loose", "loose"))}


class SharedScan:
    """The phrases of many matchers in one automaton per key form, so a segment is
    scanned once for a whole rubric; `scan` hands each matcher its share of the hits."""

    def __init__(self, matchers: Sequence[PhraseMatcher],
                 prefilters: Sequence["PatternPrefilter"] = ()):
        """`prefilters`' required literals are scanned for too (on the match form), each
        prefilter in a slot of its own after the matchers': a hit's indices are then the
        patterns that literal stands for."""
        owners = [*matchers, *prefilters]
        self.slots = {id(m): n for n, m in enumerate(owners)}
        self._known: dict[str, dict[int, tuple[tuple[str, int, int, tuple[int, ...], bool], ...]]] = {}
        self._matchers = owners  # keeps the ids valid
        self._automatons = []
        for form in ("exact", "pinyin", "loose"):
            grouped: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
            for slot, matcher in enumerate(matchers):
                per_key: dict[str, list[int]] = {}
                for key, index in matcher.keys[form]:
                    if key:
                        per_key.setdefault(key, []).append(index)
                for key, indices in per_key.items():
                    grouped.setdefault(key, []).append((slot, tuple(indices)))
            if form == "exact":
                for slot, prefilter in enumerate(prefilters, len(matchers)):
                    for literal, indices in prefilter.literals.items():
                        grouped.setdefault(literal, []).append((slot, indices))
            automaton = None
            if grouped:
                automaton = KeyAutomaton(
                    list(grouped), [(_is_word(key[0]) or _is_word(key[-1]), tuple(owners))
                                    for key, owners in grouped.items()])
            self._automatons.append((form, automaton))

    def slot(self, owner: "PhraseMatcher | PatternPrefilter") -> int | None:
        return self.slots.get(id(owner))

    def scan_call(self, forms: Sequence[MatchText]
                  ) -> list[dict[int, tuple[tuple[str, int, int, tuple[int, ...], bool], ...]]]:
        """`scan` of each text, in one pass per key form over all of them joined by line
        breaks (see `hits_by_text`), the hits frozen into tuples: they are kept across
        calls (see scan_call_kept), and lists, unlike tuples of numbers and strings, stay
        on the garbage collector's books for good."""
        return [{slot: tuple(hits) for slot, hits in found.items()} if found else found
                for found in self.hits_by_text(forms)]

    def hits_by_text(self, forms: Sequence[MatchText]
                     ) -> list[dict[int, list[tuple[str, int, int, tuple[int, ...], bool]]]]:
        """Per text, its raw hits by matcher slot, as `scan` finds them, from one pass per
        key form over all the texts joined by line breaks: no key holds a line break, so
        no hit spans two texts, and each text's hits come in the order `scan` gives them.
        A text without hits gets NO_HITS, one shared empty mapping (most texts have none)."""
        out: list = [NO_HITS] * len(forms)
        for form, automaton in self._automatons:
            if automaton is None:
                continue
            haystack = "\n".join(map(_KEY_OF[form], forms))
            found = automaton.find(haystack)
            if not found:
                continue
            values = automaton.values
            # A hit's text is the number of line breaks before it, counted on from the
            # previous text's start (hits come by their end, so a start may go back a
            # little); most hits are in the text of the hit before.
            text, offset, text_end = 0, 0, -1  # text 0 starts at 0; no text known yet
            hits = NO_HITS
            for key, start, end in found:
                if not offset <= start < text_end:
                    if start >= offset:
                        text += haystack.count("\n", offset, start)
                    else:
                        text -= haystack.count("\n", start, offset)
                    offset = haystack.rfind("\n", 0, start) + 1
                    text_end = haystack.find("\n", start)
                    if text_end < 0:
                        text_end = len(haystack)
                    hits = out[text]
                    if hits is NO_HITS:
                        hits = out[text] = {}
                check_boundary, owners = values[key]
                for slot, indices in owners:
                    hit = (form, start - offset, end - offset, indices, check_boundary)
                    if slot in hits:
                        hits[slot].append(hit)
                    else:
                        hits[slot] = [hit]
        return out

    def scan_call_kept(self, forms: Sequence[MatchText]
                       ) -> list[dict[int, tuple[tuple[str, int, int, tuple[int, ...], bool], ...]]]:
        """`scan_call`, with the hits of each text kept across calls (a text's keys are a
        function of its match form): only texts not seen before are scanned, in one pass.
        The hits are shared between calls: read them, do not change them."""
        first = {f.text: f for f in forms}
        return kept_many(self._known, [f.text for f in forms],
                         lambda new: self.scan_call([first[t] for t in new]), KEPT_SCANS)

    def scan(self, m: MatchText) -> dict[int, tuple[tuple[str, int, int, tuple[int, ...], bool], ...]]:
        """Per matcher slot, its raw hits in `m` (see PhraseMatcher.raw_hits)."""
        out: dict[int, list[tuple[str, int, int, tuple[int, ...], bool]]] = {}
        for form, automaton in self._automatons:
            if automaton is None:
                continue
            haystack = m.text if form == "exact" else (m.pinyin if form == "pinyin" else m.loose)
            values = automaton.values
            for key, start, end in automaton.find(haystack):
                check_boundary, owners = values[key]
                for slot, indices in owners:
                    out.setdefault(slot, []).append((form, start, end, indices, check_boundary))
        return {slot: tuple(hits) for slot, hits in out.items()}


def fuzzy_locate(phrase: MatchText, target: MatchText, threshold: float) -> tuple[float, int, int] | None:
    """Approximate occurrence of `phrase` in `target`, compared on loose pinyin keys:
    (score 0-100, start, end) in target's match form, or None below `threshold`."""
    needle, hay = phrase.loose, target.loose
    if not needle or len(hay) < max(2, int(len(needle) * 0.7)):
        return None
    alignment = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=threshold)
    if alignment is None:
        return None
    if len(needle) <= len(hay):
        start, end = alignment.dest_start, alignment.dest_end
    else:  # the whole (shorter) target was aligned inside the phrase
        start, end = 0, len(hay)
    if end <= start:
        return None
    return alignment.score, start, end


_LATIN_WORD_RE = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=4096)
def _sound_keys(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(words, metaphone key of each) of an English name; no keys when a word is not plain
    ASCII letters or has no key."""
    words = tuple(name.lower().split())
    if not words or not all(w.isascii() and w.isalpha() for w in words):
        return words, ()
    keys = tuple(jellyfish.metaphone(w) for w in words)
    return words, keys if all(keys) else ()


def sound_alike_locate(name: str, target: MatchText, min_ratio: float = 60
                       ) -> tuple[float, int, int] | None:
    """An English name as ASR spells it by sound ("brecks" for Brex, "zoppa" for Zopa): the
    first run of words in `target` whose metaphone keys equal the name's, word for word, and
    whose spelling is still close to it (ratio at least `min_ratio`, so "today" is not
    "Tide"). (ratio, start, end) in target's match form, or None. The English counterpart of
    the pinyin keys."""
    words, keys = _sound_keys(name)
    if not keys:
        return None
    tokens = list(_LATIN_WORD_RE.finditer(target.text))
    n = len(words)
    for i in range(len(tokens) - n + 1):
        window = tokens[i:i + n]
        if any(jellyfish.metaphone(t.group()) != k for t, k in zip(window, keys)):
            continue
        heard = " ".join(t.group() for t in window)
        ratio = fuzz.ratio(heard, " ".join(words))
        if ratio >= min_ratio:
            return ratio, window[0].start(), window[-1].end()
    return None


def key_pattern(pattern: str, loose: bool = False) -> re.Pattern[str]:
    """A regular expression for the pinyin key of a match text: every literal CJK character
    of `pattern` is replaced by its key, so 工号 also matches 公号. Use `.` for any
    character; ranges of CJK characters cannot be expressed in this form."""
    out = []
    for ch in pattern:
        if _is_cjk(ch):
            out.append(re.escape(_char_keys(ch)[1 if loose else 0]))
        else:
            out.append(ch)
    return re.compile(in_context("".join(out), loose))


# --- literal prefilter for regular expressions ---------------------------------------------

try:
    from re import _parser as _sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_MAX_ALTERNATIVES = 64  # larger literal sets are not worth enumerating


def _product(left: frozenset[str] | None, right: frozenset[str] | None) -> frozenset[str] | None:
    if left is None or right is None or len(left) * len(right) > _MAX_ALTERNATIVES:
        return None
    return frozenset(a + b for a in left for b in right)


def _exact_strings(nodes) -> frozenset[str] | None:
    """Every string a parsed regex sequence can match, when they are few and literal
    (自己(名字|密码)? -> 自己, 自己名字, 自己密码), else None."""
    out: frozenset[str] | None = frozenset({""})
    for op, av in nodes:
        out = _product(out, _exact_node(op, av))
        if out is None:
            return None
    return out


def _exact_node(op, av) -> frozenset[str] | None:
    name = str(op)
    if name == "LITERAL":
        return frozenset({chr(av)})
    if name == "IN":
        if all(str(o) == "LITERAL" for o, _ in av) and len(av) <= _MAX_ALTERNATIVES:
            return frozenset(chr(c) for _, c in av)
        return None
    if name == "SUBPATTERN":
        _, add_flags, del_flags, sub = av
        return None if add_flags or del_flags else _exact_strings(sub)
    if name == "BRANCH":
        out: set[str] = set()
        for alternative in av[1]:
            strings = _exact_strings(alternative)
            if strings is None or len(out) + len(strings) > _MAX_ALTERNATIVES:
                return None
            out |= strings
        return frozenset(out)
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        low, high, item = av
        strings = _exact_strings(item)
        if strings is None or high > 3:
            return None
        out_set: set[str] = set()
        power: frozenset[str] | None = frozenset({""})
        for count in range(high + 1):
            if count >= low:
                out_set |= power  # type: ignore[arg-type]
            power = _product(power, strings)
            if power is None or len(out_set) > _MAX_ALTERNATIVES:
                return None
        return frozenset(out_set)
    return None


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """The more selective of two literal sets: longer shortest string, then fewer."""
    if a is None or "" in a:
        return None if b is None or "" in b else b
    if b is None or "" in b:
        return a
    return max(a, b, key=lambda s: (min(map(len, s)), -len(s)))


def _required_in(nodes) -> frozenset[str] | None:
    """Literal strings at least one of which every match of a parsed sequence contains,
    or None when none can be named."""
    best: frozenset[str] | None = None
    run: frozenset[str] | None = frozenset({""})
    for op, av in nodes:
        exact = _exact_node(op, av)
        run = _product(run, exact) if run is not None else exact
        if exact is None:
            run = frozenset({""})
        best = _better(best, run)
        best = _better(best, _required_node(op, av))
    return best


def _required_node(op, av) -> frozenset[str] | None:
    name = str(op)
    if name == "SUBPATTERN":
        _, add_flags, del_flags, sub = av
        return None if add_flags or del_flags else _required_in(sub)
    if name == "BRANCH":
        out: set[str] = set()
        for alternative in av[1]:
            strings = _required_in(alternative)
            if strings is None or "" in strings:
                return None
            out |= strings
        return frozenset(out) if len(out) <= 4 * _MAX_ALTERNATIVES else None
    if name in ("MAX_REPEAT", "MIN_REPEAT") and av[0] >= 1:
        return _required_in(av[2])
    return _exact_node(op, av)


def leading_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """For a pattern anchored at the start of the text (`^` or `\\A`, not MULTILINE):
    strings one of which every match starts the text with (for ^(对|是|好了): 对, 是,
    好了), or None when it is not anchored or names none."""
    return _leading_literals(pattern.pattern, pattern.flags)


@functools.lru_cache(maxsize=8192)
def _leading_literals(pattern: str, flags: int) -> frozenset[str] | None:
    if flags & (re.IGNORECASE | re.VERBOSE | re.MULTILINE):
        return None
    try:
        nodes = list(_sre_parse.parse(pattern, flags))
    except Exception:  # noqa: BLE001 - an unparsable pattern just gets no prefilter
        return None
    if not nodes or str(nodes[0][0]) != "AT" or str(nodes[0][1]) not in (
            "AT_BEGINNING", "AT_BEGINNING_STRING"):
        return None
    prefixes: frozenset[str] | None = frozenset({""})
    for op, av in nodes[1:]:
        longer = _product(prefixes, _exact_node(op, av))
        if longer is None:
            break
        prefixes = longer
    return prefixes if prefixes and "" not in prefixes else None


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings at least one of which occurs in every match of `pattern` (for
    (说|讲)(了|过)(遍|次): 说了, 说过, 讲了, 讲过), or None when the pattern does not
    name any (it may match without a fixed character, or it ignores case)."""
    return _required_literals(pattern.pattern, pattern.flags)


@functools.lru_cache(maxsize=8192)
def _required_literals(pattern: str, flags: int) -> frozenset[str] | None:
    if flags & (re.IGNORECASE | re.VERBOSE):
        return None
    try:
        parsed = _sre_parse.parse(pattern, flags)
    except Exception:  # noqa: BLE001 - an unparsable pattern just gets no prefilter
        return None
    strings = _required_in(list(parsed))
    return strings if strings and "" not in strings else None


class PatternPrefilter:
    """Which of many regular expressions can match in a text, from one Aho-Corasick scan
    for their required literals (see `required_literals`): most lexicon patterns are
    absent from most calls, and this tells so without running them."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]):
        # A pattern anchored at the start is told by how the text starts, not by a scan:
        # ^(对|是|嗯|…)'s one-character literals occur all through a call (是 in 就是, 还是),
        # and were a third of the hits of a rubric's shared scan.
        leading = [leading_literals(p) for p in patterns]
        self.anchored = tuple((i, tuple(sorted(prefixes)))
                              for i, prefixes in enumerate(leading) if prefixes is not None)
        self.always = tuple(i for i, p in enumerate(patterns)
                            if leading[i] is None and required_literals(p) is None)
        owners: dict[str, list[int]] = {}
        for i, p in enumerate(patterns):
            if leading[i] is None:
                for literal in required_literals(p) or ():
                    owners.setdefault(literal, []).append(i)
        # literal -> the patterns it stands for (SharedScan scans a call for them all);
        # a literal holding a line break could span two of a call's joined texts
        self.literals = {literal: tuple(indices) for literal, indices in owners.items()
                         if "\n" not in literal}
        self.joinable = len(self.literals) == len(owners)
        # Values are literal numbers (small ints hash fast; one literal is found many times).
        self._owners = [tuple(indices) for indices in owners.values()]
        self._automaton = KeyAutomaton(list(owners), range(len(owners))) if owners else None

    def candidates(self, text: str) -> frozenset[int]:
        """Indices of the patterns that may match in `text` (or in a part of it)."""
        found = set(self.always)
        if self._automaton is not None and text:
            for number in {number for number, _, _ in self._automaton.find(text)}:
                found.update(self._owners[number])
        found.update(self.anchored_candidates(text))
        return frozenset(found)

    def anchored_candidates(self, text: str) -> list[int]:
        """Indices of the anchored patterns that may match `text`: those it starts with
        a leading literal of."""
        return [i for i, prefixes in self.anchored if text.startswith(prefixes)]
