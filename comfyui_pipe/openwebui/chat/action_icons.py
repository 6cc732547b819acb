"""Each Action's own icon under a result (Open WebUI draws an Action's ``icon_url``; with
none, every one is the same sparkle). Line drawings on a 24-pixel grid in the weight of
Open WebUI's own icons; black, which Open WebUI inverts in its dark theme."""

from __future__ import annotations

import base64

_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#000" '
    'stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">{}</svg>'
)

UPSCALE = (
    '<rect x="3.5" y="11.5" width="9" height="9" rx="1.5"/>'
    '<path d="M14 3.5h6.5V10M20.5 3.5l-7.5 7.5"/>'
)
"""A small frame and an arrow out to a larger corner."""
VARIATIONS = (
    '<rect x="3.5" y="3.5" width="7" height="7" rx="1.5"/>'
    '<rect x="13.5" y="3.5" width="7" height="7" rx="1.5"/>'
    '<rect x="3.5" y="13.5" width="7" height="7" rx="1.5"/>'
    '<path d="M17 13.5v7M13.5 17h7"/>'
)
"""Three pictures and one more."""
USE_AS_INPUT = (
    '<path d="M12 20.5H5a1.5 1.5 0 0 1-1.5-1.5V5A1.5 1.5 0 0 1 5 3.5h14A1.5 1.5 0 0 1 '
    '20.5 5v6"/><path d="M3.5 15l4.5-4.5 4 4"/><path d="M15 19.5l5-5 1.5 1.5-5 5H15z"/>'
)
"""A picture with a pencil: edit this one."""
RERUN = (
    '<path d="M20 12a8 8 0 1 1-2.34-5.66"/><path d="M20 4v4.5h-4.5"/>'
    '<path d="M10.5 9.5l4 2.5-4 2.5z"/>'
)
"""Around again, with a play mark."""


def icon_url(drawing: str) -> str:
    svg = _SVG.format(drawing).encode()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
