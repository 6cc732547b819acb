"""The ComfyUI console: one page under Open WebUI's origin at ``/comfyui/`` (plain HTML,
CSS and JavaScript modules in ``static/``, no build step) where admins run the servers,
workflows, models and queue, and every user finds what they made. Signed in with Open
WebUI's own session; every action is a call to the plugin's HTTP API."""
