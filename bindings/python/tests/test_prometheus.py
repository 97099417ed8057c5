"""shmmetrics.prometheus.ZoneCollector: exposition parsed back with prometheus_client's parser."""

from __future__ import annotations

import multiprocessing as mp
from typing import Dict, Tuple

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import shmmetrics  # noqa: E402
from shmmetrics.prometheus import (  # noqa: E402
    ZoneCollector,
    exposition_name,
    parse_name,
    sanitize_label_name,
    sanitize_metric_name,
)

Kind = shmmetrics.Kind


def scrape(registry: CollectorRegistry) -> Dict[str, Tuple[str, Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]]]:
    """{family: (type, {(sample name, sorted labels): value})} from generate_latest's text."""
    text = generate_latest(registry).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples}
        assert len(samples) == len(fam.samples), f"duplicate samples in {fam.name}"
        out[fam.name] = (fam.type, samples)
    return out


def test_every_metric_with_the_right_type(zone: shmmetrics.Zone) -> None:
    zone.counter('http_requests_total{method="GET",code="200"}').inc(3)
    zone.counter('http_requests_total{method="POST",code="500"}').inc()
    zone.counter("jobs").inc(2)
    zone.gauge("workers").set(4)
    zone.gauge_float('temperature_celsius{room="lab"}').set(21.5)
    zone.gauge_float('temperature_celsius{room="hall"}').set(-3.25)
    registry = CollectorRegistry()
    collector = ZoneCollector(zone, registry=registry)
    got = scrape(registry)
    assert got == {
        "http_requests": (
            "counter",
            {
                ("http_requests_total", (("code", "200"), ("method", "GET"))): 3.0,
                ("http_requests_total", (("code", "500"), ("method", "POST"))): 1.0,
            },
        ),
        "jobs": ("counter", {("jobs_total", ()): 2.0}),
        "workers": ("gauge", {("workers", ()): 4.0}),
        "temperature_celsius": (
            "gauge",
            {
                ("temperature_celsius", (("room", "hall"),)): -3.25,
                ("temperature_celsius", (("room", "lab"),)): 21.5,
            },
        ),
    }
    assert collector.skipped == []
    text = generate_latest(registry).decode()
    assert "# TYPE http_requests_total counter" in text and "# TYPE workers gauge" in text


def test_values_are_read_at_each_scrape(zone: shmmetrics.Zone) -> None:
    c = zone.counter("live_total")
    registry = CollectorRegistry()
    registry.register(ZoneCollector(zone))
    assert scrape(registry)["live"][1] == {("live_total", ()): 0.0}
    c.inc(5)
    zone.gauge("appeared").set(1)
    got = scrape(registry)
    assert got["live"][1] == {("live_total", ()): 5.0} and "appeared" in got


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


def test_name_mapping_rules() -> None:
    assert sanitize_metric_name("db.query-time") == "db_query_time"
    assert sanitize_metric_name("9lives") == "_9lives"
    assert sanitize_metric_name("ns:sub") == "ns:sub"
    assert sanitize_metric_name("") == "_"
    assert sanitize_label_name("a.b") == "a_b"
    assert sanitize_label_name("0x") == "_0x"
    assert sanitize_label_name("__name__") == "shm__name__"
    assert sanitize_label_name("a:b") == "a_b"  # colons are for metric names only
    assert parse_name('m{a="1",b="x,y"}') == ("m", {"a": "1", "b": "x,y"})
    assert parse_name('m{a="q\\"uote",b="back\\\\slash",c="new\\nline"}') == (
        "m",
        {"a": 'q"uote', "b": "back\\slash", "c": "new\nline"},
    )
    assert parse_name('m{ a = "1" , }') == ("m", {"a": "1"})
    assert parse_name("m{}") == ("m", {})
    for broken in ("m{a=1}", 'm{a="1"', 'm{a="1"}x', '{a="1"}', 'm{a="1",a="2"}', 'm{a="1" b="2"}'):
        assert parse_name(broken) == (broken, {}), broken
    assert exposition_name("requests_total", Kind.COUNTER) == ("requests", {})
    assert exposition_name("requests", Kind.COUNTER) == ("requests", {})
    assert exposition_name("queue_total", Kind.GAUGE) == ("queue_total", {})
    assert exposition_name('a.b{x.y="1"}', Kind.GAUGE_FLOAT, "app") == ("app_a_b", {"x_y": "1"})
    assert exposition_name("m{a=1}", Kind.GAUGE) == ("m_a_1_", {})


def test_sanitized_and_unparseable_names_are_exposed(zone: shmmetrics.Zone) -> None:
    zone.counter("db.queries").inc(7)
    zone.gauge("bad{x=1}").set(2)
    zone.gauge_float('9lives{0x="1",__a="2"}').set(0.5)
    registry = CollectorRegistry()
    ZoneCollector(zone, registry=registry)
    got = scrape(registry)
    assert got["db_queries"] == ("counter", {("db_queries_total", ()): 7.0})
    assert got["bad_x_1_"] == ("gauge", {("bad_x_1_", ()): 2.0})
    assert got["_9lives"] == ("gauge", {("_9lives", (("_0x", "1"), ("shm__a", "2"))): 0.5})


def test_clashing_names_are_skipped_deterministically(zone: shmmetrics.Zone) -> None:
    zone.counter("a.b").inc(1)
    zone.counter("a_b").inc(2)  # same family and labels after sanitizing: "a.b" sorts first
    zone.counter("foo").inc(3)
    zone.gauge("foo_total").set(4)  # its sample name is the counter's "foo_total"
    zone.gauge("g").set(5)
    zone.counter("g_total").inc(6)  # counter family "g" clashes with the gauge "g"
    zone.gauge('h{l="1"}').set(7)
    zone.gauge_float('h{l="2"}').set(8.5)  # integer and float gauges share a family
    registry = CollectorRegistry()
    collector = ZoneCollector(zone, registry=registry)
    got = scrape(registry)
    assert got["a_b"] == ("counter", {("a_b_total", ()): 1.0})
    assert got["foo"] == ("counter", {("foo_total", ()): 3.0})
    assert got["g"] == ("gauge", {("g", ()): 5.0})
    assert got["h"] == ("gauge", {("h", (("l", "1"),)): 7.0, ("h", (("l", "2"),)): 8.5})
    assert sorted(collector.skipped) == ["a_b", "foo_total", "g_total"]


def test_namespace_and_documentation(zone: shmmetrics.Zone) -> None:
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
