"""Zone opening, options, iteration, stats, verify/repair, lifetime, and every error class."""

from __future__ import annotations

import ctypes
import os
import pickle
import stat
import struct
import sys
from pathlib import Path

import pytest

import shmmetrics
from shmmetrics import _ffi, _read, errors

MIN_SIZE = 24576  # one-metric zone (docs/FORMAT.md: 20,608 bytes rounded to the page)


# ---- opening ----------------------------------------------------------------------------------


def test_named_zone_in_directory(zone_dir: Path) -> None:
    with shmmetrics.Zone("app", directory=zone_dir) as z:
        assert z.name == "app"
        assert z.path == str(zone_dir / "shmmetrics-app")
        assert os.path.isfile(z.path)
        assert not z.readonly and not z.closed
        assert "open" in repr(z)
    assert z.closed and "closed" in repr(z)


def test_named_zone_uses_shmmetrics_dir(zone_dir: Path) -> None:
    # conftest points SHMMETRICS_DIR at zone_dir: the library resolves the name there.
    with shmmetrics.Zone("byenv") as z:
        assert z.path == str(zone_dir / "shmmetrics-byenv")
        assert os.path.isfile(zone_dir / "shmmetrics-byenv")


def test_path_forms(tmp_path: Path) -> None:
    p = tmp_path / "metrics.zone"
    with shmmetrics.Zone(path=p) as a, shmmetrics.Zone.open_path(str(p)) as b:
        assert a.name is None and a.path == b.path == str(p)
        a.counter("shared").inc(3)
        assert b.counter("shared").count == 3


