"""A ``prometheus_client`` collector that exposes every metric of a zone.

::

    from prometheus_client import CollectorRegistry, generate_latest
    from shmmetrics import Zone
    from shmmetrics.prometheus import ZoneCollector

    registry = CollectorRegistry()
    ZoneCollector(Zone("myapp", readonly=True), registry=registry)
    print(generate_latest(registry).decode())

Name mapping (zone name -> exposition), applied to every metric at each scrape; the rule is
shared with the ``shmmetrics`` command and the Go collector, and its test vectors are
``tests/vectors/exposition.json`` in the repository:

* A zone name may carry labels in Prometheus text syntax:
  ``http_requests_total{method="GET",code="200"}`` is the metric ``http_requests_total``
  with labels ``method="GET"`` and ``code="200"``. Label values use the exposition escapes
  ``\\\\``, ``\\"`` and ``\\n``. A name whose label part does not parse is taken whole, as a
  name without labels (and sanitized as below).
* Metric and label names are sanitized to the classic Prometheus character sets: every
  character outside ``[a-zA-Z0-9_:]`` (``[a-zA-Z0-9_]`` for labels) becomes ``_`` (so
  ``db.query-time`` becomes ``db_query_time``), and a name starting with a digit gets a
  leading ``_``. Label names starting with ``__`` (reserved) get a ``shm`` prefix
  (``__x`` becomes ``shm__x``).
* ``namespace="app"`` prefixes every family: ``app_<name>``.
* Counters are counter families; prometheus_client's convention applies: the family name
  loses a trailing ``_total`` and the sample is written ``<family>_total``. So the counter
  ``requests`` and the counter ``requests_total`` both expose ``requests_total``.
* With ``counters_as_gauges=True`` counters are exposed exactly like gauges (go-metrics
  counters may go down, and a Prometheus counter must not): family and sample are the
  sanitized name, no ``_total`` handling.
* Integer and float gauges are gauge families named as sanitized.
* Metrics whose names map to the same family and type are grouped (one ``# TYPE`` line,
  one sample per label set). Two zone names mapping to the same family and label set, or to
  one family or sample name with different types, cannot both be exposed: the first in name
  order wins and the others are skipped (listed in :attr:`ZoneCollector.skipped` and logged
  at debug level).
"""

from __future__ import annotations

import logging
import re
from operator import attrgetter
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Set, Tuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ._metrics import Kind
from ._zone import MetricInfo, Zone

try:  # prometheus_client >= 0.14
    from prometheus_client.registry import CollectorRegistry
except ImportError:  # pragma: no cover
    CollectorRegistry = object  # type: ignore[misc,assignment]

log = logging.getLogger(__name__)
_by_name = attrgetter("name")

