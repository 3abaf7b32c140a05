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
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _wheel(items, weights) -> tuple:
    """Each item repeated by its (integer) weight: ``table[int(random() * len(table))]`` is an exact
    weighted choice for the price of one random() draw (no bisect, no random.choices per event)."""
    return tuple(item for item, weight in zip(items, weights) for _ in range(weight))


# UUID version-4 bit layout, as uuid.UUID(int=bits, version=4) applies it to a 128-bit number.
_UUID4_CLEAR = ((1 << 128) - 1) & ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


@lru_cache(maxsize=4)
def _uuid4_masks(n: int) -> tuple[int, int]:
    return (sum(_UUID4_CLEAR << (128 * j) for j in range(n)), sum(_UUID4_SET << (128 * j) for j in range(n)))


def uuid4_batch(rng: random.Random, n: int) -> list[str]:
    """n version-4 UUID strings from one ``bits = rng.getrandbits(128 * n)`` draw, last first: ``pop()``
    yields j = 0, 1, ... where the j-th is str(uuid.UUID(int=(bits >> 128 * j) % 2**128, version=4)).
    Masking and hex formatting run once over the batch: several times cheaper than a uuid.UUID per event."""
    clear, set_ = _uuid4_masks(n)
    h = "%0*x" % (32 * n, rng.getrandbits(128 * n) & clear | set_)
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


class EventFactory:
    """Makes events from one seeded random stream. Not thread-safe: one factory per producer loop.

    ``record()`` is the hot path of bursts: it writes the event's JSON straight from pre-escaped
    fragments (no dict, no serializer per event). ``make()`` is the same event as a dict; tests pin
    that the bytes equal pydantic's own serialization of the validated model.
    """

    BUYERS_PER_COUNTRY = 1_000  # repeat customers: each country has a fixed pool of buyers
    ID_BATCH = 256

    def __init__(self, seed: int | None = None):
        self.seed = secrets.randbits(63) if seed is None else seed
        self._rng = random.Random(self.seed)
        models = catalog.CAR_MODELS
        self._cars = _wheel([(f'"car_brand":{_json(m.brand)},"car_model":{_json(m.model)}', m.since, m.price_low,
                              m.price_high - m.price_low) for m in models], [m.weight for m in models])
        self._countries = _wheel(
            [(c, [f'"country":{_json(c)},"branch":{_json(b)}' for b in catalog.BRANCHES[c]])
             for c in catalog.COUNTRY_WEIGHTS], catalog.COUNTRY_WEIGHTS.values())
        self._colors = _wheel([f'"color":{_json(c)}' for c in catalog.COLOR_WEIGHTS], catalog.COLOR_WEIGHTS.values())
        self._ages = _wheel(range(len(catalog.AGE_WEIGHTS)), catalog.AGE_WEIGHTS)
        # Share of the list price a car keeps, by age in years.
        self._kept = [max((1 - catalog.DEPRECIATION) ** age, catalog.FLOOR) for age in range(len(catalog.AGE_WEIGHTS))]
        # Buyer pools come from their own stream so they are the same whatever the events drew before.
        self._buyer_rng = random.Random(f"buyers:{self.seed}")
        self._buyers: dict[str, list[str]] = {}
        self._ids: list[str] = []
        self._time, self._year = "", 0

    def _buyer_pool(self, country: str) -> list[str]:
        first, last = catalog.NAMES[country]
        rng = self._buyer_rng
        ids = uuid4_batch(rng, self.BUYERS_PER_COUNTRY)
        pool = self._buyers[country] = [
            f'"buyer_id":"{ids.pop()}","buyer_name":{_json(rng.choice(first) + " " + rng.choice(last))}'
            for _ in range(self.BUYERS_PER_COUNTRY)
        ]
        return pool

    def record(self, event_time: str) -> tuple[str, bytes]:
        """One event as (Kafka key = transaction_id, UTF-8 JSON value); ``event_time`` as
        format_event_time gives (the model year counts back from its year)."""
        rand = self._rng.random
        if event_time is not self._time:
            self._time, self._year = event_time, int(event_time[:4])
        cars, countries, colors, ages = self._cars, self._countries, self._colors, self._ages
        car, since, low, spread = cars[int(rand() * len(cars))]
        country, places = countries[int(rand() * len(countries))]
        place = places[int(rand() * len(places))]
        pool = self._buyers.get(country) or self._buyer_pool(country)
        buyer = pool[int(rand() * len(pool))]
        year = max(self._year - ages[int(rand() * len(ages))], since)
        age = max(self._year - year, 0)  # a model launched after event_time counts as new
        price = round((low + rand() * spread) * self._kept[age], 2)
        color = colors[int(rand() * len(colors))]
        if not self._ids:
            self._ids = uuid4_batch(self._rng, self.ID_BATCH)
        tid = self._ids.pop()
        return tid, (
            f'{{"schema_version":{SCHEMA_VERSION},"event_time":"{event_time}","transaction_id":"{tid}",'
            f'{buyer},{car},"year":{year},{color},{place},"transaction_price":{price!r}}}'
        ).encode()

    def make(self, event_time: str) -> dict:
        """The next event as a dict in CarTransaction's field order."""
        return json.loads(self.record(event_time)[1])


def generate(seed: int, count: int, event_time: str) -> list[dict]:
    """``count`` events of one seed, all stamped ``event_time`` (for reproducibility checks)."""
    factory = EventFactory(seed)
    return [factory.make(event_time) for _ in range(count)]
