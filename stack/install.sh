#!/usr/bin/env bash
# Installs what the embedded stack needs and is missing; a second run installs nothing.
#   1. Debian packages (JDK 17, Maven, InfluxDB, PostgreSQL 15, Redis 7, libkrb5-dev for gssapi) via apt, only when absent;
#   2. the virtualenv from requirements.txt + constraints.txt (re-done only when those files change);
#   3. the JVM jars from stack/jvm/pom.xml into $STATE/jars (re-done only when a pom changes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${CARPIPE_STATE_DIR:-$ROOT/.state}
VENV=${CARPIPE_VENV:-$ROOT/.venv}
STAMPS=$STATE/install
mkdir -p "$STAMPS"

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

# -- 1. Debian packages --------------------------------------------------------------------
need=()
dpkg -s openjdk-17-jdk-headless >/dev/null 2>&1 || [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ] || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v influxd >/dev/null || need+=(influxdb)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)   # Airflow's metadata DB (stack/postgres.py)
command -v redis-server >/dev/null || need+=(redis-server)   # the cluster profile's Celery broker (stack/broker.py)
command -v gcc >/dev/null || need+=(gcc)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v chromium >/dev/null || need+=(chromium)   # headless browser of the /dashboard test (Playwright drives it)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The stack runs its own PostgreSQL cluster in the state dir: no system-wide cluster on port 5432.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -e /etc/postgresql-common/createcluster.d/carpipe.conf ] || \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/carpipe.conf
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  # The stack runs its own Redis in the state dir: not the package's system-wide, password-less one.
  if [[ " ${need[*]} " == *" redis-server "* ]] && pgrep -f '^/usr/bin/redis-server .*:6379' >/dev/null; then
    service redis-server stop || true
  fi
fi

# -- 2. Python virtualenv --------------------------------------------------------------------
PIP_FP=$(fingerprint requirements.txt constraints.txt pyproject.toml)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMPS/pip" 2>/dev/null)" != "$PIP_FP" ]; then
  say "virtualenv $VENV from requirements.txt (a few minutes on a fresh machine)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # One line per package as pip resolves it, so a long first install shows it is moving.
  "$VENV/bin/pip" install --progress-bar off -r requirements.txt -c constraints.txt \
    | { grep --line-buffered '^Collecting' || true; } | sed -u 's/^/  /'
  # The Spark provider's pyspark-client installs into the same pyspark/ package and overwrites
  # part of it: put the full pyspark back last and check the version that imports.
  PYSPARK=$(sed -n 's/^pyspark==//p' requirements.txt)
  "$VENV/bin/pip" install -q --force-reinstall --no-deps "pyspark==$PYSPARK"
  # The project itself (carpipe and the legs), editable: imports resolve to this checkout, no PYTHONPATH.
  "$VENV/bin/pip" install -q --no-deps -e .
  got=$("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')
  [ "$got" = "$PYSPARK" ] || { echo "pyspark $got imports, $PYSPARK expected" >&2; exit 1; }
  echo "$PIP_FP" > "$STAMPS/pip"
else
  say "virtualenv up to date"
fi

# -- 3. JVM jars from Maven Central ----------------------------------------------------------
JAR_FP=$(fingerprint stack/jvm/pom.xml stack/jvm/*/pom.xml)
if [ "$(cat "$STAMPS/jars" 2>/dev/null)" != "$JAR_FP" ]; then
  say "JVM jars (Kafka, Hadoop, Flume, Spark-Kafka connector) into $STATE/jars"
  rm -rf "$STATE/jars"
  mvn -B -q -f stack/jvm/pom.xml package -Djars.dir="$STATE/jars"
  echo "$JAR_FP" > "$STAMPS/jars"
else
  say "JVM jars up to date"
fi
