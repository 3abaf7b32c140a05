"""Flask application of the generator service (served by gunicorn in the embedded stack)."""

from __future__ import annotations

from flask import Flask, jsonify

from carpipe.config import get_settings


def create_app() -> Flask:
    app = Flask(__name__)
    settings = get_settings()

    @app.get("/healthz")
    def healthz():
        from confluent_kafka.admin import AdminClient

        try:
            md = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=3)
        except Exception as exc:  # noqa: BLE001 - unreachable Kafka is the answer, not a crash
            return jsonify(status="unhealthy", kafka=str(exc)), 503
        return jsonify(status="ok", kafka_brokers=len(md.brokers))

    return app
