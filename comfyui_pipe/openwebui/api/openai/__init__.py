"""OpenAI's images API over the workflows (``images``), for the ``openai`` SDKs and every
client that speaks it, Open WebUI's own image feature included (``caller``)."""
