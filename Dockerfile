# smsops run in a container: `docker build -t smsops .`
# The config is mounted (or git-synced) at /config; the ledger lives on the
# /var/lib/smsops volume; /healthz, /readyz and /metrics are on port 8080.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY smsops ./smsops
RUN python -m venv /opt/smsops \
    && /opt/smsops/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 smsops \
    && useradd --system --uid 10001 --gid smsops --home-dir /var/lib/smsops --no-create-home smsops \
    && mkdir -p /var/lib/smsops /config \
    && chown smsops:smsops /var/lib/smsops
COPY --from=build /opt/smsops /opt/smsops
ENV PATH=/opt/smsops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SMSOPS_LEDGER=/var/lib/smsops/ledger.sqlite \
    SMSOPS_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/smsops
VOLUME ["/var/lib/smsops"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["smsops"]
CMD ["run", "/config"]
