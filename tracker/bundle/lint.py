"""A dashboard lint with the rules of Grafana's dashboard-linter, plus a check of metric names.

Rules (named as in dashboard-linter, without its ``-rule`` suffix):

- ``template-datasource``: one ``datasource`` variable for Prometheus, named ``datasource``,
  labelled ``Data source``.
- ``template-job`` / ``template-instance``: a ``job`` / ``instance`` query variable on the
  templated datasource, labelled ``Job`` / ``Instance``, multi-select, with an All option
  whose value is ``.+``, refreshed when the time range changes.
- ``panel-datasource``: every panel, and every target that names one, uses the templated
  datasource.
- ``panel-title-description``: every panel has a title and a description.
- ``panel-units``: every panel has a known unit.
- ``panel-no-targets``: every panel has at least one query.
- ``target-promql``: every expression parses (``promql_parser``, after substituting
  Grafana's variables with placeholders of the right kind).
- ``target-rate-interval``: ``rate``/``irate`` read ``[$__rate_interval]``; ``increase``
  reads ``[$__rate_interval]``, or ``[$__range]`` for a whole-range total.
- ``target-job`` / ``target-instance``: every selector has ``job=~"$job"`` /
  ``instance=~"$instance"``.
- ``target-counter-agg``: a counter is only read through ``rate``, ``irate`` or ``increase``.
- ``target-metric-known`` (this project's): every selector names a metric the library
  exposes, or a series the bundle's recording rules write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import promql_parser as pp

from ..names import MetricNames
from .config import BundleConfig
from .rules import recorded_series

RULES = (
    "template-datasource",
    "template-job",
    "template-instance",
    "panel-datasource",
    "panel-title-description",
    "panel-units",
    "panel-no-targets",
    "target-promql",
    "target-rate-interval",
    "target-job",
    "target-instance",
    "target-counter-agg",
    "target-metric-known",
)

#: Panel types whose queries and display the rules inspect.
QUERY_PANEL_TYPES = frozenset({"stat", "singlestat", "graph", "table", "timeseries", "gauge", "bargauge"})
TEMPLATED_DATASOURCE_UIDS = frozenset({"$datasource", "${datasource}"})
RATE_FUNCTIONS = frozenset({"rate", "irate"})
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})

#: Grafana unit ids the lint accepts (a selection of Grafana's value formats).
VALID_UNITS = frozenset({
    "none", "short", "string", "locale", "sci", "hex", "hex0x", "percent", "percentunit",
    "bool", "bool_yes_no", "bool_on_off",
    "bytes", "decbytes", "bits", "decbits", "kbytes", "deckbytes", "mbytes", "decmbytes",
    "Bps", "bps", "binBps", "binbps", "pps",
    "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms",
    "clockms", "clocks", "timeticks", "hertz",
    "dateTimeAsIso", "dateTimeAsIsoNoDateIfToday", "dateTimeAsUS", "dateTimeAsUSNoDateIfToday",
    "dateTimeAsLocal", "dateTimeAsLocalNoDateIfToday", "dateTimeAsSystem", "dateTimeFromNow",
    "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm",
})

#: Grafana's custom units: ``suffix: errors`` shows "5 errors".
CUSTOM_UNIT_PREFIXES = ("suffix:", "prefix:", "count:", "si:", "time:", "currency:")


def known_unit(unit: object) -> bool:
    """A Grafana unit id the lint accepts, or a custom unit with some text after its kind."""
    if not isinstance(unit, str):
        return False
    if unit in VALID_UNITS:
        return True
    return any(unit.startswith(p) and unit[len(p):].strip() for p in CUSTOM_UNIT_PREFIXES)


# Placeholders for Grafana's variables: durations distinct enough to be mapped back.
_DURATION_GLOBALS = {"__rate_interval": 1_234_567, "__interval": 1_234_577, "__range": 1_234_589}
_NUMBER_GLOBALS = {"__range_s": "1234601", "__range_ms": "1234602000", "__interval_ms": "1234613000",
                   "__from": "1294671549254", "__to": "1294671549255"}
_STRING_GLOBALS = ("__dashboard", "__name", "__org", "__user", "__timeFilter", "timeFilter")
_VARIABLE_RE = re.compile(r"\$\{(\w+)(?:[:.][^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_STRING_PLACEHOLDER = "grafana_variable_{}"


@dataclass(frozen=True, order=True)
class Problem:
    """One lint finding."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass(frozen=True)
class _Expression:
    """A target's PromQL after variable substitution, and how to read placeholders back."""

    text: str
    node: Any
    durations: dict[float, str]  # placeholder seconds -> variable name
    strings: dict[str, str]  # placeholder -> variable name

    def variable_of_range(self, range_: timedelta) -> str | None:
        return self.durations.get(range_.total_seconds())

    def variable_of_value(self, value: str) -> str | None:
        return self.strings.get(value)


