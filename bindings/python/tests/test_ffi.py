"""The binding against the C header: every function declared with the right argtypes and
restype, errcheck on every status-returning function, constants, the status enum and struct
layouts identical to include/shmmetrics.h. A new or changed function in the header fails here
until the binding follows."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from ctypes import POINTER, c_char_p, c_double, c_int32, c_int64, c_size_t, c_uint16, c_uint32, c_uint64, c_void_p
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import shmmetrics
from shmmetrics import _ffi, errors

from conftest import REPO, repo_file

HEADER = repo_file("SHMMETRICS_HEADER", "include/shmmetrics.h")

if not HEADER.is_file():  # pragma: no cover - installed package tested outside the repository
    pytest.skip(f"{HEADER} not found (set SHMMETRICS_HEADER)", allow_module_level=True)

TEXT = HEADER.read_text()
# Without comments, so doc text never looks like code, and without the inline slot helpers
# (static functions compiled into the caller, not symbols of the library).
CODE = re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", TEXT), flags=re.S)
CODE = re.sub(r"#ifndef SHMMETRICS_SLOT_INLINES.*?#endif", "", CODE, flags=re.S)

SCALARS: Dict[str, Any] = {
    "int32_t": c_int32,
    "uint32_t": c_uint32,
    "int64_t": c_int64,
    "uint64_t": c_uint64,
    "uint16_t": c_uint16,
    "size_t": c_size_t,
    "double": c_double,
    "shm_status": c_int32,
}
STRUCTS = {
    name: getattr(_ffi, name)
    for name in ("shm_stats", "shm_metric_info", "shm_error", "shm_open_options", "shm_info", "shm_metric_ref", "shm_metric_row")
}
OPAQUE = {"shm_zone", "shm_counter", "shm_gauge", "shm_gauge_f64"}


def parse_functions() -> Dict[str, Tuple[str, List[str]]]:
    found: Dict[str, Tuple[str, List[str]]] = {}
    for m in re.finditer(r"^([A-Za-z_][\w \t]*?[\s*]+)(shm_\w+)\s*\(([^)]*)\)\s*;", CODE, re.M):
        ret, name, params = m.group(1).strip(), m.group(2), " ".join(m.group(3).split())
        args = [] if params in ("", "void") else [p.strip() for p in params.split(",")]
        found[name] = (ret, args)
    return found


FUNCTIONS = parse_functions()


def c_type_to_ctypes(decl: str, is_return: bool) -> Any:
    """Expected ctypes type for a C declaration (parameter name stripped)."""
    decl = decl.replace("const ", "").strip()
    if not is_return:  # drop the parameter name
        decl = re.sub(r"\b\w+$", "", decl).strip()
    stars = decl.count("*")
    base = decl.replace("*", "").replace("struct ", "").strip()
    if decl == "void":
        return None
    if base == "char" and stars == 1:
        return c_char_p
    if base in OPAQUE:
        return {1: c_void_p, 2: POINTER(c_void_p)}[stars]
    if base in STRUCTS and stars == 1:
        return POINTER(STRUCTS[base])
    if base in SCALARS:
        if stars == 0:
            return SCALARS[base]
        if stars == 1:
            # Value-slot addresses come back as plain integers (c_void_p); out-parameters
            # are typed pointers.
            return c_void_p if is_return else POINTER(SCALARS[base])
    raise AssertionError(f"no ctypes mapping for C type {decl!r}")


def test_header_was_parsed() -> None:
    # Guard against a parser that silently finds nothing.
    assert len(FUNCTIONS) >= 31
    assert "shm_counter_inc" in FUNCTIONS and "shm_zone_open_path" in FUNCTIONS
    declared = set(re.findall(r"\b(shm_\w+)\s*\(", CODE))
    assert declared == set(FUNCTIONS), "a declaration the parser could not read"


def test_every_header_function_is_declared() -> None:
    assert set(_ffi.PROTOTYPES) == set(FUNCTIONS), (
        f"missing in the binding: {sorted(set(FUNCTIONS) - set(_ffi.PROTOTYPES))}; "
        f"not in the header: {sorted(set(_ffi.PROTOTYPES) - set(FUNCTIONS))}"
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_declaration_matches_header(name: str) -> None:
    ret, params = FUNCTIONS[name]
    fn = getattr(_ffi.lib, name)
    assert fn.argtypes is not None, f"{name} has no argtypes"
    expected_args = [c_type_to_ctypes(p, False) for p in params]
    assert list(fn.argtypes) == expected_args, name
    assert fn.restype == c_type_to_ctypes(ret, True), name
    if ret == "shm_status":
        assert fn.errcheck in (_ffi._check_status, _ffi._check_iter), f"{name} returns a status without errcheck"
    else:
        # Non-status results are values, never errors.
        assert getattr(fn, "errcheck", None) is None


def test_hot_path_pointers_are_the_declared_symbols() -> None:
    for name, raw in _ffi.HOT.items():
        assert name in FUNCTIONS
        assert FUNCTIONS[name][0] == "void" and raw.restype is None
        assert ctypes.cast(raw, c_void_p).value == ctypes.cast(getattr(_ffi.lib, name), c_void_p).value
    for name, raw in _ffi.QUIET.items():
        assert FUNCTIONS[name][0] == "shm_status" and raw.restype is c_int32
        assert list(raw.argtypes) == [c_void_p]


def test_constants_match_defines() -> None:
    defines = dict(re.findall(r"^#define (SHM_\w+) (\d+)\s*$", TEXT, re.M))
    assert len(defines) >= 12
    for name, value in defines.items():
        assert getattr(_ffi, name) == int(value), name
    assert shmmetrics.NAME_MAX == int(defines["SHM_NAME_MAX"])
    assert shmmetrics.MAX_ATTACHED == int(defines["SHM_MAX_ATTACHED"])
    kinds = {k: int(v) for k, v in defines.items() if k.startswith("SHM_KIND_")}
    assert {k.value for k in shmmetrics.Kind} == set(kinds.values())


def test_status_enum_matches_error_classes() -> None:
    body = re.search(r"enum shm_status[^{]*\{(.*?)\};", CODE, re.S)
    assert body
    values = {n: int(v) for n, v in re.findall(r"(SHM_\w+)\s*=\s*(\d+)", body.group(1))}
    assert values["SHM_OK"] == _ffi.SHM_OK and values["SHM_DONE"] == _ffi.SHM_DONE
    errs = {n: v for n, v in values.items() if n.startswith("SHM_ERR_")}
    assert {cls.status_name: code for code, cls in errors.ERRORS.items()} == errs


def parse_struct(name: str) -> List[Tuple[str, str]]:
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), CODE, re.S)
    assert body, name
    fields = []
    for decl in body.group(1).split(";"):
        decl = " ".join(decl.split())
        if decl:
            m = re.fullmatch(r"(\w+ ?\*?) ?(\w+)(?:\[(\w+)\])?", decl)
            assert m, decl
            size = m.group(3)
            if size is not None and not size.isdigit():
                size = str(getattr(_ffi, size))
            fields.append((m.group(2), m.group(1).replace(" ", "") + (f"[{size}]" if size else "")))
    return fields


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_struct_fields_match_header(name: str) -> None:
    fields = parse_struct(name)
    ours = STRUCTS[name]._fields_
    assert [f for f, _ in fields] == [f for f, _ in ours]
    for (fname, ctype), (_, ptype) in zip(fields, ours):
        if ctype.startswith("char["):
            assert ptype == ctypes.c_char * int(ctype[5:-1]), fname
        elif ctype == "void*":
            assert ptype is c_void_p, fname
        elif "[" in ctype:
            base, n = ctype[:-1].split("[")
            assert ptype == SCALARS[base] * int(n), fname
        else:
            assert ptype is SCALARS[ctype], fname


def test_struct_layout_matches_the_c_compiler(tmp_path: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    lines = []
    for name, cls in STRUCTS.items():
        lines.append(f'printf("{name} %zu\\n", sizeof(struct {name}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{name}.{field} %zu\\n", offsetof(struct {name}, {field}));')
    src = tmp_path / "layout.c"
    src.write_text(
        '#include <stdio.h>\n#include <stddef.h>\n#include "shmmetrics.h"\nint main(void) {\n'
        + "\n".join(lines)
        + "\nreturn 0; }\n"
    )
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", f"-I{HEADER.parent}", str(src), "-o", str(exe)], check=True)
    out = dict(line.rsplit(" ", 1) for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines())
    for name, cls in STRUCTS.items():
        assert int(out[name]) == ctypes.sizeof(cls), name
        for field, _ in cls._fields_:
            assert int(out[f"{name}.{field}"]) == getattr(cls, field).offset, f"{name}.{field}"


def test_library_override_by_environment(tmp_path: Path) -> None:
    # SHMMETRICS_LIB picks another file; a missing one fails the import loudly.
    copy = tmp_path / "custom" / "libshmmetrics-copy.so"
    copy.parent.mkdir()
    shutil.copy(_ffi.LIBRARY_PATH, copy)
    code = "import shmmetrics; print(shmmetrics.LIBRARY_PATH)"
    env = dict(os.environ, SHMMETRICS_LIB=str(copy))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(copy)
    env["SHMMETRICS_LIB"] = str(tmp_path / "nope.so")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0 and "nope.so" in out.stderr


def test_repo_root_guess() -> None:
    assert (REPO / "Cargo.toml").is_file() or os.environ.get("SHMMETRICS_HEADER")
