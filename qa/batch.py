"""Nightly batch scoring into the store: `qa batch PATH [--manifest calls.csv] --db qa.db`.

The parent process lists the inputs, hashes each one and skips what the database already
holds for this rubric version and engine; the work left is sent in small chunks to a
bounded pool of worker processes (or to a Dask cluster), which parse or transcribe,
score and build the rows; the parent writes each chunk in one transaction. So a SIGKILL
loses at most the chunks in flight, and SIGINT / SIGTERM stop after them.

Audio transcription (qa.transcribe) is imported only where audio is handled, so this
module works in an installation without it: the audio files are then recorded as failed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import signal
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from qa import store
from qa.errors import InputError, QAError
from qa.model import CALL_FIELDS, Call, Transcript, transcript_from_dict
from qa.rubric import Rubric, score_transcript
from qa.rubrics import (find_rubric, freeze_loaded, load_rubric, rubric_fingerprint,
                        rubric_identity)
from qa.store import FailureRecord, StoredCall
from qa.transcripts import decode_transcript_bytes, parse_transcript_json

log = logging.getLogger("qa.batch")

TRANSCRIPT_ENGINE_ID = "transcript-json"
# Used when qa.audio (which owns the list) is not installed, to still recognise audio.
FALLBACK_AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".ogg", ".flac", ".opus",
                                       ".aac", ".wma", ".amr"})
METADATA_FIELDS = ("agent_id", "agent_name", "team", "queue", "started_at")
MANIFEST_FIELDS = ("call_id", *(f for f in CALL_FIELDS if f not in ("audio_path", "audio_sha256")))
TRANSCRIBE_UNAVAILABLE = "audio transcription is not available in this installation (qa.transcribe missing)"
EXECUTORS = ("local", "dask")
SKIP, FAILED = "skip", "failed"


class BatchError(QAError):
    """The run itself cannot go ahead (bad database, rubric, manifest or scheduler)."""


def audio_extensions() -> frozenset[str]:
    try:
        from qa.audio import AUDIO_EXTENSIONS
    except ImportError:
        return FALLBACK_AUDIO_EXTENSIONS
    return frozenset(AUDIO_EXTENSIONS)


# --- inputs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchInput:
    """One file to score and the metadata its manifest row gave (empty without one)."""

    path: Path
    kind: str  # transcript | audio
    metadata: dict[str, Any] = field(default_factory=dict)
    row: int | None = None


def _kind_of(path: Path, audio: frozenset[str]) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "transcript"
    return "audio" if suffix in audio else None


def folder_inputs(folder: Path) -> list[BatchInput]:
    """Transcript JSON and audio files below a folder, sorted (hidden files skipped)."""
    audio = audio_extensions()
    found = []
    for path in sorted(folder.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        kind = _kind_of(path, audio)
        if kind:
            found.append(BatchInput(path, kind))
    return found


def _manifest_metadata(row: dict[str, str], source: str) -> tuple[dict[str, Any], list[str]]:
    meta: dict[str, Any] = {}
    extra: dict[str, str] = {}
    problems = []
    for key, value in row.items():
        if key is None:
            problems.append(f"{source}: more cells than columns (ignored)")
            continue
        key = key.strip()
        value = (value or "").strip()
        if not value or key == "path":
            continue
        if key == "duration_s":
            try:
                meta[key] = float(value)
            except ValueError:
                problems.append(f"{source}: duration_s {value!r} is not a number (ignored)")
        elif key in MANIFEST_FIELDS:
            meta[key] = value
        else:
            extra[key] = value
    if extra:
        meta["extra"] = extra
    return meta, problems


def read_manifest(manifest: Path, folder: Path | None) -> tuple[list[BatchInput], list[FailureRecord], list[str]]:
    """The calls a manifest CSV lists (`path` column required; call_id, agent_id, agent_name,
    team, queue, started_at, direction, customer_tier and any other columns, kept as
    extra). Relative paths are taken from `folder` when given, else from the manifest's
    folder. Returns (inputs, failures of rows that point nowhere, warnings); raises
    BatchError when the manifest itself cannot be read."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BatchError(f"{manifest}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{manifest}: cannot read the manifest: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if "path" not in columns:
        raise BatchError(f"{manifest}: the manifest needs a `path` column "
                         f"(found: {', '.join(columns) or 'no header'})")
    audio = audio_extensions()
    inputs, failures, warnings = [], [], []
    seen: dict[Path, int] = {}
    for number, row in enumerate(reader, start=2):
        source = f"{manifest}:line {number}"
        meta, problems = _manifest_metadata(row, source)
        warnings += problems
        value = (row.get("path") or "").strip()
        if not value:
            failures.append(FailureRecord(source, "manifest", "empty path",
                                          meta.get("call_id")))
            continue
        path = Path(value)
        if not path.is_absolute():
            bases = [b for b in (folder, manifest.parent) if b is not None]
            path = next((b / path for b in bases if (b / path).exists()), bases[0] / path)
        if not path.is_file():
            failures.append(FailureRecord(str(path), "manifest",
                                          f"{source}: no such file {value!r}", meta.get("call_id")))
            continue
        if path in seen:
            failures.append(FailureRecord(str(path), "manifest",
                                          f"{source}: the file is listed twice (first on line "
                                          f"{seen[path]})", meta.get("call_id")))
            continue
        seen[path] = number
        kind = _kind_of(path, audio)
        if kind is None:
            failures.append(FailureRecord(str(path), "manifest",
                                          f"{source}: neither transcript JSON nor a known audio "
                                          f"format ({path.suffix or 'no suffix'})",
                                          meta.get("call_id")))
            continue
        inputs.append(BatchInput(path, kind, meta, number))
    return inputs, failures, warnings


