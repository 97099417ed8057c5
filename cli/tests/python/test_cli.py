"""The `shmmetrics` command seen from outside, with real clients (make cli-test):

* its Prometheus and OpenMetrics output parsed by prometheus_client's parsers, for every zone
  of tests/vectors/exposition.json (written with the Python binding) and the golden files;
* `serve` scraped by urllib from several threads while writer processes count;
* `serve` scraped by a real Prometheus server, whose query API must return the zone's values
  with their labels.

SHMMETRICS_BIN is the command; PROMETHEUS the server binary (found on PATH otherwise).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

import shmmetrics

REPO = Path(__file__).resolve().parents[3]
BIN = os.environ.get("SHMMETRICS_BIN", str(REPO / "target/release/shmmetrics"))
VECTORS = json.loads((REPO / "tests/vectors/exposition.json").read_text())
GOLDEN = REPO / "cli/tests/golden"
PROM_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def write_zone(path: Path, metrics: List[dict]) -> None:
    with shmmetrics.Zone(path=str(path), size=1 << 20) as z:
        for m in metrics:
            if m["kind"] == "counter":
                h = z.counter(m["name"])
                h.inc(m["value"]) if m["value"] >= 0 else h.dec(-m["value"])
            elif m["kind"] == "gauge":
                h = z.gauge(m["name"])
                h.set(m["value"])
            else:
                h = z.gauge_float(m["name"])
                h.set(m["value"])
            h.close()


def dump(path: Path, *args: str) -> str:
    out = subprocess.run([BIN, "dump", str(path), *args], check=True, capture_output=True, text=True)
    return out.stdout


def families(parsed: Iterator) -> Dict[str, dict]:
    return {
        f.name: {"type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
        for f in parsed
    }


@pytest.mark.parametrize("case", VECTORS["zones"], ids=[c["what"] for c in VECTORS["zones"]])
@pytest.mark.parametrize("fmt", ["prometheus", "openmetrics"])
def test_exposition_parses_to_the_vectors(tmp_path: Path, case: dict, fmt: str) -> None:
    zone = tmp_path / "zone"
    write_zone(zone, case["metrics"])
    args = ["--format", fmt] + (["--counters-as-gauges"] if case.get("counters_as_gauges") else [])
    text = dump(zone, *args)
    parse = parse_prometheus if fmt == "prometheus" else parse_openmetrics
    got = families(parse(text))
    want = case["families"]
    assert sorted(got) == sorted(want)
    for name, fam in want.items():
        assert got[name]["type"] == fam["type"], name
        assert got[name]["samples"] == fam["samples"], name


@pytest.mark.parametrize("name", ["dump.prom", "dump-counters-as-gauges.prom", "dump.om"])
def test_golden_files_parse(name: str) -> None:
    text = (GOLDEN / name).read_text()
    parsed = list((parse_openmetrics if name.endswith(".om") else parse_prometheus)(text))
    assert len(parsed) >= 6
    samples = {s.name: s for f in parsed for s in f.samples}
    assert samples["db_query_time" if "as-gauges" not in name else "app_db_query_time"].labels == {"q": 'say "hi"\\now'}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([BIN, "serve", *args, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert line.startswith("shmmetrics serve: listening on http://"), line
        self.url = line.split("listening on ", 1)[1].strip()
        self.host_port = self.url.split("//", 1)[1].split("/", 1)[0]

    def get(self, accept: str = "*/*") -> Tuple[str, str]:
        req = urllib.request.Request(self.url, headers={"Accept": accept})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.headers["Content-Type"], r.read().decode()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=10) == 0


def count(zone_path: str, n: int) -> None:
    with shmmetrics.Zone(path=zone_path) as z:
        c = z.counter('hits_total{worker="shared"}')
        for _ in range(n):
            c.inc()
            if _ % 1000 == 0:
                time.sleep(0.001)
        c.close()


def test_concurrent_scrapes_while_writers_count(tmp_path: Path) -> None:
    zone = tmp_path / "shmmetrics-busy"
    write_zone(zone, [{"name": "temperature{room=\"lab\"}", "kind": "gauge_f64", "value": 21.5}])
    server = Serve(str(zone))
    writers = [mp.get_context("fork").Process(target=count, args=(str(zone), 200_000)) for _ in range(2)]
    for w in writers:
        w.start()
    errors: List[str] = []
    seen: List[float] = []

    def scraper(openmetrics: bool) -> None:
        last = -1.0
        for _ in range(25):
            ctype, body = server.get(PROM_ACCEPT if openmetrics else "*/*")
            parsed = families((parse_openmetrics if openmetrics else parse_prometheus)(body))
            if openmetrics != ctype.startswith("application/openmetrics-text"):
                errors.append(f"content type {ctype}")
            hits = [s["value"] for s in parsed.get("hits", {"samples": []})["samples"] if s["name"] == "hits_total"]
            value = hits[0] if hits else 0.0
            if value < last:
                errors.append(f"counter went back: {last} -> {value}")
            last = value
            seen.append(value)
            if parsed["temperature"]["samples"][0]["value"] != 21.5:
                errors.append("gauge")

    threads = [threading.Thread(target=scraper, args=(i % 2 == 1,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert not errors, errors[:5]
    assert len(seen) == 200
    _, body = server.get()
    final = {s.name: s.value for f in parse_prometheus(body) for s in f.samples}
    assert final["hits_total"] == 400_000
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.url.replace("/metrics", "/other"), timeout=10)
    assert e.value.code == 404
    server.stop()


def query(base: str, promql: str) -> List[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as r:
        answer = json.loads(r.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_a_real_prometheus_server_scrapes_the_zone(tmp_path: Path) -> None:
    prometheus = os.environ.get("PROMETHEUS") or shutil.which("prometheus")
    if not prometheus:
        pytest.skip("no prometheus binary (make cli-test installs Debian's package when apt-get is available)")
    zones = tmp_path / "zones"
    zones.mkdir()
    write_zone(zones / "shmmetrics-web", [
        {"name": 'http_requests_total{method="GET",code="200"}', "kind": "counter", "value": 1234},
        {"name": 'temperature_celsius{room="lab"}', "kind": "gauge_f64", "value": 21.5},
    ])
    write_zone(zones / "shmmetrics-jobs", [{"name": "jobs_done", "kind": "counter", "value": 7}])
    server = Serve("--dir", str(zones))
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: shmmetrics\n    static_configs:\n      - targets: ['{server.host_port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                up = query(base, 'up{job="shmmetrics"}')
                reqs = query(base, "http_requests_total")
                if up and reqs:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-3000:]
            time.sleep(0.5)
        assert up[0]["value"][1] == "1"
        (r,) = reqs
        assert r["metric"]["method"] == "GET" and r["metric"]["code"] == "200" and r["metric"]["zone"] == "web"
        assert float(r["value"][1]) == 1234
        (t,) = query(base, 'temperature_celsius{room="lab"}')
        assert float(t["value"][1]) == 21.5 and t["metric"]["zone"] == "web"
        (j,) = query(base, "jobs_done_total")
        assert float(j["value"][1]) == 7 and j["metric"]["zone"] == "jobs"
        used = {m["metric"]["zone"]: float(m["value"][1]) for m in query(base, "shmmetrics_zone_used")}
        assert used == {"web": 2, "jobs": 1}
        (d,) = query(base, "shmmetrics_scrape_duration_seconds")
        assert math.isfinite(float(d["value"][1]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        server.stop()


def test_a_negative_counter_keeps_openmetrics_valid(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    write_zone(zone, [{"name": "gone_below_zero", "kind": "counter", "value": -3}, {"name": "fine", "kind": "counter", "value": 3}])
    om = subprocess.run([BIN, "dump", str(zone), "--format", "openmetrics"], check=True, capture_output=True, text=True)
    assert "gone_below_zero" in om.stderr and "--counters-as-gauges" in om.stderr
    assert [s.name for f in parse_openmetrics(om.stdout) for s in f.samples] == ["fine_total"]
    text = families(parse_prometheus(dump(zone, "--format", "prometheus")))
    assert text["gone_below_zero"]["samples"][0]["value"] == -3
    gauges = families(parse_openmetrics(dump(zone, "--format", "openmetrics", "--counters-as-gauges")))
    assert gauges["gone_below_zero"]["samples"][0]["value"] == -3
