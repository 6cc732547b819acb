"""The chat models of the workflows, and making them visible to users.

Open WebUI 0.12 shows a model to non-admins only when a Models row grants them
read access; a pipe's models have none until an admin configures them. For
each workflow model without a row we create one that everyone may read, owned
by an admin (Open WebUI's model history needs an owner). Rows that exist are
the admin's and stay as they are. Until the first admin signs up there is no
one to own them and no user to show them to, so publishing waits.
"""

from __future__ import annotations

from collections.abc import Iterable

from open_webui.models.models import ModelForm, ModelMeta, ModelParams, Models
from open_webui.models.users import Users

from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.workflow import Workflow, detect_parameters

MODEL_NAME_PREFIX = "ComfyUI · "
PUBLIC_READ = {"principal_type": "user", "principal_id": "*", "permission": "read"}


def model_id(workflow: Workflow) -> str:
    return f"{FUNCTION_ID}.{workflow.id}"


def model_name(workflow: Workflow) -> str:
    return MODEL_NAME_PREFIX + workflow.title


def takes_images(workflow: Workflow) -> bool:
    return bool(detect_parameters(workflow.graph)["images"])


class ModelPublisher:
    """Creates the missing rows; remembers what it has seen so repeat calls cost nothing."""

    def __init__(self) -> None:
        self._published: set[str] = set()

    async def publish(self, workflows: Iterable[Workflow]) -> list[str]:
        """Returns the ids of the rows created."""
        pending = [w for w in workflows if model_id(w) not in self._published]
        if not pending:
            return []
        owner = await Users.get_super_admin_user()
        if owner is None:
            return []
        created = []
        for workflow in pending:
            if await Models.get_model_by_id(model_id(workflow)) is None:
                await Models.insert_new_model(_public_model(workflow), owner.id)
                created.append(model_id(workflow))
            self._published.add(model_id(workflow))
        return created


def _public_model(workflow: Workflow) -> ModelForm:
    return ModelForm(
        id=model_id(workflow),
        base_model_id=None,
        name=model_name(workflow),
        meta=ModelMeta(
            description=workflow.meta.description or None,
            # vision lets users attach images in the chat input
            capabilities={"vision": takes_images(workflow), "citations": False},
        ),
        params=ModelParams(),
        access_grants=[PUBLIC_READ],
    )
