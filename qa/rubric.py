"""Rubric schema (pydantic) and scoring: findings -> Scorecard. No file access here;
qa.rubrics reads rubric YAML and lexicon files.

Scoring rules:
- an item passes, fails or is not applicable (N/A) from its checks (`require: all` or
  `any`); `na_when` is a check whose passing makes the item N/A;
- a failed item scores 0, or its points less the findings' deductions when the check
  deducts per hit (capped by `deduction_cap`, default the item's points);
- N/A items leave the denominator;
- a failed critical item, or a critical finding (e.g. a forbidden phrase in a critical
  category), zeroes the call; the calculated total is still reported;
- flags are checks that do not score: a flag is raised when its check does not pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from qa.checks import (CHECKS, CallContext, CheckParams, Organisation, PhraseSet, Prediction,
                       VoiceActivity, prepare, private, run_check)
from qa.matcher import LexiconEntry, PatternPrefilter, PhraseMatcher, SharedScan
from qa.model import FlagResult, Finding, ItemScore, Scorecard, SectionScore, Transcript

CheckSpec = Annotated[Union[tuple(ct.params for ct in CHECKS.values())],  # type: ignore[misc]
                      Field(discriminator="type")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str = ""
    points: float = Field(gt=0)
    check: CheckSpec | list[CheckSpec]
    require: Literal["all", "any"] = "all"
    critical: bool = False
    na_when: CheckSpec | None = None
    deduction_cap: float | None = Field(default=None, gt=0)
    coaching: str = Field(default="", description="what the agent should have said or done")

    @property
    def checks(self) -> list[CheckParams]:
        return list(self.check) if isinstance(self.check, list) else [self.check]


class SectionSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    items: list[ItemSpec] = Field(min_length=1)


class FlagSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str = ""
    check: CheckSpec | list[CheckSpec]

    @property
    def checks(self) -> list[CheckParams]:
        return list(self.check) if isinstance(self.check, list) else [self.check]


class StarBand(_Strict):
    min: float = Field(ge=0, le=100)
    stars: int = Field(ge=0, le=5)


class OrganisationSpec(_Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)


def _phrase_sets(model: BaseModel):
    """The phrase sets in a check's parameters: the check itself and nested ones."""
    if isinstance(model, PhraseSet):
        yield model
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _phrase_sets(value)


