FROM python:3.11-slim-bookworm
WORKDIR /opt/carpipe
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt confluent-kafka flask gunicorn pydantic pydantic-settings rich requests
COPY generator ./generator
COPY carpipe ./carpipe
ENV PYTHONPATH=/opt/carpipe
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "1", "--threads", "16", "--timeout", "0", "generator.app:create_app()"]