_BAD_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_LABEL_PAIR = re.compile(r'\s*([^=\s,{}"]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_UNESCAPE = {"n": "\n", "\\": "\\", '"': '"'}


def sanitize_metric_name(name: str) -> str:
    """A valid classic Prometheus metric name for ``name`` (see the module docstring)."""
    name = _BAD_NAME_CHAR.sub("_", name)
    if not name or name[0].isdigit():
        name = "_" + name
    return name


def sanitize_label_name(name: str) -> str:
    """A valid, non-reserved Prometheus label name for ``name``."""
    name = _BAD_LABEL_CHAR.sub("_", name)
    if not name or name[0].isdigit():
        name = "_" + name
    if name.startswith("__"):
        name = "shm" + name
    return name


def parse_name(name: str) -> Tuple[str, Dict[str, str]]:
    """Split a zone metric name into (base name, labels), without sanitizing.

    ``'http_requests_total{method="GET"}'`` gives ``('http_requests_total', {'method': 'GET'})``.
    A name whose label part does not parse comes back whole with no labels.
    """
    brace = name.find("{")
    if brace < 0 or not name.endswith("}"):
        return name, {}
    base, body = name[:brace], name[brace + 1 : -1]
    labels: Dict[str, str] = {}
    pos = 0
    body = body.rstrip()
    while pos < len(body):
        m = _LABEL_PAIR.match(body, pos)
        if m is None or m.end() == pos:
            return name, {}
        key, raw = m.group(1), m.group(2)
        if key in labels:
            return name, {}
        labels[key] = _ESCAPE.sub(lambda e: _UNESCAPE.get(e.group(1), "\\" + e.group(1)), raw)
        pos = m.end()
    if not base:
        return name, {}
    return base, labels


class Exposition(NamedTuple):
    """Where a zone metric goes in the exposition."""

    #: "counter" or "gauge".
    type: str
    #: The family name (for counters without ``_total``: the client adds it to the sample).
    family: str
    #: The sample's name: ``<family>_total`` for counters, the family name for gauges.
    sample: str
    #: Sanitized label names and their values.
    labels: Dict[str, str]


def exposition_name(name: str, kind: Kind, namespace: str = "", counters_as_gauges: bool = False) -> Exposition:
    """The type, family, sample name and labels a zone metric is exposed under."""
    base, labels = parse_name(name)
    family = sanitize_metric_name(f"{namespace}_{base}" if namespace else base)
    clean: Dict[str, str] = {}
    for key, value in labels.items():
        clean.setdefault(sanitize_label_name(key), value)
    if kind is not Kind.COUNTER or counters_as_gauges:
        return Exposition("gauge", family, family, clean)
    if family.endswith("_total") and family != "_total":  # a family name is never empty
        family = family[: -len("_total")]
    return Exposition("counter", family, family + "_total", clean)


class ZoneCollector:
    """Exposes every metric of a zone to prometheus_client, read at each scrape.

    Args:
        zone: an open :class:`~shmmetrics.Zone` (a read-only one is enough).
        namespace: optional prefix for every family name (``<namespace>_<name>``).
        registry: if given, the collector registers itself there (e.g.
            ``prometheus_client.REGISTRY``); otherwise call ``registry.register(collector)``.
        documentation: HELP text of every family (``{kind}`` and ``{name}`` are filled in).
        counters_as_gauges: expose counters as gauges (see the module docstring): use it when
            counters may go down (go-metrics ``Counter.Dec``/``Clear``), since Prometheus
            treats a counter that decreases as a restart and ``rate()`` jumps.

    Collecting iterates the zone without locks; each value is read atomically. The
    collector is not usable in prometheus_client's multiprocess mode (which ignores custom
    collectors); it does not need it, since the zone already merges processes.
    """

    def __init__(
        self,
        zone: Zone,
        namespace: str = "",
        registry: "Optional[CollectorRegistry]" = None,
        documentation: str = "shmmetrics {kind} {name}",
        counters_as_gauges: bool = False,
    ) -> None:
        self.zone = zone
        self.namespace = namespace
        self.documentation = documentation
        self.counters_as_gauges = counters_as_gauges
        #: Zone names skipped by the last collect() because of a name clash.
        self.skipped: List[str] = []
        if registry is not None:
            registry.register(self)

    def _families(self, metrics: Iterable[MetricInfo]) -> Iterator[Metric]:
        families: Dict[str, Metric] = {}
        seen: Dict[str, Set[Tuple[Tuple[str, str], ...]]] = {}
        claimed: Dict[str, str] = {}  # every name a family writes (family, samples) -> family
        skipped: List[str] = []
        for m in sorted(metrics, key=_by_name):
            type_, family, sample, labels = exposition_name(m.name, m.kind, self.namespace, self.counters_as_gauges)
            fam = families.get(family)
            if fam is None:
                names = {family, sample}
                if any(n in claimed for n in names):
                    skipped.append(m.name)
                    continue
                for n in names:
                    claimed[n] = family
                doc = self.documentation.format(kind=type_, name=family)
                fam = CounterMetricFamily(family, doc) if type_ == "counter" else GaugeMetricFamily(family, doc)
                families[family] = fam
                seen[family] = set()
            elif fam.type != type_:
                skipped.append(m.name)
                continue
            key = tuple(sorted(labels.items()))
            if key in seen[family]:
                skipped.append(m.name)
                continue
            seen[family].add(key)
            fam.add_sample(sample, labels, m.value)
        if skipped:
            log.debug("shmmetrics: skipped clashing metric names %s", skipped)
        self.skipped = skipped
        return iter(families.values())

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at each scrape: one family per exposed name."""
        return self._families(self.zone.metrics())


__all__ = ["ZoneCollector", "Exposition", "parse_name", "exposition_name", "sanitize_metric_name", "sanitize_label_name"]
