"""Node implementations: image nodes run for real with Pillow, model nodes are simulated."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter, ImageOps

Images = list[Image.Image]
NodeOutput = tuple[tuple[Any, ...], dict[str, Any] | None]


@dataclass(frozen=True)
class Model:
    name: str
    loras: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clip:
    name: str


@dataclass(frozen=True)
class Vae:
    name: str
    channels: int


@dataclass(frozen=True)
class Conditioning:
    text: str


@dataclass(frozen=True)
class Latent:
    width: int
    height: int
    batch_size: int
    channels: int
    seed: int = 0


@dataclass(frozen=True)
class Opaque:
    """NOISE, SIGMAS, SAMPLER, GUIDER, UPSCALE_MODEL: values only their consumers look into."""

    kind: str
    value: Any = None


@dataclass
class NodeContext:
    node_id: str
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    step_seconds: float
    report_step: Callable[[int, int, Image.Image], Awaitable[None]]
    """Waits one step, raises if interrupted, then reports progress and a preview."""


class UnknownNode(Exception):
    pass


async def run_node(class_type: str, ctx: NodeContext, inputs: dict[str, Any]) -> NodeOutput:
    try:
        implementation = _NODES[class_type]
    except KeyError:
        raise UnknownNode(f"the ComfyUI double cannot run {class_type}") from None
    if class_type not in _SAMPLERS:
        await asyncio.sleep(ctx.step_seconds)
    return await implementation(ctx, **inputs)


def _derive(*parts: Any) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _vae_channels(name: str) -> int:
    return 16 if name == "ae.safetensors" or "flux" in name or "sd3" in name else 4


# --- loaders -----------------------------------------------------------------------------


async def _checkpoint(ctx: NodeContext, ckpt_name: str, **_: Any) -> NodeOutput:
    return (Model(ckpt_name), Clip(ckpt_name), Vae(ckpt_name, 4)), None


async def _unet(ctx: NodeContext, unet_name: str, **_: Any) -> NodeOutput:
    return (Model(unet_name),), None


async def _dual_clip(ctx: NodeContext, clip_name1: str, clip_name2: str, **_: Any) -> NodeOutput:
    return (Clip(f"{clip_name1}+{clip_name2}"),), None


async def _clip(ctx: NodeContext, clip_name: str, **_: Any) -> NodeOutput:
    return (Clip(clip_name),), None


async def _vae(ctx: NodeContext, vae_name: str) -> NodeOutput:
    return (Vae(vae_name, _vae_channels(vae_name)),), None


async def _lora(ctx: NodeContext, model: Model, clip: Clip, lora_name: str, **_: Any) -> NodeOutput:
    return (replace(model, loras=(*model.loras, lora_name)), clip), None


async def _lora_model_only(ctx: NodeContext, model: Model, lora_name: str, **_: Any) -> NodeOutput:
    return (replace(model, loras=(*model.loras, lora_name)),), None


async def _upscale_model(ctx: NodeContext, model_name: str) -> NodeOutput:
    return (Opaque("UPSCALE_MODEL", model_name),), None


# --- conditioning and latents ----------------------------------------------------------------


async def _encode(ctx: NodeContext, text: str, clip: Clip) -> NodeOutput:
    return (Conditioning(text),), None


async def _pass_conditioning(ctx: NodeContext, conditioning: Conditioning, **_: Any) -> NodeOutput:
    return (conditioning,), None


async def _empty_latent(ctx: NodeContext, width: int, height: int, batch_size: int) -> NodeOutput:
    return (Latent(width, height, batch_size, 4),), None


async def _empty_sd3_latent(
    ctx: NodeContext, width: int, height: int, batch_size: int
) -> NodeOutput:
    return (Latent(width, height, batch_size, 16),), None


async def _vae_encode(ctx: NodeContext, pixels: Images, vae: Vae) -> NodeOutput:
    first = pixels[0]
    seed = _derive(first.tobytes()[:4096], first.size)
    return (Latent(first.width, first.height, len(pixels), vae.channels, seed),), None


async def _vae_decode(ctx: NodeContext, samples: Latent, vae: Vae) -> NodeOutput:
    if samples.channels != vae.channels:
        c, b = vae.channels, samples.batch_size
        shape = f"[{b}, {samples.channels}, {samples.height // 8}, {samples.width // 8}]"
        raise RuntimeError(
            f"Given groups=1, weight of size [{c}, {c}, 1, 1], expected input{shape} to have "
            f"{c} channels, but got {samples.channels} channels instead\n"
        )
    return (await asyncio.to_thread(_decode, samples),), None


def _decode(latent: Latent) -> Images:
    images = []
    for index in range(latent.batch_size):
        rng = random.Random(_derive(latent.seed, index))
        colour = tuple(rng.randrange(256) for _ in range(3))
        image = Image.new("RGB", (latent.width, latent.height), colour)
        image.paste(Image.effect_noise((latent.width, latent.height // 4 or 1), 40).convert("RGB"))
        images.append(image)
    return images


# --- samplers ------------------------------------------------------------------------------


async def _sample(ctx: NodeContext, latent: Latent, steps: int, *identity: Any) -> Latent:
    result = replace(latent, seed=_derive(latent.seed, *identity))
    preview = Image.new("RGB", (max(latent.width // 8, 8), max(latent.height // 8, 8)), "gray")
    for step in range(1, steps + 1):
        await ctx.report_step(step, steps, preview)
    return result


async def _ksampler(
    ctx: NodeContext, model: Model, seed: int, steps: int, latent_image: Latent, **rest: Any
) -> NodeOutput:
    identity = (model, seed, steps, repr(sorted(rest.items(), key=lambda item: item[0])))
    return (await _sample(ctx, latent_image, steps, *identity),), None


async def _ksampler_advanced(
    ctx: NodeContext,
    model: Model,
    noise_seed: int,
    steps: int,
    latent_image: Latent,
    start_at_step: int = 0,
    end_at_step: int = 10000,
    **rest: Any,
) -> NodeOutput:
    count = max(0, min(end_at_step, steps) - start_at_step)
    identity = (model, noise_seed, steps, start_at_step, end_at_step, repr(sorted(rest.items())))
    return (await _sample(ctx, latent_image, count, *identity),), None


async def _sampler_custom_advanced(
    ctx: NodeContext,
    noise: Opaque,
    guider: Opaque,
    sampler: Opaque,
    sigmas: Opaque,
    latent_image: Latent,
) -> NodeOutput:
    steps = sigmas.value
    latent = await _sample(ctx, latent_image, steps, noise.value, repr(guider.value), sampler.value)
    return (latent, latent), None


async def _random_noise(ctx: NodeContext, noise_seed: int) -> NodeOutput:
    return (Opaque("NOISE", noise_seed),), None


async def _basic_scheduler(
    ctx: NodeContext, model: Model, scheduler: str, steps: int, denoise: float
) -> NodeOutput:
    return (Opaque("SIGMAS", steps if denoise > 0 else 0),), None


async def _sampler_select(ctx: NodeContext, sampler_name: str) -> NodeOutput:
    return (Opaque("SAMPLER", sampler_name),), None


async def _guider(ctx: NodeContext, model: Model, **conditioning: Any) -> NodeOutput:
    return (
        Opaque("GUIDER", (model, sorted(conditioning.items(), key=lambda item: item[0]))),
    ), None


# --- images --------------------------------------------------------------------------------


async def _empty_image(
    ctx: NodeContext, width: int, height: int, batch_size: int, color: int
) -> NodeOutput:
    rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
    return ([Image.new("RGB", (width, height), rgb) for _ in range(batch_size)],), None


async def _load_image(ctx: NodeContext, image: str) -> NodeOutput:
    def load() -> NodeOutput:
        with Image.open(ctx.input_dir / image) as opened:
            rgba = opened.convert("RGBA")
        mask = ImageOps.invert(rgba.getchannel("A"))
        return ([rgba.convert("RGB")], mask), None

    return await asyncio.to_thread(load)


async def _invert(ctx: NodeContext, image: Images) -> NodeOutput:
    return ([ImageOps.invert(each) for each in image],), None


_RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


async def _scale(
    ctx: NodeContext, image: Images, upscale_method: str, width: int, height: int, crop: str
) -> NodeOutput:
    def scale(each: Image.Image) -> Image.Image:
        target_w = width or round(each.width * height / each.height)
        target_h = height or round(each.height * width / each.width)
        if crop == "center":
            return ImageOps.fit(each, (target_w, target_h), _RESAMPLE[upscale_method])
        return each.resize((target_w, target_h), _RESAMPLE[upscale_method])

    return (await asyncio.to_thread(lambda: [scale(each) for each in image]),), None


async def _blur(ctx: NodeContext, image: Images, blur_radius: int, sigma: float) -> NodeOutput:
    blur = ImageFilter.GaussianBlur(radius=sigma)
    return (await asyncio.to_thread(lambda: [each.filter(blur) for each in image]),), None


async def _upscale_with_model(ctx: NodeContext, upscale_model: Opaque, image: Images) -> NodeOutput:
    def upscale(each: Image.Image) -> Image.Image:
        return each.resize((each.width * 4, each.height * 4), Image.Resampling.NEAREST)

    return (await asyncio.to_thread(lambda: [upscale(each) for each in image]),), None


async def _save_image(
    ctx: NodeContext, images: Images, filename_prefix: str = "ComfyUI"
) -> NodeOutput:
    results = await asyncio.to_thread(
        _write_pngs, images, ctx.output_dir, filename_prefix, "output"
    )
    return (), {"images": results}


async def _preview_image(ctx: NodeContext, images: Images) -> NodeOutput:
    prefix = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
    results = await asyncio.to_thread(_write_pngs, images, ctx.temp_dir, prefix, "temp")
    return (), {"images": results}


def _write_pngs(images: Images, base: Path, prefix: str, kind: str) -> list[dict[str, str]]:
    subfolder, _, name = prefix.rpartition("/")
    folder = base / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)_")
    used = [int(match.group(1)) for path in folder.iterdir() if (match := pattern.match(path.name))]
    counter = max(used, default=0) + 1
    results = []
    for image in images:
        filename = f"{name}_{counter:05}_.png"
        image.save(folder / filename, format="PNG", compress_level=4)
        results.append({"filename": filename, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


_NODES: dict[str, Callable[..., Awaitable[NodeOutput]]] = {
    "CheckpointLoaderSimple": _checkpoint,
    "UNETLoader": _unet,
    "DualCLIPLoader": _dual_clip,
    "CLIPLoader": _clip,
    "VAELoader": _vae,
    "LoraLoader": _lora,
    "LoraLoaderModelOnly": _lora_model_only,
    "UpscaleModelLoader": _upscale_model,
    "CLIPTextEncode": _encode,
    "FluxGuidance": _pass_conditioning,
    "ConditioningZeroOut": _pass_conditioning,
    "EmptyLatentImage": _empty_latent,
    "EmptySD3LatentImage": _empty_sd3_latent,
    "VAEEncode": _vae_encode,
    "VAEDecode": _vae_decode,
    "KSampler": _ksampler,
    "KSamplerAdvanced": _ksampler_advanced,
    "SamplerCustomAdvanced": _sampler_custom_advanced,
    "RandomNoise": _random_noise,
    "BasicScheduler": _basic_scheduler,
    "KSamplerSelect": _sampler_select,
    "BasicGuider": _guider,
    "CFGGuider": _guider,
    "EmptyImage": _empty_image,
    "LoadImage": _load_image,
    "ImageInvert": _invert,
    "ImageScale": _scale,
    "ImageBlur": _blur,
    "ImageUpscaleWithModel": _upscale_with_model,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
}
_SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced"}
