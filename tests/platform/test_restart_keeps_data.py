"""`make down` then `make up` keeps Kafka records, HDFS files and Influx points."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from carpipe.influx import client_from_settings
from tests.platform.test_services import consume_all, new_topic, produce, webhdfs

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]  # make down, make up


def ctl(*args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "stack.ctl", *args], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, f"stack.ctl {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"


def test_down_then_up_keeps_data(stack_up):
    tag = uuid.uuid4().hex[:8]
    topic = new_topic(stack_up, f"platform-restart-{tag}")
    produce(stack_up, topic, ["kept-1", "kept-2"])
    path = f"/tmp/platform-restart/{tag}.txt"
    webhdfs(stack_up, "CREATE", path, method="PUT", data=b"kept\n", overwrite="true")
    influx = client_from_settings(stack_up)
    base_ns = time.time_ns() - 3600 * 10**9
    influx.write([f"platform_restart,run={tag} value=1i {base_ns + i}" for i in range(3)])

    ctl("down")
    from stack.ctl import leftover_processes

    assert leftover_processes() == [], "make down left processes of the stack running"
    ctl("up")

    assert sorted(consume_all(stack_up, topic, 2)) == ["kept-1", "kept-2"]
    assert webhdfs(stack_up, "OPEN", path).content == b"kept\n"
    rows = influx.rows(f"SELECT count(value) FROM platform_restart WHERE run = '{tag}'")
    assert rows[0]["count"] == 3
