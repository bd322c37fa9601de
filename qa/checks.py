"""Check types: one pure function each, registered by name, configured from rubric YAML.

A check takes a prepared call (`CallContext`) and its validated parameters and returns
findings. Every finding explains itself: what matched (or what was missing), by which form
(exact, pinyin homophone, loose pinyin, fuzzy with its score, regex), where (segment,
characters) and when (seconds). A check whose subject does not occur in the call (no hold,
no account information) returns findings with `passed=None`: not applicable.

Parameters are pydantic models; lexicon names in them are bound to phrase lists by
qa.rubric when the rubric is loaded (`bind`), so matchers are compiled once per rubric.
"""

from __future__ import annotations

import functools
import re
import weakref
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr
from rapidfuzz import fuzz, process

from qa.matcher import (LexiconEntry, PatternPrefilter, PhraseHit, PhraseMatcher, SharedScan,
                        fuzzy_locate, key_pattern, required_literals, sound_alike_locate)
from qa.model import Finding, Segment, Transcript
from qa.text import Kept, MatchText, PiiSpan, find_pii, keep, match_text, match_texts, to_display

SpeakerFilter = Literal["agent", "customer", "any"]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]  # a regular expression, checked on load


# --- the prepared call -------------------------------------------------------------------

@dataclass(frozen=True)
class PreparedSegment:
    index: int
    segment: Segment
    match: MatchText

    def time_at(self, char_index: int) -> float:
        """Estimated time of a match-form character: word timestamps when the engine gave
        them, else interpolated over the segment by character position."""
        seg = self.segment
        n = len(self.match.text)
        if n == 0 or seg.end <= seg.start:
            return seg.start
        return seg.start + (seg.end - seg.start) * min(char_index, n) / n


def _prepared_segment(index: int, segment: Segment, match: MatchText) -> PreparedSegment:
    """PreparedSegment(index, segment, match), its fields set at once (as
    qa.model._validated_segment does: a frozen dataclass's __init__ sets them one by one
    through object.__setattr__, several times slower, for every segment of every call)."""
    prepared = object.__new__(PreparedSegment)
    prepared.__dict__.update(index=index, segment=segment, match=match)
    return prepared


@dataclass(frozen=True)
class Organisation:
    name: str
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def fits(self, organisation: str) -> bool:
        org = normalise_key(organisation)
        return any(normalise_key(n) == org for n in self.names()) or normalise_key(self.name) in org


@dataclass(frozen=True)
class Prediction:
    """A model's prediction for a call: the most probable label, its probability, every
    label's score, and task-specific detail (for per-turn models the roll-up over turns)."""

    model: str
    label: str
    probability: float
    scores: Mapping[str, float] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Interval:
    start: float
    end: float


@dataclass(frozen=True)
class VoiceActivity:
    """Speech intervals per role measured from the audio (qa.audio); when present, silence
    and overlap checks use it instead of segment times."""

    agent: tuple[Interval, ...] = ()
    customer: tuple[Interval, ...] = ()
    duration: float = 0.0


@dataclass(frozen=True)
class CallContext:
    transcript: Transcript
    segments: tuple[PreparedSegment, ...]
    duration: float
    organisations: tuple[Organisation, ...] = ()
    organisation_patterns: tuple[str, ...] = ()
    voice: VoiceActivity | None = None
    predictions: Mapping[str, Prediction] = field(default_factory=dict)
    scan: SharedScan | None = None
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    _scanned: list[Any] = field(default_factory=list, compare=False, repr=False)

    def raw_hits(self, matcher: PhraseMatcher, ps: PreparedSegment):
        """A matcher's raw hits in a segment from the rubric's shared scan (scanning the
        segment once for every phrase set), or None when the matcher is not in it."""
        if self.scan is None:
            return None
        slot = self.scan.slots.get(id(matcher))
        if slot is None:
            return None
        return self._shared_hits()[ps.index].get(slot, ())

    def segments_with_hits(self, matcher: PhraseMatcher | PatternPrefilter) -> frozenset[int] | None:
        """Indices of the segments in which the shared scan found a phrase of `matcher`
        (or a required literal of a prefilter's patterns), or None when it is not in it."""
        slot = self.scan.slots.get(id(matcher)) if self.scan is not None else None
        if slot is None:
            return None
        by_slot = self.memo.get("segments with hits")
        if by_slot is None:  # for every matcher at once
            found: dict[int, set[int]] = {}
            for i, hits in enumerate(self._shared_hits()):
                for hit_slot in hits:
                    found.setdefault(hit_slot, set()).add(i)
            by_slot = self.memo["segments with hits"] = {k: frozenset(v) for k, v in found.items()}
        with_hits = by_slot.get(slot, frozenset())
        if isinstance(matcher, PatternPrefilter) and matcher.anchored:
            # the scan holds no literals of anchored patterns: add the segments that
            # start with one of theirs
            key = ("anchored segments", slot)
            if key not in self.memo:
                self.memo[key] = with_hits | {ps.index for ps in self.segments
                                              if matcher.anchored_candidates(ps.match.text)}
            with_hits = self.memo[key]
        return with_hits

    def pattern_candidates(self, prefilter: PatternPrefilter, ps: PreparedSegment) -> frozenset[int]:
        """`prefilter.candidates(ps.match.text)`, from the literals the shared scan found
        in the segment when the prefilter is in it."""
        slot = self.scan.slots.get(id(prefilter)) if self.scan is not None else None
        if slot is None:
            return prefilter.candidates(ps.match.text)
        hits = self._shared_hits()[ps.index].get(slot)
        anchored = prefilter.anchored_candidates(ps.match.text) if prefilter.anchored else ()
        if not hits:
            return frozenset(prefilter.always).union(anchored)
        return frozenset(prefilter.always).union(anchored, *(hit[3] for hit in hits))

    def _shared_hits(self) -> list[Any]:
        """Per segment, the shared scan's raw hits by matcher slot (the whole call is
        scanned at the first question)."""
        scanned = self._scanned
        if not scanned and self.scan is not None:
            scanned.extend(self.scan.scan_call_kept([s.match for s in self.segments]))
        return scanned

    @property
    def language(self) -> str:
        return self.transcript.language

    def by_speaker(self, speaker: SpeakerFilter) -> tuple[PreparedSegment, ...]:
        if speaker == "any":
            return self.segments
        key = ("speaker", speaker)
        if key not in self.memo:
            self.memo[key] = tuple(s for s in self.segments if s.segment.speaker == speaker)
        return self.memo[key]


def prepare(transcript: Transcript, *, organisations: Sequence[Organisation] = (),
            organisation_patterns: Sequence[str] = (), voice: VoiceActivity | None = None,
            predictions: Mapping[str, Prediction] | None = None,
            scan: SharedScan | None = None) -> CallContext:
    """Normalise every segment once (match form and pinyin keys) for all checks."""
    forms = match_texts([s.text for s in transcript.segments])
    prepared = tuple(_prepared_segment(i, s, m)
                     for i, (s, m) in enumerate(zip(transcript.segments, forms)))
    return CallContext(transcript, prepared, transcript.duration, tuple(organisations),
                       tuple(organisation_patterns), voice, dict(predictions or {}), scan)


@functools.lru_cache(maxsize=8192)
def normalise_key(text: str) -> str:
    return match_text(to_display(text)).text


# --- registry ----------------------------------------------------------------------------

class CheckParams(BaseModel):
    """Parameters shared by every check type."""

    model_config = ConfigDict(extra="forbid")
    type: str
    speaker: SpeakerFilter = "agent"
    within_s: float | None = Field(default=None, gt=0, description="only the first N seconds")
    last_s: float | None = Field(default=None, gt=0, description="only the last N seconds")

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        """Resolve lexicon names and compile matchers (called once by the rubric loader):
        by default, bind every phrase set among the parameters (`first`, `ask`, ...)."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, PhraseSet):
                value.bind(lexicons, models)

    def in_window(self, t: float, duration: float) -> bool:
        if self.within_s is not None and t > self.within_s:
            return False
        if self.last_s is not None and t < duration - self.last_s:
            return False
        return True

    def window_text(self) -> str:
        parts = []
        if self.within_s is not None:
            parts.append(f"in the first {self.within_s:g} s")
        if self.last_s is not None:
            parts.append(f"in the last {self.last_s:g} s")
        return " ".join(parts)


CheckFunction = Callable[[CallContext, Any, str], list[Finding]]


@dataclass(frozen=True)
class CheckType:
    name: str
    params: type[CheckParams]
    run: CheckFunction


CHECKS: dict[str, CheckType] = {}


def check(name: str, params: type[CheckParams]) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under `name` with its parameter model."""

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = CheckType(name, params, function)
        return function

    return register


def run_check(ctx: CallContext, params: CheckParams, item_id: str) -> list[Finding]:
    return CHECKS[params.type].run(ctx, params, item_id)


def private(model: BaseModel, name: str) -> Any:
    """A private attribute of a pydantic model, read straight from where pydantic keeps
    them: an ordinary read (`model._name`) first fails, then goes through pydantic's
    __getattr__, which took several times longer in the per-segment loops."""
    values = model.__pydantic_private__
    return values[name] if values is not None and name in values else getattr(model, name)


def _lexicon(lexicons: Mapping[str, Sequence[LexiconEntry]], name: str) -> list[LexiconEntry]:
    if name not in lexicons:
        known = ", ".join(sorted(lexicons)) or "none"
        raise KeyError(f"unknown lexicon {name!r} (known: {known})")
    return list(lexicons[name])


def _fmt_t(t: float | None) -> str:
    return "?" if t is None else f"{t:.1f} s"


def _hit_finding(item_id: str, check_name: str, ps: PreparedSegment, start: int, end: int,
                 passed: bool | None, detail: str, **extra: Any) -> Finding:
    a, b = ps.match.span(start, end)
    return Finding(
        item_id=item_id, check=check_name, passed=passed, speaker=ps.segment.speaker,
        start=round(ps.time_at(start), 2), end=round(ps.time_at(end), 2),
        evidence=ps.match.display[a:b], detail=detail, segment_index=ps.index,
        char_start=a, char_end=b, **extra)


def _describe_form(hit_form: str, score: float) -> str:
    if hit_form == "exact":
        return "exact"
    if hit_form == "fuzzy":
        return f"fuzzy {score:.0f}"
    if hit_form == "sound":
        return f"sounds alike {score:.0f}"
    return {"pinyin": "homophone (pinyin)", "loose": "near-homophone (loose pinyin)",
            "regex": "pattern"}.get(hit_form, hit_form)


# --- phrase sets: the shared way to say "one of these phrases" ------------------------------

REGEX_PREFIX = "re:"
# An unknown English name: one word that is not a pronoun or function word.
_ENGLISH_NAME = (r"\b(?!(?:i|you|youre|im|am|are|is|was|were|we|who|this|that|it|its|the|a|an|"
                 r"to|for|with|and|not|now|me|my|your)\b)[a-z]+")
