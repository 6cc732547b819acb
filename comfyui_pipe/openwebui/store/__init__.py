"""What the plugin keeps in Open WebUI: its job and workflow tables, and files."""
