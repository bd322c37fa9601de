"""Finding and reading rubric YAML files and their lexicons (the I/O side of qa.rubric).

A rubric is named by a path or by its id; ids are looked up in the directories of
`QA_RUBRICS_PATH` (os.pathsep-separated), then in the rubrics bundled with callqa.
Lexicons are `lexicons/NAME.txt` beside the rubric: one phrase a line, optionally
`phrase<TAB>category<TAB>severity`; `#` starts a comment line.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml
from pydantic import ValidationError

from qa.errors import RubricError
from qa.matcher import LexiconEntry
from qa.model_paths import find_model_dir
from qa.rubric import Rubric

SEVERITIES = ("minor", "major", "critical", "-", "")
AUTO = "auto"
DEFAULT_RUBRIC_BY_LANGUAGE = {"zh": "zh-bank-hotline", "en": "en-card-services"}


def bundled_rubrics_dir() -> Path:
    """The rubrics shipped with callqa: inside the installed package, or the repository's
    `rubrics/` when running from a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / "rubrics", package.parent / "rubrics"):
        if candidate.is_dir():
            return candidate
    raise RubricError(str(package), "", "no bundled rubrics found: reinstall callqa")


def rubric_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("QA_RUBRICS_PATH", "").split(os.pathsep) if p]
    return extra + [bundled_rubrics_dir()]


def find_rubric(name_or_path: str) -> Path:
    """The file of a rubric given by path or id; raises RubricError when there is none."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise RubricError(str(path), "", "no such rubric file")
        return path
    for directory in rubric_dirs():
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in rubric_dirs() if d.is_dir() for p in d.glob("*.y*ml")})
    raise RubricError(name_or_path, "", f"unknown rubric (known: {', '.join(known) or 'none'})")


def named_lexicons_and_models(data: Any) -> Iterator[tuple[str, str]]:
    """("lexicon" | "model", name) for every lexicon and model a rubric's YAML names, at
    any depth: `lexicon`, `allow_lexicon`, `tone_model`, `model` and any `*_lexicon` or
    `*_model` key with a string value."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and isinstance(key, str):
                if key == "lexicon" or key.endswith("_lexicon"):
                    yield "lexicon", value
                elif key == "model" or key.endswith("_model"):
                    yield "model", value
            else:
                yield from named_lexicons_and_models(value)
    elif isinstance(data, list):
        for value in data:
            yield from named_lexicons_and_models(value)


@dataclass(frozen=True)
class RubricIdentity:
    """What names a rubric's rules: its id and version, and the fingerprint of its content."""

    id: str
    version: str
    fingerprint: str


def _read_rubric_yaml(path: Path) -> tuple[bytes, Any]:
    try:
        text = path.read_bytes()
        return text, yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise RubricError(str(path), "", f"cannot read the rubric: {exc}") from None


def _fingerprint(path: Path, text: bytes, data: Any) -> str:
    digest = hashlib.sha256(b"rubric\0" + text)
    lexicons = LexiconDirectory(path.parent / "lexicons")
    for kind, name in sorted(set(named_lexicons_and_models(data))):
        if kind == "lexicon":
            files = [lexicons.path(name)]
        else:
            directory = find_model_dir(name)
            files = sorted(f for f in directory.iterdir() if f.is_file()) if directory else []
        digest.update(f"\0{kind}\0{name}".encode("utf-8"))
        for file in files:
            try:
                digest.update(f"\0{file.name}\0".encode("utf-8") + file.read_bytes())
            except OSError:
                digest.update(f"\0{file.name}\0missing".encode("utf-8"))
    return digest.hexdigest()


def rubric_fingerprint(path: Path) -> str:
    """A SHA-256 (hex) of everything that decides a rubric's scores besides the code: the
    YAML file, each lexicon file it names and each file of each model it names. Read
    without building the rubric, so a batch can tell cheaply whether calls scored under
    the same version were scored by the same rules. A lexicon or model that cannot be
    found counts as missing (binding the rubric reports it); raises RubricError when the
    YAML cannot be read."""
    return _fingerprint(path, *_read_rubric_yaml(path))


def rubric_identity(path: Path) -> RubricIdentity:
    """The id, version and fingerprint of a rubric YAML file, read once and without
    building the rubric (which takes seconds): enough to know what is already scored.
    Raises RubricError when the file cannot be read or has no id or version."""
    text, data = _read_rubric_yaml(path)
    if not isinstance(data, dict) or not data.get("id") or data.get("version") in (None, ""):
        raise RubricError(str(path), "", "a rubric needs an id and a version")
    return RubricIdentity(str(data["id"]), str(data["version"]), _fingerprint(path, text, data))


