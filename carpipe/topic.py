"""The car-transactions topic: its settings, and creating it idempotently."""

from __future__ import annotations

from carpipe.config import Settings
from carpipe.kafka_clients import librdkafka


def topic_config(s: Settings) -> dict[str, str]:
    # LogAppendTime: the broker stamps each record, so window membership is the same answer for
    # Kafka, Flume and Spark, and a producer's clock can never place a record in a closed window.
    return {"message.timestamp.type": "LogAppendTime", "retention.ms": str(s.topic_retention_ms),
            "min.insync.replicas": str(s.topic_min_insync_replicas)}


def ensure_topic(s: Settings, admin_config: dict | None = None) -> bool:
    """Create the topic if missing (True if created); an existing topic is left as it is,
    except that its configs are brought to the desired values."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    from confluent_kafka import KafkaException, KafkaError

    admin = AdminClient({**librdkafka(s), **(admin_config or {})})
    fut = admin.create_topics([NewTopic(s.topic, s.topic_partitions, s.topic_replication_factor,
                                          config=topic_config(s))])[s.topic]
    try:
        fut.result(30)
        return True
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    res = ConfigResource("topic", s.topic, set_config=topic_config(s))
    for f in admin.alter_configs([res]).values():
        f.result(30)
    return False
