"""The HTTP API under ``/api/v1/comfyui``, behind Open WebUI's own auth.

Everything goes through the plugin runtime the chat uses: the same service
(so the per-user job limit counts chat and API jobs together), the same jobs
table and the same settings store as the Pipe's valves. Errors answer
``{"detail": "<sentence>"}`` like the rest of Open WebUI. Another user's job is
answered with 404, never 403, so job ids cannot be probed.

``router`` gathers one module per concern: ``jobs`` (generate, list, get, cancel;
their progress goes out through ``events``), ``workflows``, ``info`` (models and
health) and ``settings``; ``common`` holds what they share. This ``__init__`` imports
nothing, so the runtime can use ``events`` without importing the routes.
"""
