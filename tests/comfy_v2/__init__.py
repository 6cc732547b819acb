"""The real comfy-api-proxy in front of a ComfyUI, for the Comfy API v2 backend tests."""
