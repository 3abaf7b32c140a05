"""How every Kafka client of the platform connects, in one place: the settings (config layer, or the
``kafka_default`` connection's extras, see carpipe.connections) as librdkafka properties (confluent-kafka:
the generator's producer, topic admin, offset probes) and as Java client properties (Flume's Kafka
source, Spark's Kafka reader). The embedded stack speaks PLAINTEXT; a secured cluster sets
``security.protocol`` (SASL_SSL, SSL, SASL_PLAINTEXT), a SASL mechanism with its user and password, and
the CA of its certificates (a PEM file)."""

from __future__ import annotations

from carpipe.config import Settings

# The JAAS login module of each SASL mechanism, for Java clients.
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def librdkafka(s: Settings) -> dict[str, str]:
    conf = {"bootstrap.servers": s.kafka_bootstrap, "security.protocol": s.kafka_security_protocol}
    if s.kafka_sasl_mechanism:
        conf |= {"sasl.mechanism": s.kafka_sasl_mechanism, "sasl.username": s.kafka_sasl_username,
                 "sasl.password": s.kafka_sasl_password}
    if s.kafka_ssl_ca_location:
        conf["ssl.ca.location"] = s.kafka_ssl_ca_location
    return conf


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def java(s: Settings) -> dict[str, str]:
    conf = {"bootstrap.servers": s.kafka_bootstrap, "security.protocol": s.kafka_security_protocol}
    if s.kafka_sasl_mechanism:
        module = LOGIN_MODULES.get(s.kafka_sasl_mechanism)
        if module is None:
            raise ValueError(f"SASL mechanism {s.kafka_sasl_mechanism!r}: one of {sorted(LOGIN_MODULES)}")
        conf |= {"sasl.mechanism": s.kafka_sasl_mechanism,
                 "sasl.jaas.config": f"{module} required username={_jaas_quote(s.kafka_sasl_username)} "
                                     f"password={_jaas_quote(s.kafka_sasl_password)};"}
    if s.kafka_ssl_ca_location:
        conf |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": s.kafka_ssl_ca_location}
    return conf
