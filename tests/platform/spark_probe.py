"""A tiny Spark job for the platform tests: counts a Kafka topic and reads a file via hdfs://, and says
where its driver listens."""

import json
import sys

from pyspark.sql import SparkSession


def main(bootstrap: str, topic: str, hdfs_file: str) -> None:
    spark = SparkSession.builder.appName("platform-probe").getOrCreate()
    kafka = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap)
             .option("subscribe", topic).option("startingOffsets", "earliest")
             .option("endingOffsets", "latest").load())
    values = sorted(r.value.decode() for r in kafka.select("value").collect())
    lines = sorted(r.value for r in spark.read.text(hdfs_file).collect())
    conf = spark.sparkContext.getConf()
    driver = [conf.get("spark.driver.host"), conf.get("spark.driver.bindAddress", conf.get("spark.driver.host"))]
    print("PROBE " + json.dumps({"kafka_values": values, "hdfs_lines": lines, "driver": driver}))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
