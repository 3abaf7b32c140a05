"""docker/ is for users with a Docker engine (none runs here): check it statically against the repo."""

from __future__ import annotations

import re

import pytest
import yaml

from carpipe.config import REPO_ROOT, Settings

DOCKER = REPO_ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def env_of(service: dict) -> dict:
    env = service.get("environment") or {}
    return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_every_carpipe_variable_is_a_setting(compose):
    fields = {f"CARPIPE_{name.upper()}" for name in Settings.model_fields}
    used = {k for svc in compose["services"].values() for k in env_of(svc) if k.startswith("CARPIPE_")}
    assert used and used <= fields, used - fields


def test_published_ports_are_the_configured_defaults(compose):
    s = Settings()
    published = {int(p.split(":")[-1]) for svc in compose["services"].values() for p in svc.get("ports", [])}
    assert {s.kafka_port, s.hdfs_rpc_port, s.hdfs_http_port, s.influx_port, s.airflow_port,
            s.generator_port} <= published
    # loopback only, like the embedded stack
    for svc in compose["services"].values():
        for p in svc.get("ports", []):
            assert p.startswith("127.0.0.1:"), p


def test_kafka_image_matches_the_embedded_broker_version(compose):
    pom = (REPO_ROOT / "stack" / "jvm" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)<", pom).group(1)
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_build_contexts_and_mounts_exist(compose):
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), name
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (DOCKER / src).exists(), f"{name}: {src}"
    for dockerfile in DOCKER.glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from" not in line:
                for src in line.split()[1:-1]:
                    if src != ".":
                        assert (REPO_ROOT / src).exists(), f"{dockerfile.name}: {src}"
