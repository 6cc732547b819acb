"""Find where each generation parameter lives by reading the graph's wiring.

Nothing here relies on node ids or titles. The samplers are the anchor: the
prompt is whatever text encoder feeds a sampler's ``positive`` side, the size is
the empty latent feeding the first sampler, the checkpoint is the loader at the
root of its ``model`` chain.

Parameter names: ``prompt``, ``negative_prompt``, ``seed``, ``steps``, ``cfg``,
``sampler``, ``scheduler``, ``denoise``, ``width``, ``height``, ``batch_size``,
``checkpoint`` (``ckpt_name`` or ``unet_name``), ``images`` (every ``LoadImage``,
in node-id order), ``loras`` and ``upscale_model`` (existing loader nodes).

Rules when a graph has several samplers (SDXL base + refiner, hires fix):

* ``seed``, ``sampler``, ``scheduler`` and ``cfg`` go to every sampler;
* ``prompt`` / ``negative_prompt`` go to every encoder on the positive /
  negative side of any sampler;
* ``steps`` and ``denoise`` go to the *base* sampler only — the one no other
  sampler feeds — because later passes (hires fix) have their own short
  schedule. A ``KSamplerAdvanced`` that continues the base's schedule
  (``start_at_step`` > 0, as an SDXL refiner does) shares its step count and
  gets ``steps`` too;
* ``width`` / ``height`` / ``batch_size`` come from the node that makes the base
  sampler's latent (an ``Empty…Latent…``, or a video latent such as
  ``Wan22ImageToVideoLatent`` or ``WanImageToVideo``);
* ``checkpoint`` is the loader of the base sampler's model.

For Flux-style graphs the ``cfg`` parameter targets the ``guidance`` of
``FluxGuidance`` (or ``CLIPTextEncodeFlux``) on the positive side, because
those models must keep the sampler's real CFG at 1.

``ConditioningZeroOut`` ends a walk: it turns its input into "no prompt", so
the encoder behind it is not a negative prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from comfyui_pipe.workflow.graph import (
    SAMPLERS,
    Graph,
    Target,
    class_of,
    inputs_of,
    linked_node,
    literal_target,
    sort_ids,
    upstream,
)

TEXT_ENCODERS: Mapping[str, tuple[str, ...]] = {
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": ("text",),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl"),
    "CLIPTextEncodeSD3": ("clip_l", "clip_g", "t5xxl"),
    "CLIPTextEncodeHiDream": ("clip_l", "clip_g", "t5xxl", "llama"),
    "CLIPTextEncodeHunyuanDiT": ("bert", "mt5xl"),
    "CLIPTextEncodeLumina2": ("user_prompt",),
    "CLIPTextEncodePixArtAlpha": ("text",),
    "CLIPTextEncodeKandinsky5": ("clip_l", "qwen25_7b"),
    "TextEncodeQwenImageEdit": ("prompt",),
    "TextEncodeQwenImageEditPlus": ("prompt",),
    "TextEncodeHunyuanVideo_ImageToVideo": ("prompt",),
    "TextEncodeAceStepAudio": ("tags",),
}

MODEL_LOADERS: Mapping[str, str] = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "unCLIPCheckpointLoader": "ckpt_name",
    "ImageOnlyCheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
    "UnetLoaderGGUF": "unet_name",
}

LORA_LOADERS = frozenset({"LoraLoader", "LoraLoaderModelOnly"})
OutputKind = Literal["image", "animated", "video", "audio", "text"]
OUTPUT_KINDS: Mapping[str, OutputKind] = {
    "SaveImage": "image",
    "PreviewImage": "image",
    "SaveImageWebsocket": "image",
    "SaveAnimatedWEBP": "animated",
    "SaveAnimatedPNG": "animated",
    "SaveWEBM": "video",
    "SaveVideo": "video",
    "VHS_VideoCombine": "video",
    "SaveAudio": "audio",
    "SaveAudioMP3": "audio",
    "SaveAudioOpus": "audio",
    "PreviewAudio": "audio",
    "PreviewAny": "text",
    "SaveText": "text",
}
IMAGE_INPUTS: Mapping[str, str] = {"LoadImage": "image", "LoadImageMask": "image"}
UPSCALE_MODEL_LOADERS = frozenset({"UpscaleModelLoader"})
OUTPUT_NODES = frozenset(OUTPUT_KINDS)

_CONDITIONING_INPUTS = (
    "conditioning",
    "conditioning_1",
    "conditioning_2",
    "conditioning_to",
    "conditioning_from",
)
_LATENT_INPUTS = ("samples", "latent", "latent_image")


@dataclass(frozen=True)
class ParameterMap:
    """Parameter name → the inputs it is written to, plus the graph's output nodes."""

    targets: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    output_nodes: tuple[str, ...] = ()
    model_loader: str | None = None  # where a LoRA chain is attached

    def __getitem__(self, name: str) -> tuple[Target, ...]:
        return self.targets.get(name, ())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.targets.get(name))

    def overridden_by(self, explicit: Mapping[str, tuple[Target, ...]]) -> ParameterMap:
        """This map with each parameter in ``explicit`` replaced by its explicit targets."""
        merged = {**self.targets, **{k: v for k, v in explicit.items() if v}}
        return ParameterMap(merged, self.output_nodes, self.model_loader)

    def within(self, graph: Graph) -> ParameterMap:
        """This map without the targets and outputs on nodes ``graph`` no longer has."""
        targets = {
            name: tuple(t for t in found if t.node in graph) for name, found in self.targets.items()
        }
        return ParameterMap(
            {name: found for name, found in targets.items() if found},
            tuple(node for node in self.output_nodes if node in graph),
            self.model_loader if self.model_loader in graph else None,
        )