def test_constructor_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        shmmetrics.Zone()
    with pytest.raises(TypeError):
        shmmetrics.Zone("a", path=tmp_path / "x")
    with pytest.raises(TypeError):
        shmmetrics.Zone(path=tmp_path / "x", directory=tmp_path)
    with pytest.raises(TypeError):
        shmmetrics.Zone(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        shmmetrics.Zone("neg", size=-1)
    with pytest.raises(OverflowError):
        shmmetrics.Zone("huge", size=1 << 64)


def test_size_only_matters_at_creation(zone_dir: Path) -> None:
    with shmmetrics.Zone("sized", size=MIN_SIZE) as z:
        first = z.stats()
    assert first.file_size == MIN_SIZE
    with shmmetrics.Zone("sized", size=10 << 20) as z:
        assert z.stats().file_size == MIN_SIZE


def test_create_false_on_missing_zone_is_not_found() -> None:
    with pytest.raises(shmmetrics.NotFoundError) as e:
        shmmetrics.Zone("missing", create=False)
    assert isinstance(e.value, FileNotFoundError)
    assert "does not exist" in e.value.detail
    assert e.value.status == 7 and e.value.status_name == "SHM_ERR_NOT_FOUND"


def test_exclusive(zone_dir: Path) -> None:
    with shmmetrics.Zone("excl", exclusive=True):
        with pytest.raises(shmmetrics.ExistsError) as e:
            shmmetrics.Zone("excl", exclusive=True)
    assert isinstance(e.value, FileExistsError)


def test_readonly_zone(zone_dir: Path) -> None:
    with shmmetrics.Zone("ro") as w:
        c = w.counter("requests_total")
        c.inc(5)
        w.gauge_f64("temp").set(1.5)
        with shmmetrics.Zone("ro", readonly=True) as r:
            assert r.readonly and "read-only" in repr(r)
            with pytest.raises(shmmetrics.ReadOnlyError) as e:
                r.counter("new")
            assert e.value.status_name == "SHM_ERR_READ_ONLY"
            with pytest.raises(shmmetrics.ReadOnlyError):
                r.gauge("g")
            with pytest.raises(shmmetrics.ReadOnlyError):
                r.gauge_f64("f")
            assert r.snapshot() == {"requests_total": 5, "temp": 1.5}
            c.inc()
            assert r.snapshot()["requests_total"] == 6  # live view of the shared memory
            s = r.stats()
            assert s.used == 2 and s.attached == 1  # read-only monitors are not counted
            r.verify()
            with pytest.raises(shmmetrics.ReadOnlyError):
                r.repair()


def test_readonly_cannot_create() -> None:
    with pytest.raises(shmmetrics.NotFoundError):
        shmmetrics.Zone("nothing", readonly=True)
    with pytest.raises(shmmetrics.InvalidArgumentError) as e:
        shmmetrics.Zone("contradiction", readonly=True, create=True)
    assert isinstance(e.value, ValueError)


def test_readonly_works_on_a_file_that_cannot_be_written(tmp_path: Path) -> None:
    p = tmp_path / "ro.zone"
    with shmmetrics.Zone(path=p) as z:
        z.gauge("g").set(9)
    os.chmod(p, 0o400)
    with shmmetrics.Zone(path=p, readonly=True) as r:
        assert r.snapshot() == {"g": 9}


def test_fresh_replaces_zone_but_old_attachments_keep_theirs(zone_dir: Path) -> None:
    with shmmetrics.Zone("fresh") as old:
        c = old.counter("c")
        c.inc(10)
        with shmmetrics.Zone("fresh", fresh=True) as new:
            assert new.snapshot() == {}
            c.inc()
            assert c.count == 11  # the old mapping is undisturbed
            assert new.snapshot() == {}
        with shmmetrics.Zone("fresh") as again:
            assert again.snapshot() == {}


def test_remove_on_close(zone_dir: Path) -> None:
    path = zone_dir / "shmmetrics-tmp"
    a = shmmetrics.Zone("tmp", remove_on_close=True)
    b = shmmetrics.Zone("tmp")
    a.close()
    assert path.exists()  # b is still attached
    b.close()
    a2 = shmmetrics.Zone("tmp", remove_on_close=True)
    a2.close()
    assert not path.exists()


def test_mode(tmp_path: Path) -> None:
    with shmmetrics.Zone(path=tmp_path / "a") as z:
        pass
    assert stat.S_IMODE(os.stat(z.path).st_mode) == 0o600
    with shmmetrics.Zone(path=tmp_path / "b", mode=0o640) as z:
        pass
    assert stat.S_IMODE(os.stat(z.path).st_mode) == 0o640
    with pytest.raises(shmmetrics.InvalidArgumentError):
        shmmetrics.Zone(path=tmp_path / "c", mode=0o400)  # owner must read and write
    with pytest.raises(shmmetrics.InvalidArgumentError):
        shmmetrics.Zone(path=tmp_path / "d", mode=0o7777)


def test_size_zero_means_the_default(tmp_path: Path) -> None:
    with shmmetrics.Zone(path=tmp_path / "z", size=0) as z:
        assert z.stats().file_size == shmmetrics.DEFAULT_SIZE == _ffi.SHM_DEFAULT_SIZE


@pytest.mark.parametrize("size", [100, 1 << 41])
def test_invalid_size(tmp_path: Path, size: int) -> None:
    with pytest.raises(shmmetrics.InvalidSizeError) as e:
        shmmetrics.Zone(path=tmp_path / "z", size=size)
    assert isinstance(e.value, ValueError)
    assert "size" in str(e.value)


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../up", "sp ace", "x" * 201, "é", "\udc80"])
def test_invalid_zone_names(zone_dir: Path, name: str) -> None:
    # The library holds the rule, with or without a directory; the message says it.
    with pytest.raises(shmmetrics.InvalidNameError) as e:
        shmmetrics.Zone(name)
    assert e.value.detail
    with pytest.raises(shmmetrics.InvalidNameError):
        shmmetrics.Zone(name, directory=zone_dir)
    assert os.listdir(zone_dir) == []


def test_empty_directory_is_refused_by_the_library(zone_dir: Path) -> None:
    with pytest.raises(shmmetrics.InvalidNameError) as e:
        shmmetrics.Zone("x", directory="")
    assert "directory" in e.value.detail


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("sub")
    with shmmetrics.Zone("rel", directory="sub") as a, shmmetrics.Zone(path="sub/file.zone") as b:
        assert a.path == str(tmp_path / "sub" / "shmmetrics-rel")
        assert b.path == str(tmp_path / "sub" / "file.zone")


def test_nul_in_path_or_name(tmp_path: Path) -> None:
    with pytest.raises(shmmetrics.InvalidNameError):
        shmmetrics.Zone(path=str(tmp_path) + "/a\0b")
    with pytest.raises(shmmetrics.InvalidNameError):
        shmmetrics.Zone("a\0b")
    with pytest.raises(shmmetrics.InvalidNameError):
        shmmetrics.Zone("a", directory=str(tmp_path) + "/\0")


def test_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(shmmetrics.NotAFileError) as e:
        shmmetrics.Zone(path=tmp_path / "dir")
    assert isinstance(e.value, OSError)
    target = tmp_path / "target.zone"
    shmmetrics.Zone(path=target).close()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(shmmetrics.NotAFileError):
        shmmetrics.Zone(path=tmp_path / "link")  # symlinks are refused
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(shmmetrics.NotAFileError):
        shmmetrics.Zone(path=tmp_path / "fifo", create=False)


def test_bad_magic(tmp_path: Path) -> None:
    p = tmp_path / "junk"
    p.write_bytes(b"not a zone".ljust(MIN_SIZE, b"\0"))
    with pytest.raises(shmmetrics.BadMagicError) as e:
        shmmetrics.Zone(path=p)
    assert "magic" in e.value.detail


def test_version(tmp_path: Path) -> None:
    p = tmp_path / "v2"
    shmmetrics.Zone(path=p).close()
    with open(p, "r+b") as f:  # docs/FORMAT.md: version_major is the u16 at offset 8
        f.seek(8)
        f.write(struct.pack("=H", 2))
    with pytest.raises(shmmetrics.VersionError):
        shmmetrics.Zone(path=p)


def test_truncated_file_is_corrupt(tmp_path: Path) -> None:
    p = tmp_path / "short"
    p.write_bytes(b"\0" * 100)
    with pytest.raises(shmmetrics.CorruptError):
        shmmetrics.Zone(path=p)


def test_io_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(shmmetrics.ZoneIOError) as e:
        shmmetrics.Zone(path=tmp_path / "file" / "zone")  # ENOTDIR
    assert isinstance(e.value, OSError) and e.value.detail


def test_permission_denied(tmp_path: Path) -> None:
    p = tmp_path / "private.zone"
    shmmetrics.Zone(path=p).close()
    os.chmod(p, 0o600)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)  # root reads anything: become nobody
            else:
                os.chmod(p, 0)
            try:
                shmmetrics.Zone(path=p, create=False)
            except shmmetrics.PermissionDeniedError as e:
                code = 0 if isinstance(e, PermissionError) and e.status == 16 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_no_space() -> None:
    # tmpfs refuses a reservation bigger than itself at once (no memory is touched).
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    st = os.statvfs("/dev/shm")
    if st.f_blocks * st.f_frsize >= 1 << 40:
        pytest.skip("/dev/shm can hold a 1 TiB zone")
    import tempfile

    d = tempfile.mkdtemp(prefix="shmmetrics-test-", dir="/dev/shm")
    try:
        with pytest.raises(shmmetrics.NoSpaceError) as e:
            shmmetrics.Zone(path=os.path.join(d, "big"), size=1 << 40)
        assert isinstance(e.value, OSError)
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def test_attach_limit(tmp_path: Path) -> None:
    # Each open is its own attachment (own file description, own kernel lock), so one
    # process can fill all SHM_MAX_ATTACHED slots.
    p = tmp_path / "many"
    zones = [shmmetrics.Zone(path=p) for _ in range(shmmetrics.MAX_ATTACHED)]
    try:
        assert zones[0].stats().attached == shmmetrics.MAX_ATTACHED
        with pytest.raises(shmmetrics.AttachLimitError) as e:
            shmmetrics.Zone(path=p)
        assert e.value.status_name == "SHM_ERR_ATTACH_LIMIT"
        with shmmetrics.Zone(path=p, readonly=True) as r:  # monitors need no slot
            assert r.stats().attached == shmmetrics.MAX_ATTACHED
    finally:
        for z in zones:
            z.close()
    shmmetrics.Zone(path=p).close()