_BACKREF_RE = re.compile(r"\\\d|\(\?P[<=]")
_PLACEHOLDER_RE = re.compile(
    r"\{(company|agent_surname|agent_given_name|agent_given_last|agent_name|agent_name_part)\}")
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文",
    "司徒", "夏侯", "轩辕", "令狐", "钟离", "澹台", "南宫", "端木", "独孤", "西门",
)
_ORG_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "信用卡中心", "客户服务中心",
                 "客服中心", "服务热线", "客服热线", "热线", "总行", "分行",
                 " card services", " customer services", " customer service", " credit cards",
                 " credit card", " plc", " ltd", " inc", " limited", " group", " holdings",
                 " bank", " banking corporation", " bank berhad", " building society",
                 " insurance", " assurance",
                 # a credit union said by its brand (Dupaco Community Credit Union: Dupaco)
                 " community credit union", " federal credit union", " credit union",
                 # regions a brand is registered with but not said on the phone
                 " uk", " us", " usa", " hong kong", " hk", " china", " singapore", " australia",
                 " canada", " ireland", " europe", " international", " india", " malaysia",
                 " fiji", " kenya", " ghana", " zambia", " jamaica", " oman", " uae", " pakistan",
                 " sri lanka", " new zealand", " nz", " south africa", " nigeria", " philippines",
                 " qatar", " bahrain", " kuwait", " saudi arabia", " egypt", " tanzania", " uganda",
                 " rwanda", " botswana", " namibia", " malawi", " mauritius", " bangladesh", " nepal",
                 " malta", " cyprus", " indonesia", " thailand", " vietnam", " png",
                 "(中国)", "(香港)", "中国分行", "中国有限公司", "保险", "人寿", "财险", "产险",
                 "证券", "基金", "期货", "支付")
# regions said after a brand (汇丰银行（中国） is said 汇丰中国); any other parenthesised part is
# an alias the agent may say instead (财付通（微信支付）: 微信支付客服)
_PROVINCE_RE = re.compile(
    r"(河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|"
    r"云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆)(省|自治区|壮族自治区|回族自治区|维吾尔自治区)?")
# Hong Kong, Macau and Taiwan before a brand (香港汇丰, 台湾富邦产险) are not said either; the brand
# left may be two characters (汇丰), as no province-sized generic name follows them
_REGION_RE = re.compile(r"(中国)?(香港|澳门|台湾)")
# nor is a municipality or a large city before a private bank's brand (北京中关村银行: 中关村银行, 重庆富民银行:
# 富民银行), nor a country before a foreign bank's (马来西亚艾芬银行: 艾芬银行, 新加坡华侨银行: 华侨银行); a generic
# remainder (北京银行: 银行, 上海农商银行: 农商银行) is still no name
_CITY_RE = re.compile(
    r"(北京|天津|上海|重庆|深圳|广州|杭州|南京|苏州|武汉|成都|西安|温州|宁波|青岛|大连|厦门|沈阳|长沙|郑州|济南|"
    r"福州|合肥|昆明|南昌|哈尔滨|长春|石家庄|太原|南宁|贵阳|兰州|海口|乌鲁木齐|呼和浩特|银川|西宁|拉萨|无锡|东莞|佛山)(市)?")
_COUNTRY_RE = re.compile(
    r"(马来西亚|新加坡|泰国|印尼|印度尼西亚|越南|菲律宾|日本|韩国|英国|美国|加拿大|澳大利亚|澳洲|新西兰|德国|法国|"
    r"瑞士|荷兰|意大利|西班牙|印度|巴基斯坦|孟加拉|阿联酋|卡塔尔|沙特|科威特|巴林|阿曼|文莱|柬埔寨|缅甸|老挝)")
_RURAL_CREDIT_RE = re.compile(_PROVINCE_RE.pattern + r"农村信用(?:合作)?(?:社|联社)(?:联合社)?")
_GENERIC_ORG_RE = re.compile(r"(农村|农商|城市|城商|商业|信用|农信|村镇|银行|省|邮政|人民|联合|分行|移动|电信|联通|国际|股份)")
_PAREN_REGIONS = ("中国", "香港", "澳门", "台湾", "新加坡", "马来西亚")
_PAREN_PART_RE = re.compile(r"[(（]([^)）]*)[)）]\s*$")
_INITIALS_SKIP = {"of", "the", "and", "&", "for", "de"}
_LEGAL_FORM_RE = re.compile(r"\s+(plc|ltd\.?|limited)$", re.IGNORECASE)
# "X of Ceylon" is said "X" when X has two words or more ("Commercial Bank"); "Bank of
# America" keeps its "of". A parenthesised region (星展银行（中国）) is not said either.
_OF_PLACE_RE = re.compile(r"^((?!bank\b)[a-z&'.-]+(?: [a-z&'.-]+)+) of (?:the )?[a-z]+(?: [a-z]+)?$")
_PAREN_RE = re.compile(r"\s*[(（][^)）]*[)）]\s*$")
# A product or service brand run on after its institution's name (中国银联云闪付 is said
# 云闪付, 招商银行掌上生活 掌上生活); a department or a channel (私人银行, 信用卡中心, 客服) is no brand.
_BRAND_AFTER_RE = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:银行|银联|证券|保险|人寿|支付|金融)([\u4e00-\u9fff]{2,6})$")
_NOT_A_BRAND_RE = re.compile(r"(银行|中心|客服|热线|服务|分行|支行|公司|部|卡|理财|财富|保险|人寿|财险|寿险|证券|基金|期货|信托)$|^(私人|信用|客户|客服|个人|企业|公司|电话|手机|网上)")
# Letters as ASR writes them when an initialism is spelled out (FNB: "eff en bee").
_LETTER_NAMES = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    "ay", "bee", "see", "dee", "ee", "eff", "gee", "aitch", "eye", "jay", "kay", "el", "em",
    "en", "oh", "pee", "queue", "ar", "ess", "tee", "you", "vee", "double you", "ex", "why",
    "zed")))
_INITIALISM_RE = re.compile(r"[A-Z]{2,5}")
# a bank's brand in capitals after its name ("SMBC Trust Bank PRESTIA": PRESTIA)
_CAPS_BRAND_RE = re.compile(r"\bBank ([A-Z]{4,})$")


def spelled_out(name: str) -> list[str]:
    """An initialism (FNB, BPI) as said letter by letter: 'f n b' and 'eff en bee' (for
    two letters only the letter names: 't d' is inside 'it does')."""
    if not _INITIALISM_RE.fullmatch(name):
        return []
    letters = name.lower()
    named = " ".join(_LETTER_NAMES[c] for c in letters)
    return [named] if len(letters) < 3 else [" ".join(letters), named]


def split_name(name: str, language: str) -> tuple[str, str]:
    """(surname, given name) of an agent's name: Chinese surname first (compound surnames
    such as 欧阳 kept whole); English 'Given Surname'."""
    name = name.strip()
    if not name:
        return "", ""
    if language.startswith("zh") and not name.isascii():
        for compound in _COMPOUND_SURNAMES:
            if name.startswith(compound):
                return compound, name[len(compound):]
        return name[0], name[1:]
    parts = name.split()
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[-1], parts[0]


def _initials(words: list[str], at_least: int) -> str:
    """The initials of a name's words ("" when fewer than `at_least` count or one starts
    with no letter); of, the, and ... are not said."""
    words = [w for w in words if w and w.lower() not in _INITIALS_SKIP]
    if len(words) < at_least or not all(w[0].isalpha() for w in words):
        return ""
    return "".join(w[0] for w in words).upper()


def _without_leading_place(names: list[str], places: tuple[re.Pattern[str], ...],
                           min_rest: int) -> list[str]:
    """The names after a leading place (the first of `places` that matches), where what is
    left has `min_rest` characters or more and is not generic (农商银行, 银行)."""
    out = []
    for n in names:
        m = next((m for place in places if (m := place.match(n))), None)
        if m and len(rest := n[m.end():]) >= min_rest and not _GENERIC_ORG_RE.match(rest):
            out.append(rest)
    return out


@functools.lru_cache(maxsize=4096)
def organisation_names(organisation: str, organisations: tuple[Organisation, ...]) -> list[str]:
    """The names a call's organisation may be said by: itself, its short forms without a
    legal or department suffix (招商银行 for 招商银行信用卡中心) and the rubric's aliases."""
    # the rules below are written in Simplified (滙豐 and 產險 are said 汇丰, 产险)
    organisation = to_display(organisation)
    names = [organisation]
    current = _PAREN_RE.sub("", organisation) or organisation
    names.append(current)
    stripped = True
    while stripped:  # "Standard Chartered Hong Kong Ltd" -> "Standard Chartered"
        stripped = False
        for suffix in _ORG_SUFFIXES:
            if current.lower().endswith(suffix) and len(current) - len(suffix) >= 2:
                current = current[: -len(suffix)].strip()
                names.append(current)
                stripped = True
    inner = part.group(1).strip() if (part := _PAREN_PART_RE.search(organisation)) else ""
    if inner in _PAREN_REGIONS:
        names += [n[:-2] + inner for n in names if n.endswith("银行") and len(n) >= 4]
    elif inner:
        names += [n for n in organisation_names(inner, ()) if n != inner] + [inner]
    names += [n[2:] for n in names if n.startswith("中国") and len(n) > 4]
    if inner in _PAREN_REGIONS:
        # a bank's subsidiary there by the bank's one-character short form and 银
        # (中国工商银行（澳门）: 工银澳门, 中国银行（香港）: 中银香港, 交通银行（香港）: 交银香港)
        names += [n[0] + "银" + inner for n in names if n.endswith("银行") and len(n) == 4]
    # a province before the institution's own name is not said (江苏邗江民泰村镇银行: 邗江民泰村镇银行,
    # 广东华兴银行: 华兴银行); a generic remainder (浙江农商银行: 农商银行, 江苏银行: 银行) is no name
    # (each pass also strips the names the one before it made: 广东顺德农商银行 -> 顺德农商银行)
    names += _without_leading_place(names, (_PROVINCE_RE,), 4)
    names += _without_leading_place(names, (_REGION_RE,), 2)
    names += _without_leading_place(names, (_CITY_RE, _COUNTRY_RE), 4)
    # 阳光财产保险 is said 阳光产险 or 阳光财险, or without 财产 (永诚财产保险: 永诚保险)
    names += [n.replace("财产保险", short) for n in names if "财产保险" in n and len(n) > 5
              for short in ("产险", "财险", "保险")]
    # a provincial rural credit union (湖北省农村信用社联合社, 河北省农村信用社) is said by its province
    # and 农信, 农信社 or 信合 (湖北农信, 陕西信合)
    names += [m.group(1) + short for n in list(names) if (m := _RURAL_CREDIT_RE.fullmatch(n))
              for short in ("农信", "农信社", "信合", "农村信用社")]
    # 深圳农村商业银行 is said 深圳农商银行 (or 农商行)
    names += [n.replace("农村商业银行", short) for n in names if "农村商业银行" in n and len(n) > 6
              for short in ("农商银行", "农商行")]
    # a private bank's 商业银行 is said 银行 (浙江民泰商业银行: 民泰银行, and 民泰因行 by sound); not after a
    # place, where 银行 names another bank (上海商业银行 is not 上海银行)
    names += [n[:-4] + "银行" for n in list(names) if n.endswith("商业银行") and len(stem := n[:-4]) >= 2
              and not any(r.search(stem) for r in (_PROVINCE_RE, _REGION_RE, _CITY_RE, _COUNTRY_RE))
              and not _GENERIC_ORG_RE.search(stem)]
    # 招联消费金融 is said 招联金融
    names += [n.replace("消费金融", "金融") for n in names if n.endswith("消费金融") and len(n) > 5]
    names += [m.group(1) for n in names if (m := _OF_PLACE_RE.match(n.lower()))]
    names += [m.group(1) for n in names
              if (m := _BRAND_AFTER_RE.match(n)) and not _NOT_A_BRAND_RE.search(m.group(1))]
    # a brand led by its initials ("BDO Unibank", "RBC Royal Bank") is said by them alone
    names += [n.split()[0] for n in names
              if " " in n and _INITIALISM_RE.fullmatch(n.split()[0]) and len(n.split()[0]) > 2]
    names += [m.group(1) for n in names[:1] if (m := _CAPS_BRAND_RE.search(n))]
    # "&" is said "and" ("M&T Bank": m and t bank; ASR writes "m and tea bank", a fuzzy match of it)
    names += [re.sub(r"\s*&\s*", " and ", n) for n in list(names) if "&" in n]
    # a name of three words or more is said by its initials ("National Commercial Bank": NCB)
    names += [initials for n in names if n.isascii() and (initials := _initials(n.split(), 3))]
    # a bank once "Limited", now "PLC", keeps its initials with L ("Eastern Bank PLC": EBL,
    # "Dutch-Bangla Bank PLC": DBBL)
    names += [initials + "L" for n in names[:1] if n.isascii() and (m := _LEGAL_FORM_RE.search(n))
              and (initials := _initials(re.split(r"[ -]+", n[:m.start()]), 2))]
    for org in organisations:
        if org.fits(organisation):
            names.extend(org.names())
    # a one-word brand of six letters or more that ASR splits in two ("true ist" for Truist):
    # each split with two letters or more on either side
    names += [f"{n[:i]} {n[i:]}" for n in list(names)
              if n.isascii() and n.isalpha() and len(n) >= 6 for i in range(2, len(n) - 1)]
    names += [spoken for n in names for spoken in spelled_out(n)]
    return list(dict.fromkeys(n for n in names if n))



