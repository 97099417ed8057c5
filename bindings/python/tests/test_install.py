"""The package as installed: importable from anywhere, library bundled inside it, typed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import shmmetrics
from shmmetrics import _ffi

from conftest import REPO

PKG = Path(shmmetrics.__file__).resolve().parent


def test_library_is_loaded_from_the_package() -> None:
    if os.environ.get("SHMMETRICS_LIB"):
        pytest.skip("SHMMETRICS_LIB overrides the bundled library")
    assert Path(_ffi.LIBRARY_PATH).resolve().parent == PKG
    assert Path(_ffi.LIBRARY_PATH).name.startswith("libshmmetrics")


def test_installed_into_the_expected_environment() -> None:
    venv = os.environ.get("SHMMETRICS_EXPECT_INSTALLED")
    if not venv:
        pytest.skip("not run by `make python-test`")
    assert Path(sys.prefix).resolve() == Path(venv).resolve()
    assert "site-packages" in PKG.parts, f"testing {PKG}, not the installed package"
    assert not PKG.is_relative_to(REPO / "bindings")  # type: ignore[attr-defined]


def test_installed_modules_are_the_source_modules() -> None:
    # setuptools keeps earlier builds' files in bindings/python/build; setup.py drops the stale
    # ones, or a module removed from the source would still be installed and importable.
    source = REPO / "bindings" / "python" / "shmmetrics"
    if not source.is_dir() or PKG == source.resolve():
        pytest.skip("not an installed copy of the repository's package")
    assert sorted(p.name for p in PKG.glob("*.py")) == sorted(p.name for p in source.glob("*.py"))


def test_import_from_another_directory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import shmmetrics, sys; print(shmmetrics.abi_version())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 1)"


def test_typed_package() -> None:
    assert (PKG / "py.typed").is_file()


def test_version_matches_the_crate() -> None:
    cargo = REPO / "Cargo.toml"
    if not cargo.is_file():
        pytest.skip("not in the repository")
    crate = re.search(r'^version = "(.+)"', cargo.read_text(), re.M)
    assert crate and shmmetrics.__version__ == crate.group(1)