def collect_inputs(path: Path | None, manifest: Path | None) -> tuple[list[BatchInput], list[FailureRecord], list[str]]:
    """The inputs of a run: the manifest's rows, plus any files in `path` it does not list
    (scored with the metadata in their own JSON). Raises BatchError when neither exists."""
    if path is not None and not path.exists():
        raise BatchError(f"{path}: no such file or folder")
    inputs: list[BatchInput] = []
    failures: list[FailureRecord] = []
    warnings: list[str] = []
    folder = path if path is not None and path.is_dir() else None
    if manifest is not None:
        inputs, failures, warnings = read_manifest(manifest, folder)
    if path is not None:
        listed = {i.path.resolve() for i in inputs} | {Path(f.path).resolve() for f in failures}
        extra = folder_inputs(path) if folder else [BatchInput(path, _kind_of(path, audio_extensions()) or "transcript")]
        unlisted = [i for i in extra if i.path.resolve() not in listed]
        if manifest is not None and unlisted:
            warnings.append(f"{len(unlisted)} file(s) in {path} are not in the manifest; "
                            f"scored with their own metadata")
        inputs += unlisted
    return inputs, failures, warnings


# --- work sent to workers --------------------------------------------------------------

@dataclass(frozen=True)
class WorkItem:
    path: str
    kind: str  # transcript (body: the file) | audio (read by the worker) | stored (body: the stored transcript)
    content_sha256: str
    work_key: str
    engine_id: str
    metadata: dict[str, Any]
    body: bytes | None = None
    audio_sha256: str | None = None


@dataclass(frozen=True)
class WorkerSettings:
    rubric_path: str
    rubric_version: str
    rubric_fingerprint: str = ""
    keep_original: bool = False
    transcribe: tuple[tuple[str, Any], ...] = ()


@dataclass
class _WorkerState:
    rubric: Rubric
    settings: WorkerSettings
    transcriber: Any = None
    predictor: Callable | None = None


_STATES: dict[WorkerSettings, _WorkerState] = {}


def _state(settings: WorkerSettings, rubric: Rubric | None = None) -> _WorkerState:
    """The worker's rubric (loaded once per process and settings) and transcriber."""
    state = _STATES.get(settings)
    if state is None:
        rubric = rubric or load_rubric(settings.rubric_path)
        if rubric.version != settings.rubric_version:
            raise BatchError(f"{settings.rubric_path}: the worker has rubric version "
                             f"{rubric.version}, the run expected {settings.rubric_version}")
        try:  # issue-5's classifier predictions, where that branch provides them
            from qa.models import predict_for_rubric  # type: ignore[attr-defined]
        except ImportError:
            predict_for_rubric = None
        state = _STATES[settings] = _WorkerState(rubric, settings, predictor=predict_for_rubric)
        freeze_loaded()
    return state


