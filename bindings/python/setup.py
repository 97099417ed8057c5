"""Builds libshmmetrics from the repository's Cargo.toml and ships it inside the package.

Metadata lives in pyproject.toml; this file only declares the Rust artifact, which
setuptools-rust builds with `cargo rustc --release --locked --crate-type cdylib` and copies to
shmmetrics/libshmmetrics.<ext-suffix>.so (found by shmmetrics/_ffi.py at import).
"""

import os

from setuptools import setup
from setuptools_rust import Binding, RustExtension

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
CARGO_TOML = os.path.join(HERE, "..", "..", "Cargo.toml")


class PlatformWheel(bdist_wheel):
    """The library is loaded with ctypes, not imported: one wheel serves every Python 3."""

    def get_tag(self):  # type: ignore[no-untyped-def]
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    rust_extensions=[
        RustExtension(
            "shmmetrics.libshmmetrics",
            path=os.path.relpath(CARGO_TOML),
            binding=Binding.NoBinding,
            cargo_manifest_args=["--locked"],
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel},
    zip_safe=False,
)
