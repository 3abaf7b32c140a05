"""The event contract as plain data, derived from the generator's exported JSON schema.

The generator's pydantic model is the source of truth; it exports
``generator/schema/car_transaction.schema.json``. The job reads that file on the driver and turns
it into ``FieldRule``s, so executors need neither pydantic nor the generator package, and a change
to the model reaches the job without a second hand-written schema to keep in step.

Only the JSON-schema keywords pydantic emits for flat models are understood, plus the contract's own
extensions (``x-not-before``, ``x-max-ahead-seconds`` for date-times, ``x-max-decimals`` for numbers);
anything else in a property is a clear error rather than a rule silently ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

KINDS = {"string", "integer", "number", "boolean"}

# Keywords that only document a property; they constrain nothing.
_DESCRIPTIVE = {"title", "description", "default", "examples", "type", "anyOf", "$ref", "deprecated"}
_CONSTRAINTS = {"const", "enum", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
                "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                "x-not-before", "x-max-ahead-seconds", "x-max-decimals"}
FORMATS = {"date-time", "uuid"}


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: str                       # JSON-schema type: string | integer | number | boolean
    required: bool = True
    nullable: bool = False
    allowed: tuple | None = None    # const / enum
    fmt: str | None = None          # date-time | uuid
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    multiple_of: float | None = None
    not_before: str | None = None          # date-time: the earliest instant (ISO-8601 text)
    max_ahead_seconds: int | None = None   # date-time: how far past its receipt an instant may lie
    max_decimals: int | None = None        # number: decimals of its shortest decimal text

    def admits_text(self, value: str) -> bool:
        """Whether the length and pattern rules let ``value`` through (as the job's checks do)."""
        if self.min_length is not None and len(value) < self.min_length:
            return False
        if self.max_length is not None and len(value) > self.max_length:
            return False
        return self.pattern is None or re.search(self.java_pattern.replace("\\z", "\\Z"), value) is not None

    @property
    def java_pattern(self) -> str | None:
        """``pattern`` for Java's regex engine (Spark's rlike): in JSON schema (ECMA-262) ``$`` ends the
        text, in Java it also matches before a final line break, so a trailing ``$`` becomes ``\\z``."""
        p = self.pattern
        if p is not None and p.endswith("$") and not p.endswith("\\$"):
            return p[:-1] + "\\z"
        return p


@dataclass(frozen=True)
class EventRules:
    fields: tuple[FieldRule, ...]   # in the schema's property order (the order reasons are checked)
    closed: bool = False            # additionalProperties: false -> unknown properties are invalid

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def __getitem__(self, name: str) -> FieldRule:
        return next(f for f in self.fields if f.name == name)


def load_rules(path: str | Path) -> EventRules:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"event JSON schema not found: {path} (exported by the generator)")
    return rules_from_schema(json.loads(path.read_text()))


def rules_from_schema(schema: dict) -> EventRules:
    """One FieldRule per top-level property."""
    if schema.get("type") != "object" or not schema.get("properties"):
        raise ValueError("event schema must be a JSON object schema with properties")
    required = set(schema.get("required", ()))
    fields = tuple(_rule(name, _resolve(prop, schema), name in required)
                   for name, prop in schema["properties"].items())
    return EventRules(fields, closed=schema.get("additionalProperties") is False)


def _resolve(prop: dict, root: dict) -> dict:
    """Inline a local ``$ref`` (pydantic puts enums under ``$defs``), keeping the property's own keys."""
    ref = prop.get("$ref")
    if ref is None:
        return prop
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"unsupported $ref {ref!r}")
    target = root.get("$defs", {})[ref.removeprefix("#/$defs/")]
    return {**_resolve(target, root), **{k: v for k, v in prop.items() if k != "$ref"}}


def _rule(name: str, prop: dict, required: bool) -> FieldRule:
    nullable = False
    if "anyOf" in prop:  # Optional[X] -> anyOf: [X, {"type": "null"}]
        options = [o for o in prop["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"field {name!r}: only Optional[X] unions are supported")
        nullable = len(options) < len(prop["anyOf"])
        prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    kind = prop.get("type")
    if kind not in KINDS:
        raise ValueError(f"field {name!r}: unsupported JSON type {kind!r}")
    unknown = set(prop) - _DESCRIPTIVE - _CONSTRAINTS
    if unknown:
        raise ValueError(f"field {name!r}: unsupported schema keywords {sorted(unknown)}")
    if prop.get("format") and prop["format"] not in FORMATS:
        raise ValueError(f"field {name!r}: unsupported format {prop['format']!r}")
    if {"x-not-before", "x-max-ahead-seconds"} & set(prop) and prop.get("format") != "date-time":
        raise ValueError(f"field {name!r}: x-not-before / x-max-ahead-seconds need format date-time")
    if "x-max-decimals" in prop and kind != "number":
        raise ValueError(f"field {name!r}: x-max-decimals needs type number")
    allowed = (prop["const"],) if "const" in prop else tuple(prop["enum"]) if "enum" in prop else None
    return FieldRule(
        name=name, kind=kind, required=required, nullable=nullable, allowed=allowed,
        fmt=prop.get("format"), pattern=prop.get("pattern"),
        min_length=prop.get("minLength"), max_length=prop.get("maxLength"),
        minimum=prop.get("minimum"), maximum=prop.get("maximum"),
        exclusive_minimum=prop.get("exclusiveMinimum"), exclusive_maximum=prop.get("exclusiveMaximum"),
        multiple_of=prop.get("multipleOf"), not_before=prop.get("x-not-before"),
        max_ahead_seconds=prop.get("x-max-ahead-seconds"), max_decimals=prop.get("x-max-decimals"))
