# The generator API (gunicorn), with exactly docker/generator.requirements.txt and the code it runs.
FROM python:3.11.7-slim-bookworm
RUN groupadd -g 50000 carpipe && useradd -u 50000 -g 50000 -M -d /nonexistent carpipe
WORKDIR /opt/carpipe
COPY docker/generator.requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r generator.requirements.txt -c constraints.txt
COPY generator ./generator
COPY carpipe ./carpipe
ENV PYTHONPATH=/opt/carpipe CARPIPE_SECRETS_DIR=/run/carpipe-secrets
USER 50000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "1", "--threads", "16", "--timeout", "0", "generator.app:create_app()"]
