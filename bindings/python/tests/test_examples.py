"""examples/python/example.py and a smoke run of each benchmark (no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import shmmetrics

from conftest import repo_file

EXAMPLES = repo_file("SHMMETRICS_EXAMPLES", "examples/python")
PYTHON_DOC = repo_file("SHMMETRICS_DOCS", "docs") / "PYTHON.md"
BENCHES = repo_file("SHMMETRICS_BENCH", "bindings/python/benchmarks")


def test_example_counts_and_keeps_counting(tmp_path: Path) -> None:
    script = EXAMPLES / "example.py"
    if not script.is_file():
        pytest.skip(f"{script} not found")
    zone = tmp_path / "example.zone"
    for run in (1, 2):  # the zone persists: the second run adds to the first
        out = subprocess.run([sys.executable, str(script), str(zone)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert re.search(rf"^example_requests_total\s+counter\s+{2000 * run}$", out.stdout, re.M), out.stdout
        told = f"example_requests_total: {2000 * (run - 1)} already in the zone + 2000 from the Python workers = {2000 * run}"
        assert told in out.stdout
        assert f'python_jobs_total{{worker="2"}} {1000.0 * run}' in out.stdout  # Prometheus text
    with shmmetrics.Zone(path=zone, readonly=True) as z:
        snap = z.snapshot()
    assert snap["python_workers"] == 2 and snap["python_load_ratio"] == 0.75


def doc_blocks() -> List[str]:
    """The ```python blocks of docs/PYTHON.md that run on their own (not the HTTP server)."""
    if not PYTHON_DOC.is_file():
        return []
    blocks = re.findall(r"^```python\n(.*?)^```$", PYTHON_DOC.read_text(), re.M | re.S)
    return [b for b in blocks if "start_http_server" not in b]


@pytest.mark.parametrize("block", doc_blocks(), ids=lambda b: b.splitlines()[0])
def test_doc_examples_run_as_printed(tmp_path: Path, zone_dir: Path, block: str) -> None:
    # Run each as a script (spawn re-imports it), twice: zones persist between runs, and what
    # the page promises must hold on the second run too. conftest set $SHMMETRICS_DIR.
    script = tmp_path / "doc_example.py"
    script.write_text(block)
    env = dict(os.environ)
    for _ in range(2):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        for promised in re.findall(r"print\(.*\)\s+# (\d+)$", block, re.M):
            assert out.stdout.splitlines()[-1] == promised, out.stdout


def test_doc_examples_were_found() -> None:
    if not PYTHON_DOC.is_file():
        pytest.skip(f"{PYTHON_DOC} not found")
    assert len(doc_blocks()) >= 3 and any("8000" in b for b in doc_blocks())


def run_bench(script: str) -> str:
    path = BENCHES / script
    if not path.is_file():
        pytest.skip(f"{path} not found")
    pytest.importorskip("prometheus_client")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_read_benchmark_smoke() -> None:
    out = run_bench("bench_read.py")
    for label in ("list(zone)", "zone.metrics()", "zone.snapshot()", "baseline: shm_zone_next per metric", "Prometheus text"):
        assert label in out
    assert re.search(r"ratio: list\(zone\) / 60 ms target = [\d.]+ ", out), out
    assert re.search(r"ratio: baseline / list\(zone\) = [\d.]+x faster", out), out


def test_benchmark_smoke() -> None:
    out = run_bench("bench_inc.py")
    for label in ("shmmetrics Counter.inc()", "prometheus_client multiprocess Counter.inc()", "bare ctypes call", "Gauge.inc()"):
        assert label in out
    assert re.search(r"ratio: prometheus_client multiprocess / Counter.inc\(\) = [\d.]+x", out)
    assert re.search(r"ratio: Counter.inc\(\) / bare ctypes call = [\d.]+x", out)
