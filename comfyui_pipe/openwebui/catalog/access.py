"""Who may run a workflow: whoever may use its chat model ``comfyui.<workflow>``.

Open WebUI's own model access decides (owner, read grants to the user or one of
their groups, the admin bypass), so an admin restricts a workflow in one place —
the model's access settings — for the chat, the Tool, the Actions and the API.
"""

from __future__ import annotations

from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.host import OpenWebUIHost, User


class WorkflowNotAllowed(RequestError):
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"You may not use workflow '{workflow_id}'; ask an admin for access.")


def workflow_model_id(workflow_id: str) -> str:
    return f"{FUNCTION_ID}.{workflow_id}"


async def may_use_workflow(host: OpenWebUIHost, user: User, workflow_id: str) -> bool:
    """What the chat decides for the model (``open_webui.main.chat_completion``)."""
    model_id = workflow_model_id(workflow_id)
    # the chat lists it at all: the Pipe is on and the model's row, if any, is active
    # (Open WebUI drops an inactive model for everyone)
    if not await host.models.offered(FUNCTION_ID, model_id):
        return False
    return await host.models.may_use(user, model_id)
