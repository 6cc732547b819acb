"""The plugin's settings (:class:`PipeConfig`) and their values from the environment."""

from .environment import Salvaged, from_environment, salvaged
from .model import PipeConfig, ServerConfig

__all__ = ["PipeConfig", "Salvaged", "ServerConfig", "from_environment", "salvaged"]
