"""The plugin's settings (:class:`PipeConfig`) and their first-run values."""

from .first_run import Salvaged, first_run, salvaged
from .model import PipeConfig, ServerConfig

__all__ = ["PipeConfig", "Salvaged", "ServerConfig", "first_run", "salvaged"]