class PhraseSet(BaseModel):
    """Phrases given inline and/or by lexicon name; inline phrases may hold placeholders
    {company}, {agent_surname}, {agent_given_name}, {agent_given_last} (the given name's last
    character: 阿俊 for 何家俊), {agent_name}, filled in per call.
    `bind` compiles them into a PhraseRuntime that does the matching."""

    model_config = ConfigDict(extra="forbid")
    phrases: list[str] = Field(default_factory=list)
    lexicon: str | None = None
    speaker: SpeakerFilter = "agent"
    pinyin: bool = True
    loose: bool = False
    fuzzy: float | None = Field(default=None, ge=50, le=100)
    sounds_alike: bool = Field(
        default=False, description="also match a filled-in English name by its sound (metaphone), "
        "as ASR spells an unfamiliar brand (brecks for Brex), when nothing else matched")
    patterns: list[Regex] = Field(default_factory=list, description="regexes on the match form")
    homophone_patterns: list[Regex] = Field(
        default_factory=list, description="regexes on the pinyin key (literal CJK only)")
    allow: list[str] = Field(default_factory=list)
    allow_lexicon: str | None = None

    _runtime: "PhraseRuntime | None" = PrivateAttr(default=None)

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        entries = [LexiconEntry(p) for p in self.phrases if not _PLACEHOLDER_RE.search(p)]
        if self.lexicon:
            entries += _lexicon(lexicons, self.lexicon)
        # Lexicon lines written `re:PATTERN` are regular expressions on the match form,
        # keeping their category and severity.
        patterns = [(re.compile(e.phrase[len(REGEX_PREFIX):]), e) for e in entries
                    if e.phrase.startswith(REGEX_PREFIX)]
        entries = [e for e in entries if not e.phrase.startswith(REGEX_PREFIX)]
        patterns += [(re.compile(p), LexiconEntry(p)) for p in self.patterns]
        allow = list(self.allow)
        if self.allow_lexicon:
            allow += [e.phrase for e in _lexicon(lexicons, self.allow_lexicon)]
        # Phrase sets configured alike (the hold check's requests to wait and the silence
        # check's) share one runtime, so a call is scanned for them once.
        key = (tuple(entries), tuple(self.phrases), tuple(self.patterns),
               tuple(self.homophone_patterns), tuple(allow), self.pinyin, self.loose,
               self.pinyin_min_chars(), self.speaker, self.fuzzy, self.sounds_alike)
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = PhraseRuntime(
                matcher=PhraseMatcher(entries, pinyin=self.pinyin, loose=self.loose,
                                      min_pinyin_chars=self.pinyin_min_chars(), allow=allow),
                templates=tuple(p for p in self.phrases if _PLACEHOLDER_RE.search(p)),
                patterns=tuple(patterns),
                key_patterns=tuple((key_pattern(p), LexiconEntry(p)) for p in self.homophone_patterns),
                speaker=self.speaker, loose=self.loose, fuzzy=self.fuzzy,
                sounds_alike=self.sounds_alike)
            _RUNTIMES[key] = runtime
        self._runtime = runtime

    def pinyin_min_chars(self) -> int:
        """Shortest phrase (in CJK characters) also matched by homophones."""
        return 3

    @property
    def runtime(self) -> "PhraseRuntime":
        runtime = private(self, "_runtime")
        if runtime is None:
            self.bind({})
            runtime = private(self, "_runtime")
        return runtime

    @property
    def matcher(self) -> PhraseMatcher:
        return self.runtime.matcher

    def size(self) -> int:
        return self.runtime.size()

    def describe(self, limit: int = 4) -> str:
        return self.runtime.describe(limit)

    def find(self, ctx: CallContext, ps: PreparedSegment) -> list[PhraseHit]:
        return self.runtime.find(ctx, ps)

    def fuzzy_find(self, ctx: CallContext, ps: PreparedSegment) -> PhraseHit | None:
        return self.runtime.fuzzy_find(ctx, ps)

    def occurrences(self, ctx: CallContext, params: CheckParams | None = None,
                    use_fuzzy: bool = True, first_only: bool = False,
                    up_to_segment: int | None = None) -> list[tuple[PreparedSegment, PhraseHit]]:
        return self.runtime.occurrences(ctx, params, use_fuzzy, first_only, up_to_segment)


_RUNTIMES: "weakref.WeakValueDictionary[tuple, PhraseRuntime]" = weakref.WeakValueDictionary()


KEPT_FINDS = 50_000  # segment texts whose hits a phrase set keeps (see PhraseRuntime.find)


