"""Shared fixtures. Every test runs with SHMMETRICS_DIR pointing at its own temporary
directory, so no test can create or touch a zone in /dev/shm by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import shmmetrics

# bindings/python/tests -> repository root
REPO = Path(__file__).resolve().parents[3]


def repo_file(env: str, relative: str) -> Path:
    """A repository file, overridable by an environment variable (set by mk/python.mk)."""
    return Path(os.environ.get(env) or REPO / relative)


@pytest.fixture(autouse=True)
def zone_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "zones"
    d.mkdir()
    monkeypatch.setenv("SHMMETRICS_DIR", str(d))
    return d


@pytest.fixture
def zone(zone_dir: Path) -> Iterator[shmmetrics.Zone]:
    with shmmetrics.Zone("test", directory=zone_dir) as z:
        yield z
