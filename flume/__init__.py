"""The Flume leg: Kafka topic -> HDFS, one directory per window, run by Airflow as a BashOperator.

- ``flume.agent_conf``  the agent's properties, rendered from the config layer
- ``flume.agent``       one Flume JVM: start, metrics, clean stop
- ``flume.extensions``  the agent's own Java components, built on first use: the source's interceptor
                        (``WindowInterceptor.java``: window header) and the HDFS sink (``WindowSink.java``)
- ``flume.runner``      ``python -m flume.runner``: bounded run, drain, stop, verify (the DAG calls this)
- ``flume.drain``       deciding from Flume's counters that everything before the deadline is written
- ``flume.recovery``    committing the files a crashed agent left open (``RecoverLeases.java``) and the
                        offsets the next agent resumes at, both read from HDFS

The group's lag (``carpipe.kafka_offsets``) and the HDFS side (``carpipe.webhdfs``) are shared with the
reconciliation, so they live in the shared package.

Delivery into HDFS is exactly once per Kafka offset (the protocol: ``flume/WindowSink.java``, recovery:
``flume.recovery``); the reconciliation checks it offset by offset (``carpipe.hdfs_counts``).
"""
