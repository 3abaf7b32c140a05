"""Airflow's metadata DB in the embedded stack: Debian's PostgreSQL server, one cluster in the state dir.

- initialised once (``initdb``) into ``<state>/postgres/data``; ``make clean`` wipes it;
- served on the bind host only; the unix socket lives in an 0700 directory of the server's user, so the
  superuser's local ``trust`` reaches nobody else; every TCP login needs its SCRAM password;
- Airflow logs in as ``airflow`` with a generated password kept in a libpq password file (0600 in the
  secrets dir, named by ``PGPASSFILE``): the password is in no URL, config file or process environment;
- PostgreSQL refuses to run as root: when the stack runs as root, the server runs as Debian's
  ``postgres`` user and owns its directory.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
from pathlib import Path

from carpipe.config import SECRETS_DIR, Settings

VERSION = "15"
BIN = Path(f"/usr/lib/postgresql/{VERSION}/bin")
SUPERUSER = "postgres"
DB_USER = DB_NAME = "airflow"
PGPASS = SECRETS_DIR / "airflow_db.pgpass"


def server_user() -> str | None:
    """The OS user the server runs as: ``postgres`` for a root stack, else the stack's own user."""
    return "postgres" if os.geteuid() == 0 else None


class Postgres:
    def __init__(self, s: Settings, pgpass: Path = PGPASS):
        self.s = s
        self.home = s.state_dir / "postgres"
        self.data = self.home / "data"
        self.run = self.home / "run"  # the unix socket's directory
        self.pgpass = pgpass

    @property
    def hba(self) -> str:
        return ("# local: the superuser over the 0700 socket directory (the server's user only)\n"
                f"local all {SUPERUSER} trust\n"
                f"host {DB_NAME} {DB_USER} all scram-sha-256\n")

    def command(self) -> list[str]:
        return [str(BIN / "postgres"), "-D", str(self.data),
                "-c", f"listen_addresses={self.s.bind_host}", "-c", f"port={self.s.postgres_port}",
                "-c", f"unix_socket_directories={self.run}", "-c", "unix_socket_permissions=0700",
                "-c", f"hba_file={self.home / 'pg_hba.conf'}",
                "-c", "password_encryption=scram-sha-256", "-c", "max_connections=200",
                "-c", "log_destination=stderr", "-c", "logging_collector=off"]

    def sql_alchemy_conn(self) -> str:
        """Airflow's metadata DB URL: no password, libpq and asyncpg read it from ``PGPASSFILE``."""
        return f"postgresql+psycopg2://{DB_USER}@{self.s.bind_host}:{self.s.postgres_port}/{DB_NAME}"

    def password(self) -> str:
        """The airflow role's password: from its password file, generated (0600) at the first start."""
        if self.pgpass.exists():
            return self.pgpass.read_text().strip().rsplit(":", 1)[1]
        from stack.services import write_private

        value = secrets.token_urlsafe(32)  # URL-safe: no ':' or '\' to escape in the pgpass line
        write_private(self.pgpass, f"*:*:{DB_NAME}:{DB_USER}:{value}\n")
        return value

    def prepare(self) -> bool:
        """Directories, hba file and (once) the cluster itself, owned by the server's user; True when
        it initialised the cluster."""
        from stack.services import write_private

        self.password()
        for d in (self.home, self.run):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.home / "pg_hba.conf", self.hba)
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self._as_server_user([str(BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                                  "--locale=C.UTF-8"], "initialising the PostgreSQL cluster")
        self._chown()
        return fresh

    def _chown(self) -> None:
        if user := server_user():
            uid, gid = pwd.getpwnam(user)[2:4]
            for root, dirs, files in os.walk(self.home):
                os.chown(root, uid, gid)
                for name in files:
                    os.chown(os.path.join(root, name), uid, gid)

    def _as_server_user(self, cmd: list[str], what: str) -> None:
        self._chown()
        user = server_user()
        out = subprocess.run(["runuser", "-u", user, "--", *cmd] if user else cmd,
                             capture_output=True, text=True, cwd=self.home)
        if out.returncode != 0:
            raise RuntimeError(f"{what} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")

    def bootstrap(self) -> None:
        """The airflow role (its password from the password file, reset on every start so the file is
        the truth) and database, through the superuser's socket. Idempotent."""
        import psycopg2
        from psycopg2 import sql

        con = psycopg2.connect(host=str(self.run), port=self.s.postgres_port, user=SUPERUSER,
                               dbname="postgres", connect_timeout=10)
        con.autocommit = True  # CREATE DATABASE runs outside a transaction
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(DB_USER)),
                            (self.password(),))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if not cur.fetchone():
                    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DB_NAME), sql.Identifier(DB_USER)))
        finally:
            con.close()

    def ready(self) -> str:
        """The server answers on the bind host (no login needed: ``pg_isready``)."""
        out = subprocess.run([str(BIN / "pg_isready"), "-h", self.s.bind_host, "-p", str(self.s.postgres_port),
                              "-d", DB_NAME, "-t", "3"], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stdout.strip() or out.stderr.strip() or f"pg_isready exit {out.returncode}")
        return out.stdout.strip()
