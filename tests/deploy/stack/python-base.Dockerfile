# A stand-in for python:3.11-slim-bookworm, which no registry serves here: Debian's
# Python 3.11 in a virtualenv on PATH (python and pip, root), so docker/comfyui/Dockerfile
# builds on it unchanged. Build context: a folder holding ca.crt, the CA bundle the host's
# pip trusts (for a proxy that re-signs TLS): builds on top fetch from PyPI through it.
ARG DEBIAN_IMAGE=comfyui-pipe-test/debian:bookworm
FROM ${DEBIAN_IMAGE}

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

COPY ca.crt /etc/ssl/certs/pip-ca.crt
ENV PATH=/opt/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/pip-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