@dataclass
class _Sampler:
    """Where one sampler's settings live, whatever its flavour."""

    node: str
    seed: Target | None = None
    steps: Target | None = None
    cfg: Target | None = None
    sampler: Target | None = None
    scheduler: Target | None = None
    denoise: Target | None = None
    positive: list[tuple[str, int]] = field(default_factory=list)
    negative: list[tuple[str, int]] = field(default_factory=list)
    model: tuple[str, int] | None = None
    latent: tuple[str, int] | None = None


def detect_parameters(graph: Graph) -> ParameterMap:
    samplers = _ordered_samplers(graph)
    found: dict[str, list[Target | None]] = {}

    def add(name: str, targets: Iterable[Target | None]) -> None:
        found.setdefault(name, []).extend(targets)

    model_loader = None
    if samplers:
        base = samplers[0]
        for sampler in samplers:
            positive = _walk_conditioning(graph, sampler.positive)
            negative = _walk_conditioning(graph, sampler.negative)
            add("prompt", positive.texts)
            add("negative_prompt", negative.texts)
            add("cfg", positive.guidance or [sampler.cfg])
            add("seed", [sampler.seed])
            add("sampler", [sampler.sampler])
            add("scheduler", [sampler.scheduler])
            if sampler is base or _continues_schedule(graph, sampler, base):
                add("steps", [sampler.steps])
        add("denoise", [base.denoise])
        for name, targets in _latent_size(graph, base.latent).items():
            add(name, targets)
        model_loader, model_targets = _model_chain(graph, base.model)
        for name, targets in model_targets.items():
            add(name, targets)

    add("loras", (Target(n, "lora_name") for n in _nodes_of(graph, LORA_LOADERS)))
    upscalers = _nodes_of(graph, UPSCALE_MODEL_LOADERS)
    add("upscale_model", (Target(n, "model_name") for n in upscalers))
    image_nodes = _nodes_of(graph, IMAGE_INPUTS)
    add("images", (Target(n, IMAGE_INPUTS[class_of(graph, n)]) for n in image_nodes))
    outputs = tuple(n for n in sort_ids(set(graph)) if _is_output(class_of(graph, n)))
    unique = {name: _unique(values) for name, values in found.items()}
    return ParameterMap({k: v for k, v in unique.items() if v}, outputs, model_loader)


def output_kinds(graph: Graph, output_nodes: Iterable[str]) -> tuple[OutputKind, ...]:
    """The kinds of output the ``output_nodes`` write, each once, in node order (node
    types this module does not know, e.g. a 3D model saver, are left out)."""
    kinds = (OUTPUT_KINDS.get(class_of(graph, node)) for node in output_nodes)
    return tuple(dict.fromkeys(kind for kind in kinds if kind is not None))


def _unique(targets: Iterable[Target | None]) -> tuple[Target, ...]:
    return tuple(dict.fromkeys(t for t in targets if t is not None))


def _nodes_of(graph: Graph, classes: Iterable[str]) -> list[str]:
    wanted = set(classes)
    return sort_ids({n for n in graph if class_of(graph, n) in wanted})


def _is_output(class_type: str) -> bool:
    return class_type in OUTPUT_NODES or class_type.startswith(("Save", "Preview"))


def _ordered_samplers(graph: Graph) -> list[_Sampler]:
    """Samplers, those fed by fewer other samplers first; the base sampler leads."""
    ids = _nodes_of(graph, SAMPLERS)
    depth = {n: len(upstream(graph, n) & set(ids)) for n in ids}
    return [_read_sampler(graph, n) for n in sorted(ids, key=lambda n: depth[n])]


