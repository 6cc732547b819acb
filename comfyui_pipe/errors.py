"""The base of every error the package raises on purpose.

A ``PipeError`` carries its facts as fields; its ``str()`` is for logs. What a user
reads is made from those fields at the edge (``openwebui.presenter``), so no
sentence a user sees can hold a server's address, a path or a token.
"""

from __future__ import annotations


class PipeError(Exception):
    """An error this package raises on purpose, with its facts as fields."""
