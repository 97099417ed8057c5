"""examples/python/example.py and a smoke run of the benchmark (no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import shmmetrics

from conftest import repo_file

EXAMPLES = repo_file("SHMMETRICS_EXAMPLES", "examples/python")
BENCH = repo_file("SHMMETRICS_BENCH", "bindings/python/benchmarks/bench_inc.py")


def test_example_counts_and_keeps_counting(tmp_path: Path) -> None:
    script = EXAMPLES / "example.py"
    if not script.is_file():
        pytest.skip(f"{script} not found")
    zone = tmp_path / "example.zone"
    for run in (1, 2):
        out = subprocess.run([sys.executable, str(script), str(zone)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert re.search(rf"^example_requests_total\s+counter\s+{2000 * run}$", out.stdout, re.M), out.stdout
        assert f'python_jobs_total{{worker="2"}} {1000.0 * run}' in out.stdout  # Prometheus text
    with shmmetrics.Zone(path=zone, readonly=True) as z:
        snap = z.snapshot()
    assert snap["python_workers"] == 2 and snap["python_load_ratio"] == 0.75


def test_benchmark_smoke() -> None:
    if not BENCH.is_file():
        pytest.skip(f"{BENCH} not found")
    pytest.importorskip("prometheus_client")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    for label in ("shmmetrics Counter.inc()", "prometheus_client multiprocess Counter.inc()", "bare ctypes call"):
        assert label in out.stdout
    assert re.search(r"ratio: prometheus_client multiprocess / Counter.inc\(\) = [\d.]+x", out.stdout)
    assert re.search(r"ratio: Counter.inc\(\) / bare ctypes call = [\d.]+x", out.stdout)
