"""The /api blueprint: SSE stream, custom log records, background bursts.

Every route produces through the app's one EventProducer (``current_app.extensions["generator"]``),
whose background thread serves delivery callbacks while request threads wait on their own Tally.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carpipe.config import Settings
from generator import auth
from generator.accepted import Ack, AcceptedIds, Conflict
from generator.burst import Burst, due_batches
from generator.events import CarTransaction, EventFactory, utc_now_text
from generator.producer import EventProducer, Tally

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")

LOG_ACK_TIMEOUT = 10.0  # seconds POST /api/logs waits for the broker before answering 504
KEEP_BURSTS = 100       # finished bursts remembered for GET /api/bursts/<id>


class StreamParams(BaseModel):
    """Query parameters of GET /api/stream_car_transactions: the stream stops at whichever bound
    comes first (default: 60 seconds at 2 events/s)."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(2.0, gt=0, le=1_000, description="events per second")
    count: int | None = Field(None, ge=1, le=1_000_000, description="stop after this many events")
    seconds: float = Field(60.0, gt=0, le=3_600, description="stop after this many seconds")
    seed: int | None = Field(None, description="seed for reproducible events")

    @property
    def total(self) -> int:
        by_time = max(1, int(self.rate * self.seconds))
        return by_time if self.count is None else min(self.count, by_time)


class BurstRequest(BaseModel):
    """Body of POST /api/bursts."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, le=1_000_000, description="events per second")
    duration: float = Field(gt=0, le=3_600, description="seconds")
    seed: int | None = Field(None, description="seed for reproducible events (default: random)")

    @model_validator(mode="after")
    def _at_least_one(self) -> "BurstRequest":
        if round(self.rate * self.duration) < 1:
            raise ValueError("rate * duration must be at least one event")
        return self


class GeneratorState:
    """What the app shares between requests: settings, the producer, bursts started over the API, the
    transaction ids POST /api/logs accepted."""

    def __init__(self, settings: Settings, producer: EventProducer):
        self.settings = settings
        self.producer = producer
        self.accepted = AcceptedIds(settings.generator_id_horizon)
        self.bursts: OrderedDict[str, Burst] = OrderedDict()
        self._lock = threading.Lock()

    def start_burst(self, req: BurstRequest) -> Burst:
        s, events = self.settings, round(req.rate * req.duration)
        if events > s.generator_max_burst_events:
            raise ApiError(429, "burst_too_large", f"{events} events asked; at most "
                           f"{s.generator_max_burst_events} per burst (rate x duration)")
        burst = Burst(events, req.rate, req.seed, s, self.producer)
        with self._lock:
            running = sum(b.state in ("pending", "running") for b in self.bursts.values())
            if running >= s.generator_max_active_bursts:
                raise ApiError(429, "too_many_bursts", f"{running} bursts are running; at most "
                               f"{s.generator_max_active_bursts} at once", retry_after=5)
            self.bursts[burst.id] = burst
            finished = [k for k, b in self.bursts.items() if b.report is not None]
            for key in finished[: max(0, len(self.bursts) - KEEP_BURSTS)]:
                del self.bursts[key]
        threading.Thread(target=self._run, args=(burst,), name=f"burst-{burst.id}", daemon=True).start()
        return burst

    @staticmethod
    def _run(burst: Burst) -> None:
        try:
            report = burst.run(progress=False)
            log.info("burst %s finished: %s", burst.id, report.as_dict())
        except Exception:  # noqa: BLE001 - the burst's state says "error"; the thread must not vanish silently
            log.exception("burst %s failed", burst.id)


def state() -> GeneratorState:
    return current_app.extensions["generator"]


class ApiError(Exception):
    """An answer with a 4xx/5xx status and a JSON body {"error": code, "message": ..., ...}."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": code, "message": message, **extra}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    headers = {"Retry-After": str(exc.body["retry_after"])} if "retry_after" in exc.body else {}
    return jsonify(exc.body), exc.status, headers