class PhraseRuntime:
    """A bound phrase set: what matches one prepared call. Plain Python (no pydantic) as
    it runs for every segment of every call."""

    def __init__(self, matcher: PhraseMatcher, templates: tuple[str, ...],
                 patterns: tuple[tuple[re.Pattern[str], LexiconEntry], ...],
                 key_patterns: tuple[tuple[re.Pattern[str], LexiconEntry], ...],
                 speaker: SpeakerFilter, loose: bool, fuzzy: float | None,
                 sounds_alike: bool = False):
        self.matcher = matcher
        self.templates = templates
        self.key_patterns = key_patterns
        # Most segments match none of a lexicon's patterns: a search for each finds out
        # before any match is collected. (One alternation of them all, searched once, was
        # measured twice as slow: re skips ahead by a pattern's possible first characters
        # only when it searches for that pattern alone.) Patterns with back-references or
        # named groups run on their own.
        alone = [(p, e) for p, e in patterns if _BACKREF_RE.search(p.pattern)]
        combinable = [(p, e) for p, e in patterns if not _BACKREF_RE.search(p.pattern)]
        self.patterns = tuple(combinable)
        self.lone_patterns = tuple(alone)
        self.all_patterns = self.patterns + self.lone_patterns
        self.prefilter = PatternPrefilter([p for p, _ in self.all_patterns])
        # Phrases only: a segment the shared scan found nothing in has no hits.
        self.phrases_only = not (patterns or key_patterns or templates)
        self.speaker = speaker
        self.loose = loose
        self.fuzzy = fuzzy
        self.sounds_alike = sounds_alike
        # hits per (segment text, the call's filled-in templates), kept across calls
        self._found: dict[tuple, tuple[tuple, ...]] = {}
        self._fuzzy_found: dict[tuple, tuple | None] = {}
        # the entries of kept hits, numbered (see _plain_hit): lexicon entries, and those
        # made for a pattern, template or fuzzy hit, one number per distinct entry
        self._entries: list[LexiconEntry] = []
        self._entry_numbers: dict[LexiconEntry, int] = {}

    def size(self) -> int:
        return (len(self.matcher) + len(self.templates) + len(self.patterns)
                + len(self.lone_patterns) + len(self.key_patterns))

    def describe(self, limit: int = 4) -> str:
        shown = [e.phrase for e in self.matcher.entries[:limit]] + list(self.templates[:2])
        more = self.size() - len(shown)
        text = "、".join(shown)
        return text + (f" (+{more} more)" if more > 0 else "")

    def resolved_templates(self, ctx: CallContext) -> tuple[
            tuple[str, ...], tuple[re.Pattern[str], ...], tuple[tuple[re.Pattern[str], str], ...]]:
        """Templates filled in for this call (computed once per call): (literal phrases,
        patterns on the match form and the pinyin key, (pattern on the pinyin key, its template)). Where
        a name is unknown, the template becomes a pattern with a wildcard (an unknown
        surname is any one or two characters), if enough of it is left to match safely."""
        if not self.templates:
            return (), (), ()
        key = ("templates", id(self))
        if key not in ctx.memo:
            ctx.memo[key] = self._resolve_templates(ctx)
        return ctx.memo[key]

    def _resolve_templates(self, ctx: CallContext) -> tuple[
            tuple[str, ...], tuple[re.Pattern[str], ...], tuple[tuple[re.Pattern[str], str], ...]]:
        call = ctx.transcript.call
        return _fill_templates(self.templates, call.agent_name, call.organisation, ctx.language,
                               tuple(ctx.organisations), tuple(ctx.organisation_patterns))

    def possible_segments(self, ctx: CallContext) -> frozenset[int] | None:
        """Indices of the segments that can hold a hit (None: any can): those where the
        shared scan found one of the phrases or a literal that one of the patterns needs,
        unless there are templates, patterns on the pinyin key or patterns without a
        required literal."""
        if self.phrases_only:
            return ctx.segments_with_hits(self.matcher)
        if self.templates or self.key_patterns or self.prefilter.always:
            return None
        phrases = ctx.segments_with_hits(self.matcher)
        literals = ctx.segments_with_hits(self.prefilter)
        if phrases is None or literals is None:
            return None
        return phrases | literals

    def segment_patterns(self, ctx: CallContext, ps: PreparedSegment) -> tuple[
            tuple[tuple[re.Pattern[str], LexiconEntry], ...],
            tuple[tuple[re.Pattern[str], LexiconEntry], ...]]:
        """(patterns, lone patterns) that may match in the segment, in their order: those
        whose required literals it holds (see CallContext.pattern_candidates)."""
        if not self.all_patterns:
            return (), ()
        present = ctx.pattern_candidates(self.prefilter, ps)
        if not present:
            return (), ()
        first = len(self.patterns)
        chosen = sorted(present)
        return (tuple(self.all_patterns[i] for i in chosen if i < first),
                tuple(self.all_patterns[i] for i in chosen if i >= first))

    def find(self, ctx: CallContext, ps: PreparedSegment) -> tuple[PhraseHit, ...]:
        """Hits in one prepared segment (speaker and window not applied). They depend on
        the segment's text and the call's filled-in templates only, so they are kept
        across calls, as tuples (no hits: the empty tuple, which the garbage collector
        never has to look at, where tens of thousands of kept empty lists slowed every
        full collection)."""
        key = (ps.match.text, self.resolved_templates(ctx))
        kept = self._found.get(key)
        if kept is None:
            hits = tuple(self._find(ctx, ps))
            keep(self._found, key, tuple(map(self._plain_hit, hits)), KEPT_FINDS)
            return hits
        return tuple(map(self._hit_of, kept)) if kept else ()

    def _plain_hit(self, hit: PhraseHit) -> tuple:
        """A hit as the memory keeps it: its entry's number in `_entries` and its numbers
        and form, a tuple of atoms, which the garbage collector stops tracking, where
        kept PhraseHit objects (tens of thousands on calls of new texts) stayed on its
        books and were walked by every full collection."""
        entry = hit.entry
        number = self._entry_numbers.get(entry)
        if number is None:
            number = self._entry_numbers[entry] = len(self._entries)
            self._entries.append(entry)
        return number, hit.start, hit.end, hit.form, hit.score

    def _hit_of(self, plain: tuple) -> PhraseHit:
        """The PhraseHit a kept tuple stands for, its fields set at once (as
        _prepared_segment does: a frozen dataclass's __init__ sets them one by one)."""
        number, start, end, form, score = plain
        hit = object.__new__(PhraseHit)
        hit.__dict__.update(entry=self._entries[number], start=start, end=end, form=form,
                            score=score)
        return hit

    def _find(self, ctx: CallContext, ps: PreparedSegment) -> list[PhraseHit]:
        m = ps.match
        raw = ctx.raw_hits(self.matcher, ps)
        if raw is not None and not raw and self.phrases_only:
            return []
        hits = self.matcher.find(m, apply_allow=False, raw=raw)
        patterns, lone_patterns = self.segment_patterns(ctx, ps)
        if patterns and any(pattern.search(m.text) for pattern, _ in patterns):
            for pattern, entry in patterns:
                hits += [PhraseHit(entry, x.start(), x.end(), "regex")
                         for x in pattern.finditer(m.text) if x.end() > x.start()]
        for pattern, entry in lone_patterns:
            hits += [PhraseHit(entry, x.start(), x.end(), "regex")
                     for x in pattern.finditer(m.text) if x.end() > x.start()]
        if hits:
            hits = self.matcher.without_allowed(m, hits)
        # A pattern on the pinyin key is named as written: its compiled form holds the
        # key's internal character codes.
        for pattern, entry in self.key_patterns:
            hits += [PhraseHit(entry, x.start(), x.end(), "regex")
                     for x in pattern.finditer(m.pinyin) if x.end() > x.start()]
        if not self.templates:
            return hits
        phrases, text_patterns, key_patterns = self.resolved_templates(ctx)
        if phrases:
            hits += _template_hits(phrases, m, self.loose)
        # Company patterns run on the pinyin key too, where spoken digits (九五五八八) are
        # ASCII digits.
        searches = [(p, k, p.pattern) for p in text_patterns for k in (m.text, m.pinyin)]
        searches += [(p, m.pinyin, template) for p, template in key_patterns]
        for pattern, key, name in searches:
            hits += [PhraseHit(LexiconEntry(name), x.start(), x.end(), "regex")
                     for x in pattern.finditer(key) if x.end() > x.start()]
        return hits

    def fuzzy_find(self, ctx: CallContext, ps: PreparedSegment) -> PhraseHit | None:
        """The best approximate occurrence of one of the phrases (of 4 or more
        characters: fuzzy matching of shorter ones finds everything), or None."""
        if self.fuzzy is None:
            return None
        key = (ps.match.text, self.resolved_templates(ctx)[0])
        if key in self._fuzzy_found:
            kept = self._fuzzy_found[key]
            return None if kept is None else self._hit_of(kept)
        hit = self._fuzzy_find(ctx, ps)
        keep(self._fuzzy_found, key, None if hit is None else self._plain_hit(hit), KEPT_FINDS)
        return hit

    def _fuzzy_find(self, ctx: CallContext, ps: PreparedSegment) -> PhraseHit | None:
        key = ("fuzzy", id(self))
        if key not in ctx.memo:
            candidates = [e.phrase for e in self.matcher.entries]
            candidates += list(self.resolved_templates(ctx)[0])  # literal phrases only
            forms = [_match_form(p) for p in candidates]
            kept = [(p, f) for p, f in zip(candidates, forms) if len(f.text) >= 4]
            ctx.memo[key] = (kept, [f.loose for _, f in kept])
        candidates, keys = ctx.memo[key]
        if not candidates:
            return None
        best = process.extractOne(ps.match.loose, keys, scorer=fuzz.partial_ratio,
                                  score_cutoff=self.fuzzy)
        if best is None:
            return None
        phrase, form = candidates[best[2]]
        located = fuzzy_locate(form, ps.match, self.fuzzy)
        if located is None:
            return None
        return PhraseHit(LexiconEntry(phrase), located[1], located[2], "fuzzy", located[0])

    def occurrences(self, ctx: CallContext, params: CheckParams | None = None,
                    use_fuzzy: bool = True, first_only: bool = False,
                    up_to_segment: int | None = None) -> list[tuple[PreparedSegment, PhraseHit]]:
        """All hits by this set's speaker in the window of `params` (and in segments up
        to `up_to_segment`), in call order; with `first_only`, the hits of the first
        segment that has any. Only when nothing matches exactly or by sound are fuzzy
        matches tried, so an approximate hit never stands in for an exact one elsewhere
        in the call. Kept per call."""
        within = params.within_s if params is not None else None
        last = params.last_s if params is not None else None
        key = ("occurrences", id(self), within, last, use_fuzzy, up_to_segment)
        found = ctx.memo.get(key)
        if found is None and first_only:
            found = ctx.memo.get(key + (True,))
        if found is None:
            found = self._occurrences(ctx, within, last, use_fuzzy, first_only, up_to_segment)
            ctx.memo[key + ((True,) if first_only else ())] = found
        return found

    def _occurrences(self, ctx: CallContext, within: float | None, last: float | None,
                     use_fuzzy: bool, first_only: bool, up_to_segment: int | None
                     ) -> list[tuple[PreparedSegment, PhraseHit]]:
        duration = ctx.duration
        segments = [ps for ps in ctx.by_speaker(self.speaker)
                    if (within is None or ps.segment.start <= within)
                    and (last is None or ps.segment.end >= duration - last)
                    and (up_to_segment is None or ps.index <= up_to_segment)]

        def in_window(ps: PreparedSegment, hit: PhraseHit) -> bool:
            t = ps.time_at(hit.start)
            return (within is None or t <= within) and (last is None or t >= duration - last)

        out: list[tuple[PreparedSegment, PhraseHit]] = []
        possible = self.possible_segments(ctx)
        for ps in segments:
            if possible is not None and ps.index not in possible:
                continue
            out += [(ps, h) for h in sorted(self.find(ctx, ps), key=lambda h: h.start)
                    if in_window(ps, h)]
            if out and first_only:
                return out
        if out or not use_fuzzy:
            return out
        for find in ([self.fuzzy_find] if self.fuzzy is not None else []) + (
                [self.sound_find] if self.sounds_alike else []):
            for ps in segments:
                hit = find(ctx, ps)
                if hit is not None and in_window(ps, hit):
                    out.append((ps, hit))
                    if first_only:
                        return out
            if out:
                return out
        return out

    def sound_find(self, ctx: CallContext, ps: PreparedSegment) -> PhraseHit | None:
        """The first filled-in English name heard by its sound in the segment, or None."""
        for name in self.resolved_templates(ctx)[0]:
            located = sound_alike_locate(name, ps.match)
            if located is not None:
                return PhraseHit(LexiconEntry(name), located[1], located[2], "sound", located[0])
        return None


@functools.lru_cache(maxsize=4096)
def _fill_templates(templates: tuple[str, ...], agent_name: str | None, organisation: str | None,
                    language: str, organisations: tuple[Organisation, ...],
                    organisation_patterns: tuple[str, ...]) -> tuple[
        tuple[str, ...], tuple[re.Pattern[str], ...], tuple[tuple[re.Pattern[str], str], ...]]:
    """PhraseRuntime.resolved_templates for one agent and organisation (cached: the same
    agents and organisations come back call after call)."""
    surname, given = split_name(agent_name or "", language)
    values = {"agent_surname": surname, "agent_given_name": given, "agent_given_last": given[-1:],
              "agent_name": (agent_name or "").strip()}
    phrases: list[str] = []
    text_patterns: list[re.Pattern[str]] = []
    key_patterns: list[tuple[re.Pattern[str], str]] = []  # with the template they stand for
    for template in templates:
        if "{company}" in template:
            if organisation:
                names = organisation_names(organisation, organisations)
            else:
                names = [n for org in organisations for n in org.names()]
                text_patterns.extend(_company_patterns(organisation_patterns))
            phrases.extend(template.replace("{company}", name) for name in names)
            continue
        if "{agent_name_part}" in template and agent_name:
            # Any word or pair of words of the name: "Wei Ling" of "Tan Wei Ling",
            # whichever order the agent's culture puts the surname in.
            words = (agent_name or "").split()
            parts = {w for w in words} | {" ".join(words[i:i + 2]) for i in range(len(words) - 1)}
            phrases.extend(template.replace("{agent_name_part}", p) for p in sorted(parts))
            continue
        missing = [m for m in _PLACEHOLDER_RE.findall(template) if not values.get(m)]
        if not missing and _PLACEHOLDER_RE.fullmatch(template) and len(values[template[1:-1]]) < 2:
            continue  # one character alone (a roster's bare surname 何) is any homophone (和)
        if not missing:
            phrases.append(_PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template))
            continue
        literal = normalise_key(_PLACEHOLDER_RE.sub("", template))
        # An unknown name at the start of a template is safe only before a long
        # English word ("[name] speaking"), not before Chinese (…为您服务).
        leading_ok = language.startswith("en") and len(literal) >= 5
        missing = [m if m != "agent_name_part" else "agent_given_name" for m in missing]
        if ("agent_name" in missing or len(literal) < 2
                or (template.startswith("{") and not leading_ok)):
            continue  # too little is left to match safely
        key_patterns.append((_wildcard_pattern(template, language), template))
    phrases = [_PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), p) for p in phrases]
    return tuple(phrases), tuple(text_patterns), tuple(key_patterns)


@functools.lru_cache(maxsize=4096)
def _match_form(phrase: str) -> MatchText:
    return match_text(to_display(phrase))