def parse_lexicon(text: str, source: str) -> list[LexiconEntry]:
    """Entries of a lexicon file's text; raises RubricError naming the line at fault."""
    entries: list[LexiconEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) > 3:
            raise RubricError(source, f"line {number}",
                              "expected phrase<TAB>category<TAB>severity (at most 3 fields)")
        phrase = fields[0]
        if not phrase:
            raise RubricError(source, f"line {number}", "empty phrase")
        category = fields[1] if len(fields) > 1 else ""
        severity = fields[2] if len(fields) > 2 else ""
        if severity not in SEVERITIES:
            raise RubricError(source, f"line {number}",
                              f"unknown severity {severity!r} (use minor, major or critical)")
        if phrase.startswith("re:"):
            try:
                re.compile(phrase[3:])
            except re.error as exc:
                raise RubricError(source, f"line {number}", f"bad regular expression: {exc}") from None
        if phrase in seen:
            continue
        seen.add(phrase)
        entries.append(LexiconEntry(phrase, category, "" if severity == "-" else severity))
    return entries


class LexiconDirectory:
    """Lexicons beside a rubric, read on first use and kept."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._cache: dict[str, list[LexiconEntry]] = {}

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.txt"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._cache or self.path(name).is_file())

    def __getitem__(self, name: str) -> list[LexiconEntry]:
        if name not in self._cache:
            path = self.path(name)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise KeyError(f"unknown lexicon {name!r}: no file {path}") from None
            except UnicodeDecodeError as exc:
                raise RubricError(str(path), "", f"not UTF-8 text ({exc.reason})") from None
            self._cache[name] = parse_lexicon(text, str(path))
        return self._cache[name]

    def __iter__(self):
        return iter(sorted(p.stem for p in self.directory.glob("*.txt")))

    def read(self) -> list[str]:
        """The names of the lexicons read so far."""
        return sorted(self._cache)

    def __len__(self) -> int:
        return len(list(self.directory.glob("*.txt")))

    def keys(self):
        return list(self)


class _Models:
    """Trained models by name (qa.models), imported only when a rubric uses one, so that
    rubrics without models do not load scikit-learn."""

    def __init__(self):
        self._directory = None

    def _models(self):
        if self._directory is None:
            from qa.models import ModelDirectory

            self._directory = ModelDirectory()
        return self._directory

    def __contains__(self, name: object) -> bool:
        return name in self._models()

    def __getitem__(self, name: str):
        from qa.models import ModelError

        try:
            return self._models()[name]
        except ModelError as exc:
            raise KeyError(f"model {name!r} cannot be loaded: {exc}") from None


def _field_path(loc: tuple) -> str:
    """pydantic's error location as the user wrote it: sections[0].items[2].check.points
    (the union's internal tags, such as the check type, are left out)."""
    from qa.checks import CHECKS

    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in CHECKS or "[" in str(part) or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the
    last silently: a second `tone_exempt:` under a check would drop the first list)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def rubric_from_yaml(text: str, source: str, lexicon_dir: Path | None = None,
                     bind: bool = True) -> Rubric:
    """Validate rubric YAML text and bind its lexicons and models (`bind=False` for
    reading the rubric's texts only: nothing is compiled or loaded); raises RubricError
    with source:field: reason for the first problem."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise RubricError(source, where, f"malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RubricError(source, "", "a rubric must be a YAML mapping")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A check may be one mapping or a list: pydantic reports both alternatives, and
        # the deepest location is the one the user got wrong.
        first = max(errors, key=lambda e: len(e["loc"]))
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise RubricError(source, _field_path(first["loc"]), first["msg"] + more) from None
    if not bind:
        return rubric
    lexicons = LexiconDirectory(lexicon_dir if lexicon_dir is not None
                                else Path(source).parent / "lexicons")
    problems = rubric.bind(lexicons, _Models())
    if problems:
        field, reason = problems[0]
        raise RubricError(source, field, reason)
    return rubric


def load_rubric(name_or_path: str, bind: bool = True) -> Rubric:
    """Read, validate and (unless `bind=False`) bind a rubric by path or id (see module
    docstring)."""
    path = find_rubric(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(str(path), "", f"cannot read: {exc}") from None
    return rubric_from_yaml(text, str(path), bind=bind)


def freeze_loaded() -> None:
    """Take every object alive now out of the garbage collector's reach (gc.freeze): the
    loaded rubrics, lexicons and models and the libraries imported for them (about
    500,000 objects, most of them pypinyin's phrase dictionary and scikit-learn and
    torch, imported by skops), which every full collection walked again, a tenth of the
    time of scoring calls of new texts. For a process that scores many calls: called by
    RubricChooser and the batch workers once a rubric is loaded."""
    gc.freeze()


class RubricChooser:
    """The rubric for each call: one named rubric, or with `auto` the bundled default for
    the call's language (zh-bank-hotline, en-card-services). Rubrics are loaded once."""

    def __init__(self, name_or_path: str = AUTO):
        self.name = name_or_path
        self._loaded: dict[str, Rubric] = {}
        if name_or_path != AUTO:
            self._loaded[name_or_path] = load_rubric(name_or_path)
            freeze_loaded()

    def for_language(self, language: str) -> Rubric:
        name = self.name
        if name == AUTO:
            base = language.split("-")[0].lower()
            if base not in DEFAULT_RUBRIC_BY_LANGUAGE:
                raise RubricError(AUTO, "language",
                                  f"no default rubric for language {language!r}; pass --rubric")
            name = DEFAULT_RUBRIC_BY_LANGUAGE[base]
        if name not in self._loaded:
            self._loaded[name] = load_rubric(name)
            freeze_loaded()
        return self._loaded[name]
