"""The car-transaction event: one pydantic model for generation, API validation and the JSON schema,
and a seeded factory that makes realistic, reproducible events fast enough for 100k+/s bursts.

Reproducibility: a factory's random stream is its seed alone, so the same seed and count give the same
events, ids included. Only ``event_time`` (and the model year, counted back from it) follows the clock
the caller passes in.
"""

from __future__ import annotations

import json
import random
import secrets
from bisect import bisect
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import to_json

from generator import catalog

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "car_transaction.schema.json"

# Canonical UUID text (lower-case, hyphenated): what the generator writes and what Kafka keys hold.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# ISO-8601 UTC with milliseconds and 'Z', e.g. 2025-01-31T23:59:59.123Z.
EVENT_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN), Field(json_schema_extra={"format": "uuid"})]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CarTransaction(BaseModel):
    """One car sale, as a JSON object in one Kafka record (key = transaction_id)."""

    model_config = ConfigDict(extra="forbid", title="CarTransaction")

    schema_version: Literal[1] = Field(description="Version of this event schema.")
    event_time: Annotated[
        str,
        StringConstraints(pattern=EVENT_TIME_PATTERN),
        Field(json_schema_extra={"format": "date-time"},
              description="When the sale happened: ISO-8601 UTC with milliseconds and 'Z'."),
    ]
    transaction_id: Uuid = Field(description="Unique id of the sale; the Kafka record key.")
    buyer_id: Uuid = Field(description="Id of the buyer (repeat buyers keep their id).")
    buyer_name: Text
    car_brand: Text
    car_model: Text
    year: int = Field(ge=1900, le=2100, description="Model year.")
    color: Text
    country: Text
    branch: Text = Field(description="Dealer branch (city) within the country.")
    # Two decimals are checked by a validator, not JSON schema's multipleOf: binary floats make
    # generic validators reject e.g. 20301.71 as "not a multiple of 0.01".
    transaction_price: float = Field(ge=0.01, le=10_000_000, description="Sale price, at most two decimals.")

    @field_validator("event_time")
    @classmethod
    def _real_instant(cls, value: str) -> str:
        datetime.strptime(value, EVENT_TIME_FORMAT)  # rejects e.g. month 13 that the pattern lets through
        return value

    @field_validator("transaction_price")
    @classmethod
    def _cents(cls, value: float) -> float:
        if round(value, 2) != value:
            raise ValueError("must have at most two decimals")
        return value


def json_schema() -> dict:
    schema = CarTransaction.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"car_transaction.v{SCHEMA_VERSION}.schema.json"
    return schema


def json_schema_text() -> str:
    """The checked-in schema file's exact text (stable key order, trailing newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def format_event_time(at: datetime) -> str:
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def utc_now_text() -> str:
    return format_event_time(datetime.now(timezone.utc))


def encode(event: dict) -> bytes:
    """An event dict (field order of CarTransaction) as the compact UTF-8 JSON Kafka holds."""
    return to_json(event)


class _Wheel:
    """Weighted choice driven by one rng.random() draw (cheaper than random.choices per event)."""

    def __init__(self, items, weights):
        self.items = tuple(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random):
        return self.items[bisect(self.cum, rng.random() * self.total)]


# UUID version-4 bit layout, as uuid.UUID(int=bits, version=4) applies it.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4_text(rng: random.Random) -> str:
    """str(uuid.UUID(int=rng.getrandbits(128), version=4)), without building a UUID object."""
    h = "%032x" % (rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class EventFactory:
    """Makes events from one seeded random stream. Not thread-safe: one factory per producer loop."""

    BUYERS_PER_COUNTRY = 2_000  # repeat customers: each country has a fixed pool of buyers

    def __init__(self, seed: int | None = None):
        self.seed = secrets.randbits(63) if seed is None else seed
        self._rng = random.Random(self.seed)
        self._models = _Wheel(catalog.CAR_MODELS, (m.weight for m in catalog.CAR_MODELS))
        self._countries = _Wheel(catalog.COUNTRY_WEIGHTS, catalog.COUNTRY_WEIGHTS.values())
        self._colors = _Wheel(catalog.COLOR_WEIGHTS, catalog.COLOR_WEIGHTS.values())
        self._ages = _Wheel(range(len(catalog.AGE_WEIGHTS)), catalog.AGE_WEIGHTS)
        # Buyer pools come from their own stream so they are the same whatever the events drew before.
        self._buyer_rng = random.Random(f"buyers:{self.seed}")
        self._buyers: dict[str, list[tuple[str, str]]] = {}

    def _buyer(self, country: str) -> tuple[str, str]:
        pool = self._buyers.get(country)
        if pool is None:
            first, last = catalog.NAMES[country]
            rng = self._buyer_rng
            pool = self._buyers[country] = [
                (uuid4_text(rng), f"{rng.choice(first)} {rng.choice(last)}") for _ in range(self.BUYERS_PER_COUNTRY)
            ]
        return pool[int(self._rng.random() * len(pool))]

    def make(self, event_time: str) -> dict:
        """One event as a dict in CarTransaction's field order; ``event_time`` as format_event_time gives."""
        rng = self._rng
        car = self._models.pick(rng)
        country = self._countries.pick(rng)
        branches = catalog.BRANCHES[country]
        branch = branches[int(rng.random() * len(branches))]
        buyer_id, buyer_name = self._buyer(country)
        this_year = int(event_time[:4])
        year = max(this_year - self._ages.pick(rng), car.since)
        age = this_year - year
        list_price = car.price_low + rng.random() * (car.price_high - car.price_low)
        value = max((1 - catalog.DEPRECIATION) ** age, catalog.FLOOR)
        return {
            "schema_version": SCHEMA_VERSION,
            "event_time": event_time,
            "transaction_id": uuid4_text(rng),
            "buyer_id": buyer_id,
            "buyer_name": buyer_name,
            "car_brand": car.brand,
            "car_model": car.model,
            "year": year,
            "color": self._colors.pick(rng),
            "country": country,
            "branch": branch,
            "transaction_price": round(list_price * value, 2),
        }


def generate(seed: int, count: int, event_time: str) -> list[dict]:
    """``count`` events of one seed, all stamped ``event_time`` (for reproducibility checks)."""
    factory = EventFactory(seed)
    return [factory.make(event_time) for _ in range(count)]
