# A stand-in for ghcr.io/open-webui/open-webui:v0.12.4, which no registry serves here:
# the same layout (python and pip on PATH, /app/backend, root) with the pinned
# open-webui from PyPI, so docker/open-webui/Dockerfile builds on it unchanged.
# Build context: a folder holding the CPU torch wheel (else pip pulls a CUDA torch) and
# ca.crt, the CA bundle the host's pip trusts (for a proxy that re-signs TLS).
ARG DEBIAN_IMAGE=comfyui-pipe-test/debian:bookworm
FROM ${DEBIAN_IMAGE}

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Builds on top (docker/open-webui/Dockerfile) fetch build tools from PyPI through the
# same proxy as the host's pip.
COPY ca.crt /etc/ssl/certs/pip-ca.crt
ENV PATH=/opt/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/pip-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
ARG OPEN_WEBUI_VERSION=0.12.4
RUN --mount=type=bind,target=/wheels \
    python3 -m venv /opt/venv \
    && pip install --no-cache-dir /wheels/torch-*.whl "open-webui==${OPEN_WEBUI_VERSION}"

# The official image bakes an embedding model in; this one has none and must not
# fetch one from Hugging Face, nor call Ollama or OpenAI.
ENV OFFLINE_MODE=true \
    RAG_EMBEDDING_ENGINE=openai \
    ENABLE_OLLAMA_API=false \
    ENABLE_OPENAI_API=false \
    ENABLE_VERSION_UPDATE_CHECK=false \
    PORT=8080
WORKDIR /app/backend
