"""The settings model on its own: its typed views, its values from the
environment, and stored values that are not all valid."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from comfyui_pipe.config import PipeConfig, from_environment, salvaged
from comfyui_pipe.generation import Limits
from comfyui_pipe.generation.leases import LeaseTimes


def test_each_view_is_built_once_per_config_and_typed_for_the_core() -> None:
    config = PipeConfig(
        comfyui_url="http://a:8188/, https://comfy.example/base/",
        comfyui_auth_header="Authorization: Bearer abc",
        comfyui_token="t0ken",
        max_steps=30,
        queue_group_weights="Pro = 3, Trial = 0.5",
        enabled_workflows="sd15_txt2img, , sd15_img2img",
        lease_heartbeat=2,
        lease_expiry=6,
    )

    assert config.servers.urls == ("http://a:8188", "https://comfy.example/base")
    assert config.servers.headers == (("Authorization", "Bearer abc"),)
    assert config.servers.token == "t0ken"
    assert config.limits == Limits(max_steps=30)
    assert config.limits is config.limits
    assert config.policy.limits is config.limits
    assert config.leases == LeaseTimes(heartbeat=2, expiry=6)
    assert dict(config.group_weights) == {"Pro": 3.0, "Trial": 0.5}
    assert config.enabled_workflow_ids == ("sd15_txt2img", "sd15_img2img")


def test_a_copy_is_validated_and_builds_its_own_views() -> None:
    config = PipeConfig()
    assert config.limits.max_steps == 80

    assert config.model_copy(update={"max_steps": 5}).limits.max_steps == 5
    with pytest.raises(ValidationError):
        config.model_copy(update={"max_steps": 0})


def test_only_the_servers_tell_whether_the_pool_changes() -> None:
    config = PipeConfig()

    assert config.model_copy(update={"job_timeout": 60}).servers == config.servers
    assert config.model_copy(update={"comfyui_token": "x"}).servers != config.servers


def test_the_environment_gives_values_and_what_it_gets_wrong_is_left_out() -> None:
    found = from_environment(
        {
            "COMFYUI_URL": "http://comfyui:8188",
            "COMFYUI_MAX_SIZE": "lots",
            "COMFYUI_TOKEN": "secret\n",
            "COMFYUI_PREVIEWS": "false",
            "COMFYUI_JOBS_PER_USER": " ",
        }
    )

    assert found.config == PipeConfig(comfyui_url="http://comfyui:8188", previews=False)
    max_size, token = sorted(found.problems)
    assert max_size.startswith("COMFYUI_MAX_SIZE is not valid (Input should be a valid integer")
    assert token.startswith("COMFYUI_TOKEN is not valid (It holds a control character")
    assert "secret" not in " ".join(found.problems)


def test_stored_values_that_are_not_valid_keep_the_fallbacks() -> None:
    fallback = PipeConfig(max_steps=40)

    found = salvaged(
        {"max_steps": 0, "max_count": 3, "lease_heartbeat": 100, "lease_expiry": 50}, fallback
    )

    assert found.config == PipeConfig(max_steps=40, max_count=3)
    assert found.problems == (
        "max_steps is not valid (Input should be greater than or equal to 1): max_steps left out.",
        "lease_expiry is not valid (The lease expiry must be at least twice the heartbeat): "
        "lease_expiry and lease_heartbeat left out.",
    )


@pytest.mark.parametrize(
    "text",
    [
        "Pro = 3, pro = 2",
        ", ".join(f"group{number} = 2" for number in range(101)),
        "Pro = 0.001",
        "Pro = 101",
        "Pro",
    ],
)
def test_group_weights_are_bounded(text: str) -> None:
    with pytest.raises(ValidationError, match="queue_group_weights"):
        PipeConfig(queue_group_weights=text)


def test_the_admin_form_shows_the_bounds_and_hides_the_secrets() -> None:
    schema = PipeConfig.model_json_schema()["properties"]

    assert schema["max_size"]["maximum"] == 16384
    assert "16384" in schema["max_size"]["description"]
    assert schema["comfyui_token"]["input"] == {"type": "password"}
    assert schema["comfyui_auth_header"]["input"] == {"type": "password"}
