"""Reliability suite, issue 4 item 2: the Python process of the cross-language test.

    python3 xlang_worker.py ZONE_PATH ID N GATE_PATH

Same protocol as tests/reliability/c/xlang_worker.c, through the ctypes binding in
bindings/python (PYTHONPATH and SHMMETRICS_LIB are set by tests/reliability_xlang.rs), with
xl_by_python instead of xl_by_c.
"""

import os
import sys
import time

import shmmetrics


def main() -> int:
    zone_path, wid, n, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    zone = shmmetrics.Zone(path=zone_path, create=False)
    total = zone.counter("xl_total")
    mine = zone.counter("xl_by_python")
    gauge = zone.gauge("xl_gauge")
    f64 = zone.gauge_f64("xl_f64")
    with open(f"{gate}.ready.{wid}", "w"):
        pass
    deadline = time.monotonic() + 60
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            print("gate never opened", file=sys.stderr)
            return 3
        time.sleep(0.001)
    f64adds = last_gauge = 0
    t_inc, m_inc, g_set, f_add = total.inc, mine.inc, gauge.set, f64.add
    for i in range(1, n + 1):
        t_inc(1)
        m_inc(1)
        if i % 64 == 0:
            last_gauge = (wid << 40) | (i // 64)
            g_set(last_gauge)
            f_add(0.25)
            f64adds += 1
    print(f"done incs={n} f64adds={f64adds} last_gauge={last_gauge}", flush=True)
    for m in (total, mine, gauge, f64):
        m.close()
    zone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
