"""The points the pipeline writes about itself: one audit point per reconciled window, one point per
generator burst."""

from __future__ import annotations

from datetime import datetime, timezone

from carpipe.config import Settings
from carpipe.influx import InfluxClient
from carpipe.line_protocol import escape_tag
from carpipe.reconcile import Status
from carpipe.tier_counts import TierCounts
from carpipe.windows import Window


def audit_line(s: Settings, w: Window, c: TierCounts, status: Status, at: datetime) -> str:
    """``at``: when the window was judged; ``reconciled_lag_s`` (whole seconds from the window end) is
    what the "Window end to reconciled" panel plots.

    Integer fields, plus when measured: ``offset_gaps`` / ``offset_duplicates`` / ``offset_outside``
    (offsets missing from HDFS, held more than once, held but stamped outside the window; only for a
    window audited by offsets) and the float fields ``{hdfs,influx}_latency_{p50,p95,max}_s`` with the
    integer ``latency_resolution_s`` (the "Ingest latency" panel)."""
    fields = {"produced": c.produced, "acknowledged": c.acknowledged, "kafka": c.kafka,
              "hdfs": c.hdfs_distinct, "hdfs_duplicates": c.hdfs_duplicates, "conflicts": c.hdfs_conflicts,
              "influx": c.influx,
              "dead_lettered": c.dead_lettered or 0, "window_seconds": c.window_seconds,
              "reconciled_lag_s": round((at - w.end).total_seconds())}
    if c.hdfs_offsets is not None:
        for name, attr in (("offset_gaps", "missing"), ("offset_duplicates", "duplicated"),
                           ("offset_outside", "outside")):
            fields[name] = sum(b - a + 1 for cov in c.hdfs_offsets for a, b in getattr(cov, attr))
    latencies = {}
    for tier, lat in (("hdfs", c.hdfs_latency), ("influx", c.influx_latency)):
        if lat is not None:
            latencies |= {f"{tier}_latency_p50_s": lat.p50_s, f"{tier}_latency_p95_s": lat.p95_s,
                          f"{tier}_latency_max_s": lat.max_s}
            fields["latency_resolution_s"] = lat.resolution_s  # one grid times both
    # Latencies always as floats (a field's type is fixed once written), even when whole.
    body = ",".join([f"{k}={v}i" for k, v in fields.items()]
                    + [f"{k}={float(v)!r}" for k, v in latencies.items()])
    return f"{s.audit_measurement},status={status} {body} {w.start_ms * 1_000_000}"


def write_audit(influx: InfluxClient, s: Settings, w: Window, c: TierCounts, status: Status) -> None:
    """One audit point per window: the status is a tag (so dashboards can filter on it), hence a new
    status is a new series; the window's earlier point is deleted first so only the latest remains."""
    influx.query(f'DELETE FROM "{s.audit_measurement}" WHERE time = {w.start_ms}ms')
    influx.write([audit_line(s, w, c, status, datetime.now(timezone.utc))])


def burst_line(s: Settings, report: dict, window: Window) -> str:
    """A generator burst as a point at its start time, so the bursts aimed at a window sum up by time."""
    from carpipe.windows import parse_utc

    started = parse_utc(report["started_at"])
    if not window.start <= started < window.end:
        raise ValueError(f"burst started at {started.isoformat()}, outside its window {window}")
    ns = int(started.timestamp()) * 1_000_000_000 + started.microsecond * 1000
    fields = {k: report[k] for k in ("requested", "produced", "acknowledged", "failed")}
    body = ",".join(f"{k}={int(v)}i" for k, v in fields.items())
    return (f"{s.burst_measurement},topic={escape_tag(report['topic'])} {body},"
            f"achieved_rate={float(report['achieved_rate'])},window_start=\"{window.label()}\" {ns}")
