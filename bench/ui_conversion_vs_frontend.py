"""Our UI→API conversion against ComfyUI's own frontend, on the official templates.

    .venv/bin/python bench/ui_conversion_vs_frontend.py [--work DIR] [--write-fixtures]

Downloads (``pip download``, cached in ``--work``) the ``comfyui-frontend-package``
wheel and the ``comfyui-workflow-templates-json`` wheel, serves the frontend with the
test double's routes and a real server's ``/object_info``, and for every template whose
node types all exist in that ``object_info`` calls the frontend's own
``app.graphToPrompt()`` in Chromium. Then converts the same template with
``comfyui_pipe.workflow.ui_format`` and compares the two after normalisation (the
``_meta`` titles dropped, link ids as strings). Prints the match rate and every
mismatch with its first differences; ``--report`` writes them as JSON.

``--write-fixtures`` stores the CI sample (``SAMPLE`` below): each template's UI JSON
and the frontend's API output under ``tests/fixtures/ui_templates/``, so the CI test
needs no browser and no download.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend_server import ROOT, serve_frontend, unpack_frontend

sys.path.insert(0, str(ROOT))
from comfyui_pipe.workflow.ui_format import (
    FRONTEND_ONLY_TYPES,
    UIConversionError,
    ui_to_api,
)

FRONTEND_VERSION = "1.48.7"  # the frontend ComfyUI v0.33.0 ships (see the recordings' README)
OBJECT_INFO = ROOT / "tests" / "fixtures" / "traces" / "v0_33" / "object_info.json"
FIXTURES = ROOT / "tests" / "fixtures" / "ui_templates"
CHROMIUM = "/usr/bin/chromium"

# The CI sample: the 30 smallest templates, plus ones for nested subgraphs, Reroutes,
# PrimitiveNodes, a muted node, bypassed subgraph nodes (in the root and nested),
# promoted subgraph widgets, renumbered subgraph node ids, dynamic combos, CustomCombo.
SAMPLE = [
    "3d_moge_panorama_to_mesh",
    "3d_triposplat_image_to_gaussian_splat",
    "audio_ace_step1_5_xl_base",
    "audio_ace_step_1_5_split_4b",
    "audio_ace_step_1_t2a_instrumentals",
    "audio_minimax_music_3",
    "audio_stable_audio_example",
    "flux1_dev_uso_reference_image_gen",
    "flux_canny_model_example",
    "flux_depth_lora_example",
    "flux_fill_outpaint_example",
    "flux_schnell",
    "flux_schnell_full_text_to_image",
    "hidream_e1_1",
    "hidream_e1_full",
    "hidream_i1_dev",
    "hidream_i1_fast",
    "hidream_i1_full",
    "hunyuan_video_text_to_video",
    "image_flux2_klein_image_edit_4b_base",
    "image_netayume_lumina_t2i",
    "image_newbieimage_exp0_1-t2i",
    "image_qwen_Image_2512_controlnet",
    "image_sdxl_simple",
    "llm_gemma4_text_gen",
    "llm_qwen3_5_text_gen",
    "llm_qwen3_text_gen",
    "llm_qwen3vl_text_gen",
    "ltxv_image_to_video",
    "ltxv_text_to_video",
    "sd3.5_large_blur",
    "sd3.5_large_canny_controlnet_example",
    "sd3.5_simple_example",
    "sdxl_revision_text_prompts",
    "sdxlturbo_example",
    "text_to_video_wan",
    "txt_to_image_to_video",
    "utility-gan_upscaler",
    "utility_birefnet_remove_background",
    "utility_image_stitch",
    "utility_interpolation_image_upscale",
    "utility_moge3_geometry_estimation",
    "video_bernini_r_image_editing",
    "video_wan2_2_5B_ti2v",
]

CONVERT_IN_PAGE = """async (workflow) => {
    await window.app.loadGraphData(workflow, true, false, 'template');
    const { output } = await window.app.graphToPrompt();
    return output;
}"""


def download(package: str, into: Path) -> Path:
    """The wheel of ``package`` (e.g. ``name==1.0``), fetched once with pip."""
    into.mkdir(parents=True, exist_ok=True)
    name = package.split("==")[0].replace("-", "_")
    found = sorted(into.glob(f"{name}-*.whl"))
    if "==" in package:
        found = [wheel for wheel in found if f"-{package.split('==')[1]}-" in wheel.name]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(into)],
            check=True,
        )
        return download(package, into)
    return found[-1]


def read_templates(wheel: Path) -> dict[str, Any]:
    """Every UI-format workflow in the templates wheel, by file stem."""
    templates = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if "/templates/" not in name or not name.endswith(".json"):
                continue
            data = json.loads(archive.read(name))
            if isinstance(data, dict) and "nodes" in data and "links" in data:
                templates[Path(name).stem] = data
    return templates


def unknown_types(workflow: dict[str, Any], object_info: dict[str, Any]) -> set[str]:
    """Node types the server does not have (frontend-only and subgraph nodes excepted)."""
    subgraphs = (workflow.get("definitions") or {}).get("subgraphs") or []
    known = set(object_info) | FRONTEND_ONLY_TYPES | {graph["id"] for graph in subgraphs}
    nodes = [*workflow["nodes"], *(node for graph in subgraphs for node in graph["nodes"])]
    return {node["type"] for node in nodes if node["type"] not in known}


async def frontend_outputs(
    static: Path, object_info: dict[str, Any], templates: dict[str, Any]
) -> dict[str, Any]:
    """``graphToPrompt()``'s output per template (``{"error": …}`` where the frontend threw)."""
    from playwright.async_api import async_playwright

    outputs: dict[str, Any] = {}
    async with serve_frontend(static, object_info) as url, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(url)
        await page.wait_for_function("window.app && window.app.graph", timeout=120_000)
        for name, workflow in templates.items():
            try:
                outputs[name] = {"output": await page.evaluate(CONVERT_IN_PAGE, workflow)}
            except Exception as error:  # the frontend's own failure is a result too
                outputs[name] = {"error": str(error).splitlines()[0]}
        await browser.close()
    return outputs


