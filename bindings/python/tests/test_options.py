"""Zone options of ABI 1.1 (trust_shared, max_writers, lock_timeout), their errors, and that a
pickled zone reopens with the same trust, mode and lock timeout."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import pytest

import shmmetrics
from shmmetrics import _zone

NOBODY = 65534


def make_zone(path: Path, file_mode: int) -> None:
    with shmmetrics.Zone(path=path) as z:
        z.counter("planted").inc(1000)
    os.chmod(path, file_mode)


# ---- trust_shared ---------------------------------------------------------------------------


@pytest.mark.parametrize("file_mode", [0o666, 0o620, 0o602])
def test_writer_refuses_a_file_others_may_write(tmp_path: Path, file_mode: int) -> None:
    p = tmp_path / "shared.zone"
    make_zone(p, file_mode)
    before = p.read_bytes()
    with pytest.raises(shmmetrics.UntrustedError) as e:
        shmmetrics.Zone(path=p)
    assert isinstance(e.value, PermissionError) and e.value.status_name == "SHM_ERR_UNTRUSTED"
    assert "trust_shared" in e.value.detail
    assert p.read_bytes() == before  # refused before anything was written
    with shmmetrics.Zone(path=p, readonly=True) as monitor:  # monitors read any zone
        assert monitor.snapshot() == {"planted": 1000}
    with shmmetrics.Zone(path=p, trust_shared=True) as z:  # the explicit opt-in
        z.counter("planted").inc()
        assert z.snapshot() == {"planted": 1001}


def test_writer_accepts_the_write_bits_it_asked_for(tmp_path: Path) -> None:
    p = tmp_path / "group.zone"
    make_zone(p, 0o660)
    with pytest.raises(shmmetrics.UntrustedError):
        shmmetrics.Zone(path=p)
    with shmmetrics.Zone(path=p, mode=0o660) as z:  # a group-shared zone on purpose
        assert z.snapshot() == {"planted": 1000}


def test_named_zones_are_checked_too(zone_dir: Path) -> None:
    make_zone(zone_dir / "shmmetrics-squat", 0o666)
    with pytest.raises(shmmetrics.UntrustedError):
        shmmetrics.Zone("squat")
    shmmetrics.Zone("squat", trust_shared=True).close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_writer_refuses_a_file_another_user_owns(tmp_path: Path) -> None:
    p = tmp_path / "theirs.zone"
    make_zone(p, 0o600)
    os.chown(p, NOBODY, NOBODY)
    with pytest.raises(shmmetrics.UntrustedError) as e:
        shmmetrics.Zone(path=p)
    assert "owned by" in e.value.detail
    with pytest.raises(shmmetrics.UntrustedError):
        shmmetrics.Zone(path=p, fresh=True)  # never replaced either
    with shmmetrics.Zone(path=p, readonly=True) as monitor:
        assert monitor.snapshot() == {"planted": 1000}
    shmmetrics.Zone(path=p, trust_shared=True).close()


def test_pickled_zone_keeps_trust_and_mode(tmp_path: Path) -> None:
    shared, group = tmp_path / "shared.zone", tmp_path / "group.zone"
    make_zone(shared, 0o666)
    make_zone(group, 0o660)
    with shmmetrics.Zone(path=shared, trust_shared=True) as a, shmmetrics.Zone(path=group, mode=0o660) as b:
        for z in (a, b):
            copy = pickle.loads(pickle.dumps(z))  # would raise UntrustedError without them
            copy.counter("planted").inc()
            copy.close()
            assert z.snapshot() == {"planted": 1001}


# ---- max_writers ----------------------------------------------------------------------------


def test_max_writers_default_and_explicit(tmp_path: Path) -> None:
    with shmmetrics.Zone(path=tmp_path / "a") as z:
        assert z.stats().max_attached == shmmetrics.MAX_ATTACHED
    with shmmetrics.Zone(path=tmp_path / "b", max_writers=shmmetrics.MAX_ATTACHED) as z:
        assert z.stats().max_attached == shmmetrics.MAX_ATTACHED


@pytest.mark.parametrize("bad", [1, 100, shmmetrics.MAX_WRITERS + 64])
def test_max_writers_the_library_refuses(tmp_path: Path, bad: int) -> None:
    with pytest.raises(shmmetrics.InvalidArgumentError) as e:
        shmmetrics.Zone(path=tmp_path / "z", max_writers=bad)
    assert "max_writers" in e.value.detail
    assert not (tmp_path / "z").exists()


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1 << 32, OverflowError), (64.0, TypeError), ("64", TypeError), (None, TypeError)])
def test_max_writers_that_cannot_be_passed(tmp_path: Path, bad: object, error: type) -> None:
    with pytest.raises(error):
        shmmetrics.Zone(path=tmp_path / "z", max_writers=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "z").exists()


# ---- lock_timeout ---------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, ms", [(None, 0), (2.5, 2500), (1, 1000), (0.007, 7), (2.007, 2007), (0.0001, 1), (4294967.295, 4294967295)])
def test_lock_timeout_in_milliseconds(seconds: object, ms: int) -> None:
    assert _zone._options(0, 0, 0, 0, seconds).lock_timeout_ms == ms  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad, error",
    [(0, ValueError), (-1, ValueError), (math.nan, ValueError), (math.inf, ValueError), (4294967.296, ValueError), ("1", TypeError), (True, TypeError)],
)
def test_lock_timeout_refused(tmp_path: Path, bad: object, error: type) -> None:
    with pytest.raises(error):
        shmmetrics.Zone(path=tmp_path / "z", lock_timeout=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "z").exists()


def test_lock_timeout_is_kept_when_pickled(tmp_path: Path) -> None:
    with shmmetrics.Zone(path=tmp_path / "z", lock_timeout=0.25) as z:
        z.counter("c").inc()
        copy = pickle.loads(pickle.dumps(z))
        assert copy._timeout_ms == 250 and copy.snapshot() == {"c": 1}
        copy.close()


# ---- other numeric options ------------------------------------------------------------------


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1 << 32, OverflowError), (0.5, TypeError)])
def test_mode_that_cannot_be_passed(tmp_path: Path, bad: object, error: type) -> None:
    with pytest.raises(error):
        shmmetrics.Zone(path=tmp_path / "z", mode=bad)  # type: ignore[arg-type]
