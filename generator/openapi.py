"""The OpenAPI 3.1 document GET /openapi.json serves. Request schemas come from the pydantic models
the routes validate with, so the document cannot drift from what the API accepts."""

from __future__ import annotations

from pydantic.json_schema import models_json_schema

from generator.api import LOG_ACK_TIMEOUT, BurstRequest, StreamParams
from generator.events import CarTransaction

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


COUNTS = {
    "produced": {"type": "integer"},
    "acknowledged": {"type": "integer"},
    "failed": {"type": "integer"},
}

RESPONSE_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code, e.g. validation_failed"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}}}},
        },
    },
    "LogAcknowledged": {
        "type": "object",
        "required": ["status", "topic", "partition", "offset", "event"],
        "properties": {
            "status": {"enum": ["acknowledged", "already_acknowledged"]},
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
            "event": _ref("CarTransaction"),
        },
    },
    "BurstStatus": {
        "type": "object",
        "required": ["id", "state", "requested", *COUNTS],
        "properties": {
            "id": {"type": "string"},
            "state": {"enum": ["pending", "running", "succeeded", "failed", "error"]},
            "topic": {"type": "string"},
            "seed": {"type": "integer"},
            "rate": {"type": ["number", "null"]},
            "requested": {"type": "integer"},
            **COUNTS,
            "pending": {"type": "integer", "description": "produced, callback not yet received (while running)"},
            "errors": {"type": "object", "additionalProperties": {"type": "integer"}},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time"},
            "achieved_rate": {"type": "number"},
            "ok": {"type": "boolean"},
        },
    },
    "Health": {
        "type": "object",
        "properties": {"status": {"enum": ["ok", "unhealthy"]}, "kafka": {}},
    },
}


def _query_parameters(model) -> list[dict]:
    schema = model.model_json_schema()
    return [{"name": name, "in": "query", "required": False, "schema": prop,
             "description": prop.get("description", "")}
            for name, prop in schema["properties"].items()]


SECURITY = [{"writeToken": []}]
UNAUTHORIZED = {
    "401": _error("no bearer token (WWW-Authenticate: Bearer); nothing produced"),
    "403": _error("a bearer token that is not the write token; nothing produced"),
}


def document(server_url: str) -> dict:
    _, defs = models_json_schema([(CarTransaction, "validation"), (BurstRequest, "validation")],
                                 ref_template=REF)
    schemas = {**defs["$defs"], **RESPONSE_SCHEMAS}
    bad_body = {
        "400": _error("malformed JSON"),
        "413": _error("body larger than the size limit"),
        "415": _error("Content-Type is not application/json"),
        "422": _error("valid JSON that does not match the schema: wrong type, missing or unknown field, or a "
                      "value outside its stated rule (pattern, length, bounds, and the schema's x- rules: "
                      "x-max-decimals, x-not-before, x-max-ahead-seconds); `details` names each field"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Car-transactions generator",
            "version": "1.0.0",
            "description": "Produces car-sale events into Kafka: an SSE stream, custom records, bursts.",
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/api/stream_car_transactions": {"get": {
                "summary": "Stream generated transactions as Server-Sent Events; each is also produced to Kafka",
                "description": "Events are `event: transaction` with the record JSON as data; the stream ends "
                               "with `event: summary` (delivery counts) at the first bound reached.",
                "parameters": _query_parameters(StreamParams),
                "security": SECURITY,
                "responses": {
                    **UNAUTHORIZED,
                    "200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    "400": _error("invalid query parameters"),
                    "503": _error("Kafka unreachable"),
                },
            }},
            "/api/logs": {"post": {
                "summary": "Produce one custom transaction record; answers after the broker acknowledged it",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CarTransaction")}}},
                "security": SECURITY,
                "description": "A transaction_id means one transaction: repeating an acknowledged record "
                               "exactly is answered 200 with the first acknowledgement (nothing produced); "
                               "the same id with other content is a 409 (nothing produced). Ids are "
                               "remembered per generator process, for its most recent accepted ids.",
                "responses": {
                    "201": _json(_ref("LogAcknowledged"), "written to Kafka (acks=all)"),
                    "200": _json(_ref("LogAcknowledged"), "the same record was acknowledged before "
                                                         "(status already_acknowledged); not produced again"),
                    **bad_body,
                    **UNAUTHORIZED,
                    "409": _error("the transaction_id was accepted with other content, or a request with it "
                                  "is still waiting for the broker; nothing produced"),
                    "502": _error("Kafka rejected the record"),
                    "503": _error("Kafka unreachable"),
                    "504": _error(f"no acknowledgement within {LOG_ACK_TIMEOUT:.0f}s (may still be delivered)"),
                },
            }},
            "/api/bursts": {"post": {
                "summary": "Start a burst in the background",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BurstRequest")}}},
                "security": SECURITY,
                "responses": {"202": _json(_ref("BurstStatus"), "started; follow the Location header"), **bad_body,
                              **UNAUTHORIZED,
                              "429": _error("over the limits: rate x duration above the per-burst cap "
                                            "(burst_too_large), or the maximum of bursts already running "
                                            "(too_many_bursts, with Retry-After)")},
            }},
            "/api/bursts/{burst_id}": {"get": {
                "summary": "A burst's live counts, then its final report",
                "parameters": [{"name": "burst_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("BurstStatus"), "burst status"), "404": _error("unknown burst")},
            }},
            "/healthz": {"get": {
                "summary": "Healthy only when Kafka answers",
                "responses": {"200": _json(_ref("Health"), "Kafka reachable"),
                              "503": _json(_ref("Health"), "Kafka unreachable")},
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": schemas, "securitySchemes": {"writeToken": {
            "type": "http", "scheme": "bearer",
            "description": "the generator's write token: a 0600 file in the platform's secrets dir "
                           "(`make urls` says where)"}}},
    }
