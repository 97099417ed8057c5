"""Builds libshmmetrics from the repository's Cargo.toml and ships it inside the package.

Metadata lives in pyproject.toml; this file only declares the Rust artifact, which
setuptools-rust builds with `cargo rustc --release --locked --crate-type cdylib` and copies to
shmmetrics/libshmmetrics.<ext-suffix>.so (found by shmmetrics/_ffi.py at import).
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py
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


class FreshBuildPy(build_py):
    """setuptools keeps the files of earlier builds in build/lib, so a module removed from the
    source would still be packaged and imported. Drop those first (the library is copied in
    later, by build_ext)."""

    def run(self):  # type: ignore[no-untyped-def]
        built = os.path.join(self.build_lib, "shmmetrics")
        source = os.path.join(HERE, "shmmetrics")
        if os.path.isdir(built):
            for name in os.listdir(built):
                if name.endswith(".py") and not os.path.exists(os.path.join(source, name)):
                    os.remove(os.path.join(built, name))
        super().run()


setup(
    rust_extensions=[
        RustExtension(
            "shmmetrics.libshmmetrics",
            path=os.path.relpath(CARGO_TOML),
            binding=Binding.NoBinding,
            cargo_manifest_args=["--locked"],
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel, "build_py": FreshBuildPy},
    zip_safe=False,
)
