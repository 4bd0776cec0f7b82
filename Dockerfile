# The taskq image: the API and the worker (the schema is deployed by the compose `migrate` service).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md sqitch.conf sqitch.plan ./
COPY db ./db
COPY taskq ./taskq
COPY api ./api
COPY worker ./worker
COPY cli ./cli
RUN pip install --no-cache-dir -e . && useradd --system --no-create-home taskq
USER taskq
EXPOSE 8000
CMD ["taskq", "api", "--host", "0.0.0.0", "--port", "8000"]
