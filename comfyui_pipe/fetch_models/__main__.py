import sys

from comfyui_pipe.fetch_models.cli import main

sys.exit(main())
