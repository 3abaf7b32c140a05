"""InfluxDB line protocol escaping: the one statement of the rules, for Python writers and Spark alike.

- tag values (and keys) escape comma, equals sign and space with a backslash. A tag value must not be
  empty and must hold no line break (which ends the line) and no backslash (InfluxDB 1.x reads a
  backslash before an escaped character, or at the end, differently): such values are refused, never
  escaped into something else. The event contract keeps them out of every tag field
  (generator/events.py), so the Spark job never meets one;
- string field values are double-quoted and escape double quote and backslash.

``spark_apps.line_protocol`` builds its column expressions from these constants; a test runs both on the
same values.
"""

from __future__ import annotations

import re

TAG_SPECIALS = ",= "
STRING_SPECIALS = '"\\'
TAG_UNUSABLE = ("\n", "\r", "\\")
TAG_SPECIALS_REGEX = "([" + re.escape(TAG_SPECIALS) + "])"
STRING_SPECIALS_REGEX = "([" + re.escape(STRING_SPECIALS) + "])"


def tag_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be an InfluxDB tag value, or None."""
    if value == "":
        return "empty"
    if any(c in value for c in TAG_UNUSABLE):
        return "line break or backslash"
    return None


def escape_tag(value: str) -> str:
    problem = tag_value_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not usable as an InfluxDB tag value ({problem})")
    return re.sub(TAG_SPECIALS_REGEX, r"\\\1", value)


def escape_string_field(value: str) -> str:
    return '"' + re.sub(STRING_SPECIALS_REGEX, r"\\\1", value) + '"'
