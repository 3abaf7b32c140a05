"""The agent's metrics endpoint (carpipe.flume.BoundMetricsServer) on the real Flume JVM: Flume's
counters, served on the bind host only."""

from __future__ import annotations

import socket
import subprocess

import pytest

from flume.agent import FlumeAgent

pytestmark = pytest.mark.integration


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (where a listener on every interface answers)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if "." in a and not a.startswith("127.")]


def test_metrics_are_served_on_the_bind_host_only(flume_case):
    s = flume_case.settings
    agent = FlumeAgent(s, "memory").start()
    try:
        metrics = agent.wait_ready(180)
        assert metrics["CHANNEL.channel-0"]["ChannelCapacity"] > 0  # the document Flume's own server serves
        others = other_addresses()
        assert others, "no non-loopback address to probe from"
        for address in others:
            with pytest.raises(OSError):
                socket.create_connection((address, agent.port), timeout=5).close()
    finally:
        agent.stop()
