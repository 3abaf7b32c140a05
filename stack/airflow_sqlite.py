"""Connection arguments of the embedded Airflow's SQLite metadata DB (imported by Airflow by path).

SQLite lets one writer in at a time (Airflow already turns WAL on, so readers don't block). Its default
busy timeout of 5 s is too short once the scheduler, the DAG processor, the API server and an operator's
CLI command (`airflow backfill create` clears task instances in one transaction) write together on two
busy cores: the loser fails with "database is locked". Waiting up to a minute for the lock instead is
what a single-file database needs; a real deployment points sql_alchemy_conn at PostgreSQL and drops this.
"""

CONNECT_ARGS = {"timeout": 60}
