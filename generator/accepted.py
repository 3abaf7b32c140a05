"""Which transaction ids POST /api/logs has accepted recently, so that an id means one transaction.

- the same id with the same content, already acknowledged: an idempotent retry, answered with the
  first acknowledgement and not produced again;
- the same id with the same content while the first request still waits for the broker, or after it
  failed or timed out: produced (again); if both copies reach Kafka they are identical and the
  pipeline collapses them, counting a duplicate;
- the same id with different content: a conflict, answered 409 and not produced.

The horizon is this process's last ``capacity`` accepted ids (the embedded generator is one process).
Ids older than that, accepted by another generator process, or written by other producers are not
known here: such conflicts are caught downstream, where the Spark job keeps one version and
dead-letters the others as "conflicting duplicate of <id>".
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Ack:
    topic: str
    partition: int
    offset: int


@dataclass
class _Entry:
    digest: bytes
    ack: Ack | None = None     # None while in flight, or when delivery was not confirmed
    in_flight: bool = True


class Conflict(Exception):
    pass


class AcceptedIds:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._ids: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(value: bytes) -> bytes:
        return hashlib.blake2b(value, digest_size=16).digest()

    def claim(self, tid: str, value: bytes) -> Ack | None:
        """Before producing: the earlier acknowledgement of this exact record (do not produce), or
        None (produce, then call ``acknowledged`` or ``unconfirmed``). Raises Conflict when the id is
        known with other content, or the same content is in flight in another request."""
        digest = self.digest(value)
        with self._lock:
            entry = self._ids.get(tid)
            if entry is not None:
                if entry.digest != digest:
                    raise Conflict(f"transaction_id {tid} was accepted with other content")
                if entry.in_flight:
                    raise Conflict(f"a request with transaction_id {tid} is still waiting for the broker")
                if entry.ack is not None:
                    self._ids.move_to_end(tid)
                    return entry.ack
                entry.in_flight = True
                return None
            self._ids[tid] = _Entry(digest)
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
            return None

    def acknowledged(self, tid: str, ack: Ack) -> None:
        with self._lock:
            if (entry := self._ids.get(tid)) is not None:
                entry.ack, entry.in_flight = ack, False

    def unconfirmed(self, tid: str, maybe_delivered: bool) -> None:
        """Delivery failed (the id is free again) or was not confirmed in time (the record may still
        arrive: the id stays taken by this content, and a retry produces it again)."""
        with self._lock:
            if not maybe_delivered:
                self._ids.pop(tid, None)
            elif (entry := self._ids.get(tid)) is not None:
                entry.in_flight = False
