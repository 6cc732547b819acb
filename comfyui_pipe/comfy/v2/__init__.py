"""Servers of the Comfy API v2 (Comfy Cloud, ``comfy-api-proxy``) as backends."""

from .client import V2Client
from .job import V2Job
from .server import V2Server

__all__ = ["V2Client", "V2Job", "V2Server"]
