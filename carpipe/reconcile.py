"""Count one window in every tier, judge the counts, print them as one table, record the verdict.

Accounting rule (what must hold for a window W, and why). Every tier identifies a record the same way
(carpipe.records): its transaction_id, or for a line that is not a valid event, a digest of its bytes.
Copies with the same bytes are duplicates (counted once); a transaction_id that comes with different
contents is a conflict: each version counts, the Spark job keeps one and dead-letters the others.

    hdfs == influx + dead_lettered              (the issue's failure criterion: HDFS vs InfluxDB)
    kafka - kafka_copies == hdfs                (Flume lost or invented nothing)
    every rollup dimension sums to influx        (rollups agree with the raw points)

- kafka: the records the broker stamped inside W (offsets for W's start and end timestamps; the topic
  uses LogAppendTime, so this is exact and final once W is over). kafka_copies: records in Kafka that
  repeat an identity (the Spark job reports them when it read W from Kafka; 0 in practice, since the
  generator's producer is idempotent). Once retention has deleted part of W from Kafka, the Kafka
  checks are skipped (noted), HDFS then being the only copy;
- hdfs: distinct records (versions) in W's closed files. Flume writes each record value as one line,
  poison records included, each Kafka offset exactly once (the files' offset ranges are audited against
  Kafka's); duplicate lines (a window written before that) are shown, not counted. Conflicting versions are counted apart, and must be the ones Spark found;
- influx: points of the raw measurement in W (one per valid transaction); dead_lettered: the invalid
  records of W, from the Spark job's window_summary;
- generator: produced / acknowledged, summed over the bursts aimed at W. More acknowledged events than
  Kafka records is a mismatch (acknowledged means stored); more Kafka records than produced is a note
  (other producers may write to the topic).

Offset audit (per partition; skipped, noted, once retention deleted part of W or when a file of W is
not named by its offsets, the old layout): every committed HDFS file is named by the offsets it holds
(carpipe.offset_files), so the files of W must cover exactly the offsets Kafka stamped in W, once each.
A gap, an overlap or offsets stamped outside W is a mismatch naming the ranges, and so is a file whose
line count is not the number of offsets its name states.

Ingest latency (reported, never judged): once W settled and while Kafka holds it, p50/p95/max seconds
from a record's Kafka timestamp to its HDFS file's commit and to the end of the Spark run that loaded
InfluxDB, exact at the resolution of a grid of offsets for times (carpipe.ingest_latency).

A window is "pending" while its data may still be arriving: Spark has not summarised it yet, Flume has
not consumed every record stamped before W's end, or W's directory still has open (.tmp) files. The DAG
re-counts a pending window until it settles, so pending never turns into a false mismatch. When the
counts disagree, every failing comparison is listed, and the odd tier is named when two agree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from carpipe.influx import ROLLUP_MEASUREMENT
from carpipe.tier_counts import ROLLUP_DIMENSIONS, TierCounts

Status = Literal["ok", "pending", "mismatch"]


@dataclass
class Verdict:
    status: Status
    reasons: list[str]             # why pending / what mismatches (empty when ok)
    notes: list[str]               # informational (duplicates seen, other producers)

    def message(self, c: TierCounts) -> str:
        head = f"window {c.window} ({c.window_seconds}s): {self.status}"
        return head + ("".join(f"\n  - {r}" for r in self.reasons) if self.reasons else "")


def judge(c: TierCounts) -> Verdict:
    notes = []
    if c.kafka_copies:
        notes.append(f"Kafka holds {c.kafka_copies} record(s) repeating an identity; counted once")
    if (redelivered := c.hdfs_duplicates - c.kafka_copies) > 0:
        notes.append(f"HDFS holds {redelivered} duplicate line(s) beyond Kafka's (written before Flume was "
                     f"exactly-once, or the offset audit names them); counted once")
    if c.hdfs_conflicts:
        notes.append(f"{c.hdfs_conflicts} conflicting version(s): transaction_ids that came with other "
                     f"content; one version kept per id, the others dead-lettered")
    if c.hdfs_unnamed_files:
        notes.append(f"{c.hdfs_unnamed_files} HDFS file(s) not named by their Kafka offsets (older layout): "
                     f"window not audited by offsets")
    if not c.kafka_retained:
        notes.append("Kafka no longer holds the whole window (retention): Kafka checks skipped")
    elif c.kafka > c.produced:
        notes.append(f"Kafka has {c.kafka - c.produced} record(s) more than the generator bursts "
                     f"aimed at this window produced (other producers)")

    pending = []
    if c.dead_lettered is None:
        pending.append("Spark has not written this window's summary yet")
    if c.flume_behind:
        pending.append(f"Flume has not yet consumed {c.flume_behind} record(s) stamped before the window end")
    if c.hdfs_open_files:
        pending.append(f"{c.hdfs_open_files} HDFS file(s) of the window are still open (.tmp)")
    if pending:
        return Verdict("pending", pending, notes)

    problems = []
    if c.hdfs_distinct != c.influx_accounted:
        problems.append(
            f"hdfs vs influx: HDFS has {c.hdfs_distinct} record(s), InfluxDB accounts for "
            f"{c.influx_accounted} ({c.influx} point(s) + {c.dead_lettered} dead-lettered): "
            f"difference {c.hdfs_distinct - c.influx_accounted:+d}")
    if c.kafka_retained:
        if c.kafka_distinct != c.hdfs_distinct:
            problems.append(f"kafka vs hdfs: Kafka has {c.kafka_distinct} record(s), HDFS "
                            f"{c.hdfs_distinct}: difference {c.hdfs_distinct - c.kafka_distinct:+d}")
        if c.kafka_distinct != c.influx_accounted:
            problems.append(f"kafka vs influx: Kafka has {c.kafka_distinct} record(s), InfluxDB accounts "
                            f"for {c.influx_accounted}: difference {c.influx_accounted - c.kafka_distinct:+d}")
        if c.spark_source == "kafka" and c.spark_read != c.kafka:
            problems.append(f"kafka vs spark: Spark read {c.spark_read} record(s) of the window, Kafka "
                            f"has {c.kafka}: difference {c.spark_read - c.kafka:+d}")
        odd = odd_tier({"kafka": c.kafka_distinct, "hdfs": c.hdfs_distinct, "influx": c.influx_accounted})
        if odd:
            problems.append(f"the {odd} tier is the odd one out (the other two agree)")
        problems += [f"hdfs offsets: {cov.describe()}" for cov in c.hdfs_offsets or [] if not cov.exact]
        if c.acknowledged > c.kafka:
            problems.append(f"generator vs kafka: {c.acknowledged} event(s) acknowledged, Kafka has "
                            f"{c.kafka} in the window: difference {c.kafka - c.acknowledged:+d}")
    problems += [f"hdfs offsets: {m}" for m in c.hdfs_misnamed]
    if c.spark_conflicts is not None and c.spark_conflicts != c.hdfs_conflicts:
        problems.append(f"conflicts: Spark found {c.spark_conflicts} conflicting version(s), HDFS holds "
                        f"{c.hdfs_conflicts}: difference {c.hdfs_conflicts - c.spark_conflicts:+d}")
    for dim in ROLLUP_DIMENSIONS:
        total = c.rollups.get(dim, 0)
        if total != c.influx:
            problems.append(f"influx rollups vs raw: {ROLLUP_MEASUREMENT} dimension={dim} sums to "
                            f"{total}, raw points {c.influx}: difference {total - c.influx:+d}")
    return Verdict("mismatch" if problems else "ok", problems, notes)


def offsets_detail(c: TierCounts) -> str:
    if c.hdfs_offsets is None:
        why = (f"{c.hdfs_unnamed_files} file(s) not named by offsets" if c.hdfs_unnamed_files
               else "Kafka no longer holds the window")
        return f"not audited: {why}"
    wrong = [cov.describe() for cov in c.hdfs_offsets if not cov.exact]
    return "; ".join(wrong) if wrong else "partition(s) covered exactly: no gap, no overlap"


def odd_tier(tiers: dict[str, int]) -> str | None:
    """The one tier whose count differs when the other two agree (None if all agree or all differ)."""
    for name, value in tiers.items():
        others = {v for k, v in tiers.items() if k != name}
        if len(others) == 1 and value not in others:
            return name
    return None


def render_table(c: TierCounts, v: Verdict, width: int = 110) -> str:
    from rich.console import Console
    from rich.table import Table

    def n(x: int | None) -> str:
        return "-" if x is None else str(x)

    t = Table(title=f"reconciliation {c.window} ({c.window_seconds}s): {v.status.upper()}")
    t.add_column("tier")
    t.add_column("count", justify="right")
    t.add_column("detail")
    t.add_row("generator produced", n(c.produced), f"acknowledged {c.acknowledged}")
    t.add_row("kafka", n(c.kafka), "records stamped in the window (offsets for times)"
              + (f"; {c.kafka_copies} repeated" if c.kafka_copies else "")
              + ("" if c.kafka_retained else "; partly deleted by retention")
              + (f"; Flume still behind by {c.flume_behind}" if c.flume_behind else ""))
    t.add_row("hdfs", n(c.hdfs_distinct), f"{c.hdfs_lines} line(s), {c.hdfs_duplicates} duplicate(s), "
              f"{c.hdfs_conflicts} conflicting, {c.hdfs_open_files} open file(s)")
    t.add_row("influx raw", n(c.influx), f"+ {n(c.dead_lettered)} dead-lettered = {c.influx_accounted}; "
              f"Spark read {n(c.spark_read)} from {c.spark_source or '-'}, "
              f"{n(c.spark_conflicts)} conflicting")
    for dim in ROLLUP_DIMENSIONS:
        t.add_row(f"influx rollup {dim}", n(c.rollups.get(dim, 0)), f"sum of {ROLLUP_MEASUREMENT}.count")
    t.add_row("hdfs offsets", n(None if c.hdfs_offsets is None else len(c.hdfs_offsets)), offsets_detail(c))
    for name, lat, to in (("latency to hdfs", c.hdfs_latency, "file commit"),
                          ("latency to influx", c.influx_latency, "Spark's load")):
        t.add_row(name, n(lat and lat.records), "not measured" if lat is None else
                  f"p50 {lat.p50_s:g}s, p95 {lat.p95_s:g}s, max {lat.max_s:g}s to {to}; "
                  f"{lat.resolution_s}s grid, overstates < {lat.resolution_s}s")
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(t)
    lines = [out.getvalue().rstrip()]
    lines += [f"{v.status}: {r}" for r in v.reasons] + [f"note: {note}" for note in v.notes]
    return "\n".join(lines)
