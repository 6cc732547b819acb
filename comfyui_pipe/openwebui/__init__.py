"""Host adapters for Open WebUI: the only package that imports ``open_webui``."""