def normalise(prompt: dict[str, Any]) -> dict[str, Any]:
    return {
        str(node_id): {"class_type": node["class_type"], "inputs": node.get("inputs", {})}
        for node_id, node in prompt.items()
    }


def differences(ours: dict[str, Any], theirs: dict[str, Any], limit: int = 6) -> list[str]:
    found = []
    for node_id in sorted(set(ours) | set(theirs)):
        if node_id not in ours:
            found.append(f"{node_id} ({theirs[node_id]['class_type']}): missing in ours")
        elif node_id not in theirs:
            found.append(f"{node_id} ({ours[node_id]['class_type']}): only in ours")
        elif ours[node_id] != theirs[node_id]:
            mine, other = ours[node_id]["inputs"], theirs[node_id]["inputs"]
            for name in sorted(set(mine) | set(other)):
                if mine.get(name, "<absent>") != other.get(name, "<absent>"):
                    found.append(
                        f"{node_id}.{name}: ours {json.dumps(mine.get(name, '<absent>'))[:80]} "
                        f"frontend {json.dumps(other.get(name, '<absent>'))[:80]}"
                    )
            if ours[node_id]["class_type"] != theirs[node_id]["class_type"]:
                found.append(f"{node_id}: class_type differs")
    return found[:limit]


def compare(
    templates: dict[str, Any], expected: dict[str, Any], object_info: dict[str, Any]
) -> dict[str, Any]:
    report: dict[str, Any] = {"matched": [], "mismatched": {}, "frontend_failed": {}}
    for name, workflow in templates.items():
        frontend = expected[name]
        if "error" in frontend:
            report["frontend_failed"][name] = frontend["error"]
            continue
        try:
            ours = normalise(ui_to_api(workflow, object_info))
        except UIConversionError as error:
            report["mismatched"][name] = [f"ours refused it: {error}"]
            continue
        found = differences(ours, normalise(frontend["output"]))
        if found:
            report["mismatched"][name] = found
        else:
            report["matched"].append(name)
    return report


def write_fixtures(templates: dict[str, Any], expected: dict[str, Any]) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE:
        api = normalise(expected[name]["output"])
        for path, data in ((f"{name}.json", templates[name]), (f"{name}.api.json", api)):
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            (FIXTURES / path).write_text(text + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ui-conversion-bench"))
    parser.add_argument("--frontend-version", default=FRONTEND_VERSION)
    parser.add_argument("--templates-version", default="", help="default: the newest")
    parser.add_argument("--object-info", type=Path, default=OBJECT_INFO)
    parser.add_argument("--report", type=Path, help="write the full comparison as JSON here")
    parser.add_argument("--write-fixtures", action="store_true")
    args = parser.parse_args()

    wheels = args.work / "wheels"
    frontend_wheel = download(f"comfyui-frontend-package=={args.frontend_version}", wheels)
    templates_package = "comfyui-workflow-templates-json" + (
        f"=={args.templates_version}" if args.templates_version else ""
    )
    templates_wheel = download(templates_package, wheels)
    object_info = json.loads(args.object_info.read_text("utf-8"))

    all_templates = read_templates(templates_wheel)
    missing = {name: unknown_types(data, object_info) for name, data in all_templates.items()}
    templates = {name: data for name, data in all_templates.items() if not missing[name]}

    cache = args.work / f"frontend-{frontend_wheel.stem}-{templates_wheel.stem}.json"
    if cache.exists():
        expected = json.loads(cache.read_text())
    else:
        static = unpack_frontend(frontend_wheel, args.work / frontend_wheel.stem)
        expected = asyncio.run(frontend_outputs(static, object_info, templates))
        cache.write_text(json.dumps(expected))

    report = compare(templates, expected, object_info)
    report["skipped_unknown_node_types"] = {
        name: sorted(types) for name, types in missing.items() if types
    }
    compared = len(templates) - len(report["frontend_failed"])
    print(f"{frontend_wheel.name} · {templates_wheel.name} · {args.object_info}")
    print(
        f"{len(all_templates)} UI-format templates; {len(templates)} use only node types "
        f"this object_info has; the frontend converted {compared}."
    )
    for name, error in report["frontend_failed"].items():
        print(f"  frontend failed on {name}: {error}")
    for name, found in report["mismatched"].items():
        print(f"  differs: {name}")
        for line in found:
            print(f"      {line}")
    print(
        f"Equal to graphToPrompt(): {len(report['matched'])} of {compared} "
        f"({100 * len(report['matched']) / max(compared, 1):.1f}%)"
    )
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    if args.write_fixtures:
        write_fixtures(templates, expected)


if __name__ == "__main__":
    main()
