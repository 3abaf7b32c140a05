# Airflow with the project's pinned dependency set (requirements.txt + constraints.txt, pyspark
# re-installed last as stack/install.sh does), a Java 17 JDK (spark-submit; javac builds the Flume
# agent's interceptor and sink, flume/extensions.py) and the JVM jars of the same pom as the embedded
# stack. No secret and no local state in it: .dockerignore keeps .state, .venv and .git out of the context.
FROM maven:3.9.9-eclipse-temurin-17 AS jars
COPY stack/jvm /src/stack/jvm
RUN mvn -B -q -f /src/stack/jvm/pom.xml package -Djars.dir=/jars

FROM python:3.11.7-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless libkrb5-dev gcc \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd -g 50000 carpipe && useradd -u 50000 -g 50000 -m -d /home/carpipe carpipe
WORKDIR /opt/carpipe
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt \
    && pip install --no-cache-dir --force-reinstall --no-deps "$(grep '^pyspark==' requirements.txt)"
COPY . .
COPY --from=jars /jars /var/lib/carpipe/jars
RUN mkdir -p /var/lib/carpipe/flume /opt/airflow/logs && chown -R 50000:50000 /var/lib/carpipe/flume /opt/airflow
ENV AIRFLOW_HOME=/opt/airflow PYTHONPATH=/opt/carpipe JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    CARPIPE_STATE_DIR=/var/lib/carpipe CARPIPE_SECRETS_DIR=/run/carpipe-secrets \
    HADOOP_CONF_DIR=/opt/carpipe/docker/hadoop
USER 50000
