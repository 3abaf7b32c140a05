"""One DagBag for the DAG tests, parsed once per session from the real DAG folder, with the same
Airflow configuration the embedded stack's services use."""

from __future__ import annotations

import os

import pytest

from carpipe.config import REPO_ROOT, get_settings

DAG_FOLDER = REPO_ROOT / "dags"


def airflow_env() -> dict[str, str]:
    from stack.services import Stack

    return Stack(get_settings()).airflow_env()


@pytest.fixture(scope="session")
def dagbag():
    for key, value in airflow_env().items():
        if key.startswith("AIRFLOW"):
            os.environ.setdefault(key, value)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAG_FOLDER))