# The endpoints that produce to Kafka (the stream too: a GET that writes).
WRITE_ENDPOINTS = {"api.post_log", "api.post_burst", "api.stream_car_transactions"}


@bp.before_request
def _authenticate():
    if request.endpoint in WRITE_ENDPOINTS:
        try:
            auth.check(request, state().settings)
        except auth.Unauthorized as exc:
            return jsonify(error=exc.code, message=exc.message), exc.status, exc.headers


def validation_details(exc: ValidationError) -> list[dict]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)]


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The JSON request body validated strictly (no "2020" for an int) against ``model``."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH -> 413 before the body is read
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        details = validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            raise ApiError(400, "malformed_json", "request body is not valid JSON", details=details) from None
        raise ApiError(422, "validation_failed", f"the body does not match the {model.__name__} schema",
                       details=details) from None


@bp.get("/stream_car_transactions")
def stream_car_transactions():
    try:
        params = StreamParams.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "invalid_query", "invalid query parameters", details=validation_details(exc)) from None
    st = state()
    st.producer.ensure_topic(st.settings.topic)

    def events():
        factory, tally, topic, sent = EventFactory(params.seed), Tally(), st.settings.topic, 0
        try:
            for n in due_batches(params.total, params.rate):
                event_time = utc_now_text()
                for _ in range(n):
                    key, value = factory.record(event_time)
                    st.producer.send(topic, [(key, value)], tally)
                    sent += 1
                    yield f"id: {sent}\nevent: transaction\ndata: {value.decode()}\n\n"
            tally.wait(LOG_ACK_TIMEOUT)
            yield f"event: summary\ndata: {json.dumps(tally.as_dict())}\n\n"
        except GeneratorExit:
            # The client went away: stop producing. What was produced is in flight and gets its
            # callbacks from the poll thread like any other record.
            log.info("stream client disconnected after %d event(s): %s", sent, tally.as_dict())
            raise

    return Response(events(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/logs")
def post_log():
    event = parse_body(CarTransaction)  # any error answers 4xx here, before anything is produced
    st = state()
    tid, value = event.transaction_id, event.model_dump_json().encode()
    try:
        earlier = st.accepted.claim(tid, value)  # see generator.accepted: one id, one transaction
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc), transaction_id=tid) from None
    if earlier is not None:
        return jsonify(status="already_acknowledged", topic=earlier.topic, partition=earlier.partition,
                       offset=earlier.offset, event=event.model_dump()), 200
    tally = Tally()
    try:
        st.producer.ensure_topic(st.settings.topic)
        st.producer.send(st.settings.topic, [(tid, value)], tally)
    except BaseException:
        st.accepted.unconfirmed(tid, maybe_delivered=False)
        raise
    if not tally.wait(LOG_ACK_TIMEOUT):
        # At-least-once edge: the record may still be written after this answer, so a client that
        # retries may produce it twice: identical copies, which the pipeline collapses and counts.
        st.accepted.unconfirmed(tid, maybe_delivered=True)
        raise ApiError(504, "not_acknowledged", f"Kafka did not acknowledge within {LOG_ACK_TIMEOUT:.0f}s; "
                     "the record may still be delivered", transaction_id=tid)
    if tally.failed:
        st.accepted.unconfirmed(tid, maybe_delivered=False)
        raise ApiError(502, "delivery_failed", "Kafka rejected the record", errors=dict(tally.errors),
                       transaction_id=tid)
    msg = tally.last_message
    st.accepted.acknowledged(tid, Ack(msg.topic(), msg.partition(), msg.offset()))
    return jsonify(status="acknowledged", topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
                   event=event.model_dump()), 201


@bp.post("/bursts")
def post_burst():
    burst = state().start_burst(parse_body(BurstRequest))
    url = url_for("api.get_burst", burst_id=burst.id)
    return jsonify(burst.status()), 202, {"Location": url}


@bp.get("/bursts/<burst_id>")
def get_burst(burst_id: str):
    burst = state().bursts.get(burst_id)
    if burst is None:
        raise ApiError(404, "not_found", f"no burst {burst_id}")
    return jsonify(burst.status())
