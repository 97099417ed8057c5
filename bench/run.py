"""The core benchmarks of issue 9, every row of its table as a ratio against a baseline measured
in the same run (`make core-bench`, part of `make bench`; docs/BENCHMARKS.md).

    python3 bench/run.py [--smoke] [--only SECTION[,SECTION...]] [--bin DIR] [--mosn PATH]
                         [--python PATH] [--python-path DIR] [--markdown FILE]

Sections: hot, contention, registration, callgrind, attach, scan, fork. The C workers are in
bench/c/ (built by mk/bench.mk into --bin), MOSN's worker is bench/mosn/main.go (built by
bench/mosn/assemble.sh into --mosn), Python's is bench/python_list.py (run with --python).

On a shared machine absolute times move a lot; so every comparison is made within one run,
cases are interleaved (each round runs every case once, alternating their order), repeated,
and the median is taken (of the rounds' ratios where the cases are in one process). Times are
CPU time where a case runs alone in one process, wall time where it is about waiting (fork) or
about two processes at once (contention). The load average is printed with the results.
--smoke runs everything once at tiny sizes (`make test`): the figures then mean nothing; no
run asserts anything about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("hot", "contention", "registration", "callgrind", "attach", "scan", "fork")
KIB = 1024
MIB = 1 << 20
GIB = 1 << 30


@dataclass
class Row:
    what: str
    today: str
    anchor: str
    ratio: Optional[float]
    target: str
    met: Optional[bool]
    section: str


@dataclass
class Sizes:
    hot_iterations: int
    hot_rounds: int
    contention_iterations: int
    contention_rounds: int
    registration_metrics: Tuple[int, ...]
    registration_rounds: int
    callgrind_metrics: int
    big_zone: int
    small_zone: int
    open_rounds: int
    used: int
    scan_rounds: int
    fork_held: int
    fork_rounds: int
    forks_per_round: int


FULL = Sizes(10_000_000, 21, 2_000_000, 7, (1_000, 100_000, 1_000_000), 11, 10_000, GIB, MIB, 7, 100_000, 5, 100_000, 9, 200)
SMOKE = Sizes(1_000, 1, 1_000, 1, (100,), 1, 50, 2 * MIB, MIB, 1, 100, 1, 100, 1, 2)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def results(out: str) -> Dict[str, str]:
    """The RESULT lines of a worker's output as {key: value}."""
    got: Dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            _, key, value = line.split(None, 2)
            got[key] = value
    return got


