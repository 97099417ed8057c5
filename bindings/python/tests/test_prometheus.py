"""shmmetrics.prometheus.ZoneCollector: the shared mapping vectors (tests/vectors/exposition.json),
checked through a real CollectorRegistry, generate_latest and prometheus_client's parser."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from typing import Any, Dict, List, Tuple

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import shmmetrics  # noqa: E402
from shmmetrics.prometheus import (  # noqa: E402
    Exposition,
    ZoneCollector,
    exposition_name,
    parse_name,
    sanitize_label_name,
    sanitize_metric_name,
)

from conftest import repo_file  # noqa: E402

VECTORS_FILE = repo_file("SHMMETRICS_VECTORS", "tests/vectors") / "exposition.json"
if not VECTORS_FILE.is_file():
    if os.environ.get("SHMMETRICS_VECTORS"):
        raise RuntimeError(f"SHMMETRICS_VECTORS: {VECTORS_FILE} does not exist")
    pytest.skip(f"{VECTORS_FILE} not found", allow_module_level=True)
VECTORS: Dict[str, Any] = json.loads(VECTORS_FILE.read_text())

Kind = shmmetrics.Kind
Sample = Tuple[str, Tuple[Tuple[str, str], ...]]
Scraped = Dict[str, Tuple[str, Dict[Sample, float]]]


def kind_of(name: str) -> shmmetrics.Kind:
    """A vector's kind ("counter", "gauge", "gauge_f64"): the kind whose str() it is."""
    (kind,) = [k for k in Kind if str(k) == name]
    return kind


def scrape(registry: CollectorRegistry) -> Scraped:
    """{family: (type, {(sample name, sorted labels): value})} from generate_latest's text."""
    text = generate_latest(registry).decode()
    out: Scraped = {}
    for fam in text_string_to_metric_families(text):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples}
        assert len(samples) == len(fam.samples), f"duplicate samples in {fam.name}"
        assert fam.name not in out, f"family {fam.name} twice"
        out[fam.name] = (fam.type, samples)
    return out


def expected_families(families: Dict[str, Any]) -> Scraped:
    return {
        name: (f["type"], {(s["name"], tuple(sorted(s["labels"].items()))): float(s["value"]) for s in f["samples"]})
        for name, f in families.items()
    }


def fill(zone: shmmetrics.Zone, metrics: List[Dict[str, Any]]) -> None:
    for m in metrics:
        kind = kind_of(m["kind"])
        if kind is Kind.COUNTER:
            zone.counter(m["name"]).inc(m["value"])
        elif kind is Kind.GAUGE:
            zone.gauge(m["name"]).set(m["value"])
        else:
            zone.gauge_f64(m["name"]).set(m["value"])


# ---- the shared vectors ----------------------------------------------------------------------


def test_vectors_cover_every_section() -> None:
    assert set(VECTORS) == {"about", "sanitize_metric", "sanitize_label", "parse", "names", "zones"}
    assert all(VECTORS[k] for k in VECTORS)
    assert {str(k) for k in Kind} == {m["kind"] for z in VECTORS["zones"] for m in z["metrics"]}


@pytest.mark.parametrize("given, want", VECTORS["sanitize_metric"])
def test_sanitize_metric(given: str, want: str) -> None:
    assert sanitize_metric_name(given) == want


@pytest.mark.parametrize("given, want", VECTORS["sanitize_label"])
def test_sanitize_label(given: str, want: str) -> None:
    assert sanitize_label_name(given) == want


@pytest.mark.parametrize("case", VECTORS["parse"], ids=lambda c: c["name"])
def test_parse(case: Dict[str, Any]) -> None:
    assert parse_name(case["name"]) == (case["base"], case["labels"])


@pytest.mark.parametrize("case", VECTORS["names"], ids=lambda c: f'{c["name"]}-{c["kind"]}-{c.get("counters_as_gauges", False)}')
def test_names(case: Dict[str, Any]) -> None:
    got = exposition_name(case["name"], kind_of(case["kind"]), case.get("namespace", ""), case.get("counters_as_gauges", False))
    assert isinstance(got, Exposition)
    assert (got.family, got.sample, got.labels) == (case["family"], case["sample"], case["labels"])
    counter = case["kind"] == "counter" and not case.get("counters_as_gauges", False)
    assert got.type == ("counter" if counter else "gauge")


