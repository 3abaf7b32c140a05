"""One DagBag for the DAG tests, parsed once per session from the real DAG folder, hermetically: with
the throwaway Airflow home tests/conftest.py sets, no service and none of the stack's environment."""

from __future__ import annotations

import pytest

from carpipe.config import REPO_ROOT, get_settings

DAG_FOLDER = REPO_ROOT / "dags"


def airflow_env() -> dict[str, str]:
    """The stack's Airflow environment, for the tests that drive the running Airflow (its CLI)."""
    from stack.services import Stack

    return Stack(get_settings()).airflow_env()


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAG_FOLDER))