def _substitute(
    expr: str, variables: dict[str, str]
) -> tuple[str, dict[float, str], dict[str, str], list[str]]:
    """Replace every Grafana variable with a placeholder; returns the unknown variables too."""
    durations: dict[float, str] = {}
    strings: dict[str, str] = {}
    unknown: list[str] = []
    next_duration = iter(range(2_345_671, 2_400_000, 7))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in _DURATION_GLOBALS:
            seconds = _DURATION_GLOBALS[name]
        elif variables.get(name) == "interval":
            seconds = next(next_duration)
        elif name in _NUMBER_GLOBALS:
            return _NUMBER_GLOBALS[name]
        else:
            if name not in variables and not name.startswith(_STRING_GLOBALS):
                unknown.append(name)
            placeholder = _STRING_PLACEHOLDER.format(name)
            strings[placeholder] = name
            return placeholder
        durations[float(seconds)] = name
        return f"{seconds}s"

    return _VARIABLE_RE.sub(replace, expr), durations, strings, unknown


def _children(node: Any) -> list[Any]:
    if isinstance(node, pp.AggregateExpr):
        return [c for c in (node.param, node.expr) if c is not None]
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return [node.expr]
    return []


def _walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    yield node, parents
    for child in _children(node):
        yield from _walk(child, (*parents, node))


def _selectors(expression: _Expression) -> Iterator[tuple[pp.VectorSelector, tuple[Any, ...]]]:
    for node, parents in _walk(expression.node):
        if isinstance(node, pp.VectorSelector):
            yield node, parents


def _matchers(selector: pp.VectorSelector) -> list[Any]:
    found = list(selector.matchers.matchers)
    for group in selector.matchers.or_matchers or []:
        found.extend(group)
    return found