def init_worker(settings: WorkerSettings) -> None:
    """Pool initializer: load the rubric once, and leave SIGINT/SIGTERM to the parent,
    which stops the run after the calls in flight."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _state(settings)


def apply_metadata(transcript: Transcript, metadata: dict[str, Any],
                   audio_path: str | None = None, audio_sha256: str | None = None) -> Transcript:
    """The transcript with the manifest's metadata over its own (call_id included)."""
    if not metadata and audio_path is None:
        return transcript
    call = transcript.call
    fields = {k: v for k, v in metadata.items() if k in CALL_FIELDS}
    if audio_path is not None:
        fields.update(audio_path=audio_path, audio_sha256=audio_sha256)
    call_id = metadata.get("call_id") or transcript.call_id
    extra = {**call.extra, **metadata.get("extra", {})}
    return dataclasses.replace(transcript, call_id=call_id,
                               call=dataclasses.replace(call, call_id=call_id, extra=extra, **fields))


def _voice_from(body: dict | None):
    if not body:
        return None
    from qa.checks import Interval, VoiceActivity

    return VoiceActivity(tuple(Interval(a, b) for a, b in body.get("agent", ())),
                         tuple(Interval(a, b) for a, b in body.get("customer", ())),
                         float(body.get("duration", 0.0)))


def _transcribe(state: _WorkerState, item: WorkItem):
    try:
        from qa.transcribe import TranscribeOptions, make_transcriber  # type: ignore[import-not-found]
    except ImportError:
        raise InputError(item.path, "", TRANSCRIBE_UNAVAILABLE) from None
    if state.transcriber is None:
        state.transcriber = make_transcriber(TranscribeOptions(**dict(state.settings.transcribe)))
    meta = item.metadata
    call = Call(call_id=meta.get("call_id") or Path(item.path).stem, audio_path=item.path,
                audio_sha256=item.audio_sha256, extra=meta.get("extra", {}),
                **{k: v for k, v in meta.items() if k in CALL_FIELDS and k not in ("audio_path", "audio_sha256")})
    result = state.transcriber.transcribe(item.path, call)
    return apply_metadata(result.transcript, meta, item.path, item.audio_sha256), result.voice


def missing_metadata(transcript: Transcript) -> list[str]:
    return [name for name in METADATA_FIELDS if not getattr(transcript.call, name)]


def score_item(state: _WorkerState, item: WorkItem) -> StoredCall | FailureRecord:
    """Parse or transcribe one input, score it and build its rows; a failure names the
    stage (parse, transcribe, score) and the reason."""
    stage = "parse"
    try:
        voice = None
        if item.kind == "transcript":
            text = decode_transcript_bytes(item.body or b"", item.path)
            transcript = apply_metadata(parse_transcript_json(text, item.path), item.metadata)
        elif item.kind == "stored":
            body = json.loads(item.body or b"{}")
            transcript = apply_metadata(transcript_from_dict(body["transcript"], item.path),
                                        item.metadata)
            voice = _voice_from(body.get("voice"))
        else:
            stage = "transcribe"
            transcript, voice = _transcribe(state, item)
        stage = "score"
        predictions = state.predictor(state.rubric, transcript) if state.predictor else None
        card = score_transcript(state.rubric, transcript, voice=voice, predictions=predictions)
        missing = missing_metadata(transcript)
        return store.build_stored_call(
            transcript, card, content_sha256=item.content_sha256, work_key=item.work_key,
            engine_id=item.engine_id, source_path=item.path,
            source_kind="audio" if item.kind in ("audio", "stored") else "transcript",
            voice=voice, predictions=predictions, keep_original=state.settings.keep_original,
            rubric_fingerprint=state.settings.rubric_fingerprint or None,
            warnings=[f"missing metadata: {', '.join(missing)}"] if missing else ())
    except QAError as exc:
        reason = exc.reason if isinstance(exc, InputError) and exc.source == item.path else str(exc)
        return FailureRecord(item.path, stage, reason, item.metadata.get("call_id"),
                             item.content_sha256)
    except Exception as exc:  # one call's unexpected error must not end the night's run
        return FailureRecord(item.path, stage, f"internal error: {type(exc).__name__}: {exc}",
                             item.metadata.get("call_id"), item.content_sha256)


