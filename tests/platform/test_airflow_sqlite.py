"""The embedded Airflow's SQLite session factory, on a scratch SQLite file in WAL mode (as Airflow runs
it): a SAVEPOINT transaction that reads, then writes after another connection committed, must not fail."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from stack.airflow_sqlite import CONNECT_ARGS, session_maker


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "airflow.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    con.close()
    return path


def read_then_write(factory, path) -> bool:
    """In a SAVEPOINT transaction (like `airflow backfill create`): read, let another process try to
    commit a write, then write. Returns whether the other process's write got in between."""
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    with factory() as session:
        with session.begin_nested():
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
            try:
                other.execute("INSERT INTO t VALUES (2)")
                interleaved = True
            except sqlite3.OperationalError:
                interleaved = False
            session.execute(text("DELETE FROM t WHERE x = 1"))
        session.commit()
    other.close()
    return interleaved


def test_plain_sessions_fail_at_once_on_a_stale_snapshot(db):
    """The trap itself: no busy timeout helps, SQLite refuses the upgrade to writer immediately."""
    plain = sessionmaker(create_engine(f"sqlite:///{db}", connect_args=CONNECT_ARGS))
    with pytest.raises(OperationalError, match="database is locked"):
        read_then_write(plain, db)


def test_savepoint_transactions_take_the_write_lock_first(db):
    factory = session_maker(create_engine(f"sqlite:///{db}", connect_args=CONNECT_ARGS))
    assert read_then_write(factory, db) is False  # the other writer had to wait for the lock
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT x FROM t").fetchall() == []  # the transaction's own write landed
