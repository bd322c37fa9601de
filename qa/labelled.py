"""Labelled text for training and evaluating classifiers (the I/O side of qa.training).

Sources:
- CSV with a `text` and a `label` column (the layout of ../shared/data/labels; other
  columns are ignored). A text may be a dialogue, `customer: … || agent: …`, and the task
  then reads its own side of it.
- JSON lines with `text` or `turns` ([{"role", "text"}]) and `label`.
- A callqa results database: reviewers' labels of whole calls (qa.store.add_call_label;
  the latest per call and task counts) with the call's words.

Every problem is an InputError naming the file and the line or column.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from qa.classify import Task
from qa.errors import InputError


@dataclass(frozen=True)
class LabelledRows:
    source: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    ids: tuple[str, ...] = ()


def read_labelled(path: str | Path) -> LabelledRows:
    """Rows of a labelled CSV or JSON-lines file (by suffix .jsonl/.json, else CSV)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(str(path), "", "no such file") from None
    except OSError as exc:
        raise InputError(str(path), "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "", f"not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise InputError(str(path), "", "empty file: expected a header row with text,label")
    rows = _jsonl_rows(text, str(path)) if path.suffix in (".jsonl", ".json") else _csv_rows(text, str(path))
    if not rows.texts:
        raise InputError(str(path), "", "no labelled rows")
    return rows


def _csv_rows(text: str, source: str) -> LabelledRows:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    for needed in ("text", "label"):
        if needed not in columns:
            raise InputError(source, needed, f"missing column (columns: {', '.join(columns) or 'none'}; "
                                             "expected text,label)")
    texts, labels, ids = [], [], []
    for number, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        body = (row.get("text") or "").strip()
        label = (row.get("label") or "").strip()
        if not body and not label:
            continue
        if not label:
            raise InputError(source, f"line {number}", "empty label")
        if not body:
            raise InputError(source, f"line {number}", "empty text")
        texts.append(body)
        labels.append(label)
        ids.append(str(row.get("id") or row.get("call_id") or number))
    return LabelledRows(source, tuple(texts), tuple(labels), tuple(ids))


def _jsonl_rows(text: str, source: str) -> LabelledRows:
    texts, labels, ids = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"line {number}", f"malformed JSON: {exc.msg}") from None
        if not isinstance(item, dict) or not str(item.get("label") or "").strip():
            raise InputError(source, f"line {number}", "expected an object with a label")
        if isinstance(item.get("turns"), list):
            body = " || ".join(f"{t.get('role', 'customer')}: {t.get('text', '')}"
                               for t in item["turns"] if isinstance(t, dict))
        else:
            body = str(item.get("text") or "")
        if not body.strip():
            raise InputError(source, f"line {number}", "empty text")
        texts.append(body)
        labels.append(str(item["label"]).strip())
        ids.append(str(item.get("id") or item.get("call_id") or number))
    return LabelledRows(source, tuple(texts), tuple(labels), tuple(ids))


def task_labels(rows: LabelledRows, task: Task, positive: str | None = None) -> list[str]:
    """The rows' labels as the task's labels. With `positive` (two-class tasks), that
    data label becomes the task's positive label and every other label the negative one
    (stc3 `dissatisfied` -> complaint_risk `high`). Raises InputError on labels that do
    not fit."""
    present = sorted(set(rows.labels))
    if positive is not None:
        if len(task.labels) != 2 or task.positive is None:
            raise InputError(rows.source, "label", f"--positive needs a two-class task; "
                                                   f"{task.name} has {len(task.labels)} labels")
        if positive not in present:
            raise InputError(rows.source, "label", f"--positive {positive!r} is not a label in the "
                                                   f"file (labels: {', '.join(present)})")
        negative = next(label for label in task.labels if label != task.positive)
        return [task.positive if label == positive else negative for label in rows.labels]
    unknown = [label for label in present if label not in task.labels]
    if unknown:
        hint = " (pass --positive LABEL to map a two-class file)" if len(task.labels) == 2 else ""
        raise InputError(rows.source, "label",
                         f"unknown labels {', '.join(map(repr, unknown))} for {task.name} "
                         f"(labels: {', '.join(task.labels)}){hint}")
    return list(rows.labels)


# --- reviewer labels in the database ---------------------------------------------------------

def read_db_labels(db_path: str | Path, task: str) -> LabelledRows:
    """Reviewer-confirmed labels of `task` (qa.store's call_labels, the latest per call)
    with each call's words as a dialogue text. Raises InputError when the file is not a
    callqa database or has no labels for the task."""
    from qa import store

    db = store.open_store(db_path, create=False)
    rows = store.labelled_dialogues(db, task)
    if not rows:
        raise InputError(str(db_path), "call_labels", f"no reviewer labels for task {task!r}")
    texts = tuple(" || ".join(f"{speaker}: {text}" for speaker, text in turns)
                  for _, _, turns in rows)
    return LabelledRows(str(db_path), texts, tuple(label for _, label, _ in rows),
                        tuple(call_id for call_id, _, _ in rows))
