"""The dashboard definitions and what is generated from them (pure; no service needed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from carpipe.config import REPO_ROOT
from carpipe.dashboards.__main__ import main as regenerate
from carpipe.dashboards.definitions import DATASOURCE_UID, MISMATCH_ALERT, dashboards
from carpipe.dashboards.grafana import ALERTS_FILE, DASHBOARDS_DIR, GRAFANA_DIR, rendered_files, stale_files
from carpipe.dashboards.macros import variables_in
from generator.dashboard import CHARTJS_VERSION

PROVISIONING = GRAFANA_DIR / "provisioning"


def test_checked_in_grafana_files_are_fresh():
    """Regenerate with `python -m carpipe.dashboards` after changing the definitions."""
    assert stale_files() == []
    assert regenerate(["--check"]) == 0


RENDER = ("import json; from carpipe.dashboards.grafana import rendered_files; "
          "print(json.dumps({str(k): v for k, v in rendered_files().items()}))")


def test_generation_is_deterministic():
    """The same files from fresh interpreters with other string hashing (so other set and dict orders
    of anything hashed on the way) as from this one."""
    here = {str(k): v for k, v in rendered_files().items()}
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout) == here, f"PYTHONHASHSEED={seed} renders other files"


def test_every_query_uses_only_its_dashboards_variables():
    for d in dashboards():
        names = {v.name for v in d.variables}
        for p in d.panels:
            assert variables_in(p.query) <= names, p.id
            assert "$timeFilter" in p.query, f"{p.id} must be bounded by the dashboard's time range"


def test_panel_ids_unique_across_dashboards():
    ids = [p.id for d in dashboards() for p in d.panels]
    assert len(ids) == len(set(ids))


def test_grafana_json_matches_definitions():
    for d in dashboards():
        board = json.loads((DASHBOARDS_DIR / f"{d.uid}.json").read_text())
        assert (board["uid"], board["title"], board["time"]["from"], board["refresh"]) == \
               (d.uid, d.title, d.time_from, d.refresh)
        assert [v["name"] for v in board.get("templating", {}).get("list", [])] == [v.name for v in d.variables]
        assert [p["title"] for p in board["panels"]] == [p.title for p in d.panels]
        for gp, p in zip(board["panels"], d.panels):
            (target,) = gp["targets"]
            assert target["query"] == p.query and target["rawQuery"] is True
            assert gp["datasource"]["uid"] == target["datasource"]["uid"] == DATASOURCE_UID
            assert gp["gridPos"]["w"] == p.width
            assert gp.get("interval") == p.min_interval


def test_alert_rule_fires_on_the_mismatch_panel():
    doc = yaml.safe_load(ALERTS_FILE.read_text())
    (group,) = doc["groups"]
    (rule,) = group["rules"]
    health = next(d for d in dashboards() if d.uid == MISMATCH_ALERT.dashboard_uid)
    a, b, c = rule["data"]
    assert a["model"]["query"] == health.panel(MISMATCH_ALERT.panel_id).query
    assert "mismatch" in a["model"]["query"] and a["datasourceUid"] == DATASOURCE_UID
    assert (b["model"]["type"], b["model"]["expression"], b["model"]["reducer"]) == ("reduce", "A", "last")
    assert c["model"]["type"] == "threshold" and c["model"]["expression"] == "B"
    assert c["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    assert rule["condition"] == "C" and rule["uid"] == MISMATCH_ALERT.uid


def test_datasource_provisioning_reads_the_environment():
    text = (PROVISIONING / "datasources" / "influxdb.yaml").read_text()
    (ds,) = yaml.safe_load(text)["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "influxdb"
    assert ds["url"] == "${CARPIPE_INFLUX_URL}" and ds["jsonData"]["dbName"] == "${CARPIPE_INFLUX_DB}"
    assert ds["user"] == "${CARPIPE_INFLUX_USER}" and ds["secureJsonData"]["password"] == "${CARPIPE_INFLUX_PASSWORD}"
    assert not re.search(r"localhost|127\.0\.0\.1|:8086", text)


def test_dashboard_provider_points_at_the_mounted_json():
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "carpipe.yaml").read_text())["providers"]
    compose = yaml.safe_load((REPO_ROOT / "docker" / "docker-compose.yml").read_text())
    mounts = dict(m.split(":")[:2][::-1] for m in compose["services"]["grafana"]["volumes"] if isinstance(m, str))
    assert Path(mounts[provider["options"]["path"]]) == Path("./grafana/dashboards")


def test_vendored_chartjs_is_the_loaded_version():
    js = REPO_ROOT / "generator" / "static" / "vendor" / "chartjs" / "chart.umd.min.js"
    assert f"Chart.js v{CHARTJS_VERSION}" in js.read_text()[:200]
    assert (js.parent / "LICENSE.md").read_text().startswith("The MIT License")