class Rubric(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str
    version: str
    language: str
    description: str = ""
    pass_mark: float = Field(default=80, ge=0, le=100)
    stars: list[StarBand] = Field(default_factory=lambda: [
        StarBand(min=95, stars=5), StarBand(min=85, stars=4), StarBand(min=75, stars=3),
        StarBand(min=60, stars=2), StarBand(min=0, stars=1)])
    organisations: list[OrganisationSpec] = Field(default_factory=list)
    organisation_patterns: list[str] = Field(default_factory=list)
    sections: list[SectionSpec] = Field(min_length=1)
    flags: list[FlagSpec] = Field(default_factory=list)
    _scan: SharedScan | None = PrivateAttr(default=None)
    _organisations: tuple[Organisation, ...] | None = PrivateAttr(default=None)

    @field_validator("sections")
    @classmethod
    def _unique_item_ids(cls, sections: list[SectionSpec]) -> list[SectionSpec]:
        seen: set[str] = set()
        for section in sections:
            for item in section.items:
                if item.id in seen:
                    raise ValueError(f"item id {item.id!r} is used twice")
                seen.add(item.id)
        return sections

    @field_validator("flags")
    @classmethod
    def _unique_flag_ids(cls, flags: list[FlagSpec]) -> list[FlagSpec]:
        ids = [f.id for f in flags]
        if len(ids) != len(set(ids)):
            raise ValueError("flag ids must be unique")
        return flags

    def items(self) -> list[ItemSpec]:
        return [item for section in self.sections for item in section.items]

    def shared_scan(self) -> SharedScan:
        """One scan of each segment for every phrase set of the rubric (after bind)."""
        if private(self, "_scan") is None:
            matchers: dict[int, PhraseMatcher] = {}
            prefilters: dict[int, PatternPrefilter] = {}
            for params in self._all_checks():
                for phrase_set in _phrase_sets(params):
                    matcher = phrase_set.matcher
                    matchers[id(matcher)] = matcher
                    prefilter = phrase_set.runtime.prefilter
                    if phrase_set.runtime.all_patterns and prefilter.joinable:
                        prefilters[id(prefilter)] = prefilter
            self._scan = SharedScan(list(matchers.values()), list(prefilters.values()))
        return private(self, "_scan")

    def _all_checks(self) -> list[CheckParams]:
        checks = [c for item in self.items() for c in item.checks]
        checks += [item.na_when for item in self.items() if item.na_when is not None]
        checks += [c for flag in self.flags for c in flag.checks]
        return checks

    def organisation_list(self) -> tuple[Organisation, ...]:
        """The organisations as the checks use them (built once: scoring asks per call)."""
        if private(self, "_organisations") is None:
            self._organisations = tuple(Organisation(o.name, tuple(o.aliases))
                                        for o in self.organisations)
        return private(self, "_organisations")

    def classifier_models(self) -> dict[str, Any]:
        """The models the rubric's classifier checks name, as bound: name -> model."""
        return {params.model: params.bound_model for params in self._all_checks()
                if params.type == "classifier" and getattr(params, "bound_model", None) is not None}

    def bind(self, lexicons: Mapping[str, Sequence[LexiconEntry]],
             models: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
        """Bind every check to its lexicons; returns (field path, error) for failures."""
        self._scan = None
        errors = []
        for si, section in enumerate(self.sections):
            for ii, item in enumerate(section.items):
                where = f"sections[{si}].items[{ii}]"
                for ci, params in enumerate(item.checks):
                    path = f"{where}.check" + (f"[{ci}]" if isinstance(item.check, list) else "")
                    errors += _bind_one(params, lexicons, models, path)
                if item.na_when is not None:
                    errors += _bind_one(item.na_when, lexicons, models, f"{where}.na_when")
        for fi, flag in enumerate(self.flags):
            for ci, params in enumerate(flag.checks):
                errors += _bind_one(params, lexicons, models, f"flags[{fi}].check")
        return errors


def _bind_one(params: CheckParams, lexicons: Mapping[str, Sequence[LexiconEntry]],
              models: Mapping[str, Any] | None, path: str) -> list[tuple[str, str]]:
    try:
        params.bind(lexicons, models)
    except KeyError as exc:
        return [(path, str(exc.args[0]) if exc.args else str(exc))]
    return []


def check_status(findings: Sequence[Finding]) -> str:
    """A check's status from its findings: na when none applies, fail when any failed."""
    if not findings or all(f.passed is None for f in findings):
        return "na"
    return "fail" if any(f.passed is False for f in findings) else "pass"


def score_item(item: ItemSpec, section_id: str, ctx: CallContext) -> ItemScore:
    """Run an item's checks and turn their findings into points and a status."""
    if item.na_when is not None:
        na_findings = run_check(ctx, item.na_when, item.id)
        if check_status(na_findings) == "pass":
            return ItemScore(item.id, item.name, section_id, "na", 0.0, 0.0, item.critical,
                             tuple(_as_na(f) for f in na_findings))
    per_check = [run_check(ctx, params, item.id) for params in item.checks]
    statuses = [check_status(f) for f in per_check]
    findings = tuple(f for fs in per_check for f in fs)
    applicable = [s for s in statuses if s != "na"]
    if not applicable:
        return ItemScore(item.id, item.name, section_id, "na", 0.0, 0.0, item.critical, findings)
    if item.require == "any":
        passed = "pass" in applicable
        if passed:  # the failures of the alternatives that were not needed explain nothing
            findings = tuple(f for fs, s in zip(per_check, statuses) if s == "pass" for f in fs)
    else:
        passed = all(s == "pass" for s in applicable)
    if passed:
        return ItemScore(item.id, item.name, section_id, "pass", item.points, item.points,
                         item.critical, findings)
    failed = [f for f in findings if f.passed is False]
    deductions = [f.deduction for f in failed]
    if failed and all(d > 0 for d in deductions):
        cap = item.deduction_cap if item.deduction_cap is not None else item.points
        points = max(0.0, item.points - min(cap, sum(deductions)))
    else:
        points = 0.0
    critical = item.critical or any(f.critical for f in failed)
    return ItemScore(item.id, item.name, section_id, "critical" if critical else "fail",
                     points, item.points, item.critical, findings)


def _as_na(finding: Finding) -> Finding:
    return Finding(finding.item_id, finding.check, None, finding.speaker, finding.start,
                   finding.end, finding.evidence, f"not applicable: {finding.detail}",
                   finding.segment_index, finding.char_start, finding.char_end)


def stars_for(percent: float, bands: Sequence[StarBand]) -> int:
    for band in sorted(bands, key=lambda b: b.min, reverse=True):
        if percent >= band.min:
            return band.stars
    return 0


def score_call(rubric: Rubric, ctx: CallContext) -> Scorecard:
    """The call's scorecard under the rubric (the rubric must be bound to its lexicons)."""
    items = [score_item(item, section.id, ctx)
             for section in rubric.sections for item in section.items]
    sections = []
    for section in rubric.sections:
        own = [i for i in items if i.section_id == section.id]
        sections.append(SectionScore(section.id, section.name,
                                     sum(i.points for i in own if i.status != "na"),
                                     sum(i.max for i in own if i.status != "na")))
    applicable = [i for i in items if i.status != "na"]
    calculated = sum(i.points for i in applicable)
    max_total = sum(i.max for i in applicable)
    critical_failed = any(i.status == "critical" for i in items)
    total = 0.0 if critical_failed else calculated
    percent = round(100.0 * total / max_total, 1) if max_total else 100.0
    flags = []
    for flag in rubric.flags:
        findings = [f for params in flag.checks for f in run_check(ctx, params, flag.id)]
        if any(f.passed is False for f in findings):
            flags.append(FlagResult(flag.id, flag.name,
                                    tuple(f for f in findings if f.passed is False)))
    return Scorecard(
        call_id=ctx.transcript.call_id, rubric_id=rubric.id, rubric_version=rubric.version,
        items=tuple(items), sections=tuple(sections), total=round(total, 2),
        calculated_total=round(calculated, 2), max_total=round(max_total, 2), percent=percent,
        stars=stars_for(percent, rubric.stars), passed=percent >= rubric.pass_mark and not critical_failed,
        critical_failed=critical_failed, flags=tuple(flags))


def score_transcript(rubric: Rubric, transcript: Transcript, *,
                     voice: VoiceActivity | None = None,
                     predictions: Mapping[str, Prediction] | None = None) -> Scorecard:
    """Prepare a transcript for the rubric's checks and score it. Without `predictions`,
    the models the rubric's classifier checks name predict for the call
    (qa.classify.predict_for_rubric)."""
    if predictions is None and rubric.classifier_models():
        from qa.classify import predict_for_rubric

        predictions = predict_for_rubric(rubric, transcript)
    ctx = prepare(transcript, organisations=rubric.organisation_list(),
                  organisation_patterns=rubric.organisation_patterns, voice=voice,
                  predictions=predictions, scan=rubric.shared_scan())
    return score_call(rubric, ctx)


def scorecard_to_dict(card: Scorecard) -> dict[str, Any]:
    """The scorecard in the `qa score --format json` shape."""
    return {
        "call_id": card.call_id, "rubric_id": card.rubric_id,
        "rubric_version": card.rubric_version, "total": card.total,
        "calculated_total": card.calculated_total, "max_total": card.max_total,
        "percent": card.percent, "stars": card.stars, "passed": card.passed,
        "critical_failed": card.critical_failed,
        "flags": [{"id": f.flag_id, "name": f.name,
                   "findings": [x.as_dict() for x in f.findings]} for f in card.flags],
        "sections": [{"id": s.section_id, "name": s.name, "points": s.points, "max": s.max}
                     for s in card.sections],
        "items": [{"id": i.item_id, "name": i.name, "section": i.section_id,
                   "status": i.status, "points": i.points, "max": i.max,
                   "critical": i.critical,
                   "findings": [f.as_dict() for f in i.findings]} for i in card.items],
    }
