"""The platform's dashboards: every panel's InfluxQL, written once.

Measurements (the InfluxDB schema contract): raw points ``car_transaction_data`` (tags car_brand,
car_model, country, branch, color), per-minute rollups ``car_sales_1m`` (tags dimension, value; fields
count, revenue, avg_price), ``window_summary`` per window and source, and ``pipeline_audit`` per window
(tag status; fields produced, kafka, hdfs, influx, ..., the ingest latencies).

Panels that slice by one dimension read the rollups (small, pre-aggregated); a rollup series knows one
dimension only, so those panels filter by their own variable. Panels that need both filters at once
(brand AND country), the models or single prices read the raw points.
"""

from __future__ import annotations

from carpipe.config import Settings, get_settings
from carpipe.dashboards.model import Alert, Dashboard, Panel, Variable
from carpipe.influx import ROLLUP_MEASUREMENT, SUMMARY_MEASUREMENT

DATASOURCE_UID = "carpipe-influxdb"   # the provisioned data source (docker/grafana/provisioning/datasources)
SALES_UID = "carpipe-car-sales"
HEALTH_UID = "carpipe-pipeline-health"

# Both filters of the raw points; "All" expands to .* (see Variable.all_value).
RAW_FILTER = '"car_brand" =~ /^$brand$/ AND "country" =~ /^$country$/'
DIMENSIONS = (("brand", "brand"), ("country", "country"), ("branch", None))  # (rollup dimension, variable)


def _variables(raw: str) -> tuple[Variable, ...]:
    return (
        Variable("brand", "Brand", f'SHOW TAG VALUES FROM "{raw}" WITH KEY = "car_brand"'),
        Variable("country", "Country", f'SHOW TAG VALUES FROM "{raw}" WITH KEY = "country"'),
    )


def _rollup_where(dimension: str, variable: str | None) -> str:
    where = f'"dimension" = \'{dimension}\''
    return where + (f' AND "value" =~ /^${variable}$/' if variable else "")


def _by_dimension(dimension: str, variable: str | None) -> Panel:
    return Panel(
        id=f"sales_by_{dimension}", title=f"Revenue and average price by {dimension}", kind="bars",
        query=(f'SELECT sum("revenue") AS "revenue", sum("revenue") / sum("count") AS "average price" '
               f'FROM "{ROLLUP_MEASUREMENT}" WHERE {_rollup_where(dimension, variable)} AND $timeFilter '
               f'GROUP BY "value"'),
        result_format="table", unit="currencyEUR", width=8,
        description=f"Totals over the time range from the per-minute rollups (dimension={dimension}); "
                    f"the average price is revenue / transactions, weighted by sales.")


def car_sales(s: Settings) -> Dashboard:
    raw = s.raw_measurement
    return Dashboard(
        uid=SALES_UID, title="Car sales", time_from="now-6h", refresh="1m",
        description="Business view of the car transactions in InfluxDB: volume, revenue, prices.",
        tags=("carpipe", "sales"),
        variables=_variables(raw),
        panels=(
            Panel(id="sales_totals", title="Totals", kind="stat", width=24, height=4,
                  query=(f'SELECT count("transaction_price") AS "transactions", sum("transaction_price") AS '
                         f'"revenue", mean("transaction_price") AS "average price" FROM "{raw}" '
                         f'WHERE {RAW_FILTER} AND $timeFilter'),
                  description="Transactions, revenue and average price over the time range (raw points)."),
            Panel(id="sales_tpm", title="Transactions per minute", kind="timeseries", min_interval="1m",
                  query=(f'SELECT count("transaction_price") * 60000 / $__interval_ms AS "transactions/min" '
                         f'FROM "{raw}" WHERE {RAW_FILTER} AND $timeFilter GROUP BY time($__interval) fill(0)'),
                  description="Transactions per bucket scaled to one minute, so wide ranges (bigger "
                              "buckets) keep the same unit."),
            Panel(id="sales_price_distribution", title="Price distribution", kind="histogram",
                  bucket_size=10_000, unit="currencyEUR",
                  query=f'SELECT "transaction_price" AS "price" FROM "{raw}" WHERE {RAW_FILTER} AND $timeFilter',
                  description="Transactions per 10,000 price band."),
            Panel(id="sales_revenue_by_brand", title="Revenue by brand", kind="timeseries", min_interval="1m",
                  alias="$tag_value", unit="currencyEUR",
                  query=(f'SELECT sum("revenue") AS "revenue" FROM "{ROLLUP_MEASUREMENT}" '
                         f'WHERE {_rollup_where("brand", "brand")} AND $timeFilter '
                         f'GROUP BY time($__interval), "value" fill(none)'),
                  description="Revenue per bucket and brand, from the per-minute rollups."),
            Panel(id="sales_avg_price_by_brand", title="Average price by brand", kind="timeseries",
                  min_interval="1m", alias="$tag_value", unit="currencyEUR",
                  query=(f'SELECT sum("revenue") / sum("count") AS "average price" FROM "{ROLLUP_MEASUREMENT}" '
                         f'WHERE {_rollup_where("brand", "brand")} AND $timeFilter '
                         f'GROUP BY time($__interval), "value" fill(none)'),
                  description="Average price per bucket and brand (revenue / transactions of the bucket)."),
            *(_by_dimension(dim, var) for dim, var in DIMENSIONS),
            Panel(id="sales_top_models", title="Top models", kind="table", result_format="table", width=24,
                  columns=("car_model", "transactions", "revenue"),
                  query=(f'SELECT top("transactions", "car_model", 10) AS "transactions", "revenue" FROM '
                         f'(SELECT count("transaction_price") AS "transactions", sum("transaction_price") AS '
                         f'"revenue" FROM "{raw}" WHERE {RAW_FILTER} AND $timeFilter GROUP BY "car_model")'),
                  description="The ten models sold most often in the time range, with their revenue."),
        ),
    )


