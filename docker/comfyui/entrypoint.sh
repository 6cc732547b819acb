#!/bin/sh
# Start ComfyUI on the compose network. Extra arguments (the compose `command:`)
# are passed on, e.g. `--lowvram` or `--cuda-device 1`.
set -eu
if [ "$COMFY_TORCH_VARIANT" = cpu ]; then
    set -- --cpu "$@"
fi
exec python main.py --listen 0.0.0.0 --port 8188 --preview-method auto "$@"
