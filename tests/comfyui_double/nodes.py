"""Node implementations: image nodes run for real with Pillow, model nodes are simulated.

A simulated model node keeps only what its consumers look at (sizes, frames, channels,
the seed); decoders make plausible pictures, video frames or a tone from that, and the
save nodes write real PNG, WEBP, MP4, WEBM and FLAC files (see ``media_files``)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from .media_files import write_animated_webp, write_flac, write_pngs, write_video

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
    frames: int = 1  # video latents hold several frames per batch item
    mask: Any = None  # a MASK set for inpainting


@dataclass(frozen=True)
class AudioLatent:
    seconds: float
    batch_size: int
    seed: int = 0


@dataclass(frozen=True)
class Audio:
    """What ComfyUI's AUDIO holds: a waveform (channels, samples) and its rate."""

    waveform: Any
    sample_rate: int


@dataclass(frozen=True)
class Video:
    frames: list[Image.Image]
    fps: float


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
    load_model: Callable[[str], Awaitable[None]] = field(default=lambda name: asyncio.sleep(0))
    """Takes the time loading a model the double does not hold takes (see ``memory``)."""


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
    if "wan2.2" in name:
        return 48
    if name == "ae.safetensors" or any(key in name for key in ("flux", "sd3", "qwen", "wan")):
        return 16
    return 4


# --- loaders -----------------------------------------------------------------------------


async def _checkpoint(ctx: NodeContext, ckpt_name: str, **_: Any) -> NodeOutput:
    await ctx.load_model(ckpt_name)
    return (Model(ckpt_name), Clip(ckpt_name), Vae(ckpt_name, 4)), None


async def _unet(ctx: NodeContext, unet_name: str, **_: Any) -> NodeOutput:
    await ctx.load_model(unet_name)
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
    """One picture per batch item, or ``frames`` of them for a video latent: a colour of
    the seed with a band of noise that moves down frame by frame."""
    images = []
    band = latent.height // 4 or 1
    noise = Image.effect_noise((latent.width, band), 40).convert("RGB")
    for index in range(latent.batch_size):
        rng = random.Random(_derive(latent.seed, index))
        colour = tuple(rng.randrange(256) for _ in range(3))
        for frame in range(latent.frames):
            image = Image.new("RGB", (latent.width, latent.height), colour)
            image.paste(noise, (0, (frame * 4) % max(latent.height - band, 1)))
            images.append(image)
    return images


# --- samplers ------------------------------------------------------------------------------


