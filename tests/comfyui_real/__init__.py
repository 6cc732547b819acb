"""A real ComfyUI server for the tests, installed from the kit in ``../shared/comfyui-real``."""

from comfyui_real.kit import KitEnvironment, default_environment, kit_folder, kit_present
from comfyui_real.server import RealComfyUI

__all__ = ["KitEnvironment", "RealComfyUI", "default_environment", "kit_folder", "kit_present"]