# ---- registration errors --------------------------------------------------------------------


def test_zone_full(tmp_path: Path) -> None:
    with shmmetrics.Zone(path=tmp_path / "small", size=MIN_SIZE) as z:
        cap = z.stats().capacity
        handles = [z.counter(f"c{i}") for i in range(cap)]
        with pytest.raises(shmmetrics.ZoneFullError) as e:
            z.counter("one_too_many")
        assert e.value.status == 10 and "full" in str(e.value)
        s = z.stats()
        assert s.used == cap and s.free == 0
        assert s.failed_zone_full == 1 and s.failed_registrations == 1
        # Releasing one frees its entry for another name.
        handles.pop().release()
        z.gauge("fits_now").set(1)


def test_kind_mismatch(zone: shmmetrics.Zone) -> None:
    zone.counter("requests")
    with pytest.raises(shmmetrics.KindMismatchError) as e:
        zone.gauge("requests")
    assert "counter" in e.value.detail and isinstance(e.value, TypeError)
    with pytest.raises(shmmetrics.KindMismatchError):
        zone.gauge_f64("requests")
    zone.gauge_f64("temp")
    with pytest.raises(shmmetrics.KindMismatchError):
        zone.counter("temp")
    assert zone.stats().failed_registrations == 3


def test_name_too_long(zone: shmmetrics.Zone) -> None:
    zone.counter("x" * shmmetrics.NAME_MAX)  # the limit itself is fine
    with pytest.raises(shmmetrics.NameTooLongError) as e:
        zone.counter("x" * (shmmetrics.NAME_MAX + 1))
    assert "256" in e.value.detail and isinstance(e.value, ValueError)
    with pytest.raises(shmmetrics.NameTooLongError):
        zone.gauge("é" * 128)  # 256 bytes of UTF-8: the limit is in bytes


