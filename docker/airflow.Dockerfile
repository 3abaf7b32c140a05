# Airflow with the project's pinned dependency set, a Java 17 JDK (spark-submit; javac builds the Flume
# agent's interceptor and sink, flume/extensions.py), and the JVM jars (Spark Kafka connector, Flume) resolved
# from the same pom as the embedded stack.
FROM maven:3.9-eclipse-temurin-17 AS jars
COPY stack/jvm /src/stack/jvm
RUN mvn -B -q -f /src/stack/jvm/pom.xml package -Djars.dir=/jars

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless libkrb5-dev gcc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/carpipe
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt \
    && pip install --no-cache-dir --force-reinstall --no-deps "$(grep '^pyspark==' requirements.txt)"
COPY . .
COPY --from=jars /jars /opt/carpipe/.state/jars
ENV AIRFLOW_HOME=/opt/airflow
