# The velo-tracker demo app (`velo-tracker demo-app`), as docker-compose.yml builds it.
FROM python:3.12.8-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY tracker ./tracker
# The library and its one runtime dependency (prometheus-client); the demo app needs no more.
RUN pip install . \
    && rm -rf /src/build /src/*.egg-info \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin velo

WORKDIR /
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

# Exec form: the app is PID 1 and handles SIGTERM itself (clean shutdown on `docker compose down`).
ENTRYPOINT ["velo-tracker"]
CMD ["demo-app", "--listen", "0.0.0.0:8000"]
