"""comfyui-pipe: ComfyUI image and video generation inside Open WebUI."""

__version__ = "0.1.0"
