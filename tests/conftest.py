"""Shared test helpers: build transcripts from (speaker, start, end, text) rows and load
the bundled rubrics once."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.model import Transcript, transcript_from_dict
from qa.rubric import Rubric
from qa.rubrics import load_rubric

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def transcript(rows, language="zh", call_id="t-1", **call) -> Transcript:
    """rows: (speaker, start, end, text) tuples."""
    segments = [{"start": s, "end": e, "speaker": spk, "text": text} for spk, s, e, text in rows]
    return transcript_from_dict({"call_id": call_id, "language": language, "call": call,
                                 "segments": segments}, source=f"<{call_id}>")


@functools.lru_cache(maxsize=None)
def bundled(rubric_id: str) -> Rubric:
    return load_rubric(rubric_id)


@pytest.fixture(scope="session")
def zh_rubric() -> Rubric:
    return bundled("zh-bank-hotline")


@pytest.fixture(scope="session")
def en_rubric() -> Rubric:
    return bundled("en-card-services")


def run_qa(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `qa` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=300)