async def _sample(
    ctx: NodeContext, latent: Latent | AudioLatent, steps: int, *identity: Any
) -> Latent | AudioLatent:
    result = replace(latent, seed=_derive(latent.seed, *identity))
    size = (latent.width, latent.height) if isinstance(latent, Latent) else (64, 64)
    preview = Image.new("RGB", (max(size[0] // 8, 8), max(size[1] // 8, 8)), "gray")
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


async def _sampler_custom(
    ctx: NodeContext,
    model: Model,
    noise_seed: int,
    sampler: Opaque,
    sigmas: Opaque,
    latent_image: Latent,
    **rest: Any,
) -> NodeOutput:
    identity = (model, noise_seed, sampler.value, repr(sorted(rest.items())))
    latent = await _sample(ctx, latent_image, sigmas.value, *identity)
    return (latent, latent), None


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


async def _sd_turbo_scheduler(
    ctx: NodeContext, model: Model, steps: int, denoise: float
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
    """By the factor the model's file name says (``…x2…`` or ``2x…``), 4 otherwise."""
    factor = 2 if re.search(r"(x2|2x)", str(upscale_model.value).lower()) else 4

    def upscale(each: Image.Image) -> Image.Image:
        return each.resize((each.width * factor, each.height * factor), Image.Resampling.NEAREST)

    return (await asyncio.to_thread(lambda: [upscale(each) for each in image]),), None


async def _save_image(
    ctx: NodeContext, images: Images, filename_prefix: str = "ComfyUI"
) -> NodeOutput:
    results = await asyncio.to_thread(write_pngs, images, ctx.output_dir, filename_prefix, "output")
    return (), {"images": results}


async def _preview_image(ctx: NodeContext, images: Images) -> NodeOutput:
    prefix = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
    results = await asyncio.to_thread(write_pngs, images, ctx.temp_dir, prefix, "temp")
    return (), {"images": results}


# --- models, conditioning and latents of edit, inpaint, upscale and video graphs ---------


async def _pass_model(ctx: NodeContext, model: Model, **_: Any) -> NodeOutput:
    return (model,), None


async def _reference_latent(
    ctx: NodeContext, conditioning: Conditioning, latent: Latent | None = None
) -> NodeOutput:
    return (conditioning,), None


async def _encode_with_image(ctx: NodeContext, clip: Clip, prompt: str, **_: Any) -> NodeOutput:
    """TextEncodeQwenImageEdit(Plus): the prompt, looking at the optional image(s)."""
    return (Conditioning(prompt),), None


async def _encode_audio_tags(ctx: NodeContext, clip: Clip, tags: str, **_: Any) -> NodeOutput:
    return (Conditioning(tags),), None


async def _inpaint_conditioning(
    ctx: NodeContext,
    positive: Conditioning,
    negative: Conditioning,
    vae: Vae,
    pixels: Images,
    mask: Image.Image,
    noise_mask: bool = True,
) -> NodeOutput:
    (latent,), _ = await _vae_encode(ctx, pixels, vae)
    return (positive, negative, replace(latent, mask=mask)), None


async def _set_latent_noise_mask(
    ctx: NodeContext, samples: Latent, mask: Image.Image
) -> NodeOutput:
    return (replace(samples, mask=mask),), None


async def _latent_upscale_by(
    ctx: NodeContext, samples: Latent, upscale_method: str, scale_by: float
) -> NodeOutput:
    width, height = round(samples.width * scale_by), round(samples.height * scale_by)
    return (replace(samples, width=width, height=height),), None


async def _wan22_video_latent(
    ctx: NodeContext,
    vae: Vae,
    width: int,
    height: int,
    length: int,
    batch_size: int,
    start_image: Images | None = None,
) -> NodeOutput:
    seed = _derive(start_image[0].tobytes()[:4096]) if start_image else 0
    return (Latent(width, height, batch_size, vae.channels, seed, frames=length),), None


async def _empty_audio_latent(ctx: NodeContext, seconds: float, batch_size: int) -> NodeOutput:
    return (AudioLatent(seconds, batch_size),), None


async def _vae_decode_audio(ctx: NodeContext, samples: AudioLatent, vae: Vae) -> NodeOutput:
    """A stereo tone whose pitch follows the seed."""
    rate = 44100
    pitch = 220 + _derive(samples.seed) % 440
    t = np.arange(int(samples.seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * math.pi * pitch * t)
    return (Audio(np.stack([tone, tone]), rate),), None


# --- images --------------------------------------------------------------------------------


async def _scale_by(
    ctx: NodeContext, image: Images, upscale_method: str, scale_by: float
) -> NodeOutput:
    def scale(each: Image.Image) -> Image.Image:
        size = (round(each.width * scale_by), round(each.height * scale_by))
        return each.resize(size, _RESAMPLE[upscale_method])

    return (await asyncio.to_thread(lambda: [scale(each) for each in image]),), None


async def _scale_to_total_pixels(
    ctx: NodeContext, image: Images, upscale_method: str, megapixels: float, **_: Any
) -> NodeOutput:
    first = image[0]
    scale_by = math.sqrt(megapixels * 1024 * 1024 / (first.width * first.height))
    return await _scale_by(ctx, image, upscale_method, scale_by)


async def _kontext_scale(ctx: NodeContext, image: Images) -> NodeOutput:
    """Kontext's preferred sizes are about one megapixel."""
    return await _scale_to_total_pixels(ctx, image, "lanczos", 1.0)


async def _load_image_mask(ctx: NodeContext, image: str, channel: str) -> NodeOutput:
    def load() -> NodeOutput:
        with Image.open(ctx.input_dir / image) as opened:
            rgba = opened.convert("RGBA")
        mask = rgba.getchannel(channel[0].upper())
        return ((ImageOps.invert(mask) if channel == "alpha" else mask),), None

    return await asyncio.to_thread(load)


async def _image_to_mask(ctx: NodeContext, image: Images, channel: str) -> NodeOutput:
    return (image[0].convert("RGB").getchannel(channel[0].upper()),), None


# --- outputs: video, animated images, audio, text ---------------------------------------------


async def _create_video(ctx: NodeContext, images: Images, fps: float, **_: Any) -> NodeOutput:
    return (Video(images, fps),), None


async def _save_video(
    ctx: NodeContext, video: Video, filename_prefix: str = "video/ComfyUI", **_: Any
) -> NodeOutput:
    saved = await asyncio.to_thread(
        write_video, video.frames, ctx.output_dir, filename_prefix, video.fps, "mp4"
    )
    return (), {"images": [saved], "animated": [True]}


async def _save_webm(
    ctx: NodeContext, images: Images, filename_prefix: str, fps: float, **_: Any
) -> NodeOutput:
    saved = await asyncio.to_thread(
        write_video, images, ctx.output_dir, filename_prefix, fps, "webm"
    )
    return (), {"images": [saved], "animated": [True]}


async def _save_animated_webp(
    ctx: NodeContext, images: Images, filename_prefix: str, fps: float, **_: Any
) -> NodeOutput:
    saved = await asyncio.to_thread(
        write_animated_webp, images, ctx.output_dir, filename_prefix, fps
    )
    return (), {"images": [saved], "animated": [True]}


async def _save_audio(
    ctx: NodeContext, audio: Audio, filename_prefix: str = "audio/ComfyUI", **_: Any
) -> NodeOutput:
    saved = await asyncio.to_thread(
        write_flac, audio.waveform, audio.sample_rate, ctx.output_dir, filename_prefix
    )
    return (), {"audio": [saved]}


async def _primitive(ctx: NodeContext, value: Any) -> NodeOutput:
    return (value,), None


async def _preview_any(ctx: NodeContext, source: Any) -> NodeOutput:
    return (), {"text": [source if isinstance(source, str) else repr(source)]}


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
    "SamplerCustom": _sampler_custom,
    "SDTurboScheduler": _sd_turbo_scheduler,
    "ModelSamplingSD3": _pass_model,
    "ModelSamplingAuraFlow": _pass_model,
    "ModelSamplingFlux": _pass_model,
    "CFGNorm": _pass_model,
    "ReferenceLatent": _reference_latent,
    "TextEncodeQwenImageEdit": _encode_with_image,
    "TextEncodeQwenImageEditPlus": _encode_with_image,
    "TextEncodeAceStepAudio": _encode_audio_tags,
    "InpaintModelConditioning": _inpaint_conditioning,
    "SetLatentNoiseMask": _set_latent_noise_mask,
    "LatentUpscaleBy": _latent_upscale_by,
    "Wan22ImageToVideoLatent": _wan22_video_latent,
    "EmptyLatentAudio": _empty_audio_latent,
    "EmptyAceStepLatentAudio": _empty_audio_latent,
    "VAEDecodeAudio": _vae_decode_audio,
    "ImageScaleBy": _scale_by,
    "ImageScaleToTotalPixels": _scale_to_total_pixels,
    "FluxKontextImageScale": _kontext_scale,
    "LoadImageMask": _load_image_mask,
    "ImageToMask": _image_to_mask,
    "CreateVideo": _create_video,
    "SaveVideo": _save_video,
    "SaveWEBM": _save_webm,
    "SaveAnimatedWEBP": _save_animated_webp,
    "SaveAudio": _save_audio,
    "PreviewAny": _preview_any,
    "PrimitiveString": _primitive,
    "PrimitiveStringMultiline": _primitive,
}
_SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
