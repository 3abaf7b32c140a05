"""The Flume leg: Kafka topic -> HDFS, one directory per window, run by Airflow as a BashOperator.

- ``flume.agent_conf``  the agent's properties, rendered from the config layer
- ``flume.agent``       one Flume JVM: start, metrics, clean stop
- ``flume.extensions``  the agent's own Java components, built on first use: the source's interceptor
                        (``WindowInterceptor.java``: window header) and the HDFS sink (``WindowSink.java``)
- ``flume.runner``      ``python -m flume.runner``: bounded run, drain, stop, verify (the DAG calls this)
- ``flume.drain``       deciding from Flume's counters that everything before the deadline is written
- ``flume.recovery``    closing the files a crashed agent left open (``RecoverLeases.java``)

The group's lag (``carpipe.kafka_offsets``) and the HDFS side (``carpipe.webhdfs``) are shared with the
reconciliation, so they live in the shared package.

Delivery is at-least-once; see ``carpipe.hdfs_counts`` for how duplicates are bounded and detected.
"""
