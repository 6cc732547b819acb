# A stand-in for ghcr.io/open-webui/open-webui:v0.12.4, which no registry serves here:
# the same layout (python and pip on PATH, /app/backend, root) with the pinned
# open-webui from PyPI, so docker/open-webui/Dockerfile builds on it unchanged.
# Build context: a folder holding the CPU torch wheel (else pip pulls a CUDA torch).
ARG PYTHON_IMAGE=comfyui-pipe-test/python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG OPEN_WEBUI_VERSION=0.12.4
RUN --mount=type=bind,target=/wheels \
    pip install --no-cache-dir /wheels/torch-*.whl "open-webui==${OPEN_WEBUI_VERSION}"

# The official image bakes an embedding model in; this one has none and must not
# fetch one from Hugging Face, nor call Ollama or OpenAI.
ENV OFFLINE_MODE=true \
    RAG_EMBEDDING_ENGINE=openai \
    ENABLE_OLLAMA_API=false \
    ENABLE_OPENAI_API=false \
    ENABLE_VERSION_UPDATE_CHECK=false \
    PORT=8080
WORKDIR /app/backend
