"""The Flume leg: Kafka topic -> HDFS, one directory per window, run by Airflow as a BashOperator.

- ``flume.agent_conf``  the agent's properties, rendered from the config layer
- ``flume.agent``       one Flume JVM: start, metrics, clean stop
- ``flume.extensions``  the agent's own Java components, built on first use: the source's interceptor
                        (``WindowInterceptor.java``: window header) and the HDFS sink (``WindowSink.java``)
- ``flume.runner``      ``python -m flume.runner``: bounded run, drain, stop, verify (the DAG calls this)
- ``flume.drain``       deciding from Flume's counters that everything before the deadline is written
- ``flume.kafka_lag``   how far the consumer group is behind a point in time
- ``flume.hdfs_counts`` counting a window's records on HDFS over WebHDFS (for reconciliation)
- ``flume.recovery``    closing the files a crashed agent left open (``RecoverLeases.java``)

Delivery is at-least-once; see ``flume.hdfs_counts`` for how duplicates are bounded and detected.
"""