@pytest.mark.parametrize("name", ["", "a\0b", b"\xff\xfe"])
def test_invalid_metric_names(zone: shmmetrics.Zone, name: object) -> None:
    with pytest.raises(shmmetrics.InvalidNameError):
        zone.counter(name)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        zone.counter(12)  # type: ignore[arg-type]


def test_metric_names_are_utf8(zone: shmmetrics.Zone) -> None:
    c = zone.counter("requêtes_total")
    c.inc()
    assert zone.counter(b"requ\xc3\xaates_total").count == 1
    assert zone.snapshot() == {"requêtes_total": 1}


# ---- iteration, stats, verify, repair --------------------------------------------------------


def test_iteration(zone: shmmetrics.Zone) -> None:
    zone.counter("a").inc(3)
    zone.gauge("b").set(-4)
    zone.gauge_f64("c").set(0.25)
    items = sorted(zone)
    assert [(m.name, m.kind, m.value) for m in items] == [
        ("a", shmmetrics.Kind.COUNTER, 3),
        ("b", shmmetrics.Kind.GAUGE, -4),
        ("c", shmmetrics.Kind.GAUGE_F64, 0.25),
    ]
    assert all(isinstance(m, shmmetrics.MetricInfo) and m.generation > 0 for m in items)
    assert isinstance(items[0].value, int) and isinstance(items[2].value, float)
    assert str(items[2].kind) == "gauge_f64"
    assert len(zone.metrics()) == 3
    assert zone.snapshot() == {"a": 3, "b": -4, "c": 0.25}


def test_iteration_of_empty_zone(zone: shmmetrics.Zone) -> None:
    assert list(zone) == []


def test_stats(zone: shmmetrics.Zone) -> None:
    s = zone.stats()
    assert isinstance(s, shmmetrics.ZoneStats)
    assert s.capacity == 2005 and s.used == 0 and s.free == s.capacity
    assert s.attached == 1 and s.max_attached == shmmetrics.MAX_ATTACHED
    assert s.file_size == shmmetrics.DEFAULT_SIZE
    assert (s.version_major, s.version_minor) == (1, 1)
    assert s.name_max == shmmetrics.NAME_MAX
    zone.counter("x")
    assert zone.stats().used == 1