@functools.lru_cache(maxsize=1024)
def _template_searches(phrases: tuple[str, ...], loose: bool) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One alternation per key form over a call's filled-in template phrases (cached:
    the same agents and organisations come back call after call)."""
    forms = [_match_form(p) for p in phrases]
    searches = []
    for form in ("exact", "pinyin", "loose") if loose else ("exact", "pinyin"):
        keys = [(i, f.text if form == "exact" else (f.pinyin if form == "pinyin" else f.loose))
                for i, f in enumerate(forms)]
        # Each phrase names itself by an empty group after it (not a group around it),
        # so that every alternative starts with a literal character: `re` then skips
        # to the next place one of those characters is said instead of trying every
        # alternative at every character.
        alternatives = [f"{re.escape(k)}(?P<p{i}>)" for i, k in keys if k]
        if alternatives:
            searches.append((form, re.compile("|".join(alternatives))))
    return tuple(searches)


def _template_hits(phrases: tuple[str, ...], m: MatchText, loose: bool) -> list[PhraseHit]:
    """The first place each phrase is said, by the most exact form that finds it."""
    hits: list[PhraseHit] = []
    found: set[int] = set()
    for form, search in _template_searches(phrases, loose):
        hay = m.text if form == "exact" else (m.pinyin if form == "pinyin" else m.loose)
        for x in search.finditer(hay):
            index = int(x.lastgroup[1:])  # type: ignore[index]
            if index not in found:
                found.add(index)
                hits.append(PhraseHit(LexiconEntry(phrases[index]), x.start(), x.end(), form))  # type: ignore[arg-type]
    return hits


def _company_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


def _wildcard_pattern(template: str, language: str) -> re.Pattern[str]:
    """A pinyin-key pattern for a template whose name is unknown: the placeholder becomes
    one or two characters (Chinese) or one word (English, keeping the spaces around it)."""
    parts = _PLACEHOLDER_RE.split(template)
    english = not language.startswith("zh")
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            out.append(_ENGLISH_NAME if english else ".{1,2}")
            continue
        key = _match_form(part).pinyin
        if english and key:
            key = (" " if part[:1].isspace() and i > 0 else "") + key + \
                  (" " if part[-1:].isspace() and i < len(parts) - 1 else "")
        out.append(re.escape(key))
    return re.compile("".join(out))


def _segment_may_be_in_window(ps: PreparedSegment, params: CheckParams, duration: float) -> bool:
    seg = ps.segment
    if params.within_s is not None and seg.start > params.within_s:
        return False
    if params.last_s is not None and seg.end < duration - params.last_s:
        return False
    return True


# --- phrase -----------------------------------------------------------------------------

class PhraseParams(PhraseSet, CheckParams):
    type: Literal["phrase"]
    min_count: int = Field(default=1, ge=1)


@check("phrase", PhraseParams)
def phrase_check(ctx: CallContext, params: PhraseParams, item_id: str) -> list[Finding]:
    """Passes when one of the phrases is said by the speaker (in the window)."""
    found = params.occurrences(ctx, params, first_only=params.min_count == 1)
    if len(found) >= params.min_count:
        ps, hit = found[0]
        return [_hit_finding(item_id, "phrase", ps, hit.start, hit.end, True,
                             f"said '{hit.entry.phrase}' ({_describe_form(hit.form, hit.score)})")]
    window = params.window_text()
    who = "anyone" if params.speaker == "any" else f"the {params.speaker}"
    count = f" ({len(found)} of {params.min_count} needed)" if found else ""
    return [Finding(item_id, "phrase", False, params.speaker, None, None, "",
                    f"none of {params.describe()} said by {who}{(' ' + window) if window else ''}{count}")]


# --- forbidden --------------------------------------------------------------------------

class ForbiddenParams(PhraseSet, CheckParams):
    type: Literal["forbidden"]
    homophone_min_chars: int = Field(default=4, ge=2)
    deduction: float | None = Field(default=None, ge=0, description="points lost per hit")
    critical_categories: list[str] = Field(default_factory=list)
    critical_severities: list[str] = Field(default_factory=list)
    negation_cues: list[Regex] = Field(
        default_factory=list, description="regexes: said just before a hit, they cancel it")
    negatable_categories: list[str] = Field(
        default_factory=list, description="categories a negation cancels (不能承诺收益)")
    tone_model: str | None = Field(
        default=None, description="a segment model (qa.classify) that backs up the lexicon")
    tone_min_probability: float = Field(default=0.7, ge=0, le=1)
    tone_exempt: list[Regex] = Field(
        default_factory=list,
        description="regexes a whole segment (match form) may match to be kept from the tone "
                    "model: forms neutral by what they are (没了吧, a bare fee), scored elsewhere; "
                    "`.*(?:...).*` for a form anywhere in it (a security warning)")
    _negation: re.Pattern[str] | None = PrivateAttr(default=None)
    _tone: Any = PrivateAttr(default=None)
    _tone_exempt: tuple[re.Pattern[str], ...] = PrivateAttr(default=())
    _tone_exempt_prefilter: PatternPrefilter | None = PrivateAttr(default=None)

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        super().bind(lexicons, models)
        if self.tone_model is not None:
            if models is None or self.tone_model not in models:
                raise KeyError(f"unknown model {self.tone_model!r}")
            self._tone = models[self.tone_model]
        if self.negation_cues:
            # the negation, then at most three characters (不能[向您]承诺收益), then the hit
            self._negation = re.compile("(?:" + "|".join(self.negation_cues) + r").{0,3}$")
        if self.tone_exempt:
            # Each form on its own, behind a prefilter of their literals: most segments
            # hold none of them, and fullmatch of a form said anywhere (`.*(?:…).*`)
            # backtracks through the whole segment trying it at every character.
            self._tone_exempt = tuple(re.compile(p) for p in self.tone_exempt)
            self._tone_exempt_prefilter = PatternPrefilter(self._tone_exempt)

    def tone_exempted(self, ps: PreparedSegment) -> bool:
        """A segment that is, as a whole, a form the labellers score elsewhere or not at all
        (a curt end-of-call 嗯没了吧 is the closing's business; a bare fee statement) is not
        given to the tone model."""
        prefilter = private(self, "_tone_exempt_prefilter")
        if prefilter is None:
            return False
        forms, text = private(self, "_tone_exempt"), ps.match.text
        return any(forms[i].fullmatch(text) is not None for i in prefilter.candidates(text))

    def negated(self, m: MatchText, hit: PhraseHit) -> bool:
        """A hit in a negatable category right after a negation (不能 承诺收益, we can't
        guarantee returns) says the opposite of the forbidden phrase."""
        negation = private(self, "_negation")
        if negation is None or hit.entry.category not in self.negatable_categories:
            return False
        return negation.search(m.text[max(0, hit.start - 8):hit.start]) is not None

    def pinyin_min_chars(self) -> int:
        # Forbidden phrases are short and their homophones common: a false hit costs an
        # agent points, so only longer phrases are matched by sound.
        return self.homophone_min_chars


def _merge_overlapping(hits: list[PhraseHit]) -> list[list[PhraseHit]]:
    groups: list[list[PhraseHit]] = []
    for hit in sorted(hits, key=lambda h: (h.start, h.end)):
        if groups and hit.start < max(h.end for h in groups[-1]):
            groups[-1].append(hit)
        else:
            groups.append([hit])
    return groups


@check("forbidden", ForbiddenParams)
def forbidden_check(ctx: CallContext, params: ForbiddenParams, item_id: str) -> list[Finding]:
    """Fails once per place where the speaker says a forbidden phrase (overlapping phrases
    count once). A hit in a critical category or severity is marked critical."""
    findings: list[Finding] = []
    segments = ctx.by_speaker(params.speaker)
    runtime = params.runtime
    tone = private(params, "_tone")
    negation = private(params, "_negation")
    tone_candidates: list[PreparedSegment] = []
    possible = runtime.possible_segments(ctx)
    for ps in segments:
        if not _segment_may_be_in_window(ps, params, ctx.duration):
            continue
        found = runtime.find(ctx, ps) if possible is None or ps.index in possible else []
        hits = [h for h in found
                if params.in_window(ps.time_at(h.start), ctx.duration)
                and (negation is None or not params.negated(ps.match, h))] if found else found
        if not hits:
            if tone is not None and not params.tone_exempted(ps):
                tone_candidates.append(ps)
            continue
        for group in _merge_overlapping(hits):
            start, end = min(h.start for h in group), max(h.end for h in group)
            # Name the lexicon phrases; a pattern only when no phrase matched there.
            named = [h for h in group if h.form != "regex"] or group[:1]
            described = "; ".join(
                (f"pattern /{h.entry.phrase.removeprefix(REGEX_PREFIX)}/" if h.form == "regex"
                 else f"'{h.entry.phrase}'")
                + (f" [{h.entry.category}/{h.entry.severity}]" if h.entry.category else "")
                + ("" if h.form == "regex" else f" ({_describe_form(h.form, h.score)})")
                for h in named)
            critical = any(h.entry.category in params.critical_categories
                           or h.entry.severity in params.critical_severities for h in group)
            findings.append(_hit_finding(
                item_id, "forbidden", ps, start, end, False, f"forbidden: {described}",
                deduction=params.deduction or 0.0, critical=critical))
    if tone_candidates:
        findings += _tone_findings(ctx, params, item_id, tone_candidates)
        findings.sort(key=lambda f: (f.segment_index or 0, f.char_start or 0))
    if findings:
        return findings
    return [Finding(item_id, "forbidden", True, params.speaker, None, None, "",
                    f"no forbidden phrase in {len(segments)} {params.speaker} segments "
                    f"({params.size()} phrases checked)")]


def _tone_findings(ctx: CallContext, params: ForbiddenParams, item_id: str,
                   candidates: list[PreparedSegment]) -> list[Finding]:
    """Segments without a lexicon hit that the tone model finds rude: one finding each,
    the whole segment as evidence, with the model's probability."""
    model = private(params, "_tone")
    probabilities = model.probabilities([ps.match.text for ps in candidates], normalised=True)
    out = []
    for ps, probability in zip(candidates, probabilities):
        if probability < params.tone_min_probability:
            continue
        if not params.in_window(ps.segment.start, ctx.duration):
            continue
        text = ps.segment.text
        out.append(Finding(
            item_id, "forbidden", False, ps.segment.speaker, ps.segment.start, ps.segment.end,
            text, f"rude or impatient tone (model {params.tone_model}, p={probability:.2f}; "
                  f"no lexicon phrase)", segment_index=ps.index, char_start=0,
            char_end=len(text), deduction=params.deduction or 0.0))
    return out


# --- regex ------------------------------------------------------------------------------

class RegexParams(CheckParams):
    type: Literal["regex"]
    pattern: Regex
    must: Literal["occur", "not_occur"] = "occur"
    homophones: bool = False
    _compiled: re.Pattern[str] | None = PrivateAttr(default=None)

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = key_pattern(self.pattern) if self.homophones else re.compile(self.pattern)
        return self._compiled


@check("regex", RegexParams)
def regex_check(ctx: CallContext, params: RegexParams, item_id: str) -> list[Finding]:
    """The pattern (on the match form, or on the pinyin key with homophones) must occur,
    or must not occur, in the speaker's speech in the window."""
    pattern = params.compiled()
    matches = []
    for ps in ctx.by_speaker(params.speaker):
        hay = ps.match.pinyin if params.homophones else ps.match.text
        for x in pattern.finditer(hay):
            if x.end() > x.start() and params.in_window(ps.time_at(x.start()), ctx.duration):
                matches.append((ps, x))
    if params.must == "occur":
        if matches:
            ps, x = matches[0]
            return [_hit_finding(item_id, "regex", ps, x.start(), x.end(), True,
                                 f"pattern /{params.pattern}/ found")]
        return [Finding(item_id, "regex", False, params.speaker, detail=(
            f"pattern /{params.pattern}/ not found {params.window_text()}").strip())]
    if matches:
        return [_hit_finding(item_id, "regex", ps, x.start(), x.end(), False,
                             f"pattern /{params.pattern}/ must not occur") for ps, x in matches]
    return [Finding(item_id, "regex", True, params.speaker,
                    detail=f"pattern /{params.pattern}/ absent, as required")]


# --- sequence ---------------------------------------------------------------------------

class PerformedParams(BaseModel):
    """What shows that the `first` event was carried out in the call, not only mentioned
    (for identity verification: the agent asks for a credential and the customer gives
    it, or the agent says the check succeeded). A sequence whose `then` never occurs is
    then passed rather than not applicable: the `then` wordings are open-ended (a
    disclosure can be said in countless ways) while the act of checking is a structure,
    a request answered, and an agent verifies because the call turns to the account.

    - `request`: the agent's request (default: the `first` phrase set's hits, without
      those whose lexicon category is in `request_excludes`).
    - `answer`: what a customer reply holding a credential looks like (digits, a date, a
      name); looked for in the customer's next `answer_turns` turns after the request.
    - `confirmation` (a yes, "done") counts as an answer only to a request that itself
      matches `confirm_request` (it states the value to confirm, or asks for keypad entry).
    - `refusal`: a customer turn that declines; the request then counts as unanswered.
    - `confirmed`: the agent says the check succeeded (核实通过, "you're verified").
    """

    model_config = ConfigDict(extra="forbid")
    request: PhraseSet | None = None
    request_excludes: list[str] = Field(default_factory=list)
    answer: PhraseSet
    answer_turns: int = Field(default=2, ge=1, le=5)
    confirm_request: PhraseSet | None = None
    confirmation: PhraseSet | None = None
    refusal: PhraseSet | None = None
    confirmed: PhraseSet | None = None
    name: str = "verification performed"

    def phrase_sets(self) -> list[PhraseSet]:
        return [ps for ps in (self.request, self.answer, self.confirm_request,
                              self.confirmation, self.refusal, self.confirmed) if ps is not None]


@dataclass(frozen=True)
class PerformedEvidence:
    """The request and the answer to it (or the agent's statement that the check
    succeeded), each a (segment, hit)."""

    request: tuple[PreparedSegment, PhraseHit] | None
    answer: tuple[PreparedSegment, PhraseHit] | None
    confirmed: tuple[PreparedSegment, PhraseHit] | None = None


def customer_turns(ctx: CallContext, after: int, turns: int) -> list[list[PreparedSegment]]:
    """The customer's next `turns` turns after segment `after`: runs of consecutive
    customer segments, each ended by another speaker's segment."""
    out: list[list[PreparedSegment]] = []
    current: list[PreparedSegment] = []
    for ps in ctx.segments[after + 1:]:
        if ps.segment.speaker == "customer":
            current.append(ps)
            continue
        if current:
            out.append(current)
            current = []
            if len(out) == turns:
                return out
    if current:
        out.append(current)
    return out[:turns]


def performed_evidence(ctx: CallContext, first: PhraseSet, performed: PerformedParams,
                       params: CheckParams, own: Callable[[list], list] | None = None
                       ) -> PerformedEvidence | None:
    """The first request the customer answered, or the first statement that the check
    succeeded, whichever comes first in the call; None when neither happens (the event
    was only mentioned: a rule, an offer the customer declined, a question that asks for
    no credential). `own`, when given, keeps only the requests that are about the caller
    (SequenceParams.others)."""
    request_set = performed.request or first
    excluded = set(performed.request_excludes)
    requests = [(ps, h) for ps, h in request_set.occurrences(ctx, params, use_fuzzy=False)
                if h.entry.category not in excluded]
    if own is not None:
        requests = own(requests)
    answered: PerformedEvidence | None = None
    seen: set[int] = set()
    for ps, hit in requests:
        if ps.index in seen:
            continue
        seen.add(ps.index)
        answer = _answer_to(ctx, ps, performed)
        if answer is not None:
            answered = PerformedEvidence((ps, hit), answer)
            break
    confirmed = None
    if performed.confirmed is not None:
        found = performed.confirmed.occurrences(ctx, params, use_fuzzy=False, first_only=True)
        confirmed = found[0] if found else None
    if confirmed is not None and (answered is None
                                  or confirmed[0].index < answered.request[0].index):
        return PerformedEvidence(None, None, confirmed)
    return answered


def _answer_to(ctx: CallContext, request: PreparedSegment, performed: PerformedParams
               ) -> tuple[PreparedSegment, PhraseHit] | None:
    yes_counts = (performed.confirmation is not None and performed.confirm_request is not None
                  and bool(performed.confirm_request.find(ctx, request)))
    for turn in customer_turns(ctx, request.index, performed.answer_turns):
        for ps in turn:
            hits = list(performed.answer.find(ctx, ps))
            if yes_counts:
                hits += performed.confirmation.find(ctx, ps)
            if hits:
                return ps, min(hits, key=lambda h: h.start)
        if performed.refusal is not None and any(performed.refusal.find(ctx, ps) for ps in turn):
            return None
    return None


def _performed_findings(item_id: str, params: "SequenceParams", evidence: PerformedEvidence
                        ) -> list[Finding]:
    name = params.performed.name
    reason = f"no {params.then_name} found, but {params.first_name} was carried out"
    if evidence.confirmed is not None:
        ps, hit = evidence.confirmed
        said = ps.match.evidence(hit.start, hit.end)
        return [_hit_finding(item_id, "sequence", ps, hit.start, hit.end, True,
                             f"{name}: the agent confirmed the check succeeded, '{said}' at "
                             f"{_fmt_t(ps.time_at(hit.start))}; {reason}")]
    (rps, rhit), (aps, ahit) = evidence.request, evidence.answer
    asked = rps.match.evidence(rhit.start, rhit.end)
    answered = aps.match.evidence(ahit.start, ahit.end)
    where = (f"the agent asked '{asked}' at {_fmt_t(rps.time_at(rhit.start))} and the customer "
             f"answered '{answered}' at {_fmt_t(aps.time_at(ahit.start))}")
    return [_hit_finding(item_id, "sequence", rps, rhit.start, rhit.end, True,
                         f"{name}: {where}; {reason}"),
            _hit_finding(item_id, "sequence", aps, ahit.start, ahit.end, True,
                         f"{name}: the customer's answer to '{asked}'")]


class SequenceParams(CheckParams):
    type: Literal["sequence"]
    first: PhraseSet
    then: PhraseSet
    first_name: str = "the first event"
    then_name: str = "the second event"
    performed: PerformedParams | None = Field(
        default=None, description="when `then` never occurs, pass if `first` was carried out")
    others: PhraseSet | None = Field(
        default=None, description="someone other than the caller named as the owner of what "
                                  "`first` asks for (您母亲的, 'your late husband's'): a `first` "
                                  "hit that contains one, or starts just after one, is not the "
                                  "caller's verification")
    others_reach: int = Field(default=8, ge=0)

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        super().bind(lexicons, models)
        if self.others is not None:
            self.others.bind(lexicons, models)
        if self.performed is not None:
            for phrase_set in self.performed.phrase_sets():
                phrase_set.bind(lexicons, models)


@check("sequence", SequenceParams)
def sequence_check(ctx: CallContext, params: SequenceParams, item_id: str) -> list[Finding]:
    """`first` must happen before the first `then`; not applicable when `then` never
    happens (e.g. no account information disclosed, so no verification needed), unless
    `performed` is set and shows `first` was carried out (a request answered, a check
    confirmed): then passed, the findings naming the request and the answer with times."""
    thens = params.then.occurrences(ctx, params, use_fuzzy=False, first_only=True)
    if not thens:
        if params.performed is not None:
            evidence = performed_evidence(ctx, params.first, params.performed, params,
                                          own=lambda found: _own_firsts(ctx, params, found))
            if evidence is not None:
                return _performed_findings(item_id, params, evidence)
        return [Finding(item_id, "sequence", None, params.then.speaker, detail=(
            f"not applicable: {params.then_name} does not occur"))]
    then_ps, then_hit = thens[0]
    then_time = then_ps.time_at(then_hit.start)
    firsts = _own_firsts(ctx, params, params.first.occurrences(
        ctx, params, first_only=params.others is None, up_to_segment=then_ps.index))
    before = [(ps, h) for ps, h in firsts
              if (ps.index, h.start) < (then_ps.index, then_hit.start)]
    then_where = f"{params.then_name} '{then_ps.match.evidence(then_hit.start, then_hit.end)}' at {_fmt_t(then_time)}"
    if before:
        ps, hit = before[0]
        return [_hit_finding(item_id, "sequence", ps, hit.start, hit.end, True,
                             f"{params.first_name} before {then_where}")]
    later = [(ps, h) for ps, h in _own_firsts(ctx, params, params.first.occurrences(ctx, params, use_fuzzy=False))
             if (ps.index, h.start) > (then_ps.index, then_hit.start)][:1]
    late = f"; {params.first_name} only later, at {_fmt_t(later[0][0].time_at(later[0][1].start))}" if later else ""
    return [_hit_finding(item_id, "sequence", then_ps, then_hit.start, then_hit.end, False,
                         f"{then_where} without {params.first_name} before it{late}")]


def _own_firsts(ctx: CallContext, params: SequenceParams,
                found: list[tuple[PreparedSegment, PhraseHit]]) -> list[tuple[PreparedSegment, PhraseHit]]:
    """`first` hits that are not about someone else's details (see SequenceParams.others)."""
    if params.others is None or not found:
        return found
    kept = []
    for ps, hit in found:
        others = params.others.find(ctx, ps)
        if not any(hit.start - params.others_reach <= o.start < hit.end for o in others):
            kept.append((ps, hit))
    return kept


# --- gaps: hold, silence -----------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    start: float
    end: float
    before_index: int  # index of the last segment before the gap
    after_index: int  # index of the first segment after it

    @property
    def length(self) -> float:
        return self.end - self.start


def talk_gaps(ctx: CallContext) -> list[Gap]:
    """Stretches where nobody talks, between the first and last speech (overlapping
    segments handled). From the audio's voice activity when the call has it. Worked out
    once per call (the hold and silence checks both need them)."""
    if "talk_gaps" not in ctx.memo:
        ctx.memo["talk_gaps"] = _talk_gaps(ctx)
    return list(ctx.memo["talk_gaps"])


def _talk_gaps(ctx: CallContext) -> list[Gap]:
    gaps: list[Gap] = []
    segs = ctx.segments
    if ctx.voice is not None:
        intervals = sorted(ctx.voice.agent + ctx.voice.customer, key=lambda iv: iv.start)
        reach = None
        for iv in intervals:
            if reach is not None and iv.start > reach:
                gaps.append(Gap(reach, iv.start, _segment_before(segs, reach),
                                _segment_after(segs, iv.start)))
            reach = iv.end if reach is None else max(reach, iv.end)
        return gaps
    reach_end, reach_index = None, -1
    for ps in segs:
        seg = ps.segment
        if reach_end is not None and seg.start > reach_end:
            gaps.append(Gap(reach_end, seg.start, reach_index, ps.index))
        if reach_end is None or seg.end >= reach_end:
            reach_end, reach_index = seg.end, ps.index
    return gaps


def announcements(gap: Gap, asks: Sequence[tuple[PreparedSegment, PhraseHit]],
                  within_s: float) -> list[tuple[PreparedSegment, PhraseHit]]:
    """The requests to wait said before `gap` and ending at most `within_s` before it:
    the pause is then an announced hold, not dead air."""
    return [(ps, h) for ps, h in asks
            if ps.index <= gap.before_index and gap.start - ps.time_at(h.end) <= within_s]


def unannounced(gaps: list[Gap], asks: Sequence[tuple[PreparedSegment, PhraseHit]],
                within_s: float) -> list[Gap]:
    """The gaps without `announcements` (the end time of each request worked out once)."""
    if not asks:
        return gaps
    ends = [(ps.index, ps.time_at(h.end)) for ps, h in asks]
    return [g for g in gaps
            if not any(index <= g.before_index and g.start - end <= within_s for index, end in ends)]


def _segment_before(segs: Sequence[PreparedSegment], t: float) -> int:
    before = [ps.index for ps in segs if ps.segment.start <= t]
    return before[-1] if before else 0


def _segment_after(segs: Sequence[PreparedSegment], t: float) -> int:
    after = [ps.index for ps in segs if ps.segment.start >= t - 0.05]
    return after[0] if after else len(segs) - 1


class HoldParams(CheckParams):
    type: Literal["hold"]
    ask: PhraseSet
    thank: PhraseSet
    min_hold_s: float = Field(default=10.0, gt=0)
    silent_hold_s: float = Field(default=30.0, gt=0)
    agent_silent_hold_s: float | None = Field(
        default=None, gt=0,
        description="an unannounced pause before the agent's next turn, once the agent has "
                    "spoken (the agent went quiet to work, or left the customer's words "
                    "unanswered), fails from this length; default silent_hold_s")
    dead_air_prompt: PhraseSet | None = Field(
        default=None,
        description="the customer asking whether anyone is there (hello, are you still "
                    "there?): an unannounced pause this ends also fails from "
                    "agent_silent_hold_s, since the agent owed the line its next words")
    announce_within_s: float = Field(default=15.0, ge=0)
    thank_within_segments: int = Field(default=2, ge=1)


def agent_owes_next_words(ctx: CallContext, params: HoldParams, after: PreparedSegment) -> bool:
    """The pause before `after` was the agent's to end: the agent speaks next, or the
    customer breaks it asking whether anyone is there (`dead_air_prompt`)."""
    if after.segment.speaker == "agent":
        return True
    prompt = params.dead_air_prompt
    return (prompt is not None and prompt.speaker in ("any", after.segment.speaker)
            and bool(prompt.find(ctx, after)))


@check("hold", HoldParams)
def hold_check(ctx: CallContext, params: HoldParams, item_id: str) -> list[Finding]:
    """A hold is a pause of at least `min_hold_s` after the agent asked the customer to
    wait, or an unannounced pause of `silent_hold_s` or more (a silent hold, a fail); an
    unannounced pause before an agent turn (once the agent has spoken) is a silent hold
    from `agent_silent_hold_s`.
    After each announced hold the agent must thank or apologise for the wait in one of
    their first `thank_within_segments` segments. Not applicable without holds."""
    asks = params.ask.occurrences(ctx)
    agent = ctx.by_speaker("agent")
    first_agent = agent[0].index if agent else None
    findings: list[Finding] = []
    for gap in talk_gaps(ctx):
        if gap.length < params.min_hold_s:
            continue
        announce = announcements(gap, asks, params.announce_within_s)
        if not announce:
            limit = params.silent_hold_s
            # the agent owes the line its next words: after their own turn (working in
            # silence) or after the customer's (an answer left hanging); a late opening, before
            # the agent has said anything, is the greeting's matter
            if (params.agent_silent_hold_s is not None
                    and first_agent is not None and first_agent <= gap.before_index
                    and agent_owes_next_words(ctx, params, ctx.segments[gap.after_index])):
                limit = min(limit, params.agent_silent_hold_s)
            # timestamps are tenths of a second: 51.3 - 31.3 is a 20 s pause, not 19.999…
            if round(gap.length, 3) >= limit:
                findings.append(Finding(
                    item_id, "hold", False, "agent", round(gap.start, 2), round(gap.end, 2), "",
                    f"silent hold: {gap.length:.0f} s without asking the customer to wait"))
            continue
        ask_ps, ask_hit = max(announce, key=lambda a: (a[0].index, a[1].end - a[1].start))
        returns = [ps for ps in ctx.segments[gap.after_index:]
                   if ps.segment.speaker == "agent"][: params.thank_within_segments]
        thanks = [(ps, h) for ps in returns for h in params.thank.find(ctx, ps)]
        if not thanks:
            for ps in returns:
                fuzzy = params.thank.fuzzy_find(ctx, ps)
                if fuzzy:
                    thanks.append((ps, fuzzy))
                    break
        asked = ask_ps.match.evidence(ask_hit.start, ask_hit.end)
        if thanks:
            ps, hit = thanks[0]
            findings.append(_hit_finding(
                item_id, "hold", ps, hit.start, hit.end, True,
                f"hold of {gap.length:.0f} s announced ('{asked}') and thanked on return "
                f"({_describe_form(hit.form, hit.score)})"))
        else:
            back = returns[0] if returns else None
            findings.append(Finding(
                item_id, "hold", False, "agent", round(gap.start, 2),
                round(back.segment.end, 2) if back else round(gap.end, 2),
                back.segment.text if back else "",
                f"hold of {gap.length:.0f} s announced ('{asked}') but no thanks for waiting "
                f"on return", segment_index=back.index if back else None))
    if findings:
        return findings
    return [Finding(item_id, "hold", None, "agent",
                    detail=f"not applicable: no pause of {params.min_hold_s:g} s or more after a "
                           f"request to wait, and no silence of {params.silent_hold_s:g} s"
                           + (f" ({params.agent_silent_hold_s:g} s before the agent's next turn)"
                              if params.agent_silent_hold_s is not None else ""))]


class SilenceParams(CheckParams):
    type: Literal["silence"]
    speaker: SpeakerFilter = "any"
    max_gap_s: float | None = Field(default=None, gt=0)
    max_ratio: float | None = Field(default=None, gt=0, le=1)
    exclude_holds: PhraseSet | None = Field(
        default=None, description="requests to wait: the pause after one is a hold, not silence")
    announce_within_s: float = 15.0


@check("silence", SilenceParams)
def silence_check(ctx: CallContext, params: SilenceParams, item_id: str) -> list[Finding]:
    """Dead air: no gap longer than `max_gap_s` (announced holds excluded) and a share of
    time without talk no higher than `max_ratio`."""
    gaps = talk_gaps(ctx)
    if params.exclude_holds is not None:
        gaps = unannounced(gaps, params.exclude_holds.occurrences(ctx), params.announce_within_s)
    findings = []
    if params.max_gap_s is not None:
        for gap in gaps:
            if gap.length > params.max_gap_s:
                findings.append(Finding(item_id, "silence", False, None, round(gap.start, 2),
                                        round(gap.end, 2), "",
                                        f"silence of {gap.length:.1f} s (limit {params.max_gap_s:g} s)",
                                        segment_index=gap.after_index))
    if params.max_ratio is not None and ctx.duration > 0:
        ratio = sum(g.length for g in gaps) / ctx.duration
        if ratio > params.max_ratio:
            findings.append(Finding(item_id, "silence", False, None, 0.0, round(ctx.duration, 2), "",
                                    f"{ratio:.0%} of the call without talk (limit {params.max_ratio:.0%})"))
    if findings:
        return findings
    longest = max((g.length for g in gaps), default=0.0)
    return [Finding(item_id, "silence", True, None, detail=f"longest silence {longest:.1f} s")]


# --- overlap ----------------------------------------------------------------------------

class OverlapParams(CheckParams):
    type: Literal["overlap"]
    min_overlap_s: float = Field(default=1.0, ge=0)
    max_count: int = Field(default=0, ge=0)


def _interruptions(ctx: CallContext, min_overlap_s: float) -> list[tuple[float, float, int | None]]:
    """(start, end, segment index) where the agent starts talking while the customer is
    still talking, for at least `min_overlap_s`."""
    out = []
    if ctx.voice is not None:
        for a in ctx.voice.agent:
            for c in ctx.voice.customer:
                if c.start < a.start < c.end:
                    end = min(a.end, c.end)
                    if end - a.start >= min_overlap_s:
                        out.append((a.start, end, _segment_after(ctx.segments, a.start)))
        return out
    customers = [ps.segment for ps in ctx.by_speaker("customer")]
    for ps in ctx.by_speaker("agent"):
        a = ps.segment
        for c in customers:
            if c.start < a.start < c.end:
                end = min(a.end, c.end)
                if end - a.start >= min_overlap_s:
                    out.append((a.start, end, ps.index))
    return out


@check("overlap", OverlapParams)
def overlap_check(ctx: CallContext, params: OverlapParams, item_id: str) -> list[Finding]:
    """The agent talking over the customer: more than `max_count` interruptions of at
    least `min_overlap_s` fail."""
    found = _interruptions(ctx, params.min_overlap_s)
    if len(found) > params.max_count:
        return [Finding(item_id, "overlap", False, "agent", round(s, 2), round(e, 2),
                        ctx.segments[i].segment.text if i is not None else "",
                        f"agent talked over the customer for {e - s:.1f} s", segment_index=i)
                for s, e, i in found]
    return [Finding(item_id, "overlap", True, "agent",
                    detail=f"{len(found)} interruptions of {params.min_overlap_s:g} s or more "
                           f"(allowed {params.max_count})")]


# --- speech rate ------------------------------------------------------------------------

class SpeechRateParams(CheckParams):
    type: Literal["speech_rate"]
    min_per_min: float | None = Field(default=None, gt=0)
    max_per_min: float | None = Field(default=None, gt=0)
    min_talk_s: float = Field(default=20.0, ge=0)


def speech_rate(ctx: CallContext, speaker: SpeakerFilter = "agent") -> tuple[float, float, str]:
    """(units per minute, seconds of talk, unit): characters for Chinese, words for
    English."""
    segs = ctx.by_speaker(speaker)
    talk = sum(ps.segment.duration for ps in segs)
    if ctx.language.startswith("zh"):
        # a match form's only white space is the one space between two Latin words
        units = sum(len(ps.match.text) - ps.match.text.count(" ") for ps in segs)
        unit = "characters"
    else:
        units = sum(len(ps.match.text.split()) for ps in segs)
        unit = "words"
    return (units / talk * 60.0 if talk > 0 else 0.0), talk, unit


@check("speech_rate", SpeechRateParams)
def speech_rate_check(ctx: CallContext, params: SpeechRateParams, item_id: str) -> list[Finding]:
    """The speaker's rate within [min_per_min, max_per_min]; not applicable with less
    than `min_talk_s` of talk."""
    rate, talk, unit = speech_rate(ctx, params.speaker)
    if talk < params.min_talk_s:
        return [Finding(item_id, "speech_rate", None, params.speaker,
                        detail=f"not applicable: only {talk:.0f} s of {params.speaker} talk")]
    detail = f"{rate:.0f} {unit} per minute over {talk:.0f} s"
    if params.min_per_min is not None and rate < params.min_per_min:
        return [Finding(item_id, "speech_rate", False, params.speaker,
                        detail=f"too slow: {detail} (minimum {params.min_per_min:g})")]
    if params.max_per_min is not None and rate > params.max_per_min:
        return [Finding(item_id, "speech_rate", False, params.speaker,
                        detail=f"too fast: {detail} (maximum {params.max_per_min:g})")]
    return [Finding(item_id, "speech_rate", True, params.speaker, detail=detail)]


# --- sensitive --------------------------------------------------------------------------

class SensitiveParams(CheckParams):
    """An agent asking for a secret aloud: a secret term (密码, CVV, 卡背后三位数, 验证码)
    with a request cue near it (告诉我, 报一下, 是多少), unless a safe cue says it is a
    warning or keypad entry (不要, 勿, 输入, 按键). Optionally, PII read out in full."""

    type: Literal["sensitive"]
    secret_terms: list[Regex] = Field(default_factory=list)
    ask_cues: list[Regex] = Field(default_factory=list)
    negation_cues: list[Regex] = Field(default_factory=list)
    safe_cues: list[Regex] = Field(default_factory=list)
    window_chars: int = Field(default=12, ge=1)
    negation_chars: int = Field(default=6, ge=1, description="how far back a negation reaches")
    homophones: bool = True
    homophone_terms: list[str] | None = Field(
        default=None, description="terms also matched by sound (default: every CJK term)")
    reference_cues: list[Regex] = Field(
        default_factory=list,
        description="a request in the next sentence that points back (把那个数字报一下)")
    pii_kinds: list[Literal["card", "id_number", "phone"]] = Field(default_factory=list)
    _finder: "SecretRequestFinder | None" = PrivateAttr(default=None)

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        def one(patterns: list[str]) -> re.Pattern[str] | None:
            return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

        terms = [(one(self.secret_terms), False)] if self.secret_terms else []
        by_sound = self.homophone_terms if self.homophone_terms is not None else [
            p for p in self.secret_terms if any(ord(c) > 0x2E80 for c in p)]
        if self.homophones and by_sound:
            terms.append((re.compile("|".join(f"(?:{key_pattern(p).pattern})" for p in by_sound)), True))
        self._finder = SecretRequestFinder(tuple(terms), one(self.ask_cues),
                                           one(self.negation_cues), one(self.safe_cues),
                                           self.window_chars, one(self.reference_cues),
                                           self.negation_chars)

    def finder(self) -> "SecretRequestFinder | None":
        if private(self, "_finder") is None and self.secret_terms:
            self.bind({})
        return private(self, "_finder")


class SecretRequestFinder:
    """Requests for a secret in one match text (see SensitiveParams)."""

    def __init__(self, terms: tuple[tuple[re.Pattern[str], bool], ...], ask: re.Pattern[str] | None,
                 negation: re.Pattern[str] | None, safe: re.Pattern[str] | None, window: int,
                 reference: re.Pattern[str] | None = None, negation_reach: int = 6):
        self.terms, self.ask, self.negation, self.safe, self.window = terms, ask, negation, safe, window
        # Literals one of which every match of a term pattern holds (None: no such set):
        # most segments name no secret, and a few substring tests say so faster than
        # the search of an alternation of patterns.
        self._term_literals = tuple(required_literals(pattern) for pattern, _ in terms)
        self.reference = reference
        self.reach = negation_reach
        self._kept = Kept(self._requests, key=_display_of)

    def requests(self, m: MatchText) -> tuple[tuple[int, int, str], ...]:
        """`_requests` of a match text, kept across calls by its display text (of which
        the match form is a function)."""
        return self._kept(m)

    def _cue(self, m: MatchText, lo: int, hi: int, term_start: int, term_end: int) -> tuple[int, int] | None:
        """The span of an ask cue in m.text[lo:hi] that no safe cue or negation cancels."""
        context = m.text[lo:hi]
        if self.safe is not None and self.safe.search(context):
            return None
        ask = self.ask.search(context) if self.ask is not None else None
        if ask is None:
            return None
        ask_at = lo + ask.start()
        reach = self.reach
        negation_zone = (m.text[max(0, ask_at - reach):ask_at]
                         + " " + m.text[max(0, term_start - reach):term_start]
                         + " " + m.text[term_end:min(hi, term_end + 8)])
        if self.negation is not None and self.negation.search(negation_zone):
            return None
        return ask_at, lo + ask.end()

    def _requests(self, m: MatchText) -> tuple[tuple[int, int, str], ...]:
        """(start, end, secret term) of each request for a secret. The context searched
        for cues is `window` characters either side of the term, within its sentence (a
        request in one sentence and a secret named in the next are unrelated:
        重置密码前需要核实您的身份。请您提供…)."""
        if self.ask is None:
            return ()
        out = []
        w = self.window
        ends: list[int] | None = None
        for (pattern, on_key), literals in zip(self.terms, self._term_literals):
            key = m.pinyin if on_key else m.text
            if literals is not None and not any(map(key.__contains__, literals)):
                continue
            for x in pattern.finditer(key):
                if ends is None:
                    ends = _sentence_ends(m)
                sentence_start = max((e for e in ends if e <= x.start()), default=0)
                sentence_end = min((e for e in ends if e >= x.end()), default=len(m.text))
                cue = self._cue(m, max(sentence_start, x.start() - w),
                                min(sentence_end, x.end() + w), x.start(), x.end())
                if cue is None and self.reference is not None and sentence_end < len(m.text):
                    # "I'll send you a code. Please read it out to me."
                    following = min((e for e in ends if e > sentence_end), default=len(m.text))
                    if self.reference.search(m.text[sentence_end:following]):
                        safe_here = self.safe is not None and self.safe.search(
                            m.text[sentence_start:sentence_end])
                        cue = None if safe_here else self._cue(
                            m, sentence_end, following, x.start(), x.end())
                if cue is None and self.reference is not None:
                    # unpunctuated (ASR): "ive sent a code to your phone number ending in four two
                    # can you read that out to me", a request that points back, further on
                    far = min(sentence_end, x.end() + 2 * w)
                    if far > x.end() + w and self.reference.search(m.text[x.end() + w:far]):
                        cue = self._cue(m, x.end(), far, x.start(), x.end())
                if cue is None:
                    continue
                out.append((min(x.start(), cue[0]), max(x.end(), cue[1]),
                            m.text[x.start():x.end()]))
        return tuple(sorted(set(out)))  # kept: a tuple (see PhraseRuntime.find)


def _display_of(m: MatchText) -> str:
    return m.display


_SENTENCE_END = set("。！？!?；;")


def _sentence_ends(m: MatchText) -> list[int]:
    """Match-form indices at which a new sentence starts (a 。？！; or a full stop between
    two characters of the display text)."""
    ends = []
    for i in range(1, len(m.offsets)):
        between = m.display[m.offsets[i - 1] + 1:m.offsets[i]]
        if any(ch in _SENTENCE_END for ch in between):
            ends.append(i)
        elif "." in between and not (m.text[i - 1].isdigit() and m.text[i].isdigit()):
            ends.append(i)  # a full stop, not a decimal point (2.8)
    return ends


def _pii_spans(display: str) -> tuple[PiiSpan, ...]:
    return tuple(find_pii(display))  # kept: a tuple (see PhraseRuntime.find)


_kept_pii = Kept(_pii_spans)


@check("sensitive", SensitiveParams)
def sensitive_check(ctx: CallContext, params: SensitiveParams, item_id: str) -> list[Finding]:
    """Fails where the speaker asks for a password, CVV or one-time code aloud, and where
    they say a full card, ID or phone number of a kind in `pii_kinds`."""
    findings = []
    finder = params.finder()
    for ps in ctx.by_speaker(params.speaker):
        for start, end, term in (finder.requests(ps.match) if finder is not None else ()):
            if params.in_window(ps.time_at(start), ctx.duration):
                findings.append(_hit_finding(item_id, "sensitive", ps, start, end, False,
                                             f"asks for a secret aloud ({term})"))
        if params.pii_kinds:
            for span in _kept_pii(ps.segment.text):
                if span.kind in params.pii_kinds and span.valid:
                    t = ps.segment.start
                    findings.append(Finding(
                        item_id, "sensitive", False, ps.segment.speaker, t, ps.segment.end,
                        ps.segment.text[span.start:span.end],
                        f"full {span.kind.replace('_', ' ')} said aloud ({len(span.digits)} digits)",
                        segment_index=ps.index, char_start=span.start, char_end=span.end))
    if findings:
        return findings
    checked = []
    if params.secret_terms:
        checked.append("no request for a password, security code or one-time code")
    if params.pii_kinds:
        checked.append("no full " + " or ".join(k.replace("_", " ") for k in params.pii_kinds)
                       + " said aloud")
    return [Finding(item_id, "sensitive", True, params.speaker, detail="; ".join(checked))]


# --- classifier -------------------------------------------------------------------------

class ClassifierParams(CheckParams):
    type: Literal["classifier"]
    model: str
    label: str
    min_probability: float = Field(default=0.5, ge=0, le=1)
    _model: Any = PrivateAttr(default=None)

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> None:
        """Resolve the model by name (loaded once with the rubric) and check the label is
        one of its labels. Without a model directory (`models` None) predictions must
        come from the caller."""
        super().bind(lexicons, models)
        if models is None:
            return
        if self.model not in models:
            raise KeyError(f"unknown model {self.model!r}")
        model = models[self.model]
        labels = getattr(model, "labels", None)
        if labels is not None and self.label not in labels:
            raise KeyError(f"model {self.model!r} has no label {self.label!r} "
                           f"(labels: {', '.join(labels)})")
        self._model = model

    @property
    def bound_model(self) -> Any:
        return self._model


@check("classifier", ClassifierParams)
def classifier_check(ctx: CallContext, params: ClassifierParams, item_id: str) -> list[Finding]:
    """Fails when the model's probability for `label` reaches `min_probability` (e.g. high
    complaint risk); not applicable when the call has no prediction from that model."""
    prediction = ctx.predictions.get(params.model)
    if prediction is None:
        return [Finding(item_id, "classifier", None, None,
                        detail=f"not applicable: no prediction from model {params.model!r}")]
    probability = prediction.scores.get(params.label,
                                        prediction.probability if prediction.label == params.label else 0.0)
    hit = probability >= params.min_probability
    rollup = ""
    if f"{params.label}_share" in prediction.detail:  # a per-turn model's roll-up
        rollup = (f"; peak over {prediction.detail.get('turns', 0)} customer turns, "
                  f"{prediction.detail[f'{params.label}_share']:.0%} of turns {params.label}, "
                  f"trend {prediction.detail.get(f'{params.label}_trend', 0.0):+.2f}")
    return [Finding(item_id, "classifier", not hit, None, detail=(
        f"{params.model}: P({params.label}) = {probability:.2f} "
        f"({'at or above' if hit else 'below'} {params.min_probability:g}){rollup}"))]
