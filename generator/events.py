"""The car-transaction event: one pydantic model for generation, API validation and the JSON schema,
and a seeded factory that makes realistic, reproducible events fast enough for 100k+/s bursts.

Reproducibility: a factory's random stream is its seed alone, so the same seed and count give the same
events, ids included. Only ``event_time`` (and the model year, counted back from it) follows the clock
the caller passes in.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from carpipe.windows import iso_ms
from generator import catalog

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "car_transaction.schema.json"

# Canonical UUID text (lower-case, hyphenated): what the generator writes and what Kafka keys hold.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# ISO-8601 UTC with milliseconds and 'Z', e.g. 2025-01-31T23:59:59.123Z (ASCII digits: \d would also
# take other scripts' digits in some regex engines).
EVENT_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Text fields hold no control character (C0, DEL, C1: line breaks and tabs included); tag fields
# (InfluxDB tags, see carpipe.line_protocol) no backslash either. The same regex is valid in JSON
# schema (ECMA-262), pydantic (Rust), Python and Java, which is how the Spark job enforces it.
TEXT_PATTERN = r"^[^\x00-\x1F\x7F-\x9F]+$"
TAG_PATTERN = r"^[^\x00-\x1F\x7F-\x9F\\]+$"
# An event happened after 1970 and at most a day ahead of when it reaches the platform (the API's
# clock; the Spark job's bound is the end of the window the broker stamped it in).
EARLIEST_EVENT_TIME = "1970-01-01T00:00:00.000Z"
MAX_AHEAD_SECONDS = 24 * 3600
PRICE_DECIMALS = 2

Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN), Field(json_schema_extra={"format": "uuid"})]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=TEXT_PATTERN)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=TAG_PATTERN),
                Field(description="An InfluxDB tag: no control character, no backslash.")]


class CarTransaction(BaseModel):
    """One car sale, as a JSON object in one Kafka record (key = transaction_id)."""

    model_config = ConfigDict(extra="forbid", title="CarTransaction")

    # An int with a const, not Literal[1]: pydantic matches literals by equality, so JSON `true` would pass.
    schema_version: int = Field(json_schema_extra={"const": SCHEMA_VERSION},
                                description="Version of this event schema.")
    event_time: Annotated[
        str,
        StringConstraints(pattern=EVENT_TIME_PATTERN),
        Field(json_schema_extra={"format": "date-time", "x-not-before": EARLIEST_EVENT_TIME,
                                 "x-max-ahead-seconds": MAX_AHEAD_SECONDS},
              description=f"When the sale happened: ISO-8601 UTC with milliseconds and 'Z', not before "
                          f"{EARLIEST_EVENT_TIME} and at most {MAX_AHEAD_SECONDS // 3600} hours ahead of "
                          f"the time it is received."),
    ]
    transaction_id: Uuid = Field(description="Unique id of the sale; the Kafka record key. The same id "
                                             "with other content is a conflict (409).")
    buyer_id: Uuid = Field(description="Id of the buyer (repeat buyers keep their id).")
    buyer_name: Text = Field(description="No control character.")
    car_brand: Tag
    car_model: Tag
    year: int = Field(ge=1900, le=2100, description="Model year, written without a fraction (2020, not 2020.0).")
    color: Tag
    country: Tag
    branch: Tag = Field(description="Dealer branch (city) within the country; an InfluxDB tag: no "
                                    "control character, no backslash.")
    # Two decimals are stated as x-max-decimals, not JSON schema's multipleOf: binary floats make
    # generic validators reject e.g. 20301.71 as "not a multiple of 0.01".
    transaction_price: float = Field(ge=0.01, le=10_000_000, json_schema_extra={"x-max-decimals": PRICE_DECIMALS},
                                     description=f"Sale price, at most {PRICE_DECIMALS} decimals.")

    @field_validator("event_time")
    @classmethod
    def _real_instant(cls, value: str) -> str:
        t = datetime.strptime(value, EVENT_TIME_FORMAT).replace(tzinfo=timezone.utc)  # rejects month 13
        if value < EARLIEST_EVENT_TIME:
            raise ValueError(f"must not be before {EARLIEST_EVENT_TIME}")
        latest = datetime.now(timezone.utc) + timedelta(seconds=MAX_AHEAD_SECONDS)
        if t > latest:
            raise ValueError(f"must not be more than {MAX_AHEAD_SECONDS}s ahead of now ({iso_ms(latest)})")
        return value

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"must be {SCHEMA_VERSION}")
        return value

    @field_validator("transaction_price")
    @classmethod
    def _cents(cls, value: float) -> float:
        if round(value, PRICE_DECIMALS) != value:
            raise ValueError(f"must have at most {PRICE_DECIMALS} decimals")
        return value


def json_schema() -> dict:
    schema = CarTransaction.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"car_transaction.v{SCHEMA_VERSION}.schema.json"
    return schema


def json_schema_text() -> str:
    """The checked-in schema file's exact text (stable key order, trailing newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def utc_now_text() -> str:
    return iso_ms(datetime.now(timezone.utc))


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _wheel(weights) -> np.ndarray:
    """Item indices repeated by their (integer) weights: a uniform index into it is an exact weighted draw."""
    return np.repeat(np.arange(len(weights)), list(weights))


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
# Where each 4-byte-nibble run of a UUID's 32 hex digits goes in its 36-character text.
_UUID_GROUPS = ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24))


