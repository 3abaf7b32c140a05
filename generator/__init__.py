"""Car-transactions generator: event model, Kafka producer, bursts and the Flask API.

- ``events``   the CarTransaction model (JSON schema in ``schema/``) and the seeded EventFactory
- ``catalog``  realistic value sets: brands and models with prices, countries and branches, names
- ``producer`` the process's idempotent confluent-kafka producer and per-caller delivery tallies
- ``burst``    paced bursts (``run_burst``) and their reports
- ``api``      the /api blueprint (SSE stream, custom records, background bursts)
- ``app``      the Flask app (``create_app``: gunicorn entry point), /healthz, /openapi.json
- ``python -m generator burst --rate R --duration S [--seed N]`` / ``python -m generator schema [--check]``
"""