def score_chunk(items: list[WorkItem], settings: WorkerSettings) -> list[StoredCall | FailureRecord]:
    """The work of one chunk, in order (runs in a pool process or on a Dask worker)."""
    state = _state(settings)
    return [score_item(state, item) for item in items]


# --- executors -------------------------------------------------------------------------

class LocalExecutor:
    """A bounded pool of worker processes. Where fork exists and the run has no audio
    they are forked from the parent, which has loaded the rubric already (loading it takes
    seconds), and start before the parent starts any thread of its own. A run with audio
    spawns them: the rubric's classifiers start an OpenMP thread pool in the parent
    (scikit-learn's libgomp, the same library CTranslate2 loads), and a forked child that
    then loads Whisper waits forever on that pool's threads, which fork did not copy."""

    def __init__(self, workers: int, settings: WorkerSettings, may_fork: bool = True):
        import multiprocessing

        fork = may_fork and "fork" in multiprocessing.get_all_start_methods()
        self.settings = settings
        self._make = lambda method: ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context(method),
            initializer=init_worker, initargs=(settings,))
        self.pool = self._make("fork" if fork else "spawn")
        self.pool.submit(int).result()  # start the processes now, before any thread

    def submit(self, chunk: list[WorkItem]):
        return self.pool.submit(score_chunk, chunk, self.settings)

    def restart(self) -> None:
        """A fresh pool after a worker died; spawned, as the parent now has threads."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._make("spawn")

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)


class DaskExecutor:
    """Chunks scored on a Dask distributed cluster; the results come back to this process,
    which writes them. Workers need the rubric (a bundled id or the same path) and, for
    audio, the files at the same paths."""

    def __init__(self, scheduler: str, settings: WorkerSettings):
        try:
            from distributed import Client
        except ImportError:
            raise BatchError("--executor dask needs Dask: pip install 'callqa[dask]'") from None
        self.settings = settings
        try:
            self.client = Client(scheduler, timeout=20, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None

    def submit(self, chunk: list[WorkItem]):
        return self.client.submit(score_chunk, chunk, self.settings, pure=False)

    def restart(self) -> None:
        pass

    def close(self, wait: bool = True) -> None:
        self.client.close()


# --- the run ---------------------------------------------------------------------------

@dataclass
class BatchOptions:
    db: Path
    rubric: str
    path: Path | None = None
    manifest: Path | None = None
    workers: int = 2
    force: bool = False
    executor: str = "local"
    scheduler: str | None = None
    chunk_size: int = 16
    keep_original: bool = False
    transcribe: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchSummary:
    run_id: int | None = None
    total: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    warned: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    status: str = "running"
    signal: int | None = None
    failures: list[FailureRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.scored + self.skipped + self.failed

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[BatchSummary], None]


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _asr_engine_id(options: dict[str, Any]) -> tuple[str | None, str]:
    """(engine id, "") of the transcriber a run would use, or (None, why not)."""
    try:
        import qa.transcribe as transcribe  # type: ignore[import-not-found]
    except ImportError:
        return None, TRANSCRIBE_UNAVAILABLE
    try:
        opts = transcribe.TranscribeOptions(**options)
        engine_id = getattr(transcribe, "engine_id", None)
        if callable(engine_id):
            return engine_id(opts), ""
        return transcribe.make_transcriber(opts).engine_id, ""
    except QAError as exc:
        return None, f"audio transcription cannot start: {exc}"


class BatchRun:
    """One `qa batch` run (see the module docstring)."""

    def __init__(self, options: BatchOptions, progress: Progress | None = None):
        self.options = options
        self.progress = progress or (lambda summary: None)
        self.summary = BatchSummary()
        self.stop_signal: int | None = None
        self.started = self.summary.started
        self.db = store.open_store(options.db)
        try:
            self.rubric_path = str(find_rubric(options.rubric).resolve())
            identity = rubric_identity(Path(self.rubric_path))
            self.rubric_id, self.rubric_version = identity.id, identity.version
            self.rubric_fingerprint = identity.fingerprint
        except QAError as exc:
            raise BatchError(f"bad rubric: {exc}") from None
        self.rubric: Rubric | None = None  # loaded (seconds) only when there is work
        self._pending_failures: list[FailureRecord] = []
        self._asr_engine: str | None | bool = False  # False: not asked yet
        self._asr_reason = TRANSCRIBE_UNAVAILABLE

    # planning (parent process)
    def _fail(self, failure: FailureRecord) -> None:
        self.summary.failed += 1
        self.summary.failures.append(failure)
        self._pending_failures.append(failure)

    def _key(self, content: str, engine_id: str) -> str:
        return store.work_key(content, self.rubric_id, self.rubric_version, engine_id,
                              self.rubric_fingerprint)

    def _engine(self) -> str | None:
        if self._asr_engine is False:
            self._asr_engine, self._asr_reason = _asr_engine_id(self.options.transcribe)
        return self._asr_engine  # type: ignore[return-value]

    def _plan_one(self, item: BatchInput) -> WorkItem | str:
        """The work for one input, or SKIP (already scored) or FAILED (recorded)."""
        path = str(item.path)
        call_id = item.metadata.get("call_id")
        try:
            if item.kind == "transcript":
                body = item.path.read_bytes()
                content = store.content_hash(body, item.metadata)
                key = self._key(content, TRANSCRIPT_ENGINE_ID)
                if not self.options.force and key in self.done:
                    return SKIP
                return WorkItem(path, "transcript", content, key, TRANSCRIPT_ENGINE_ID,
                                item.metadata, body)
            audio_sha = _hash_file(item.path)
        except OSError as exc:
            self._fail(FailureRecord(path, "read", f"cannot read: {exc.strerror or exc}", call_id))
            return FAILED
        content = store.content_hash(audio_sha.encode(), item.metadata)
        stored = self.by_audio.get(audio_sha)
        if stored is not None and not self.options.force:
            stored_call, stored_engine = stored
            # Without a transcriber, or with the same engine, the stored transcript is
            # re-scored: a new rubric version never transcribes again.
            if self._engine() in (None, stored_engine):
                key = self._key(content, stored_engine)
                if key in self.done:
                    return SKIP
                saved = store.stored_transcript(self.db, stored_call)
                if saved is not None and saved[1] == stored_engine:
                    return WorkItem(path, "stored", content, key, stored_engine, item.metadata,
                                    json.dumps(saved[2], ensure_ascii=False).encode(), audio_sha)
        engine = self._engine()
        if engine is None:
            self._fail(FailureRecord(path, "transcribe", self._asr_reason, call_id, content))
            return FAILED
        return WorkItem(path, "audio", content, self._key(content, engine), engine,
                        item.metadata, None, audio_sha)

    def _chunks(self, inputs: list[BatchInput]) -> Iterator[list[WorkItem]]:
        chunk: list[WorkItem] = []
        for item in inputs:
            if self.stop_signal is not None:
                return
            work = self._plan_one(item)
            if isinstance(work, str):
                if work == SKIP:
                    self.summary.skipped += 1
                self.progress(self.summary)
                continue
            chunk.append(work)
            if len(chunk) >= self.options.chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # writing (parent process)
    def _write(self, results: list[StoredCall | FailureRecord]) -> None:
        to_write: list[StoredCall] = []
        for result in results:
            if isinstance(result, FailureRecord):
                self._fail(result)
                continue
            known = self.index.get(result.call_id)
            if known is not None and known.content_sha256 != result.content_sha256 \
                    and known.source_path != result.source_path:
                self._fail(FailureRecord(result.source_path, "duplicate",
                                         f"duplicate call_id {result.call_id} with different "
                                         f"content (already stored from {known.source_path})",
                                         result.call_id, result.content_sha256))
                continue
            if result.work_key in self.done and not self.options.force:
                self.summary.skipped += 1  # the same content under a second path
                continue
            to_write.append(result)
            self.done.add(result.work_key)
            self.index[result.call_id] = store.StoredCallIndex(
                result.content_sha256, result.source_path, result.score["engine_id"],
                result.call.get("audio_sha256"))
            if result.call.get("warnings"):
                self.summary.warned += 1
                if len(self.summary.warnings) < 20:
                    self.summary.warnings.append(f"{result.source_path}: "
                                                 f"{json.loads(result.call['warnings'])[0]}")
        failures, self._pending_failures = self._pending_failures, []
        store.write_calls(self.db, to_write, self.summary.run_id, failures)
        self.summary.scored += len(to_write)
        self.progress(self.summary)

    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now (in-flight work is lost)
        self.stop_signal = signum
        log.warning("%s: stopping after the calls in flight", signal.Signals(signum).name)

    def run(self) -> BatchSummary:
        """Run the batch; returns the summary (status completed or interrupted). Raises
        BatchError when the run cannot start."""
        o = self.options
        started = self.started
        inputs, failures, warnings = collect_inputs(o.path, o.manifest)
        self.summary.total = len(inputs) + len(failures)
        self.summary.warnings += warnings
        self.done = store.done_work_keys(self.db)
        self._warn_of_changed_rubric()
        self.index = store.call_index(self.db)
        self.by_audio = {e.audio_sha256: (cid, e.engine_id) for cid, e in self.index.items()
                         if e.audio_sha256}
        self.summary.run_id = store.start_run(
            self.db, input=str(o.path) if o.path else None,
            manifest=str(o.manifest) if o.manifest else None, rubric_id=self.rubric_id,
            rubric_version=self.rubric_version, rubric_fingerprint=self.rubric_fingerprint,
            executor=o.executor, workers=o.workers, total=self.summary.total)
        for failure in failures:
            self._fail(failure)
        settings = WorkerSettings(self.rubric_path, self.rubric_version, self.rubric_fingerprint,
                                  o.keep_original, tuple(sorted(o.transcribe.items())))
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        executor: list = []

        def make_executor():
            if not executor:
                self._load_rubric(settings)
                executor.append(DaskExecutor(o.scheduler or "", settings) if o.executor == "dask"
                                else LocalExecutor(o.workers, settings, may_fork=not any(
                                    i.kind == "audio" for i in inputs)))
            return executor[0]

        try:
            self._drive(make_executor, inputs)
            self._write([])
            status = "interrupted" if self.stop_signal is not None else "completed"
        except KeyboardInterrupt:  # a second SIGINT/SIGTERM: stop now, in-flight work is lost
            status = "interrupted"
            if executor:
                executor[0].close(wait=False)
                executor.clear()
        except BaseException:
            self.summary.seconds = time.perf_counter() - started
            self._close_run("failed")
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if executor:
                executor[0].close()
        self.summary.seconds = time.perf_counter() - started
        self.summary.signal = self.stop_signal
        self._close_run(status)
        return self.summary

    def _warn_of_changed_rubric(self) -> None:
        in_force = store.rubric_fingerprints_in_force(self.db, self.rubric_id, self.rubric_version)
        changed = sum(n for fingerprint, n in in_force.items()
                      if fingerprint != self.rubric_fingerprint)
        if changed:
            self.summary.warnings.append(
                f"rubric {self.rubric_id} {self.rubric_version}: {changed} call(s) in the "
                "database were scored under this version by other rules (its YAML, lexicons "
                "or models have changed since); those in this run are scored again. Give the "
                "rubric a new version so that reports can tell the scores apart")

    def _load_rubric(self, settings: WorkerSettings) -> None:
        try:
            self.rubric = load_rubric(self.rubric_path)
        except QAError as exc:
            raise BatchError(f"bad rubric: {exc}") from None
        if ((self.rubric.id, self.rubric.version) != (self.rubric_id, self.rubric_version)
                or rubric_fingerprint(Path(self.rubric_path)) != self.rubric_fingerprint):
            raise BatchError(f"{self.rubric_path}: changed while the run started")
        _state(settings, self.rubric)  # forked workers inherit it

    def _close_run(self, status: str) -> None:
        self.summary.status = status
        s = self.summary
        try:
            store.finish_run(self.db, s.run_id, status, scored=s.scored, skipped=s.skipped,
                             failed=s.failed, seconds=round(s.seconds, 3))
        except Exception:  # the run's own error is the one to report
            log.exception("could not record the end of run %s", s.run_id)

    def _drive(self, make_executor: Callable[[], Any], inputs: list[BatchInput]) -> None:
        window = max(2, 2 * (self.options.workers if self.options.executor == "local" else 8))
        chunks = self._chunks(inputs)
        pending: deque = deque()
        exhausted = False
        while True:
            while not exhausted and self.stop_signal is None and len(pending) < window:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                pending.append((chunk, make_executor().submit(chunk)))
            if not pending:
                return
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                # A worker died (killed, or crashed in native code): the chunk it held is
                # recorded as failed, the others are sent again to a fresh pool.
                results = [FailureRecord(w.path, "score", "the worker process died while "
                                         "scoring this call's chunk", w.metadata.get("call_id"),
                                         w.content_sha256) for w in chunk]
                executor = make_executor()
                executor.restart()
                pending = deque((c, executor.submit(c)) for c, _ in pending)
            except QAError as exc:  # e.g. the rubric on a Dask worker differs
                raise BatchError(str(exc)) from None
            except Exception as exc:  # e.g. Dask's KilledWorker: this chunk failed, not the run
                results = [FailureRecord(w.path, "score", f"the worker failed: "
                                         f"{type(exc).__name__}: {exc}", w.metadata.get("call_id"),
                                         w.content_sha256) for w in chunk]
            self._write(results)


def run_batch(options: BatchOptions, progress: Progress | None = None) -> BatchSummary:
    """Score a folder and/or manifest into the database; see BatchRun."""
    return BatchRun(options, progress).run()


# --- progress on the terminal or in a log ------------------------------------------------

def _eta(summary: BatchSummary, elapsed: float) -> str:
    if summary.done == 0 or summary.total <= summary.done:
        return "-"
    seconds = elapsed * (summary.total - summary.done) / summary.done
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class LogProgress:
    """Plain progress lines (cron, CI, a pipe): about every tenth of the run or 30 s."""

    def __init__(self, write: Callable[[str], None], every_s: float = 30.0):
        self.write, self.every_s = write, every_s
        self.last_time, self.last_done = time.perf_counter(), 0

    def __call__(self, s: BatchSummary) -> None:
        now = time.perf_counter()
        step = max(1, s.total // 10)
        if s.done - self.last_done < step and now - self.last_time < self.every_s:
            return
        self.last_time, self.last_done = now, s.done
        elapsed = now - s.started
        self.write(f"batch: {s.done}/{s.total} (scored {s.scored}, skipped {s.skipped}, "
                   f"failed {s.failed}) {s.done / elapsed if elapsed else 0:.1f} calls/s, "
                   f"ETA {_eta(s, elapsed)}")

    def close(self) -> None:
        pass


class TerminalProgress:
    """A rich progress bar with the rate and the time left (on a terminal). Refreshed from
    the run's own calls, not from a thread: the local pool forks after it starts."""

    def __init__(self, console):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]:.1f} calls/s"), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(),
                            TextColumn("{task.fields[counts]}"), console=console,
                            transient=False, auto_refresh=False)
        self.task = None
        self.refreshed = 0.0

    def __call__(self, s: BatchSummary) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("batch", total=s.total, rate=0.0, counts="")
        elapsed = time.perf_counter() - s.started
        self.bar.update(self.task, completed=s.done, rate=s.done / elapsed if elapsed else 0.0,
                        counts=f"scored {s.scored} skipped {s.skipped} failed {s.failed}")
        now = time.perf_counter()
        if now - self.refreshed > 0.1 or s.done >= s.total:
            self.bar.refresh()
            self.refreshed = now

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


def summary_lines(s: BatchSummary, db: Path, show: int = 20) -> list[str]:
    """The end-of-run report: counts, time and rate, failures and warnings (first `show`)."""
    lines = [f"{s.status}: scored {s.scored}, skipped {s.skipped}, failed {s.failed} of "
             f"{s.total} in {s.seconds:.1f} s ({s.rate:.1f} calls/s); run {s.run_id} in {db}"]
    if s.warned:
        lines.append(f"{s.warned} call(s) scored with metadata missing (a warning)")
    for failure in s.failures[:show]:
        lines.append(f"failed [{failure.stage}] {failure.path}: {failure.reason}")
    if len(s.failures) > show:
        lines.append(f"... and {len(s.failures) - show} more failures (in the failures table)")
    for warning in s.warnings[:show]:
        lines.append(f"warning: {warning}")
    return lines
