"""When has the agent written everything stamped before a deadline? Decided from Flume's counters.

The runner first waits until the consumer group's committed offsets reach the deadline's offsets
(carpipe.kafka_offsets): the Kafka source commits only after its batch is in the channel, so from then on
the channel's put count P0 covers every such record. Then, from successive metric snapshots:

Each lane (one channel, drained by its one sink; flume.agent_conf) is judged on its own:

1. queue: a channel is FIFO (a rolled-back take goes back to its head), so while no sink failed,
   "ChannelSize <= puts since P0" means no record put before P0 is still queued: each is written or
   in a sink transaction. (After a sink failure the order argument no longer holds; then only an
   empty channel counts.) ChannelSize is refreshed at commits, so it can miss takes in flight;
   that is what step 2 covers.
2. in flight: a sink runs one transaction at a time and counts each when its take loop ends; once
   every sink has counted two more since step 1 held, the transactions open at that moment have
   committed (their records are flushed to HDFS) or rolled back into the queue and been taken again
   in full (a batch is never smaller than what a rollback returns), and committed before the next.
   Idle sinks still count an empty batch every ``pollMillis`` (flume/WindowSink.java).
"""

from __future__ import annotations

from dataclasses import dataclass

from flume.agent import lanes


@dataclass(frozen=True)
class Snapshot:
    channel_sizes: tuple[int, ...]  # per lane
    puts: tuple[int, ...]           # per lane
    batches: tuple[int, ...]        # per lane's sink: transactions whose take loop has ended
    failures: int                   # all sinks: failed writes / channel reads (each rolls a batch back)

    @classmethod
    def of(cls, metrics: dict) -> "Snapshot":
        channels, sinks = lanes(metrics, "CHANNEL"), lanes(metrics, "SINK")
        return cls(
            channel_sizes=tuple(int(c.get("ChannelSize", 0)) for c in channels),
            puts=tuple(int(c.get("EventPutSuccessCount", 0)) for c in channels),
            batches=tuple(int(k.get("BatchEmptyCount", 0) + k.get("BatchUnderflowCount", 0)
                              + k.get("BatchCompleteCount", 0)) for k in sinks),
            failures=int(sum(k.get("EventWriteFail", 0) + k.get("ChannelReadFail", 0) for k in sinks)),
        )


class DrainCheck:
    """Feed snapshots taken after the group's commits reached the targets; ``update`` says when done."""

    def __init__(self, first: Snapshot):
        self.put_marks = first.puts
        self.failures = first.failures
        self.ordered = True
        self.since: tuple[int, ...] | None = None

    def update(self, snap: Snapshot) -> bool:
        if snap.failures != self.failures:
            self.failures, self.ordered, self.since = snap.failures, False, None
        limits = [p - m if self.ordered else 0 for p, m in zip(snap.puts, self.put_marks)]
        if any(size > limit for size, limit in zip(snap.channel_sizes, limits)):
            self.since = None
            return False
        if self.since is None:
            self.since = snap.batches
            return False
        return all(b >= b0 + 2 for b, b0 in zip(snap.batches, self.since))
