# syntax=docker/dockerfile:1
# The Lakeplane control-plane image: `lakeplane serve | worker | scheduler | migrate`.
#
#   docker build -t lakeplane/lakeplane:0.1.0 .
#
# The core, every plugin under plugins/ and the admin UI are installed from this
# build context into one virtualenv; the runtime stage gets only that.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/lakeplane
ENV PATH=/opt/lakeplane/bin:$PATH
WORKDIR /src
COPY . .
# Each plugin is its own distribution (plugins/<name>/pyproject.toml); the UI too.
# image/requirements.txt lists them with the extras a cluster needs (Spark's
# `kubernetes`); scripts/build-image installs the same list without a base image.
RUN pip install -r image/requirements.txt \
    && lakeplane --help >/dev/null \
    && python -c "import kubernetes_asyncio"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lakeplane" \
      org.opencontainers.image.description="Lakeplane control plane" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 lakeplane \
    && useradd --system --uid 10001 --gid lakeplane --home-dir /home/lakeplane --create-home \
        --shell /usr/sbin/nologin lakeplane
COPY --from=build /opt/lakeplane /opt/lakeplane
ENV PATH=/opt/lakeplane/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAKEPLANE_CONFIG=/etc/lakeplane/lakeplane.toml
USER 10001:10001
WORKDIR /home/lakeplane
EXPOSE 8080
ENTRYPOINT ["lakeplane"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