def test_verify_and_repair(zone: shmmetrics.Zone) -> None:
    zone.counter("x").inc()
    zone.verify()
    assert zone.repair() == 0
    zone.verify()


def test_orphans_of_closed_handles(zone_dir: Path) -> None:
    with shmmetrics.Zone("orph") as a:
        a.counter("kept").close()  # keeps the metric registered while a is attached
        assert a.stats().orphaned == 0
    with shmmetrics.Zone("orph") as b:
        s = b.stats()
        assert s.used == 1 and s.orphaned == 1  # no attached process holds it any more
        assert b.counter("kept").count == 0


# ---- lifetime ------------------------------------------------------------------------------


def test_close_is_idempotent_and_blocks_use(zone_dir: Path) -> None:
    z = shmmetrics.Zone("life")
    c = z.counter("c")
    z.close()
    z.close()
    for op in (lambda: z.counter("x"), z.stats, z.verify, z.repair, lambda: list(z), z.snapshot):
        with pytest.raises(shmmetrics.ClosedError):
            op()
    with pytest.raises(shmmetrics.ClosedError):
        pickle.dumps(z)
    c.inc()  # handles outlive the zone (the library keeps the mapping)
    assert c.count == 1


def test_closing_during_iteration(zone: shmmetrics.Zone, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "ROWS_PER_READ", 1)  # one library call per metric
    for i in range(3):
        zone.counter(f"m{i}")
    it = iter(zone)
    next(it)
    zone.close()
    with pytest.raises(shmmetrics.ClosedError):
        next(it)


def test_zone_garbage_collection_detaches(tmp_path: Path) -> None:
    p = tmp_path / "gc.zone"
    z = shmmetrics.Zone(path=p, remove_on_close=True)
    del z
    import gc

    gc.collect()
    assert not p.exists()


def test_pickled_zone_reopens_the_same_file(zone: shmmetrics.Zone) -> None:
    zone.counter("c").inc(2)
    copy = pickle.loads(pickle.dumps(zone))
    try:
        assert copy is not zone and copy.path == zone.path and copy.name == "test"
        assert copy.snapshot() == {"c": 2}
        assert zone.stats().attached == 2
    finally:
        copy.close()


def test_pickled_readonly_zone_stays_readonly(zone: shmmetrics.Zone) -> None:
    with shmmetrics.Zone(path=zone.path, readonly=True) as r:
        copy = pickle.loads(pickle.dumps(r))
        assert copy.readonly
        copy.close()


def test_pickling_does_not_recreate_a_removed_zone(tmp_path: Path) -> None:
    p = tmp_path / "gone.zone"
    z = shmmetrics.Zone(path=p)
    data = pickle.dumps(z)
    z.close()
    p.unlink()
    with pytest.raises(shmmetrics.NotFoundError):
        pickle.loads(data)


# ---- the error classes --------------------------------------------------------------------


def test_every_status_has_an_error_class() -> None:
    names = {}
    for code in range(2, 24):
        cls = errors.ERRORS[code]
        assert issubclass(cls, shmmetrics.ShmMetricsError)
        assert cls.status == code
        assert getattr(shmmetrics, cls.__name__) is cls
        names[cls.status_name] = cls
        text = _ffi.status_text(code)
        assert text and text != "unknown status"
        err = errors.error_for_status(code, "detail message", text)
        assert type(err) is cls and err.detail == "detail message" and err.status_text == text
        assert str(err) == f"detail message ({text})"
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is cls and again.detail == err.detail and again.status == code
        assert str(again) == str(err)
    assert len(names) == 22
    assert issubclass(shmmetrics.UntrustedError, PermissionError)
    assert issubclass(shmmetrics.LockTimeoutError, TimeoutError)
    unknown = errors.error_for_status(99, "", "")
    assert type(unknown) is shmmetrics.ShmMetricsError and unknown.status == 99
    assert _ffi.status_text(99) == "unknown status"