def _read_sampler(graph: Graph, node: str) -> _Sampler:
    kind = class_of(graph, node)
    here = _Sampler(node, latent=linked_node(graph, node, "latent_image"))

    def at(node_id: str | None, name: str) -> Target | None:
        return literal_target(graph, node_id, name) if node_id else None

    def source(node_id: str, name: str) -> str | None:
        link = linked_node(graph, node_id, name)
        return link[0] if link else None

    if kind in ("KSampler", "KSamplerAdvanced"):
        here.seed = at(node, "seed") or at(node, "noise_seed")
        here.steps, here.cfg = at(node, "steps"), at(node, "cfg")
        here.sampler, here.scheduler = at(node, "sampler_name"), at(node, "scheduler")
        here.denoise = at(node, "denoise")
        guider: str | None = node
    else:
        noise = node if kind == "SamplerCustom" else source(node, "noise")
        here.seed = at(noise, "noise_seed")
        here.sampler = at(source(node, "sampler"), "sampler_name")
        sigmas = source(node, "sigmas")
        here.steps, here.scheduler = at(sigmas, "steps"), at(sigmas, "scheduler")
        here.denoise = at(sigmas, "denoise")
        guider = node if kind == "SamplerCustom" else source(node, "guider")
        here.cfg = at(guider, "cfg") or at(guider, "cfg_conds")
        if guider is None and sigmas:
            here.model = linked_node(graph, sigmas, "model")
    if guider is not None:
        for name in ("positive", "conditioning", "cond1", "cond2"):
            if link := linked_node(graph, guider, name):
                here.positive.append(link)
        if link := linked_node(graph, guider, "negative"):
            here.negative.append(link)
        here.model = linked_node(graph, guider, "model") or here.model
    return here


def _continues_schedule(graph: Graph, sampler: _Sampler, base: _Sampler) -> bool:
    start = inputs_of(graph, sampler.node).get("start_at_step")
    return (
        class_of(graph, sampler.node) == "KSamplerAdvanced"
        and isinstance(start, int)
        and start > 0
        and base.node in upstream(graph, sampler.node)
    )


@dataclass
class _Conditioning:
    texts: list[Target | None] = field(default_factory=list)
    guidance: list[Target | None] = field(default_factory=list)


def _walk_conditioning(graph: Graph, starts: list[tuple[str, int]]) -> _Conditioning:
    result = _Conditioning()
    pending = list(starts)
    seen: set[tuple[str, int]] = set()
    while pending:
        link = pending.pop(0)
        if link in seen:
            continue
        seen.add(link)
        node, output = link
        kind = class_of(graph, node)
        inputs = inputs_of(graph, node)
        if kind in TEXT_ENCODERS:
            result.texts.extend(literal_target(graph, node, n) for n in TEXT_ENCODERS[kind])
            if "guidance" in inputs:
                result.guidance.append(literal_target(graph, node, "guidance"))
            continue
        if kind == "ConditioningZeroOut":
            continue
        if kind == "FluxGuidance":
            result.guidance.append(literal_target(graph, node, "guidance"))
        if "positive" in inputs and "negative" in inputs:
            # e.g. ControlNetApplyAdvanced: output 0 is the positive side, 1 the negative
            names: tuple[str, ...] = ("positive", "negative")[output : output + 1]
        else:
            names = _CONDITIONING_INPUTS
        pending.extend(_links(graph, node, names))
    return result


def _links(graph: Graph, node: str, names: Iterable[str]) -> list[tuple[str, int]]:
    return [link for name in names if (link := linked_node(graph, node, name))]


def _latent_size(graph: Graph, start: tuple[str, int] | None) -> dict[str, list[Target | None]]:
    pending = [start] if start else []
    seen: set[str] = set()
    while pending:
        node = pending.pop(0)[0]
        if node in seen or class_of(graph, node) in SAMPLERS:
            continue
        seen.add(node)
        inputs = inputs_of(graph, node)
        if "width" in inputs and "height" in inputs:  # an empty (image or video) latent
            return {
                name: [literal_target(graph, node, name)]
                for name in ("width", "height", "batch_size")
            }
        pending.extend(_links(graph, node, _LATENT_INPUTS))
    return {}


def _model_chain(
    graph: Graph, start: tuple[str, int] | None
) -> tuple[str | None, dict[str, list[Target | None]]]:
    """The loader at the root of a model chain, and the size inputs met on the way."""
    found: dict[str, list[Target | None]] = {}
    link = start
    seen: set[str] = set()
    while link and link[0] not in seen:
        node = link[0]
        seen.add(node)
        kind = class_of(graph, node)
        if kind in MODEL_LOADERS:
            found["checkpoint"] = [literal_target(graph, node, MODEL_LOADERS[kind])]
            return node, found
        if kind == "ModelSamplingFlux":
            found["width"] = [literal_target(graph, node, "width")]
            found["height"] = [literal_target(graph, node, "height")]
        link = linked_node(graph, node, "model")
    return None, found
