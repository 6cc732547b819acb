# The ComfyUI stand-in: the project's ComfyUI double where docker/comfyui/Dockerfile would
# run ComfyUI (whose source and PyTorch index are out of reach here), with the same port,
# folders, volumes, user and health check. Build context: the repository root.
ARG BASE_IMAGE=comfyui-pipe-test/open-webui-base
FROM ${BASE_IMAGE}

COPY tests/comfyui_double /opt/standin/tests/comfyui_double
COPY tests/fixtures /opt/standin/tests/fixtures
COPY tests/deploy/stack/comfyui_standin.py /opt/standin/tests/
COPY --chmod=755 docker/healthcheck.py /usr/local/bin/healthcheck

WORKDIR /opt/comfyui
RUN useradd --create-home --uid 1000 --user-group comfy \
    && mkdir -p models input output user \
    && chown -R comfy:comfy models input output user

VOLUME ["/opt/comfyui/models", "/opt/comfyui/input", "/opt/comfyui/output", "/opt/comfyui/user"]
USER 1000:1000
EXPOSE 8188

HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["healthcheck", "http://127.0.0.1:8188/system_stats"]
CMD ["python", "/opt/standin/tests/comfyui_standin.py"]