def pipeline_health(s: Settings) -> Dashboard:
    audit = s.audit_measurement
    return Dashboard(
        uid=HEALTH_UID, title="Pipeline health", time_from="now-24h", refresh="1m",
        description="Per-window reconciliation of the pipeline tiers (pipeline_audit, written by the "
                    "reconcile_hdfs_influx DAG) and Spark's per-window summaries.",
        tags=("carpipe", "pipeline"),
        panels=(
            Panel(id="health_mismatch_count", title="Mismatched windows", kind="stat", width=6, no_value="0",
                  query=f'SELECT count("kafka") AS "mismatched windows" FROM "{audit}" '
                        f"WHERE \"status\" = 'mismatch' AND $timeFilter",
                  description="Windows whose tiers disagree (status=mismatch); the alert rule fires on it."),
            Panel(id="health_tier_counts", title="Records per window by tier", kind="windows", width=18,
                  query=f'SELECT "produced" AS "generator", "kafka", "hdfs", "influx" FROM "{audit}" '
                        f"WHERE $timeFilter",
                  description="Per window (at its start): events the generator produced, records Kafka "
                              "stamped, distinct records in HDFS, points in InfluxDB."),
            Panel(id="health_dead_letters", title="Dead-lettered records per window", kind="windows",
                  alias="$tag_source",
                  query=f'SELECT "dead_lettered" FROM "{SUMMARY_MEASUREMENT}" WHERE $timeFilter GROUP BY "source"',
                  description="Invalid records Spark set aside per window, by the source it read (kafka|hdfs)."),
            Panel(id="health_duplicates_conflicts", title="Duplicates and conflicts per window", kind="windows",
                  query=f'SELECT "hdfs_duplicates" AS "duplicate lines", "conflicts" FROM "{audit}" '
                        f"WHERE $timeFilter",
                  description="Per window: extra identical copies HDFS holds (collapsed, counted once) and "
                              "conflicting versions (a transaction_id reused with other content: one kept, "
                              "the others dead-lettered)."),
            Panel(id="health_reconcile_lag", title="Window end to reconciled", kind="windows", unit="s",
                  query=f'SELECT "reconciled_lag_s" AS "seconds" FROM "{audit}" '
                        f"WHERE \"status\" != 'pending' AND $timeFilter",
                  description="Seconds from a window's end to its final verdict (ok or mismatch)."),
            Panel(id="health_ingest_latency", title="Ingest latency", kind="windows", unit="s",
                  query=f'SELECT "hdfs_latency_p50_s" AS "hdfs p50", "hdfs_latency_p95_s" AS "hdfs p95", '
                        f'"hdfs_latency_max_s" AS "hdfs max", "influx_latency_p50_s" AS "influx p50", '
                        f'"influx_latency_p95_s" AS "influx p95", "influx_latency_max_s" AS "influx max" '
                        f'FROM "{audit}" WHERE $timeFilter',
                  description="Per settled window: seconds from a record's Kafka timestamp to the commit "
                              "of its HDFS file and to the end of the Spark run that loaded InfluxDB "
                              "(p50, p95, max), timed on a grid of latency_resolution_s steps (max(1, "
                              "window / 300) s): each figure overstates by less than one step."),
            Panel(id="health_mismatched_windows", title="Mismatched windows: counts", kind="table",
                  result_format="table", width=24, columns=("time", "generator", "kafka", "hdfs", "influx"),
                  query=f'SELECT "produced" AS "generator", "kafka", "hdfs", "influx" FROM "{audit}" '
                        f"WHERE \"status\" = 'mismatch' AND $timeFilter",
                  description="The tiers' counts of every mismatched window (time: the window start), to "
                              "see which tier is off."),
        ),
    )


def dashboards(settings: Settings | None = None) -> tuple[Dashboard, ...]:
    s = settings or get_settings()
    return car_sales(s), pipeline_health(s)


MISMATCH_ALERT = Alert(
    uid="carpipe-reconciliation-mismatch", title="Reconciliation mismatch",
    dashboard_uid=HEALTH_UID, panel_id="health_mismatch_count", lookback="3h",
    summary="{{ $values.B.Value }} pipeline window(s) in the last 3 hours have tiers that disagree "
            "(pipeline_audit status=mismatch); see the Pipeline health dashboard and the "
            "reconcile_hdfs_influx task log.")
