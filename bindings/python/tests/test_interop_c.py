"""The C example (examples/c/example.c, `make examples`) and Python share one zone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

import shmmetrics

from conftest import repo_file

C_EXAMPLE = repo_file("SHMMETRICS_C_EXAMPLE", "build/examples/c_example")

if not C_EXAMPLE.is_file():
    if os.environ.get("SHMMETRICS_C_EXAMPLE"):
        raise RuntimeError(f"SHMMETRICS_C_EXAMPLE={C_EXAMPLE} does not exist")
    pytest.skip(f"{C_EXAMPLE} not built (make examples)", allow_module_level=True)


def run_c(path: Path) -> Dict[str, str]:
    """Run the C example on `path`; {metric name: printed value}."""
    out = subprocess.run([str(C_EXAMPLE), str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    printed = {}
    for line in out.stdout.splitlines():
        m = re.fullmatch(r"(\S+)\s+(counter|gauge|gauge_f64)\s+(\S+)", line.strip())
        if m:
            printed[m.group(1)] = m.group(3)
    assert "zone:" in out.stdout
    return printed


def test_c_writes_python_reads_and_back(tmp_path: Path) -> None:
    path = tmp_path / "shared.zone"
    first = run_c(path)
    assert first["example_requests_total"] == "2000"

    with shmmetrics.Zone(path=path, create=False) as zone:
        snap = zone.snapshot()
        assert snap["example_requests_total"] == 2000
        assert snap["example_workers"] == 2
        assert snap["example_temperature_celsius"] == 21.5
        kinds = {m.name: m.kind for m in zone}
        assert kinds == {
            "example_requests_total": shmmetrics.Kind.COUNTER,
            "example_workers": shmmetrics.Kind.GAUGE,
            "example_temperature_celsius": shmmetrics.Kind.GAUGE_F64,
        }
        # Python writes to C's metrics and adds its own; the handles stay registered.
        requests = zone.counter("example_requests_total")
        requests.inc(5)
        zone.gauge_f64("example_temperature_celsius").set(22.25)
        zone.counter('python_jobs_total{lang="py"}').inc(7)
        zone.gauge("python_workers").set(3)

        # C runs again while Python still holds its handles: both see each other's values.
        second = run_c(path)
        assert second["example_requests_total"] == str(2000 + 5 + 2000)
        assert second['python_jobs_total{lang="py"}'] == "7"
        assert second["python_workers"] == "3"
        assert requests.count == 4005
        assert zone.snapshot()["example_temperature_celsius"] == 21.5  # C set it again
        zone.verify()


def test_c_and_python_at_the_same_time(tmp_path: Path) -> None:
    path = tmp_path / "concurrent.zone"
    with shmmetrics.Zone(path=path) as zone:
        counter = zone.counter("example_requests_total")
        proc = subprocess.Popen([str(C_EXAMPLE), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(50_000):
            counter.inc()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert counter.count == 50_000 + 2000
