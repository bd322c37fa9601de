"""Training and evaluating task models from labelled rows (what `qa train` and
`qa evaluate` call; the pipelines are in qa.classify, the figures in qa.evaluation).

Training holds out a stratified fifth of the rows, measures the model and its baselines
on it for the card, then refits on every row. Evaluation never trains: the naive Bayes
baseline was fitted with the model on the same training rows and is stored beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.classify import TextModel, row_units, task_spec, train_task_model, choose_c
from qa.errors import InputError
from qa.evaluation import Comparison, evaluate, majority_probabilities
from qa.labelled import LabelledRows, task_labels
from qa.models import save_model

HELD_OUT_SHARE = 0.2


@dataclass(frozen=True)
class TrainingResult:
    model: TextModel
    directory: Path
    held_out: Comparison | None
    rows: int
    tuning: dict | None = None


def prepared_rows(rows: LabelledRows, task_name: str, positive: str | None = None,
                  training: bool = True) -> tuple[list[list[str]], list[str]]:
    """Each row's texts on the task's side and its task label; rows with nothing on that
    side are dropped. Raises InputError naming the source for labels that do not fit,
    and, for training, a single class."""
    try:
        task = task_spec(task_name)
    except ValueError as exc:
        raise InputError(rows.source, "task", str(exc)) from None
    labels = task_labels(rows, task, positive)
    units, kept = [], []
    for text, label in zip(rows.texts, labels):
        unit = row_units(task, text)
        if unit:
            units.append(unit)
            kept.append(label)
    if not units:
        raise InputError(rows.source, "text", f"no row has text on the {task.side} side")
    if training and len(set(kept)) < 2:
        raise InputError(rows.source, "label",
                         f"a single class ({', '.join(sorted(set(kept)))}): a classifier needs "
                         "at least two labels")
    return units, kept


def compare(model: TextModel, units: list[list[str]], labels: list[str]) -> Comparison:
    """The model, a majority-class baseline and the naive Bayes baseline on the same rows."""
    task = model.task
    main = evaluate(model.name, labels, model.unit_probabilities(units), task.labels, task.positive)
    baselines = [evaluate("majority", labels, majority_probabilities(model.prior(), len(units)),
                          task.labels, task.positive)]
    if model.baseline is not None:
        baselines.append(evaluate("naive_bayes", labels,
                                  model.unit_probabilities(units, baseline=True),
                                  task.labels, task.positive))
    return Comparison(main, tuple(baselines))


def train_and_save(task_name: str, rows: LabelledRows, out: str | Path, *,
                   positive: str | None = None, c: float | None = None,
                   tune: bool = False, trained_on: str = "", limits: str = "",
                   extra_rows: tuple[LabelledRows, ...] = (), seed: int = 0) -> TrainingResult:
    """Train a task model on labelled rows and write it to `out` (model.skops,
    baseline_nb.skops, card.json with the held-out figures). `c` None: 0.3, or with
    `tune` the best of a small grid by 3-fold cross-validation on the training rows."""
    units, labels = prepared_rows(rows, task_name, positive)
    task = task_spec(task_name)
    tuning = None
    if c is None:
        if tune:
            tuning = choose_c(task, units, labels)
            c = tuning["C"]
        else:
            c = 0.3
    held_out = None
    train_idx, test_idx = _stratified_split(labels, HELD_OUT_SHARE, seed)
    if test_idx:
        part = train_task_model(task, [units[i] for i in train_idx],
                                [labels[i] for i in train_idx], c=c)
        held_out = compare(part, [units[i] for i in test_idx], [labels[i] for i in test_idx])
    model = train_task_model(task, units, labels, c=c)
    metrics: dict = {}
    if held_out is not None:
        metrics["held_out"] = {"method": f"stratified {HELD_OUT_SHARE:.0%} of the training rows, "
                                         "model refitted on all rows afterwards",
                               "rows": held_out.model.rows, **_summary(held_out)}
    if tuning is not None:
        metrics["tuning"] = {**tuning, "scores": {str(k): round(v, 4) for k, v in tuning["scores"].items()}}
    model.card["training_sources"] = [rows.source]
    directory = save_model(model, out, metrics,
                           trained_on=trained_on or f"{len(labels)} labelled rows from {rows.source}",
                           limits=limits)
    return TrainingResult(model, Path(directory), held_out, len(labels), tuning)


def _summary(comparison: Comparison) -> dict:
    def one(e):
        out = {"macro_f1": e.macro_f1, "accuracy": e.accuracy,
               "per_class": {k: v.f1 for k, v in e.per_class.items()}}
        if e.roc_auc is not None:
            out["roc_auc"] = e.roc_auc
        out["ece"] = e.reliability.ece
        return out

    return {**one(comparison.model), "baselines": {b.name: one(b) for b in comparison.baselines}}


def _stratified_split(labels: list[str], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for training and held-out rows; no held-out rows when a class is too
    small to give one and keep one."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        if len(members) < 5:
            return list(range(len(labels))), []
        rng.shuffle(members)
        cut = max(1, int(round(len(members) * share)))
        test += members[:cut]
        train += members[cut:]
    return sorted(train), sorted(test)


def evaluate_model(model: TextModel, rows: LabelledRows, positive: str | None = None) -> Comparison:
    """The model and its baselines on labelled rows it was not trained on."""
    units, labels = prepared_rows(rows, model.task.name, positive, training=False)
    return compare(model, units, labels)
