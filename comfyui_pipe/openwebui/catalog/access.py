"""Who may run a workflow: whoever may use its chat model ``comfyui.<workflow>``.

Open WebUI's own model access decides (owner, read grants to the user or one of
their groups, the admin bypass), so an admin restricts a workflow in one place —
the model's access settings — for the chat, the Tool, the Actions and the API.
"""

from __future__ import annotations

from open_webui.config import BYPASS_ADMIN_ACCESS_CONTROL
from open_webui.env import BYPASS_MODEL_ACCESS_CONTROL
from open_webui.models.functions import Functions
from open_webui.models.models import Models
from open_webui.models.users import UserModel
from open_webui.utils.models import check_model_access

from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.openwebui.function_source import FUNCTION_ID


class WorkflowNotAllowed(RequestError):
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"You may not use workflow '{workflow_id}'; ask an admin for access.")


def workflow_model_id(workflow_id: str) -> str:
    return f"{FUNCTION_ID}.{workflow_id}"


async def may_use_workflow(user: UserModel, workflow_id: str) -> bool:
    """What the chat decides for the model (``open_webui.main.chat_completion``)."""
    if not await _offered(workflow_id):
        return False
    if BYPASS_MODEL_ACCESS_CONTROL or (user.role == "admin" and BYPASS_ADMIN_ACCESS_CONTROL):
        return True
    try:
        await check_model_access(user, {"id": workflow_model_id(workflow_id)})
    except Exception:  # Open WebUI raises a bare Exception("Model not found")
        return False
    return True


async def _offered(workflow_id: str) -> bool:
    """Whether the chat lists the model at all: the Pipe function is on and the model's
    row, if it has one, is active (Open WebUI drops an inactive model for everyone)."""
    function = await Functions.get_function_by_id(FUNCTION_ID)
    if function is None or not function.is_active:
        return False
    row = await Models.get_model_by_id(workflow_model_id(workflow_id))
    return row is None or row.is_active


async def check_workflow_access(user: UserModel, workflow_id: str) -> None:
    """Raise :class:`WorkflowNotAllowed` unless ``user`` may run ``workflow_id``."""
    if not await may_use_workflow(user, workflow_id):
        raise WorkflowNotAllowed(workflow_id)
