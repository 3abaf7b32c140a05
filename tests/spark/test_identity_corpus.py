"""One corpus of tricky records through both implementations of the identity rule: the HDFS
counter's (carpipe.records, Python) and the Spark job's (spark_apps.transforms.classify, from the
record's bytes as Kafka and Flume hand them over). They must agree on every record."""

from __future__ import annotations

import hashlib
import json

import pytest

from carpipe.records import identity
from tests.spark.conftest import line, tid

T = tid(1)
CORPUS: list[tuple[str, bytes]] = [
    ("valid event", line(1).encode()),
    ("minimal object", b'{"transaction_id":"' + T.encode() + b'"}'),
    ("surrounding whitespace", b' \t\r\n{"transaction_id":"a"} \n'),
    ("trailing content is not read", b'{"transaction_id":"a"} trailing'),
    ("a second object is not read", b'{"transaction_id":"a"}{"transaction_id":"b"}'),
    ("NaN", b'{"transaction_id":"a","transaction_price":NaN}'),
    ("Infinity", b'{"transaction_price":Infinity,"transaction_id":"a"}'),
    ("-Infinity", b'{"transaction_price":-Infinity,"transaction_id":"a"}'),
    ("NaN as a string", b'{"transaction_id":"a","transaction_price":"NaN"}'),
    ("duplicate keys: the last id", b'{"transaction_id":"a","transaction_id":"b"}'),
    ("duplicate other keys", b'{"year":1,"year":2,"transaction_id":"a"}'),
    ("invalid UTF-8 in a value", b'{"transaction_id":"a","buyer_name":"\xff"}'),
    ("invalid UTF-8 in the id", b'{"transaction_id":"a\xc3"}'),
    ("overlong UTF-8", b'{"transaction_id":"\xc0\xaf"}'),
    ("UTF-16", '{"transaction_id":"a"}'.encode("utf-16-le")),
    ("byte order mark", b'\xef\xbb\xbf{"transaction_id":"a"}'),
    ("valid multi-byte UTF-8", '{"transaction_id":"Zoë €"}'.encode()),
    ("escaped NUL", b'{"transaction_id":"a\\u0000b"}'),
    ("unpaired surrogate", b'{"transaction_id":"\\ud800x"}'),
    ("escaped pair", b'{"transaction_id":"\\ud83d\\ude97"}'),
    ("huge integer", b'{"year":' + b"9" * 400 + b',"transaction_id":"a"}'),
    ("huge exponent", b'{"transaction_price":1e999,"transaction_id":"a"}'),
    ("number beyond Jackson's length limit", b'{"year":' + b"9" * 1500 + b',"transaction_id":"a"}'),
    ("deep nesting", b'{"x":' + b"[" * 50 + b"]" * 50 + b',"transaction_id":"a"}'),
    ("nesting beyond Jackson's limit", b'{"x":' + b"[" * 1500 + b"]" * 1500 + b',"transaction_id":"a"}'),
    ("leading zero", b'{"year":01,"transaction_id":"a"}'),
    ("trailing comma", b'{"transaction_id":"a",}'),
    ("single quotes", b"{'transaction_id':'a'}"),
    ("single-quoted value after the id", b'{"transaction_id":"a","x":\'b\'}'),
    ("raw tab in a string", b'{"transaction_id":"a","buyer_name":"A\tB"}'),
    ("id is a number", b'{"transaction_id":42}'),
    ("id is null", b'{"transaction_id":null}'),
    ("id is an object", b'{"transaction_id":{"a":1}}'),
    ("id is text that looks like a number", b'{"transaction_id":"42"}'),
    ("no id", b'{"year":2020}'),
    ("an array", b'[{"transaction_id":"a"}]'),
    ("a string", b'"transaction_id"'),
    ("not JSON", b"not json"),
    ("truncated", b'{"transaction_id":"a"'),
    ("empty", b""),
    ("blank", b"   "),
]


@pytest.fixture(scope="module")
def spark_identities(spark, rules):
    from pyspark.sql import functions as F

    from spark_apps import transforms as t

    # one partition: rows come back in the corpus's order
    records = spark.createDataFrame([(r,) for _, r in CORPUS], "value binary").coalesce(1) \
        .select(F.col("value").cast("string").alias("raw"))
    return [r.identity for r in t.classify(records, rules, 0).collect()]


@pytest.mark.parametrize("i", range(len(CORPUS)), ids=[name for name, _ in CORPUS])
def test_python_and_spark_give_the_same_identity(spark_identities, i):
    assert identity(CORPUS[i][1]) == spark_identities[i]


def test_the_corpus_exercises_both_kinds_of_identity():
    kinds = {identity(r).split(":", 1)[0] for _, r in CORPUS}
    assert kinds == {"id", "raw"}
    assert identity(b'{"transaction_id":"a","transaction_id":"b"}') == "id:b"
    assert identity(b'{"transaction_id":"\\ud800x"}') == "id:?x"
    assert identity(b"not json") == "raw:" + hashlib.sha256(b"not json").hexdigest()
    assert identity(json.dumps({"transaction_id": T}).encode()) == f"id:{T}"
