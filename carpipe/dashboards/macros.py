"""Grafana's macro expansion for InfluxQL panels, reproduced so that a panel's query can be run (and
tested) outside Grafana exactly as Grafana would send it to InfluxDB.

What Grafana 11 does for a raw InfluxQL query (InfluxDB data source, backend mode):
- ``$timeFilter`` -> ``time >= <from>ms and time <= <to>ms`` (epoch milliseconds, both ends inclusive);
- ``$__interval`` / ``$interval`` -> the bucket width as text (``1m``, ``30s``: largest unit, truncated),
  ``$__interval_ms`` -> the same in milliseconds. The width is ``max(round_interval(range / max data
  points), min interval)`` on Grafana's ladder of "nice" widths;
- template variables: a multi-value (or include-all) variable becomes ``(a|b)`` with every value
  regex-escaped, so ``/^$brand$/`` reads ``/^(a|b)$/``; "All" becomes the variable's custom all-value
  verbatim when it has one, else every option. A single-value variable is escaped only inside a regex
  literal, and numbers are never escaped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # model imports parse_duration from here
    from carpipe.dashboards.model import Variable

ALL = "$__all"                       # Grafana's value for the "All" option
DEFAULT_MAX_DATA_POINTS = 1000

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_RELATIVE = re.compile(r"^now(?:-(\d+)(ms|s|m|h|d|w|y))?$")

# Grafana's rangeutil.roundInterval ladder: (raw interval below, rounded interval), in ms.
_LADDER = ((10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
           (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
           (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
           (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
           (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
           (1814400000, 604800000), (3628800000, 2592000000))
_LADDER_TOP = 31536000000

_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_REGEX_LITERAL = re.compile(r"(=|!)~\s*/((?:[^/\\\n]|\\.)+)/")
_VARIABLE_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_JS_FLOAT = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+|Infinity)")


class MacroError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """``30s``, ``1m``, ``15m``, ``3h`` ... in milliseconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise MacroError(f"not a duration: {text!r} (expected e.g. 30s, 1m, 6h)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int

    def __post_init__(self) -> None:
        if self.from_ms > self.to_ms:
            raise MacroError(f"time range ends before it starts: {self.from_ms} > {self.to_ms}")

    @classmethod
    def parse(cls, frm: str, to: str = "now", now_ms: int | None = None) -> "TimeRange":
        """A dashboard range: each end ``now``, ``now-<duration>`` or epoch milliseconds."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return cls(_point(frm, now), _point(to, now))

    @property
    def span_ms(self) -> int:
        return self.to_ms - self.from_ms


def _point(text: str, now: int) -> int:
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    m = _RELATIVE.match(text)
    if not m:
        raise MacroError(f"not a time: {text!r} (expected now, now-6h or epoch milliseconds)")
    return now - (int(m.group(1)) * _UNIT_MS[m.group(2)] if m.group(1) else 0)


def round_interval(ms: float) -> int:
    for below, rounded in _LADDER:
        if ms < below:
            return rounded
    return _LADDER_TOP


def calculate_interval(rng: TimeRange, max_data_points: int = DEFAULT_MAX_DATA_POINTS,
                       min_interval: str | None = None) -> int:
    """Bucket width in ms for ``$__interval``: Grafana's rounding of range / points, floored by the
    panel's min interval."""
    low = parse_duration(min_interval) if min_interval else 1
    return max(round_interval(rng.span_ms / max(1, max_data_points)), low)


def format_interval(ms: int) -> str:
    """Grafana's gtime.FormatInterval: the largest unit that fits, truncated (90s -> 1m)."""
    for unit in ("y", "d", "h", "m", "s", "ms"):
        if ms >= _UNIT_MS[unit]:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return "1ms"


def escape_regex(value: str) -> str:
    """@grafana/data escapeRegex: backslash before every regex metacharacter and '/'."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def format_variable(var: Variable, value: str | Sequence[str], query: str,
                    options: Sequence[str] | None = None) -> str:
    """The text Grafana's InfluxDB data source puts in place of ``$<var.name>`` (interpolateQueryExpr)."""
    if value == ALL or (not isinstance(value, str) and ALL in value):
        if not var.include_all:
            raise MacroError(f"variable {var.name} has no All option")
        if var.all_value is not None:
            return var.all_value                          # custom all-values are never escaped
        if options is None:
            raise MacroError(f"variable {var.name}: All needs the option list")
        value = list(options)
    if isinstance(value, str) and _JS_FLOAT.match(value):
        return value                                      # parseFloat() succeeds: a number, not escaped
    regex_form = escape_regex(value) if isinstance(value, str) else "(" + "|".join(map(escape_regex, value)) + ")"
    if var.multi or _in_regex_literal(var.name, query):
        return regex_form
    if not isinstance(value, str):
        raise MacroError(f"variable {var.name}: several values outside a regex match")
    return value


def _in_regex_literal(name: str, query: str) -> bool:
    return any(re.search(rf"\${{?{name}\b", lit) for _, lit in _REGEX_LITERAL.findall(query))


def expand(query: str, rng: TimeRange, interval_ms: int, variables: Sequence[Variable] = (),
           selected: Mapping[str, str | Sequence[str]] | None = None,
           options: Mapping[str, Sequence[str]] | None = None) -> str:
    """``query`` as Grafana sends it to InfluxDB. ``selected`` maps a variable name to its value(s)
    (default: All); ``options`` gives the option list of variables whose All has no custom value.
    Raises MacroError for a ``$name`` that is neither a macro nor a variable."""
    selected = selected or {}
    known = {v.name: v for v in variables}
    unknown = set(selected) - set(known)
    if unknown:
        raise MacroError(f"unknown variable(s) selected: {sorted(unknown)}")
    out = query.replace("$timeFilter", f"time >= {rng.from_ms}ms and time <= {rng.to_ms}ms")
    out = out.replace("$__interval_ms", str(interval_ms))
    text = format_interval(interval_ms)
    out = out.replace("$__interval", text).replace("$interval", text)

    def substitute(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in known:
            raise MacroError(f"unknown variable ${name} in {query!r}")
        return format_variable(known[name], selected.get(name, ALL), query, (options or {}).get(name))

    # A regex end anchor ('$/') has no word after '$', so every remaining $word is a variable.
    return _VARIABLE_REF.sub(substitute, out)


def variables_in(query: str) -> set[str]:
    """Names referenced as ``$name`` / ``${name}`` after removing Grafana's built-in macros."""
    stripped = query
    for macro in ("$timeFilter", "$__interval_ms", "$__interval", "$interval"):
        stripped = stripped.replace(macro, "")
    return {a or b for a, b in _VARIABLE_REF.findall(stripped)}