class _Linter:
    def __init__(self, dashboard: dict[str, Any], known_series: frozenset[str],
                 kind_of: Callable[[str], str | None]) -> None:
        self.dashboard = dashboard
        self.known_series = known_series
        self.kind_of = kind_of
        self.problems: list[Problem] = []
        self.variables = {
            t.get("name", ""): t.get("type", "")
            for t in dashboard.get("templating", {}).get("list", [])
        }

    def report(self, rule: str, where: str, message: str) -> None:
        self.problems.append(Problem(rule, where, message))

    # -- templates ---------------------------------------------------------------------------
    def templates(self) -> None:
        templates = self.dashboard.get("templating", {}).get("list", [])
        sources = [t for t in templates if t.get("type") == "datasource"]
        rule = "template-datasource"
        if len(sources) != 1:
            self.report(rule, "dashboard", f"needs exactly one datasource variable, has {len(sources)}")
        for source in sources:
            where = f"variable {source.get('name')!r}"
            if source.get("name") != "datasource":
                self.report(rule, where, "the datasource variable should be named 'datasource'")
            if source.get("label") != "Data source":
                self.report(rule, where, f"should be labelled 'Data source', is {source.get('label')!r}")
            if source.get("query") != "prometheus":
                self.report(rule, where,
                            f"should select Prometheus datasources, selects {source.get('query')!r}")
        for name in ("job", "instance"):
            self._query_template(templates, name)

    def _query_template(self, templates: list[dict[str, Any]], name: str) -> None:
        rule = f"template-{name}"
        found = [t for t in templates if t.get("name") == name]
        if not found:
            self.report(rule, "dashboard", f"is missing the {name!r} variable")
            return
        t = found[0]
        where = f"variable {name!r}"
        uid = (t.get("datasource") or {}).get("uid") if isinstance(t.get("datasource"), dict) \
            else t.get("datasource")
        if uid not in TEMPLATED_DATASOURCE_UIDS:
            self.report(rule, where, f"should query the templated datasource '${{datasource}}', uses {uid!r}")
        if t.get("type") != "query":
            self.report(rule, where, f"should be a query variable, is {t.get('type')!r}")
        if t.get("label") != name.title():
            self.report(rule, where, f"should be labelled {name.title()!r}, is {t.get('label')!r}")
        if not t.get("multi"):
            self.report(rule, where, "should be multi-select")
        if not t.get("includeAll"):
            self.report(rule, where, "should include an All option")
        if t.get("allValue") != ".+":
            self.report(rule, where, f"All should mean '.+', is {t.get('allValue')!r}")
        if t.get("refresh") != 2:
            self.report(rule, where, f"should refresh on time range change (2), is {t.get('refresh')!r}")

    # -- panels ------------------------------------------------------------------------------
    def panels(self) -> None:
        for panel in self._all_panels(self.dashboard.get("panels", [])):
            if panel.get("type") in QUERY_PANEL_TYPES:
                self.panel(panel)

    def _all_panels(self, panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from self._all_panels(panel.get("panels", []))

    def panel(self, panel: dict[str, Any]) -> None:
        where = f"panel {panel.get('title') or panel.get('id')!r}"
        uid = (panel.get("datasource") or {}).get("uid")
        if uid not in TEMPLATED_DATASOURCE_UIDS:
            self.report("panel-datasource", where, f"does not use the templated datasource, uses {uid!r}")
        if not str(panel.get("title", "")).strip():
            self.report("panel-title-description", where, "has no title")
        if not str(panel.get("description", "")).strip():
            self.report("panel-title-description", where, "has no description")
        field_config = panel.get("fieldConfig", {})
        defaults = field_config.get("defaults", {})
        if not defaults.get("mappings"):
            unit = defaults.get("unit")
            if not known_unit(unit):
                self.report("panel-units", where, f"has no or an unknown unit: {unit!r}")
        for override in field_config.get("overrides", []):
            for prop in override.get("properties", []):
                if prop.get("id") == "unit" and not known_unit(prop.get("value")):
                    self.report("panel-units", where,
                                f"overrides with an unknown unit: {prop.get('value')!r}")
        targets = [t for t in panel.get("targets", []) if str(t.get("expr", "")).strip()]
        if not targets:
            self.report("panel-no-targets", where, "has no queries")
        for target in panel.get("targets", []):
            self.target(where, target)

    # -- targets -----------------------------------------------------------------------------
    def target(self, panel_where: str, target: dict[str, Any]) -> None:
        where = f"{panel_where} target {target.get('refId', '?')}"
        source = target.get("datasource")
        if source is not None and (source or {}).get("uid") not in TEMPLATED_DATASOURCE_UIDS:
            self.report("panel-datasource", where, f"does not use the templated datasource, uses {source!r}")
        expr = target.get("expr", "")
        text, durations, strings, unknown = _substitute(expr, self.variables)
        for name in unknown:
            self.report("target-promql", where, f"uses the undefined variable ${name}")
        try:
            node = pp.parse(text)
        except ValueError as exc:
            self.report("target-promql", where, f"does not parse ({exc}): {expr}")
            return
        expression = _Expression(text, node, durations, strings)
        self._rate_interval(where, expression)
        self._counter_agg(where, expression)
        for selector, _parents in _selectors(expression):
            self._required_matcher("job", where, selector, expression)
            self._required_matcher("instance", where, selector, expression)
            self._metric_known(where, selector)

    def _rate_interval(self, where: str, expression: _Expression) -> None:
        for node, parents in _walk(expression.node):
            if not isinstance(node, pp.MatrixSelector) or not parents or not isinstance(parents[-1], pp.Call):
                continue
            function = parents[-1].func.name
            variable = expression.variable_of_range(node.range)
            if function in RATE_FUNCTIONS and variable != "__rate_interval":
                self.report("target-rate-interval", where, f"{function}() should read [$__rate_interval]")
            elif function == "increase" and variable not in ("__rate_interval", "__range"):
                self.report("target-rate-interval", where,
                            "increase() should read [$__rate_interval] "
                            "(or [$__range] for a whole-range total)")

    def _counter_agg(self, where: str, expression: _Expression) -> None:
        for selector, parents in _selectors(expression):
            name = selector.name or ""
            if not (self.kind_of(name) == "counter" or name.endswith("_total")):
                continue
            ok = (
                len(parents) >= 2
                and isinstance(parents[-1], pp.MatrixSelector)
                and isinstance(parents[-2], pp.Call)
                and parents[-2].func.name in COUNTER_FUNCTIONS
            )
            if not ok:
                self.report("target-counter-agg", where,
                            f"counter {name} is not read through rate(), irate() or increase()")

    def _required_matcher(self, label: str, where: str, selector: pp.VectorSelector,
                          expression: _Expression) -> None:
        for matcher in _matchers(selector):
            if (matcher.name == label and matcher.op == pp.MatchOp.Re
                    and expression.variable_of_value(matcher.value) == label):
                return
        self.report(f"target-{label}", where,
                    f"selector {selector.name or selector} has no {label}=~\"${label}\" matcher")

    def _metric_known(self, where: str, selector: pp.VectorSelector) -> None:
        name = selector.name
        if not name:
            self.report("target-metric-known", where, f"selector {selector} does not name its metric")
        elif name not in self.known_series:
            self.report("target-metric-known", where,
                        f"{name} is neither a metric the library exposes nor a recorded series")


def lint_dashboard(dashboard: dict[str, Any], known_series: frozenset[str],
                   kind_of: Callable[[str], str | None]) -> list[Problem]:
    """Every problem the rules find in ``dashboard``, sorted; empty when it passes.

    ``known_series`` are the metric names queries may use; ``kind_of`` tells a counter.
    """
    linter = _Linter(dashboard, known_series, kind_of)
    linter.templates()
    linter.panels()
    return sorted(set(linter.problems))


def lint_for_config(dashboard: dict[str, Any], config: BundleConfig) -> list[Problem]:
    """Lint ``dashboard`` against the metrics of ``config``'s namespace and its recording rules."""
    names = MetricNames(config.namespace)
    return lint_dashboard(dashboard, names.all_series() | recorded_series(config), names.kind_of)