@pytest.mark.parametrize("case", VECTORS["zones"], ids=lambda c: c["what"])
def test_zones(zone: shmmetrics.Zone, case: Dict[str, Any]) -> None:
    fill(zone, case["metrics"])
    registry = CollectorRegistry()
    collector = ZoneCollector(zone, registry=registry, counters_as_gauges=case.get("counters_as_gauges", False))
    assert scrape(registry) == expected_families(case["families"])
    assert collector.skipped == case["skipped"]
    # Every family's # TYPE line says its type.
    text = generate_latest(registry).decode()
    for name, family in case["families"].items():
        typed = name + "_total" if family["type"] == "counter" else name
        assert f"# TYPE {typed} {family['type']}\n" in text


def test_namespace_reaches_the_exposition(zone: shmmetrics.Zone) -> None:
    named = [c for c in VECTORS["names"] if c.get("namespace")]
    assert named
    for case in named:
        fill(zone, [{"name": case["name"], "kind": case["kind"], "value": 1}])
    for case in named:
        registry = CollectorRegistry()
        ZoneCollector(zone, namespace=case["namespace"], registry=registry, counters_as_gauges=case.get("counters_as_gauges", False))
        got = scrape(registry)
        assert got[case["family"]][1][(case["sample"], tuple(sorted(case["labels"].items())))] == 1.0


# ---- behaviour beyond the mapping -----------------------------------------------------------


def test_values_are_read_at_each_scrape(zone: shmmetrics.Zone) -> None:
    c = zone.counter("live_total")
    registry = CollectorRegistry()
    registry.register(ZoneCollector(zone))
    assert scrape(registry)["live"][1] == {("live_total", ()): 0.0}
    c.inc(5)
    zone.gauge("appeared").set(1)
    got = scrape(registry)
    assert got["live"][1] == {("live_total", ()): 5.0} and "appeared" in got


def test_counters_as_gauges_may_go_down(zone: shmmetrics.Zone) -> None:
    c = zone.counter("queue_depth")
    c.inc(5)
    registry = CollectorRegistry()
    ZoneCollector(zone, registry=registry, counters_as_gauges=True)
    c.dec(7)
    assert scrape(registry) == {"queue_depth": ("gauge", {("queue_depth", ()): -2.0})}


def test_readonly_zone_and_other_processes(zone: shmmetrics.Zone) -> None:
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
    import _workers

    p = ctx.Process(target=_workers.inc_by_path, args=(zone.path, 'child_total{pid="x"}', 250))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    with shmmetrics.Zone(path=zone.path, readonly=True) as monitor:
        registry = CollectorRegistry()
        ZoneCollector(monitor, registry=registry)
        assert scrape(registry)["child"] == ("counter", {("child_total", (("pid", "x"),)): 250.0})


def test_documentation(zone: shmmetrics.Zone) -> None:
    zone.counter("requests").inc()
    registry = CollectorRegistry()
    ZoneCollector(zone, namespace="myapp", registry=registry, documentation="from the {kind} {name}")
    text = generate_latest(registry).decode()
    assert "# HELP myapp_requests_total from the counter myapp_requests" in text
    assert "myapp_requests_total 1.0" in text


def test_registry_rejects_duplicate_collectors(zone: shmmetrics.Zone) -> None:
    zone.counter("dup").inc()
    registry = CollectorRegistry(auto_describe=True)
    ZoneCollector(zone, registry=registry)
    with pytest.raises(ValueError):
        ZoneCollector(zone, registry=registry)


def test_empty_zone(zone: shmmetrics.Zone) -> None:
    registry = CollectorRegistry()
    ZoneCollector(zone, registry=registry)
    assert scrape(registry) == {}


def test_closed_zone_fails_the_scrape(zone: shmmetrics.Zone) -> None:
    zone.counter("x").inc()
    registry = CollectorRegistry()
    ZoneCollector(zone, registry=registry)
    zone.close()
    with pytest.raises(shmmetrics.ClosedError):
        generate_latest(registry)
