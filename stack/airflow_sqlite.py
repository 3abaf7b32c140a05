"""How the embedded Airflow's processes use their SQLite metadata DB (Airflow imports these by path).

SQLite lets one writer in at a time; Airflow already turns WAL on, so readers never block. Two traps
remain when the scheduler, the DAG processor, the API server and an operator's CLI write together:

- a writer that finds the lock taken waits only SQLite's default 5 s, then fails with "database is
  locked": ``CONNECT_ARGS`` makes every connection wait up to a minute;
- a transaction opened by a SAVEPOINT (``session.begin_nested()``: `airflow backfill create` clearing a
  finished run, asset events) starts as a reader; when it then writes and another process has committed
  since its first read, SQLite refuses at once, without waiting (SQLITE_BUSY on a stale WAL snapshot).
  ``session_maker`` opens such transactions with BEGIN IMMEDIATE, which takes the write lock first (and
  waits for it), so they never need to upgrade.

A deployment beyond one laptop points sql_alchemy_conn at PostgreSQL and drops both settings.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

CONNECT_ARGS = {"timeout": 60}


def _begin_immediate(conn, name) -> None:
    dbapi = conn.connection.dbapi_connection
    # pysqlite opens a transaction only at the first write, so in_transaction means it already holds the lock.
    if not dbapi.in_transaction:
        dbapi.execute("BEGIN IMMEDIATE")


def session_maker(engine) -> sessionmaker:
    """Airflow's default session factory, with SAVEPOINTs outside a transaction begun IMMEDIATE."""
    event.listen(engine, "savepoint", _begin_immediate)
    return sessionmaker(engine, autocommit=False, autoflush=False, expire_on_commit=False)