def run(cmd: Sequence[str], **kw: object) -> Dict[str, str]:
    p = subprocess.run(list(cmd), capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return results(p.stdout)


class Worker:
    """A benchmark process that answers one line per command line (register.c, main.go, zone.c)."""

    def __init__(self, cmd: Sequence[str]) -> None:
        self.cmd = list(cmd)
        self.p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._line()

    def _line(self) -> str:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            err = self.p.stderr.read() if self.p.stderr else ""
            raise SystemExit(f"bench: {' '.join(self.cmd)} ended early ({self.p.wait()}):\n{err}")
        return line.strip()

    def ask(self, cmd: str, n: int) -> List[float]:
        assert self.p.stdin is not None
        self.p.stdin.write(f"{cmd} {n}\n")
        self.p.stdin.flush()
        return [float(x) for x in self._line().split()]

    def close(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write("quit 0\n")
        self.p.stdin.close()
        if self.p.wait() != 0:
            err = self.p.stderr.read() if self.p.stderr else ""
            raise SystemExit(f"bench: {' '.join(self.cmd)} failed:\n{err}")


def fmt_ns(ns: float) -> str:
    return f"{ns / 1e3:.2f} us" if ns >= 10_000 else f"{ns:.1f} ns" if ns >= 10 else f"{ns:.2f} ns"


def fmt_ratio(r: Optional[float]) -> str:
    return "" if r is None or r != r else f"{r:.2f}x"


def at_most(r: float, limit: float) -> bool:
    return r <= limit


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = SMOKE if args.smoke else FULL
        self.bin = args.bin
        self.rows: List[Row] = []
        self.notes: List[str] = []
        self.dir = tempfile.mkdtemp(prefix="shmmetrics-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)

    def c(self, name: str) -> str:
        return os.path.join(self.bin, name)

    def row(self, section: str, what: str, today: str, anchor: str, ratio: Optional[float], target: str, limit: Optional[float]) -> None:
        met = None if limit is None or ratio is None or ratio != ratio else at_most(ratio, limit)
        self.rows.append(Row(what, today, anchor, ratio, target, met, section))

    # ---- 1. C hot paths -------------------------------------------------------------------
    def hot(self) -> None:
        s = self.sizes
        r = run([self.c("bench_hot"), "hot", str(s.hot_iterations), str(s.hot_rounds), self.dir])
        f = {k: float(v) for k, v in r.items()}
        raw_add, raw_store = f["hot.raw_add.ns"], f["hot.raw_store.ns"]
        self.row("hot", "C `shm_slot_add(slot, 1)` (the README's increment) vs raw `__atomic_fetch_add` on a MAP_SHARED slot",
                 fmt_ns(f["hot.slot_add.ns"]), f"raw: {fmt_ns(raw_add)}", f["hot.slot_add.ratio"], "<= 1.10x", 1.10)
        self.row("hot", "C `shm_counter_inc(handle, 1)` (call through the PLT) vs raw atomic add",
                 fmt_ns(f["hot.counter_inc.ns"]), f"raw: {fmt_ns(raw_add)}", f["hot.counter_inc.ratio"], "(context)", None)
        self.row("hot", "C `shm_slot_set(slot, v)` (gauge, the README's path) vs raw relaxed store",
                 fmt_ns(f["hot.slot_set.ns"]), f"raw: {fmt_ns(raw_store)}", f["hot.slot_set.ratio"], "<= 1.10x", 1.10)
        self.row("hot", "C `shm_gauge_update(handle, v)` vs raw relaxed store",
                 fmt_ns(f["hot.gauge_update.ns"]), f"raw: {fmt_ns(raw_store)}", f["hot.gauge_update.ratio"], "(context)", None)
        self.row("hot", "noise: the raw add loop run twice in a round (same code, same slot)",
                 fmt_ns(raw_add), f"raw: {fmt_ns(raw_add)}", f["hot.same_code_twice.ratio"], "(1.00 means no noise)", None)

    # ---- 2. contention --------------------------------------------------------------------
    def contention(self) -> None:
        s = self.sizes
        r = run([self.c("bench_hot"), "contention", str(s.contention_iterations), str(s.contention_rounds), self.dir])
        f = {k: float(v) for k, v in r.items()}
        for clock, pre in (("wall", "contention."), ("CPU", "contention.cpu.")):
            self.row("contention", f"2 processes `shm_slot_add` on one counter vs 2 threads on one atomic (ns per add per worker, {clock} time)",
                     fmt_ns(f[pre + "procs_one_counter.ns"]), f"2 threads: {fmt_ns(f[pre + 'threads_one_atomic.ns'])}",
                     f[pre + "procs_one_counter.ratio"], "about 1x", None)
            self.row("contention", f"2 processes on two counters (no false sharing) vs 1 process on one ({clock} time)",
                     fmt_ns(f[pre + "procs_two_counters.ns"]), f"1 process: {fmt_ns(f[pre + 'one_proc_one_counter.ns'])}",
                     f[pre + "procs_two_counters.ratio"], "about 1x", None)

    # ---- 3. registration vs MOSN -----------------------------------------------------------
    def registration(self) -> None:
        s = self.sizes
        mosn = self.args.mosn
        if not mosn or not os.access(mosn, os.X_OK):
            raise SystemExit(f"bench: no MOSN worker at {mosn!r} (bench/mosn/assemble.sh builds it)")
        for n in s.registration_metrics:
            # Lookups: 10,000 a command (names repeat in a small zone); joins: each name once a
            # command; new names: up to 10,000 a command, registered in batches of a tenth of
            # the zone (each batch released before the next), so the zone stays near its size.
            b_look = 10_000 if not self.args.smoke else 10
            b_join = min(n, b_look)
            b_new = min(n, b_look)
            capacity = n + (s.registration_rounds + 1) * b_new + 64
            log(f"registration: {n} metrics (load {load()})")
            zdir, mdir = os.path.join(self.dir, f"ours-{n}"), os.path.join(self.dir, f"mosn-{n}")
            os.mkdir(zdir)
            os.mkdir(mdir)
            ours = Worker([self.c("bench_register"), zdir, str(n), str(capacity)])
            theirs = Worker([mosn, mdir, str(n), str(capacity)])
            got: Dict[str, List[float]] = {k: [] for k in ("existing", "existing_open", "new", "join", "held_ref")}
            mosn_got: Dict[str, List[float]] = {k: [] for k in ("existing", "new", "held_ref")}
            ratio: Dict[str, List[float]] = {k: [] for k in ("existing", "existing_open", "new", "join", "held_ref")}
            for rnd in range(s.registration_rounds):
                pair = (ours, theirs) if rnd % 2 == 0 else (theirs, ours)
                for cmd, count in (("existing", b_look), ("new", b_new), ("held_ref", b_look)):
                    answers = {w: w.ask(cmd, count) for w in pair}
                    mine, other = answers[ours], answers[theirs][0]
                    got[cmd].append(mine[0])
                    mosn_got[cmd].append(other)
                    ratio[cmd].append(mine[0] / other)
                    if cmd == "existing":
                        got["existing_open"].append(mine[1])
                        ratio["existing_open"].append(mine[1] / other)
                join = ours.ask("join", b_join)[0]
                got["join"].append(join)
                ratio["join"].append(join / mosn_got["existing"][-1])
            ours.close()
            theirs.close()
            shutil.rmtree(zdir, ignore_errors=True)
            shutil.rmtree(mdir, ignore_errors=True)
            label = f"{n:,}"
            me, th = median(mosn_got["existing"]), median(mosn_got["new"])
            self.row("registration", f"get-or-register an existing name this process holds, zone of {label}: `shm_counter_open` + `shm_counter_close`",
                     fmt_ns(median(got["existing"])), f"MOSN: {fmt_ns(me)}", median(ratio["existing"]), "<= 0.33x MOSN", 0.33)
            self.row("registration", f"the same, `shm_counter_open` alone ({label})",
                     fmt_ns(median(got["existing_open"])), f"MOSN: {fmt_ns(me)}", median(ratio["existing_open"]), "(context)", None)
            self.row("registration", f"the same through `shm_zone_register` (the Go binding's call; {label})",
                     fmt_ns(median(got["held_ref"])), f"MOSN: {fmt_ns(median(mosn_got['held_ref']))}", median(ratio["held_ref"]), "(context)", None)
            self.row("registration", f"register a new name, zone of {label}: `shm_counter_open`",
                     fmt_ns(median(got["new"])), f"MOSN: {fmt_ns(th)}", median(ratio["new"]), "<= 0.5x MOSN", 0.5)
            self.row("registration", f"join a name another attachment registered ({label}): `shm_counter_open`",
                     fmt_ns(median(got["join"])), f"MOSN existing: {fmt_ns(me)}", median(ratio["join"]), "(information)", None)

    # ---- 3b. instruction counts (load-independent) -----------------------------------------
    def callgrind(self) -> None:
        if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
            self.notes.append("callgrind: valgrind not installed, instruction counts skipped")
            return
        n = self.sizes.callgrind_metrics
        b = max(n // 10, 10)
        zdir = os.path.join(self.dir, "callgrind")
        os.mkdir(zdir)
        out = os.path.join(zdir, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--toggle-collect=measured_*",
               self.c("bench_register"), zdir, str(n), str(n + 4 * b)]
        log(f"callgrind: {n} metrics, {b} of each operation (load {load()})")
        script = "".join(f"{c} {b}\n" for c in ("existing", "new", "join", "held_ref")) + "quit 0\n"
        p = subprocess.run(cmd, input=script, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"bench: callgrind run failed:\n{p.stderr[-4000:]}")
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True, text=True).stdout
        ir: Dict[str, int] = {}
        for line in ann.splitlines():
            m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*:?(measured_\w+)", line) or re.match(r"\s*([\d,]+)\s+\S*:?(measured_\w+)", line)
            if m:
                ir[m.group(2)] = int(m.group(1).replace(",", ""))
        if "measured_new" not in ir:
            raise SystemExit(f"bench: no measured_* functions in callgrind's output:\n{ann[:3000]}")
        per = {k.replace("measured_", ""): v / b for k, v in ir.items()}
        where = f"zone of {n:,}, {b:,} calls each"
        for key, label in (("existing_open", "`shm_counter_open` of a name this process holds"),
                           ("existing_close", "`shm_counter_close`"),
                           ("held_ref", "`shm_zone_register` of a name this process holds"),
                           ("join", "`shm_counter_open` joining a name another attachment registered"),
                           ("new", "`shm_counter_open` of a new name")):
            self.row("callgrind", f"{label} ({where}): instructions per call (callgrind, load-independent)",
                     f"{per.get(key, float('nan')):,.0f} instr", "", None, "(where the time goes)", None)
        shutil.rmtree(zdir, ignore_errors=True)

    # ---- 4. attach and create --------------------------------------------------------------
    def open_case(self, mode: str, path: str, arg: str) -> Dict[str, float]:
        return {k: float(v) for k, v in run([self.c("bench_zone"), mode, path, arg]).items()}

    def attach(self) -> None:
        s = self.sizes
        big, small = os.path.join(self.dir, "big.zone"), os.path.join(self.dir, "small.zone")
        acc: Dict[str, List[Dict[str, float]]] = {}
        log(f"attach/create: {s.big_zone} and {s.small_zone} bytes (load {load()})")
        for rnd in range(s.open_rounds):
            order = ((big, s.big_zone, "big"), (small, s.small_zone, "small"))
            for path, size, tag in order if rnd % 2 == 0 else order[::-1]:
                acc.setdefault(f"create.{tag}", []).append(self.open_case("create", path, str(size)))
                for how in ("rw", "ro"):
                    acc.setdefault(f"attach_{how}.{tag}", []).append(self.open_case("attach", path, how))
        run([self.c("bench_zone"), "fill", big, str(s.big_zone), str(s.used)])
        for _ in range(s.open_rounds):
            for how in ("rw", "ro"):
                acc.setdefault(f"attach_{how}.used", []).append(self.open_case("attach", big, how))
        os.unlink(big)
        os.unlink(small)

        def med(case: str, key: str) -> float:
            return median([r[key] for r in acc[case]])

        cap = int(med("create.big", "create.capacity"))
        size = f"{s.big_zone / GIB:g} GiB" if s.big_zone >= GIB else f"{s.big_zone / MIB:g} MiB"
        small_size = f"{s.small_zone / MIB:g} MiB"
        for how, key, label in (("rw", "attach", "attach for writing"), ("ro", "attach_ro", "read-only (monitor) attach")):
            b, sm = med(f"attach_{how}.big", f"{key}.cpu_us"), med(f"attach_{how}.small", f"{key}.cpu_us")
            self.row("attach", f"{label} to a {size} zone ({cap:,} entries), empty: CPU time",
                     f"{b:.0f} us CPU, {med(f'attach_{how}.big', f'{key}.wall_us'):.0f} us wall", f"{small_size} zone: {sm:.0f} us CPU", b / sm, "O(1) in capacity: about 1x", None)
            rss = med(f"attach_{how}.big", f"{key}.rss_kib")
            self.row("attach", f"{label}, {size} zone, empty: RSS added by the attach (VmRSS; RssShmem +{med(f'attach_{how}.big', f'{key}.shmem_kib'):.0f} KiB)",
                     f"{rss:.0f} KiB", f"{small_size} zone: {med(f'attach_{how}.small', f'{key}.rss_kib'):.0f} KiB", rss / 1024, "<= 1 MiB + used", 1.0)
            u = med(f"attach_{how}.used", f"{key}.cpu_us")
            self.row("attach", f"{label}, {size} zone holding {s.used:,} metrics: CPU time",
                     f"{u:.0f} us CPU", f"{small_size} zone, empty: {sm:.0f} us CPU", u / sm, "O(1): about 1x", None)
            rss_u = med(f"attach_{how}.used", f"{key}.rss_kib")
            self.row("attach", f"{label}, {size} zone holding {s.used:,} metrics: RSS added (RssShmem +{med(f'attach_{how}.used', f'{key}.shmem_kib'):.0f} KiB)",
                     f"{rss_u:.0f} KiB", "", rss_u / 1024, "<= 1 MiB + used", 1.0)
        cb, cs = med("create.big", "create.cpu_us"), med("create.small", "create.cpu_us")
        self.row("attach", f"create a {size} zone: CPU time (wall {med('create.big', 'create.wall_us') / 1e3:.1f} ms)",
                 f"{cb / 1e3:.2f} ms CPU", f"{small_size}: {cs / 1e3:.2f} ms CPU", cb / cs, "only header and used pages: about 1x", None)
        rss_c = med("create.big", "create.rss_kib")
        self.row("attach", f"create a {size} zone: RSS added (RssShmem +{med('create.big', 'create.shmem_kib'):.0f} KiB), file blocks allocated {med('create.big', 'create.file_alloc_kib'):.0f} KiB",
                 f"{rss_c:.0f} KiB", f"{small_size}: {med('create.small', 'create.rss_kib'):.0f} KiB", rss_c / 1024, "<= 1 MiB", 1.0)

    # ---- 5. and 6. scans and bulk reads ----------------------------------------------------
    def scan(self) -> None:
        s = self.sizes
        big, fit = os.path.join(self.dir, "scan-big.zone"), os.path.join(self.dir, "scan-fit.zone")
        log(f"scan: {s.used} metrics in {s.big_zone} bytes and in a zone just big enough (load {load()})")
        run([self.c("bench_zone"), "fill", big, str(s.big_zone), str(s.used)])
        fitted = run([self.c("bench_zone"), "fill", fit, str(s.used * 520 + 64 * KIB), str(s.used)])
        acc: Dict[str, List[Dict[str, float]]] = {"big": [], "fit": []}
        py: List[Dict[str, str]] = []
        alt: List[Dict[str, str]] = []
        alt_env = dict(os.environ, PYTHONPATH=self.args.python_path, SHMMETRICS_LIB=self.args.lib)
        for rnd in range(s.scan_rounds):
            for tag, path in (("big", big), ("fit", fit)) if rnd % 2 == 0 else (("fit", fit), ("big", big)):
                acc[tag].append({k: float(v) for k, v in run([self.c("bench_zone"), "scan", path, "3"]).items() if not v.isalpha()})
            if self.args.python:
                py.append(run([self.args.python, os.path.join(TOP, "bench", "python_list.py"), big, "3"]))
                if self.args.python_path:
                    alt.append(run([self.args.python, os.path.join(TOP, "bench", "python_list.py"), big, "3"], env=alt_env))
        os.unlink(big)
        os.unlink(fit)

        def med(tag: str, key: str) -> float:
            return median([r[key] for r in acc[tag]])

        cap, fcap = int(med("big", "scan.capacity")), int(fitted["fill.capacity"])
        where = f"{s.used:,} used of {cap:,}"
        for key, label, unit in (("stats_us", "`shm_zone_stats`", "us"), ("info_us", "`shm_zone_info`", "us"),
                                 ("read_ms", "iteration, `shm_zone_read` (all rows)", "ms"), ("next_ms", "iteration, `shm_zone_next` (all)", "ms")):
            b, f = med("big", f"scan.{key}"), med("fit", f"scan.{key}")
            self.row("scan", f"{label}, {where}", f"{b:.2f} {unit}", f"zone of {fcap:,}: {f:.2f} {unit}", b / f, "proportional to used: about 1x", None)
        read, text = med("big", "scan.read_ms"), med("big", "scan.text_ms")
        scale = 100_000 / s.used
        self.row("bulk", f"C: `shm_zone_read` + snprintf of each row to Prometheus text, {s.used:,} metrics",
                 f"{text:.1f} ms", "C loop with snprintf: 36 ms (issue's anchor for 100k)", text * scale / 36, "(anchor)", None)
        self.row("bulk", f"C: `shm_zone_read` of {s.used:,} metrics, no formatting", f"{read:.1f} ms", f"read + snprintf: {text:.1f} ms", read / text, "(context)", None)
        if py:
            lst = median([float(r["python.list_ms"]) for r in py])
            prom = median([float(r["python.prometheus_ms"]) for r in py])
            via = py[0].get("python.iterates_with", "?")
            self.row("bulk", f"Python `list(zone)` of {s.used:,} metrics (binding iterates with `{via}`)", f"{lst:.1f} ms",
                     "target 60 ms for 100k", lst * scale / 60, "<= 60 ms: <= 1x", 1.0)
            if alt:
                a = median([float(r["python.list_ms"]) for r in alt])
                self.row("bulk", f"Python `list(zone)` of {s.used:,} metrics, binding from {self.args.python_path} (iterates with `{alt[0].get('python.iterates_with', '?')}`)",
                         f"{a:.1f} ms", "target 60 ms for 100k", a * scale / 60, "<= 60 ms: <= 1x", 1.0)
            self.row("bulk", f"Python `list(zone)` vs the C `shm_zone_read` loop ({s.used:,})", f"{lst:.1f} ms", f"C: {read:.1f} ms", lst / read, "(context)", None)
            self.row("bulk", f"Python Prometheus text (`ZoneCollector` + `generate_latest`), {s.used:,} metrics", f"{prom:.1f} ms",
                     f"C read + snprintf: {text:.1f} ms", prom / text, "(issue: 1.4 s, 28x over)", None)
        else:
            self.notes.append("Python: no --python interpreter given, Python rows skipped")

    # ---- 7. fork -----------------------------------------------------------------------------
    def fork(self) -> None:
        s = self.sizes
        log(f"fork: plain, plain with ballast, zone with 0 and {s.fork_held} held (load {load()})")
        zone = self.c("bench_zone")
        plain = Worker([zone, "forker", "-", "0", "0"])
        z0 = Worker([zone, "forker", os.path.join(self.dir, "fork0.zone"), "0", "0"])
        zn = Worker([zone, "forker", os.path.join(self.dir, "forkn.zone"), str(s.fork_held), "0"])
        anon = lambda w: int(w.ready.split()[1])  # noqa: E731
        ballast_kib = max(anon(zn) - anon(plain), 0)
        heavy = Worker([zone, "forker", "-", "0", str(ballast_kib)])
        workers = {"plain": plain, "ballast": heavy, "zone0": z0, "zoneN": zn}
        call: Dict[str, List[float]] = {k: [] for k in workers}
        whole: Dict[str, List[float]] = {k: [] for k in workers}
        stopped: List[float] = []
        names = list(workers)
        for rnd in range(s.fork_rounds):
            for k in names if rnd % 2 == 0 else names[::-1]:
                c, w = workers[k].ask("fork", s.forks_per_round)
                call[k].append(c)
                whole[k].append(w)
            if rnd < 3:
                stopped.append(z0.ask("stopped", s.forks_per_round)[0])
        for w in workers.values():
            w.close()
        p, b = median(call["plain"]), median(call["ballast"])
        for key, label in (("zone0", "0 metrics held"), ("zoneN", f"{s.fork_held:,} metrics held")):
            z = median(call[key])
            self.row("fork", f"`fork()` call in the parent, zone open with {label}: extra over a plain fork",
                     f"{z:.0f} us ({z - p:+.0f} us)", f"plain fork: {p:.0f} us", z / p, "<= plain + 50 us", None)
            self.rows[-1].met = z - p <= 50
        zn_call = median(call["zoneN"])
        self.row("fork", f"`fork()` call, {s.fork_held:,} held, vs a plain fork of a process with as much private memory ({ballast_kib:,} KiB)",
                 f"{zn_call:.0f} us ({zn_call - b:+.0f} us)", f"plain fork, same memory: {b:.0f} us", zn_call / b, "<= plain + 50 us", None)
        self.rows[-1].met = zn_call - b <= 50
        for key, base, label in (("zone0", "plain", "0 held, vs plain"), ("zoneN", "ballast", f"{s.fork_held:,} held, vs plain with as much memory")):
            self.row("fork", f"fork + waitpid of a child that `_exit`s, zone open, {label}",
                     f"{median(whole[key]):.0f} us", f"{base}: {median(whole[base]):.0f} us", median(whole[key]) / median(whole[base]), "(context)", None)
        st, free = median(stopped), median(call["zone0"])
        self.row("fork", "`fork()` call, zone open, while another process sits SIGSTOPped holding the zone's registration lock",
                 f"{st:.0f} us ({st - free:+.0f} us)", f"the same process, lock free: {free:.0f} us", st / free, "never blocks: <= lock free + 50 us", None)
        self.rows[-1].met = st - free <= 50

    # ---- report ----------------------------------------------------------------------------
    def report(self, started: str, took: float) -> str:
        lines = [
            f"shmmetrics core benchmarks ({'smoke: tiny sizes, figures meaningless' if self.args.smoke else 'full'})",
            f"machine: {cpu_model()}, {os.cpu_count()} cpus, Linux {platform.release()}; load average {started} at the start, {load()} at the end; {took:.0f} s",
            "",
            "| section | what | today | baseline / anchor | ratio | target | met? |",
            "|---|---|---:|---|---:|---|---|",
        ]
        for r in self.rows:
            met = "" if r.met is None else ("yes" if r.met else "**no**")
            lines.append(f"| {r.section} | {r.what} | {r.today} | {r.anchor} | {fmt_ratio(r.ratio)} | {r.target} | {met} |")
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="everything once at tiny sizes (make test)")
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--bin", default=os.path.join(TOP, "build", "bench"), help="where the C workers are")
    ap.add_argument("--mosn", default=os.path.join(TOP, "build", "bench", "mosn", "mosnbench"), help="MOSN's worker")
    ap.add_argument("--python", default="", help="a Python with the shmmetrics binding installed")
    ap.add_argument("--python-path", default="", help="also time list(zone) with the binding in this directory (PYTHONPATH), e.g. another branch's bindings/python")
    ap.add_argument("--lib", default=os.path.join(TOP, "target", "release", "libshmmetrics.so"), help="the library --python-path's binding loads")
    ap.add_argument("--markdown", default="", help="also write the table to this file")
    args = ap.parse_args(argv)
    only = [x for x in args.only.split(",") if x] or list(SECTIONS)
    for x in only:
        if x not in SECTIONS:
            ap.error(f"unknown section {x!r} (sections: {', '.join(SECTIONS)})")
    bench = Bench(args)
    started, t0 = load(), time.monotonic()
    try:
        for section in SECTIONS:
            if section in only:
                getattr(bench, section)()
    finally:
        shutil.rmtree(bench.dir, ignore_errors=True)
    text = bench.report(started, time.monotonic() - t0)
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
