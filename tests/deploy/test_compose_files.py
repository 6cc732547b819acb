"""The compose files: valid, private ComfyUI, healthy start order, persistent data, GPUs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy import compose

from comfyui_pipe.config import PipeConfig, from_environment
from comfyui_pipe.fetch_models import models_for_workflow
from comfyui_pipe.fetch_models.cli import ENV_NAMES as FETCHER_ENV_NAMES
from comfyui_pipe.settings import VARIABLE_OF_SETTING

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "docker-compose.yaml"
GPU = ROOT / "docker-compose.gpu.yaml"
MULTI_GPU = ROOT / "docker-compose.multi-gpu.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
STACKS = {"cpu": [BASE], "gpu": [BASE, GPU], "multi-gpu": [BASE, MULTI_GPU]}
# Open WebUI's own settings the stack sets (read by open_webui itself).
OPEN_WEBUI_ENV = {"WEBUI_SECRET_KEY"}


def example_environ(**overrides: str) -> dict[str, str]:
    return {**compose.read_env_file(ENV_EXAMPLE), "WEBUI_SECRET_KEY": "s3cret", **overrides}


def stack(name: str, **env: str) -> dict:
    return compose.interpolate(compose.load(*STACKS[name]), example_environ(**env))


def comfyui_services(model: dict) -> dict[str, dict]:
    return {name: s for name, s in model["services"].items() if name.startswith("comfyui")}


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    program = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert program, "check-jsonschema is part of the test dependencies"
    return subprocess.run(
        [program, "--builtin-schema", "vendor.compose-spec", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_file_and_every_merged_stack_follows_the_compose_spec(tmp_path):
    merged = []
    for name, files in STACKS.items():
        for variant, model in {
            "raw": compose.load(*files),
            "interpolated": stack(name),
        }.items():
            path = tmp_path / f"{name}-{variant}.yaml"
            path.write_text(yaml.safe_dump(model))
            merged.append(path)

    result = check_jsonschema(BASE, GPU, MULTI_GPU, *merged)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BASE.read_text().replace("restart: unless-stopped", "restart: [1]", 1))

    assert check_jsonschema(broken).returncode != 0


@pytest.mark.parametrize("name", STACKS)
def test_comfyui_publishes_no_port_and_lives_on_an_internal_network(name):
    model = stack(name)

    assert model["networks"]["comfyui"]["internal"] is True
    for service in comfyui_services(model).values():
        assert "ports" not in service
        assert service["networks"] == ["comfyui"]
        assert service["expose"] == ["8188"]
    assert "comfyui" in model["services"]["open-webui"]["networks"]
    assert model["services"]["open-webui"]["ports"] == ["3000:8080"]


@pytest.mark.parametrize("name", STACKS)
def test_open_webui_starts_after_healthy_comfyuis_while_the_models_download(name):
    services = stack(name)["services"]
    instances = comfyui_services({"services": services})

    assert services["open-webui"]["depends_on"] == {
        **{instance: {"condition": "service_healthy"} for instance in instances},
        "model-fetcher": {"condition": "service_started"},
    }
    for service in [services["open-webui"], *instances.values()]:
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "healthcheck"
    assert services["comfyui"]["healthcheck"]["test"][2].endswith(":8188/system_stats")
    assert services["open-webui"]["healthcheck"]["test"][2].endswith(":8080/health")


@pytest.mark.parametrize("name", STACKS)
def test_data_and_models_live_in_named_volumes(name):
    model = stack(name)
    services = model["services"]

    def mounts(service: str) -> dict[str, str]:
        return {
            compose.mount_target(m): compose.mount_source(m) for m in services[service]["volumes"]
        }

    assert mounts("open-webui")["/app/backend/data"] == "open-webui-data"
    models_volume = mounts("comfyui")["/opt/comfyui/models"]
    assert mounts("model-fetcher")["/models"] == models_volume
    outputs = set()
    for instance in comfyui_services(model):
        instance_mounts = mounts(instance)
        assert instance_mounts["/opt/comfyui/models"] == models_volume
        outputs.add(instance_mounts["/opt/comfyui/output"])
        assert {"/opt/comfyui/input", "/opt/comfyui/user"} <= instance_mounts.keys()
        for source in instance_mounts.values():
            assert source in model["volumes"], f"{source} is not a named volume"
    assert len(outputs) == len(comfyui_services(model)), "each ComfyUI keeps its own outputs"


def test_the_gpu_override_reserves_nvidia_gpus_for_a_cuda_build():
    comfyui = stack("gpu")["services"]["comfyui"]

    assert comfyui["build"]["args"]["COMFY_TORCH_VARIANT"] == "cuda"
    assert comfyui["image"] != stack("cpu")["services"]["comfyui"]["image"]
    assert comfyui["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "1", "capabilities": ["gpu"]}
    ]
    everything = stack("gpu", COMFY_GPU_COUNT="all")["services"]["comfyui"]
    assert everything["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"
    assert "devices" not in str(stack("cpu")["services"]["comfyui"]["deploy"])


def test_one_comfyui_per_gpu_and_the_plugin_knows_them_all():
    model = stack("multi-gpu")
    instances = comfyui_services(model)

    device_ids = [
        s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
        for s in instances.values()
    ]
    assert sorted(device_ids) == [["0"], ["1"]]
    assert all(s["build"]["args"]["COMFY_TORCH_VARIANT"] == "cuda" for s in instances.values())
    urls = model["services"]["open-webui"]["environment"]["COMFYUI_URL"].split(",")
    assert urls == [f"http://{name}:8188" for name in instances]


def test_open_webui_gets_exactly_the_plugins_settings_and_its_own_secret():
    for name in STACKS:
        environment = compose.load(*STACKS[name])["services"]["open-webui"]["environment"]
        assert set(environment) == set(VARIABLE_OF_SETTING.values()) | OPEN_WEBUI_ENV


def test_the_open_webui_settings_we_set_are_ones_open_webui_reads():
    import open_webui  # the installed wheel: its source names the variables it reads

    source = "\n".join(p.read_text("utf-8") for p in Path(open_webui.__file__).parent.glob("*.py"))
    for name in OPEN_WEBUI_ENV:
        assert re.search(rf"(getenv|environ\.get|environ\[)\(?\s*['\"]{name}['\"]", source), name


def test_the_fetcher_gets_exactly_the_settings_it_reads_and_comfyui_none():
    services = compose.load(BASE)["services"]

    assert set(services["model-fetcher"]["environment"]) == set(FETCHER_ENV_NAMES)
    assert "environment" not in services["comfyui"]


def test_with_the_example_env_the_plugin_starts_from_its_own_defaults():
    environment = stack("cpu")["services"]["open-webui"]["environment"]

    found = from_environment(environment)

    assert found.problems == ()
    assert found.config == PipeConfig(comfyui_url="http://comfyui:8188")


def test_without_an_env_file_the_secret_is_generated_into_the_data_volume():
    open_webui = compose.interpolate(compose.load(BASE), {})["services"]["open-webui"]
    dockerfile = (ROOT / "docker/open-webui/Dockerfile").read_text()
    data_dir = re.search(r"^ENV DATA_DIR=(\S+)$", dockerfile, re.MULTILINE)

    # empty: `comfyui-pipe serve` generates the key and keeps it in DATA_DIR
    assert open_webui["environment"]["WEBUI_SECRET_KEY"] == ""
    assert data_dir is not None
    assert f"open-webui-data:{data_dir[1]}" in open_webui["volumes"]


def test_env_example_documents_exactly_the_variables_the_compose_files_use():
    used = set().union(*(compose.variables(path) for path in (BASE, GPU, MULTI_GPU)))
    documented = compose.read_env_file(ENV_EXAMPLE)

    assert set(documented) == used
    lines = ENV_EXAMPLE.read_text().splitlines()
    for name in documented:
        above = lines[: lines.index(f"{name}={documented[name]}")]
        while above and re.match(r"\w+=", above[-1]):  # a group shares one comment
            above.pop()
        assert above and above[-1].startswith("#"), f"{name} has no comment above it"


def test_the_fetcher_command_points_at_the_workflows_the_image_carries():
    fetcher = compose.load(BASE)["services"]["model-fetcher"]
    arguments = dict(zip(fetcher["command"][::2], fetcher["command"][1::2], strict=True))
    dockerfile = (ROOT / "docker/open-webui/Dockerfile").read_text()

    assert fetcher["entrypoint"] == ["python", "-m", "comfyui_pipe.fetch_models"]
    assert f"COPY workflows {arguments['--workflows']}\n" in dockerfile
    assert fetcher["image"] == compose.load(BASE)["services"]["open-webui"]["image"]


def test_the_fetcher_downloads_what_the_default_workflow_lists():
    workflow_id = PipeConfig().default_workflow
    meta = json.loads((ROOT / "workflows" / f"{workflow_id}.meta.json").read_text())

    models = models_for_workflow(ROOT / "workflows", workflow_id)

    assert models, "the default workflow must list the models it needs"
    assert [(m.folder, m.filename, m.url, m.sha256, m.size_bytes) for m in models] == [
        (e["folder"], e["filename"], e["url"], e.get("sha256"), e.get("size_bytes"))
        for e in meta["models"]
    ]
    assert all(m.url.startswith("https://") for m in models)
