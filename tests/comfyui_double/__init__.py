"""A faithful ComfyUI test double (aiohttp), modelled on recordings of a real v0.8.0 server."""

from .faults import Faults, ForgedOutput
from .server import ComfyDouble, RecordedRequest

__all__ = ["ComfyDouble", "Faults", "ForgedOutput", "RecordedRequest"]
