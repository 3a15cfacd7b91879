# syntax=docker/dockerfile:1
# The gateway: `gateway serve` (uvicorn with uvloop and httptools) on 0.0.0.0:8080, non-root.
# Build from the repository root (`make images` builds it for linux/amd64 and linux/arm64):
#   docker build -t inference-gateway/gateway:0.1.0 .
# Run it with service definitions mounted, e.g.:
#   docker run --init -p 8080:8080 -v "$PWD/model_images:/srv/model_images:ro" \
#       inference-gateway/gateway:0.1.0 serve -f /srv/model_images/digits/service.yaml
# The local backend starts each model's runtime as a subprocess of the gateway (`runtimes` is part
# of the same distribution); the Kubernetes backends run the model images instead.

# --- build: a virtual environment holding the project and its dependencies (all wheels) ---
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# No pip in the venv: the base image's pip installs into it (--python), leaving it out of it.
RUN python -m venv --without-pip /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY runtimes/ runtimes/
RUN pip --python /opt/venv/bin/python install --no-cache-dir .

# --- final: the base image, the venv and a user; no compiler, no pip cache, no sources ---
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_DATA_DIR=/data
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gateway \
    && install -d -o 10001 -g 10001 /data
COPY --from=build /opt/venv /opt/venv

WORKDIR /data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", \
         "import os, urllib.request as u; port = os.environ.get('GATEWAY_PORT', '8080'); \
u.urlopen(f'http://127.0.0.1:{port}/v2/health/live', timeout=2)"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
