"""A faithful ComfyUI test double (aiohttp), modelled on recordings of a real v0.8.0 server."""

from .faults import HTML_PAGE, SVG_IMAGE, Faults, ForgedOutput
from .server import ComfyDouble, RecordedRequest

__all__ = ["HTML_PAGE", "SVG_IMAGE", "ComfyDouble", "Faults", "ForgedOutput", "RecordedRequest"]
