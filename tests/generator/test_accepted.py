"""The accepted-ids registry behind POST /api/logs' 409 and idempotent retries (pure logic)."""

from __future__ import annotations

import pytest

from generator.accepted import Ack, AcceptedIds, Conflict


def test_one_id_one_content_a_failed_delivery_frees_it_and_the_horizon_is_bounded():
    ids = AcceptedIds(capacity=2)
    assert ids.claim("a", b"1") is None
    with pytest.raises(Conflict, match="still waiting"):
        ids.claim("a", b"1")
    ids.unconfirmed("a", maybe_delivered=False)
    assert ids.claim("a", b"2") is None                       # free again: other content is fine
    ids.unconfirmed("a", maybe_delivered=True)                # a timeout: the record may still arrive
    with pytest.raises(Conflict, match="other content"):
        ids.claim("a", b"1")
    assert ids.claim("a", b"2") is None                       # the same content may be produced again
    ids.acknowledged("a", Ack("t", 0, 7))
    assert ids.claim("a", b"2") == Ack("t", 0, 7)
    ids.claim("b", b"x"), ids.claim("c", b"x")                # capacity 2: "a" is forgotten
    assert ids.claim("a", b"3") is None
