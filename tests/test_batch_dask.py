"""`qa batch --executor dask` against a real distributed.LocalCluster on loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.batchdata import scalar, write_calls
from tests.conftest import run_qa

distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")


# The cluster runs in a process of its own: its workers are spawned, and a spawned process
# re-runs the parent's main module, which inside pytest may be a Streamlit page an
# earlier test ran.
_CLUSTER = """
import sys, distributed
cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()
cluster.close()
"""


@pytest.fixture(scope="module")
def scheduler():
    process = subprocess.Popen([sys.executable, "-c", _CLUSTER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:"), f"the cluster did not start: {address!r}"
        yield address
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_calls_are_scored_on_the_cluster_and_written_by_the_client(tmp_path, scheduler):
    write_calls(tmp_path / "in", 20)
    db = tmp_path / "qa.db"
    args = ("batch", str(tmp_path / "in"), "--db", str(db), "--rubric", "zh-bank-hotline",
            "--executor", "dask", "--scheduler", scheduler, "--chunk-size", "4")
    result = run_qa(*args)
    assert result.returncode == 0, result.stderr
    assert "scored 20, skipped 0, failed 0" in result.stderr
    assert scalar(db, "SELECT COUNT(DISTINCT call_id) FROM scores WHERE is_current = 1") == 20
    assert scalar(db, "SELECT executor FROM runs") == "dask"
    assert scalar(db, "PRAGMA integrity_check") == "ok"
    again = run_qa(*args)
    assert "scored 0, skipped 20" in again.stderr


def test_a_bad_input_on_the_cluster_is_a_recorded_failure(tmp_path, scheduler):
    write_calls(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.json").write_text("{not json", encoding="utf-8")
    db = tmp_path / "qa.db"
    result = run_qa("batch", str(tmp_path / "in"), "--db", str(db), "--rubric",
                    "zh-bank-hotline", "--executor", "dask", "--scheduler", scheduler)
    assert result.returncode == 0, result.stderr
    assert "scored 2, skipped 0, failed 1" in result.stderr
    assert scalar(db, "SELECT stage FROM failures") == "parse"


def test_dask_needs_a_scheduler_address(tmp_path):
    result = run_qa("batch", str(tmp_path), "--db", str(tmp_path / "qa.db"), "--rubric",
                    "zh-bank-hotline", "--executor", "dask")
    assert result.returncode == 2 and "--scheduler" in result.stderr
