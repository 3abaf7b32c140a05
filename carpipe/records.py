"""What makes two records the same record: the identity rule every tier counts with.

A record (a Kafka value, a line of a Flume file) has

- an **identity**: ``id:<transaction_id>`` when it is a JSON object whose ``transaction_id`` is a JSON
  string, else ``raw:<sha256 of its bytes>`` (poison records are told apart by their bytes);
- a **version**: its exact bytes. Copies of one identity with the same bytes are *duplicates* (a retry, a
  redelivery: collapsed, counted); copies with different bytes are *conflicts* (one kept, the others
  dead-lettered, counted apart).

"A JSON object" means what the Spark job's JSON reader (Jackson, as Spark configures it) takes for one,
so that the HDFS counter (this module) and the Spark job (``spark_apps.transforms.classify``, which
builds the same rule from column expressions) agree record for record; tests/spark/test_identity_corpus.py
runs one corpus of tricky records through both. The rule:

- the bytes are valid UTF-8, and after leading JSON whitespace they begin with one RFC 8259 object
  (double-quoted names, no NaN/Infinity, no leading zeros, no trailing commas, no raw control
  characters in strings); what follows the object's closing brace is not read (as Jackson);
- a key that appears twice counts with its last value (as Jackson);
- Jackson's limits hold: nesting depth at most 1,000, number tokens at most 1,000 characters;
- unpaired surrogates in the id (``\\ud800``) read as ``?``, as Java's UTF-8 encoder writes them.
"""

from __future__ import annotations

import hashlib
import json

ID_PREFIX = "id:"
RAW_PREFIX = "raw:"
ID_FIELD = "transaction_id"
JSON_WHITESPACE = " \t\n\r"
MAX_NUMBER_CHARS = 1000   # Jackson's StreamReadConstraints.maxNumberLength
MAX_DEPTH = 1000          # Jackson's StreamReadConstraints.maxNestingDepth


class _Number(float):
    """A JSON number (its value is never used, only that it is not a string)."""


def _number(token: str) -> _Number:
    if len(token) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return _Number(0)


def _no_constant(token: str):
    raise ValueError(f"{token} is not JSON")


_DECODER = json.JSONDecoder(parse_int=_number, parse_float=_number,
                            parse_constant=_no_constant, strict=True)


def _depth_ok(text: str, end: int) -> bool:
    """Bracket depth of text[:end] outside strings never exceeds MAX_DEPTH."""
    depth, in_string, escaped = 0, False, False
    for ch in text[:end]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def transaction_id(record: bytes) -> str | None:
    """The record's transaction_id under the identity rule, or None when it has none."""
    try:
        text = record.decode("utf-8")
        start = len(text) - len(text.lstrip(JSON_WHITESPACE))
        obj, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not _depth_ok(text, end):
        return None
    tid = obj.get(ID_FIELD)
    if not isinstance(tid, str):
        return None
    return tid.encode("utf-8", "replace").decode("utf-8")


def identity(record: bytes) -> str:
    tid = transaction_id(record)
    return ID_PREFIX + tid if tid is not None else RAW_PREFIX + hashlib.sha256(record).hexdigest()


def version(record: bytes) -> bytes:
    """What tells two copies of one identity apart (a digest of the exact bytes)."""
    return hashlib.blake2b(record, digest_size=16).digest()
