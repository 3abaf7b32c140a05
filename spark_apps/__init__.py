"""Spark jobs: one window from Kafka (or from Flume's HDFS files) into InfluxDB."""
