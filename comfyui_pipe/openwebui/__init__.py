"""Host adapters for Open WebUI: the only package that imports ``open_webui``, and within it
only ``host`` does (an import contract says so)."""