def uuid4_texts(raw: np.ndarray) -> list[str]:
    """Version-4 UUID texts of ``raw`` (n x 16 random bytes), as str(uuid.UUID(bytes=row, version=4))
    gives them: version and variant bits set, hex digits and dashes laid out in one array operation."""
    b = raw.copy()
    b[:, 6] = b[:, 6] & 0x0F | 0x40
    b[:, 8] = b[:, 8] & 0x3F | 0x80
    nibbles = np.empty((len(b), 32), np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = b >> 4, b & 0x0F
    text = np.full((len(b), 36), ord("-"), np.uint8)
    for lo, hi, at in _UUID_GROUPS:
        text[:, at:at + hi - lo] = _HEX[nibbles[:, lo:hi]]
    return text.view("S36").ravel().astype("U36").tolist()


def _texts(items) -> np.ndarray:
    """Strings as an object array: fancy indexing then ``tolist()`` hands out the same str objects."""
    items = list(items)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class EventFactory:
    """Makes events from one seeded random stream. Not thread-safe: one factory per producer loop.

    Bursts need 100k+ events/s from one Python process, so per event Python only joins six pre-escaped
    JSON fragments (no dict, no serializer): the random draws for BLOCK events at a time, and all that
    follows from them alone (ids, fragment choices, list prices), are numpy array operations. Events are
    taken from the block in order, so the sequence is the seed's whatever batch sizes callers ask for.
    Tests pin that the bytes equal pydantic's own serialization of the validated model.
    """

    BUYERS_PER_COUNTRY = 1_000  # repeat customers: each country has a fixed pool of buyers
    BLOCK = 4096

    def __init__(self, seed: int | None = None):
        self.seed = secrets.randbits(63) if seed is None else seed
        self._rng = np.random.default_rng(self.seed)
        models = catalog.CAR_MODELS
        self._car_wheel = _wheel([m.weight for m in models])
        # Fragments carry the JSON between them: buyer '","buyer_id":…,', car '"car_brand":…,"year":', and
        # tail ',"color":…,"country":…,"branch":…,"transaction_price":' (colour x branch: 700 entries).
        self._car_text = _texts(f'"car_brand":{_json(m.brand)},"car_model":{_json(m.model)},"year":' for m in models)
        self._since = np.array([m.since for m in models])
        self._low = np.array([m.price_low for m in models], dtype=float)
        self._spread = np.array([m.price_high - m.price_low for m in models], dtype=float)
        countries = list(catalog.COUNTRY_WEIGHTS)
        self._country_wheel = _wheel(catalog.COUNTRY_WEIGHTS.values())
        places = [f'"country":{_json(c)},"branch":{_json(b)}' for c in countries for b in catalog.BRANCHES[c]]
        self._place_count = np.array([len(catalog.BRANCHES[c]) for c in countries])
        self._place_first = np.cumsum(self._place_count) - self._place_count
        self._color_wheel = _wheel(catalog.COLOR_WEIGHTS.values())
        self._tail_text = _texts(f',"color":{_json(c)},{p},"transaction_price":' for c in catalog.COLOR_WEIGHTS
                                 for p in places)
        self._places = len(places)
        self._buyer_text = self._buyer_pools(countries)
        self._age_wheel = _wheel(catalog.AGE_WEIGHTS)
        # Share of the list price a car keeps, by age in years.
        self._kept = np.array([max((1 - catalog.DEPRECIATION) ** age, catalog.FLOOR)
                               for age in range(len(catalog.AGE_WEIGHTS))])
        self._block: dict = {}
        self._at = self._size = 0

    def _buyer_pools(self, countries: list[str]) -> np.ndarray:
        """Buyer fragments, BUYERS_PER_COUNTRY per country in country order, from their own stream (so
        the pools are the same whatever the events draw): a buyer keeps one id and one name."""
        rng = np.random.default_rng([self.seed, 1])
        n = self.BUYERS_PER_COUNTRY
        ids = iter(uuid4_texts(rng.integers(0, 256, size=(n * len(countries), 16), dtype=np.uint8)))
        fragments = []
        for country in countries:
            first, last = catalog.NAMES[country]
            fragments += [f'","buyer_id":"{next(ids)}","buyer_name":{_json(first[i] + " " + last[j])},'
                          for i, j in zip(rng.integers(len(first), size=n), rng.integers(len(last), size=n))]
        return _texts(fragments)

    def _draw_block(self) -> None:
        """The next BLOCK events, all but their event time: who bought what, where, at which list price."""
        rng, n = self._rng, self.BLOCK
        pick = lambda wheel: wheel[rng.integers(len(wheel), size=n)]  # noqa: E731
        car, country, color = pick(self._car_wheel), pick(self._country_wheel), pick(self._color_wheel)
        place = self._place_first[country] + (rng.random(n) * self._place_count[country]).astype(np.intp)
        buyer = country * self.BUYERS_PER_COUNTRY + rng.integers(self.BUYERS_PER_COUNTRY, size=n)
        self._block = {
            "tid": uuid4_texts(rng.integers(0, 256, size=(n, 16), dtype=np.uint8)),
            "buyer": self._buyer_text[buyer].tolist(),
            "car": self._car_text[car].tolist(),
            "tail": self._tail_text[color * self._places + place].tolist(),
            "age": self._age_wheel[rng.integers(len(self._age_wheel), size=n)],
            "since": self._since[car],
            "list_price": self._low[car] + rng.random(n) * self._spread[car],
        }
        self._at, self._size = 0, n

    def _dated(self, year: int) -> tuple[list[int], list[float]]:
        """Model years and prices of the current block's events sold in ``year`` (cached: the year
        changes once a year, bursts call records() hundreds of times a second)."""
        b = self._block
        if b.get("dated_year") != year:
            model_year = np.maximum(year - b["age"], b["since"])
            kept = self._kept[np.maximum(year - model_year, 0)]  # a model launched after the sale counts as new
            b["dated_year"] = year
            b["dated"] = (model_year.tolist(), (np.rint(b["list_price"] * kept * 100) / 100).tolist())
        return b["dated"]

    def records(self, event_time: str, n: int) -> list[tuple[str, bytes]]:
        """The next ``n`` events as (Kafka key = transaction_id, UTF-8 JSON value), all stamped
        ``event_time`` as carpipe.windows.iso_ms lays it out (model years count back from its year)."""
        out: list[tuple[str, bytes]] = []
        prefix = f'{{"schema_version":{SCHEMA_VERSION},"event_time":"{event_time}","transaction_id":"'
        while len(out) < n:
            if self._at == self._size:
                self._draw_block()
            lo, hi = self._at, min(self._size, self._at + n - len(out))
            self._at = hi
            b = self._block
            years, prices = self._dated(int(event_time[:4]))
            tids = b["tid"][lo:hi]
            out += zip(tids, [f"{prefix}{tid}{buyer}{car}{y}{tail}{p!r}}}".encode()
                              for tid, buyer, car, y, tail, p in zip(tids, b["buyer"][lo:hi], b["car"][lo:hi],
                                                                      years[lo:hi], b["tail"][lo:hi], prices[lo:hi])])
        return out

    def record(self, event_time: str) -> tuple[str, bytes]:
        """One event, as ``records`` gives them."""
        return self.records(event_time, 1)[0]

    def make(self, event_time: str) -> dict:
        """The next event as a dict in CarTransaction's field order."""
        return json.loads(self.record(event_time)[1])


def generate(seed: int, count: int, event_time: str) -> list[dict]:
    """``count`` events of one seed, all stamped ``event_time`` (for reproducibility checks)."""
    factory = EventFactory(seed)
    return [factory.make(event_time) for _ in range(count)]
