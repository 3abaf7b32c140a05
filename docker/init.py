"""The compose deployment's one-shot services (docker/docker-compose.yml), run from the Airflow image.

    python docker/init.py prepare     as root, before anything else: generate the secrets once and give
                                      each service its own copy (0700 directory, 0600 files, owned by the
                                      user the service runs as); hand the data volumes to their users
    python docker/init.py bootstrap   once the databases answer: migrate Airflow's metadata DB, import the
                                      Airflow connections from the config layer, create the InfluxDB admin

Secrets never reach an image, a compose file or a process environment of ours: services read files
(PGPASSFILE, ``*_CMD``, ``*_FILE``, carpipe's secrets dir). Re-running either command changes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from stack.services import write_private

SECRETS = Path("/secrets")     # the `secrets` volume, whole (prepare only)
VOLUMES = Path("/volumes")     # data volumes prepare hands over
MOUNTED = Path("/run/carpipe-secrets")  # where a service finds its own copy (a subpath of `secrets`)

# The users the images run as: ours (docker/*.Dockerfile), postgres, grafana, apache/hadoop.
CARPIPE_UID, POSTGRES_UID, GRAFANA_UID, HADOOP_UID = 50000, 999, 472, 1000
DB_USER = DB_NAME = "airflow"
AIRFLOW_USER = "admin"

# Data volumes (mount points under VOLUMES) and the user that writes each.
VOLUME_OWNERS = {"hdfs-name": HADOOP_UID, "hdfs-data": HADOOP_UID, "flume-state": CARPIPE_UID,
                 "airflow-logs": CARPIPE_UID}


def generated() -> dict[str, str]:
    """The deployment's credentials, generated at the first prepare and kept in the volume."""
    master = SECRETS / ".generated"
    master.mkdir(mode=0o700, exist_ok=True)
    makers = {
        "db_password": lambda: secrets.token_urlsafe(24),
        "influx_password": lambda: secrets.token_urlsafe(32),
        "generator_token": lambda: secrets.token_urlsafe(32),
        "airflow_password": lambda: secrets.token_urlsafe(16),
        "grafana_password": lambda: secrets.token_urlsafe(16),
        "jwt_secret": lambda: secrets.token_urlsafe(64),
        "fernet_key": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    values = {}
    for name, make in makers.items():
        path = master / name
        if not path.exists():
            write_private(path, make())
        values[name] = path.read_text()
    return values


def copies(v: dict[str, str]) -> dict[str, tuple[int, dict[str, str]]]:
    """Each service's directory in the `secrets` volume: (owner uid, file name -> content)."""
    carpipe = {"carpipe_influx_password": v["influx_password"], "carpipe_generator_token": v["generator_token"]}
    return {
        "airflow": (CARPIPE_UID, {
            **carpipe,
            "airflow_db.pgpass": f"postgres:5432:{DB_NAME}:{DB_USER}:{v['db_password']}\n",
            "airflow_passwords.json": json.dumps({AIRFLOW_USER: v["airflow_password"]}),
            "jwt_secret": v["jwt_secret"], "fernet_key": v["fernet_key"]}),
        "generator": (CARPIPE_UID, carpipe),
        "postgres": (POSTGRES_UID, {"db_password": v["db_password"]}),
        "grafana": (GRAFANA_UID, {"admin_password": v["grafana_password"],
                                  "influx_password": v["influx_password"]}),
    }


def prepare() -> None:
    for service, (uid, files) in copies(generated()).items():
        d = SECRETS / service
        d.mkdir(mode=0o700, exist_ok=True)
        os.chown(d, uid, uid)
        os.chmod(d, 0o700)
        for name, text in files.items():
            write_private(d / name, text, owner=uid)
        print(f"secrets for {service}: {', '.join(sorted(files))}", flush=True)
    for name, uid in VOLUME_OWNERS.items():
        os.chown(VOLUMES / name, uid, uid)
        print(f"volume {name} owned by uid {uid}", flush=True)


def bootstrap() -> None:
    from carpipe.config import Settings
    from carpipe.connections import airflow_connections
    from stack.influx_admin import ensure_admin

    s = Settings()
    print("migrating the Airflow metadata DB", flush=True)
    subprocess.run(["airflow", "db", "migrate"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "connections.json"
        write_private(path, json.dumps(airflow_connections(s)))
        subprocess.run(["airflow", "connections", "import", "--overwrite", str(path)], check=True)
    print(ensure_admin(s), flush=True)


COMMANDS = {"prepare": prepare, "bootstrap": bootstrap}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: init.py {'|'.join(COMMANDS)}", file=sys.stderr)
        return 2
    COMMANDS[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