def test_errcheck_raises_with_the_library_message(zone: shmmetrics.Zone) -> None:
    # Provoke the statuses no public API path can reach: the declared function's errcheck
    # must turn them into the typed exception carrying shm_last_error().
    with pytest.raises(shmmetrics.NullArgumentError) as e:
        _ffi.lib.shm_zone_stats(zone._ptr, None)
    assert "NULL" in e.value.detail and e.value.detail == _ffi.last_error()
    with pytest.raises(shmmetrics.NullArgumentError):
        _ffi.lib.shm_zone_open(None, 0, 0, ctypes.byref(ctypes.c_void_p()))
    with pytest.raises(shmmetrics.InvalidArgumentError) as e2:
        _ffi.lib.shm_zone_open(b"x", 1 << 20, 1 << 10, ctypes.byref(ctypes.c_void_p()))
    assert "flags" in e2.value.detail
    # Closing a handle twice: the library reports SHM_ERR_CLOSED (released handles are parked).
    c = zone.counter("twice")
    ptr = c._ptr
    c.close()
    with pytest.raises(shmmetrics.ClosedError) as e3:
        _ffi.lib.shm_counter_close(ptr)
    assert "already" in e3.value.detail
    assert _ffi.lib.shm_counter_close(None) == 0  # NULL is fine
    assert _ffi.lib.shm_zone_close(None) == 0


def test_errors_of_abi_1_1_calls_carry_their_own_message() -> None:
    # Calls that take a `struct shm_error *` report through it (thread-independent), whether
    # it was passed as the structure or by reference; without one, the thread's last error.
    err = _ffi.shm_error(status=9, message=b"from this call's shm_error")
    err.message_len = len(err.message)
    for args in ((err,), (ctypes.byref(err),), (None, err)):
        with pytest.raises(shmmetrics.KindMismatchError) as e:
            _ffi._check_status(9, None, args)
        assert e.value.detail == "from this call's shm_error"
    err.status = 3  # a stale shm_error from another failure is not this call's
    with pytest.raises(shmmetrics.KindMismatchError) as e:
        _ffi._check_status(9, None, (err,))
    assert e.value.detail == _ffi.last_error()
    with pytest.raises(shmmetrics.NotFoundError) as e2:
        shmmetrics.Zone("absent", create=False)
    assert "absent" in e2.value.detail


def test_zone_next_errcheck_treats_done_as_success(zone: shmmetrics.Zone) -> None:
    cursor = ctypes.c_uint32(0)
    info = _ffi.shm_metric_info()
    assert _ffi.lib.shm_zone_next(zone._ptr, ctypes.byref(cursor), ctypes.byref(info)) == _ffi.SHM_DONE
    with pytest.raises(shmmetrics.NullArgumentError):
        _ffi.lib.shm_zone_next(zone._ptr, None, ctypes.byref(info))


def test_internal_error_class() -> None:
    # SHM_ERR_INTERNAL means a library bug and cannot be provoked; check the mapping.
    with pytest.raises(shmmetrics.InternalError):
        _ffi._check_status(21, None, ())
    with pytest.raises(shmmetrics.ShmMetricsError):
        _ffi._check_iter(21, None, ())
    assert _ffi._check_iter(1, None, ()) == 1


def test_last_error_is_per_thread(zone: shmmetrics.Zone) -> None:
    import threading

    with pytest.raises(shmmetrics.NameTooLongError):
        zone.counter("y" * 300)
    seen = []
    t = threading.Thread(target=lambda: seen.append(_ffi.last_error()))
    t.start()
    t.join()
    assert seen == [""]
    assert "300" in _ffi.last_error()


def test_module_surface() -> None:
    assert shmmetrics.abi_version() == (_ffi.SHM_ABI_VERSION_MAJOR, _ffi.SHM_ABI_VERSION_MINOR)
    assert sys.modules["shmmetrics.errors"].__all__
    for name in shmmetrics.__all__:
        assert hasattr(shmmetrics, name), name
