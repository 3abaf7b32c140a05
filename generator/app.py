"""Flask application of the generator service (served by gunicorn in the embedded stack:
``generator.app:create_app()``). Feature routes live in blueprints; this module wires them to the
process's one Kafka producer and owns the health check, the OpenAPI document and JSON errors."""

from __future__ import annotations

from confluent_kafka import KafkaException
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from carpipe.config import Settings, get_settings
from generator import api, dashboard, openapi
from generator.producer import get_producer

MAX_BODY_BYTES = 16 * 1024  # one event is ~350 bytes; anything near this limit is not an event


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False

    producer = get_producer(settings)
    producer.start_polling()
    app.extensions["generator"] = api.GeneratorState(settings, producer)
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp, settings=settings)

    @app.get("/healthz")
    def healthz():
        try:
            kafka = producer.reachable(settings.topic)
        except KafkaException as exc:
            return jsonify(status="unhealthy", kafka=str(exc)), 503
        return jsonify(status="ok", kafka=kafka)

    @app.get("/openapi.json")
    def openapi_json():
        return jsonify(openapi.document(request.host_url.rstrip("/")))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # RFC 9110 15.5.6
        return response, exc.code

    @app.errorhandler(KafkaException)
    def kafka_error(exc: KafkaException):
        return jsonify(error="kafka_unavailable", message=str(exc)), 503

    return app
