"""The generation engine: AnimateDiff-Lightning through diffusers, one model kept warm.

An ``Engine`` loads a Stable Diffusion 1.5 base model plus the Lightning motion adapter for
the requested step count, switches base models on request (the previous one keeps working if
the new one fails), switches step checkpoints between jobs, applies up to two motion LoRAs
with their strengths, and turns a ``GenerationParams`` into RGB frames with progress and
cancellation between denoising steps. This module owns the engine: pipeline assembly, LoRA
application, generation and out-of-memory handling.

Input checks live in ``checks``, motion-weight surgery in ``motion``, the result types in
``result``, where weights come from in ``sources``; ``generation.engine`` names the public surface.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from diffusers import AnimateDiffPipeline, AnimateDiffVideoToVideoPipeline, EulerDiscreteScheduler
from diffusers.models.modeling_utils import no_init_weights
from diffusers.pipelines.free_noise_utils import SplitInferenceModule
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from generation.catalog import ALLOWED_STEPS, DEFAULT_BASE_MODEL, MotionLora
from generation.engine.checks import check_inputs
from generation.engine.motion import build_adapter, check_fits, load_motion_weights, motion_state
from generation.engine.noise import slerp
from generation.engine.passes import make_clip
from generation.engine.smoothing import Smoother, smooth_result
from generation.engine.sources import (
    BaseRef,
    HubSource,
    WeightSource,
    resolve_base,
)
from generation.errors import (
    BadOutputError,
    GenerationCancelled,
    GenerationError,
    ModelLoadError,
    OutOfMemoryError,
    first_line,
)
from generation.media.image import ImageError, load_still
from generation.params import (
    FREENOISE_CONTEXT,
    FREENOISE_STRIDE,
    SEED_MAX,
    GenerationParams,
    MotionSpec,
    scene_starts,
    variant_seed,
)
from generation.result import GenerationResult, Timings

logger = logging.getLogger("animatebot.pipeline")

_DECODE_CHUNK = 8
_BLACK_LEVEL = 4  # brightest pixel (0-255) of a clip we still call all-black
_TINY_NOTE = "made by the tiny test model (random weights): the frames are noise"
_NEGATIVE_NOTE = "negative prompt ignored: it only acts when guidance > 1"
_SPLIT_FRAMES = 16  # FreeNoise split inference: spatial layers see at most this many frames at once


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


# ---------------------------------------------------------------------------- the engine


class Engine:
    """One AnimateDiff-Lightning pipeline kept warm. Not thread-safe: one caller at a time.

    ``pipeline="real"`` loads real weights (see ``HubSource``); ``"tiny"`` builds tiny random
    weights in code (see ``generation.engine.tiny``). Nothing loads until ``load()`` or the first
    ``generate()``.
    """

    def __init__(
        self,
        *,
        pipeline: str = "real",
        base_model: str = DEFAULT_BASE_MODEL,
        steps: int = 4,
        device: str | None = None,
        dtype: str | None = None,
        compile: bool = False,
        vae_dtype: str | None = None,
        cache_dir: str | None = None,
        lightning_source: str | None = None,
        motion_lora_source: str | None = None,
    ) -> None:
        if pipeline not in ("real", "tiny"):
            raise ValueError(f"pipeline must be 'real' or 'tiny', got {pipeline!r}")
        if steps not in ALLOWED_STEPS:
            raise ValueError(f"steps must be one of 1, 2, 4, 8, got {steps}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but torch sees no CUDA GPU")
        default_dtype = "float16" if self.device.type == "cuda" else "float32"
        if (dtype or default_dtype) not in _DTYPES:
            raise ValueError(f"dtype must be one of float16, bfloat16, float32, got {dtype!r}")
        self.dtype = _DTYPES[dtype or default_dtype]
        # --- GPU tuning: the VAE decode dtype (docs/PERFORMANCE.md says why bfloat16 on CUDA) ---
        default_vae_dtype = "bfloat16" if self.device.type == "cuda" else "float32"
        if (vae_dtype or default_vae_dtype) not in _DTYPES:
            raise ValueError(f"vae_dtype must be one of float16, bfloat16, float32, got {vae_dtype!r}")
        self.vae_dtype = _DTYPES[vae_dtype or default_vae_dtype]
        self._tiny = pipeline == "tiny"
        self._source: WeightSource
        if self._tiny:
            from generation.engine.tiny import TinySource  # tiny imports this module; import it late

            self._source = TinySource()
        else:
            self._source = HubSource(
                cache_dir=cache_dir, lightning_source=lightning_source, motion_lora_source=motion_lora_source
            )
        self._compile = compile
        self._base_model = base_model
        self._steps = steps
        self._ref: BaseRef | None = None
        self._pipe: AnimateDiffPipeline | None = None
        self._v2v: AnimateDiffVideoToVideoPipeline | None = None
        self._loras: set[str] = set()
        # (context length, stride) of FreeNoise while on, else None; see _use_free_noise.
        self._free_noise: tuple[int, int] | None = None
        self._split = False
        # The tiny pipeline's frames are noise: the fast fallback smooths them (the learned model takes
        # seconds per frame on a CPU).
        self._smoother = Smoother(self.device, self.dtype, learned=not self._tiny)

    # -- what it is

    @property
    def is_tiny(self) -> bool:
        return self._tiny

    @property
    def active_model(self) -> str:
        """Catalog alias, repo id or local path of the model in use (or to be loaded)."""
        return self._ref.display if self._ref is not None else self._base_model

    @property
    def steps(self) -> int:
        """The Lightning checkpoint loaded (or to be loaded)."""
        return self._steps

    @property
    def label(self) -> str:
        if self._tiny:
            from generation.engine.tiny import TINY_LABEL

            return TINY_LABEL
        return f"{self.active_model} · {self._steps} step{'' if self._steps == 1 else 's'}"

    @property
    def pipeline(self) -> AnimateDiffPipeline:
        """The loaded diffusers pipeline (loading it first); for inspection and benchmarks."""
        self.load()
        assert self._pipe is not None
        return self._pipe

    # -- loading

    def load(self) -> None:
        """Load the configured base model and step checkpoint; idempotent. Raises ModelLoadError."""
        if self._pipe is None:
            if not self._tiny and self.device.type == "cpu":
                # Said before the load, which alone takes minutes on a CPU, so nobody waits without knowing why.
                logger.warning(
                    "no GPU: the real pipeline runs on the CPU, where loading takes minutes and each clip several "
                    "minutes more; ANIMATEBOT_PIPELINE=tiny tries the bot in seconds (its clips are noise)"
                )
            self._install(resolve_base(self._base_model))

    def switch_model(self, name: str) -> str:
        """Make ``name`` (alias, repo id or local diffusers dir) the active model; returns its name.

        Raises ModelLoadError; the previous model then stays loaded and working.
        """
        ref = resolve_base(name)
        if self._pipe is not None and self._ref is not None and ref.location == self._ref.location:
            return self.active_model
        self._install(ref)
        return self.active_model

    def _install(self, ref: BaseRef) -> None:
        started = time.perf_counter()
        # A model switch reuses the motion weights already loaded instead of reading them again.
        motion = motion_state(self._pipe.unet) if self._pipe is not None else None
        pipe = self._build(ref, self._steps, motion)
        del motion
        previous, self._pipe, self._ref = self._pipe, pipe, ref
        self._loras = set()
        self._v2v, self._free_noise, self._split = None, None, False  # a new UNet starts plain
        if previous is not None:
            del previous
            _free_memory()
        what = "tiny test model (random weights, output is noise)" if self._tiny else ref.display
        log = logger.warning if self._tiny else logger.info
        log(
            "loaded %s with the %d-step Lightning adapter on %s (%s) in %.1f s",
            what,
            self._steps,
            self.device,
            str(self.dtype).removeprefix("torch."),
            time.perf_counter() - started,
        )

    def _build(self, ref: BaseRef, steps: int, motion: dict[str, torch.Tensor] | None) -> AnimateDiffPipeline:
        pipe: AnimateDiffPipeline | None = None
        # Out of memory is handled after the with-block, once the traceback holding the
        # half-built model is gone, so that the memory can really be released.
        with contextlib.suppress(torch.cuda.OutOfMemoryError):
            pipe = self._assemble(ref, steps, motion)
        if pipe is None:
            _free_memory()
            raise ModelLoadError(f"not enough GPU memory to load {ref.display}; the previous model is still active")
        return pipe

    def _assemble(self, ref: BaseRef, steps: int, motion: dict[str, torch.Tensor] | None) -> AnimateDiffPipeline:
        parts = self._source.base_components(ref, self.dtype)
        config = self._source.adapter_config()
        adapter = build_adapter(config, motion if motion is not None else self._source.motion_weights(steps), steps)
        check_fits(parts, adapter, ref.display, default_adapter=not config)
        try:
            # UNetMotionModel.from_unet2d builds a whole new UNet and then copies every 2D weight and
            # every motion weight into it; skipping its random initialisation saves ~20 s of CPU per
            # real-size load (tests/generation/engine/test_real_sizes.py checks the weights land).
            with no_init_weights():
                pipe = AnimateDiffPipeline(
                    vae=parts["vae"].to(self.vae_dtype),
                    text_encoder=parts["text_encoder"],
                    tokenizer=parts["tokenizer"],
                    unet=parts["unet"],
                    motion_adapter=adapter,
                    scheduler=parts["scheduler"],
                )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{ref.display} does not fit the motion adapter: {first_line(exc)}") from exc
        # The motion weights now live inside the UNet; keeping the adapter registered would put
        # a second copy on the GPU with pipe.to().
        pipe.register_modules(motion_adapter=None)
        # The Lightning recipe: Euler, trailing timesteps, linear betas.
        pipe.scheduler = EulerDiscreteScheduler.from_config(
            pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear"
        )
        pipe.set_progress_bar_config(disable=True)
        self._freeze(pipe)
        pipe.to(self.device)
        if self.device.type == "cuda":
            pipe.vae.enable_slicing()
        if self._compile:
            pipe.unet.compile()
        return pipe

    def _set_steps(self, steps: int) -> None:
        assert self._pipe is not None
        load_motion_weights(
            self._pipe.unet, self._source.motion_weights(steps), f"the {steps}-step Lightning checkpoint"
        )
        self._steps = steps

    def _apply_motions(self, motions: tuple[tuple[MotionLora, float], ...]) -> None:
        pipe = self._pipe
        assert pipe is not None
        if not motions:
            if self._loras:
                pipe.disable_lora()
            return
        for motion, _ in motions:
            if motion.adapter_name not in self._loras:
                self._load_lora(pipe, motion)
        # Loaded once, re-weighted per job; strength 0 leaves the base output bit-for-bit.
        pipe.enable_lora()
        pipe.set_adapters([m.adapter_name for m, _ in motions], adapter_weights=[s for _, s in motions])

    def _load_lora(self, pipe: AnimateDiffPipeline, motion: MotionLora) -> None:
        weights = self._source.motion_lora(motion)
        try:
            if isinstance(weights, dict):
                pipe.load_lora_weights(weights, adapter_name=motion.adapter_name)
            else:
                folder, weight_name = weights
                pipe.load_lora_weights(folder, weight_name=weight_name, adapter_name=motion.adapter_name)
        except Exception as exc:
            if motion.adapter_name in pipe.get_list_adapters().get("unet", []):
                pipe.delete_adapters(motion.adapter_name)
            raise ModelLoadError(f"could not load motion LoRA {motion.name}: {first_line(exc)}") from exc
        self._loras.add(motion.adapter_name)
        self._freeze(pipe)

    @staticmethod
    def _freeze(pipe: AnimateDiffPipeline) -> None:
        # Inference only. It also keeps results bit-for-bit repeatable: torch.matmul picks a
        # different kernel when a weight requires grad, and peft freezes the base weights it
        # wraps, so without this a LoRA at strength 0 would differ from none in the last bit.
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.requires_grad_(False)

    # -- generating

    def generate(
        self,
        params: GenerationParams,
        *,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        """Make one clip.

        Switches model (``params.model``), step checkpoint and motion LoRAs first as needed.
        ``progress(i, n)`` runs after each denoising step; ``should_cancel()`` is checked before
        the first and after every step. Raises GenerationError for bad params, ModelLoadError,
        GenerationCancelled, OutOfMemoryError (memory released; the next call works) or
        BadOutputError.
        """
        motions = check_inputs(params)
        try:
            result = make_clip(self, params, motions, progress, should_cancel)
            return smooth_result(self._smoother, params, result, should_cancel)
        except torch.cuda.OutOfMemoryError:
            pass  # handled below, once the traceback holding the big tensors is gone
        _free_memory()
        raise OutOfMemoryError(
            f"out of GPU memory making {params.frames} frames at {params.width}x{params.height}; "
            "try fewer frames or a smaller aspect"
        )

    def _generate(
        self,
        params: GenerationParams,
        motions: tuple[tuple[MotionLora, float], ...],
        progress: Callable[[int, int], None] | None,
        should_cancel: Callable[[], bool] | None,
        video: list[Image.Image] | None = None,
        size: tuple[int, int] | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        self.load()
        if params.model is not None:
            self.switch_model(params.model)
        if params.steps != self._steps:
            self._set_steps(params.steps)
        still = self._still(params)
        if video is None and still is not None:
            video = [still] * params.frames
        width, height = size or params.size
        self._use_free_noise(params)  # before the motions: switching blocks drops loaded LoRAs
        self._apply_motions(motions)
        load_s = time.perf_counter() - started
        if should_cancel is not None and should_cancel():
            raise GenerationCancelled("cancelled before the first step")

        seed = params.seed if params.seed is not None else secrets.randbelow(SEED_MAX + 1)
        seeds = [variant_seed(seed, i) for i in range(params.variants)]
        guided = params.guidance > 1.0
        notes = [_TINY_NOTE] if self._tiny else []
        if params.negative_prompt.strip() and not guided:
            notes.append(_NEGATIVE_NOTE)
        state = {"done": 0, "cancelled": False}
        pipe, inputs, total = self._inputs(params, video)
        if total != params.steps:
            notes.append(f"strength {params.strength:g} of {params.steps} steps runs {total} denoising step(s)")

        def on_step_end(pipe: AnimateDiffPipeline, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            state["done"] = i + 1
            if progress is not None:
                progress(i + 1, total)
            if should_cancel is not None and should_cancel():
                state["cancelled"] = True
                pipe._interrupt = True  # diffusers' documented way to stop: remaining steps are skipped
            return {}

        started = time.perf_counter()
        with torch.inference_mode():
            # A CPU generator gives the same noise for a seed on any device; a set of takes gets one per take.
            generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
            inputs.update(self._batch_inputs(params, video, seed, generators))
            output = self._denoise(
                pipe,
                **inputs,
                negative_prompt=params.negative_prompt if guided and params.negative_prompt.strip() else None,
                height=height,
                width=width,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                generator=generators[0] if len(generators) == 1 else generators,
                output_type="latent",
                callback_on_step_end=on_step_end,
            )
            denoise_s = time.perf_counter() - started
            if video is not None:
                self._restore_vae_dtype()
            if state["cancelled"]:
                raise GenerationCancelled(f"cancelled after step {state['done']} of {total}")
            started = time.perf_counter()
            frames = self._decode(output.frames)
            decode_s = time.perf_counter() - started
        takes = [frames[i * params.frames : (i + 1) * params.frames] for i in range(params.variants)]
        if params.vary_seed is not None:
            notes.append(f"varied: seed {seed} blended {params.vary_blend:g} towards seed {params.vary_seed}")

        return GenerationResult(
            frames=takes[0],
            seed=seed,
            model=self.active_model,
            steps=params.steps,
            motions=tuple(MotionSpec(m.name, s) for m, s in motions),
            width=width,
            height=height,
            fps=params.fps,
            timings=Timings(load_s=load_s, denoise_s=denoise_s, decode_s=decode_s),
            tiny=self._tiny,
            notes=tuple(notes),
            variants=params.variants,
            more=tuple(takes[1:]),
        )

    def _denoise(self, pipe: Any, **kwargs: Any) -> Any:
        """The one denoising call of a job, whatever its number of takes (a seam the tests count calls through)."""
        return pipe(**kwargs)

    def _batch_inputs(
        self, params: GenerationParams, video: list[Image.Image] | None, seed: int, generators: list[torch.Generator]
    ) -> dict[str, Any]:
        """The arguments that make one call of the pipeline the whole set: a batch of takes, and Vary's noise."""
        # diffusers' AnimateDiff pipelines fix num_videos_per_prompt at 1: a batch is a list of prompts, and for
        # video-to-video (which draws its noise per video) one copy of the video (a still's, or a pass's) per take.
        batch: dict[str, Any] = {"prompt": [params.prompt] * params.variants} if params.variants > 1 else {}
        if video is not None:
            return batch | ({"video": [video] * params.variants} if batch else {})
        return batch | {"latents": self._start_latents(params, seed, generators)}

    def start_latents(self, params: GenerationParams) -> torch.Tensor:
        """The starting noise of ``params`` (seed required), one sample per take: what a job with them starts from."""
        if params.seed is None:
            raise GenerationError("starting noise needs a seed")
        self.load()
        self._use_free_noise(params)
        seeds = [variant_seed(params.seed, i) for i in range(params.variants)]
        return self._start_latents(params, params.seed, [torch.Generator("cpu").manual_seed(s) for s in seeds])

    def _start_latents(self, params: GenerationParams, seed: int, generators: list[torch.Generator]) -> torch.Tensor:
        """Each take's noise as the pipeline would draw it for that seed alone (so take i of a set is the clip of
        seed+i), stacked; a varied clip's is its parent's noise slerped towards ``vary_seed``'s by ``vary_blend``.
        The generators are left as the pipeline would have left them."""
        latents = torch.cat([self._noise(params, g) for g in generators])
        if params.vary_seed is not None:
            other = self._noise(params, torch.Generator("cpu").manual_seed(params.vary_seed))
            latents = slerp(latents, other, params.vary_blend)
        return latents

    def _noise(self, params: GenerationParams, generator: torch.Generator) -> torch.Tensor:
        pipe = self.pipeline
        dtype = pipe.text_encoder.dtype  # the pipeline draws its noise in the prompt embeddings' dtype
        channels = pipe.unet.config.in_channels
        if pipe.free_noise_enabled:
            noise: torch.Tensor = pipe._prepare_latents_free_noise(
                1, channels, params.frames, params.height, params.width, dtype, self.device, generator
            )
            return noise
        scale = pipe.vae_scale_factor
        shape = (1, channels, params.frames, params.height // scale, params.width // scale)
        return randn_tensor(shape, generator=generator, device=self.device, dtype=dtype)

    def denoise(
        self,
        params: GenerationParams,
        motions: tuple[tuple[MotionLora, float], ...],
        *,
        video: list[Image.Image] | None = None,
        size: tuple[int, int] | None = None,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        """One pass of the warm pipeline: text to video, or ``video`` redrawn at ``params.strength`` (the
        video-to-video pipeline on the same modules), at ``size`` (default the aspect's), ``params.frames``
        frames; ``motions`` as ``check_inputs`` resolved them. ``generation.engine.passes`` chains these."""
        return self._generate(params, motions, progress, should_cancel, video=video, size=size)

    @contextlib.contextmanager
    def tiled_vae(self) -> Iterator[None]:
        """The VAE in tiles and slices while inside: 1024 px frames then fit a 24 GB card."""
        vae = self.pipeline.vae
        vae.enable_tiling()
        vae.enable_slicing()
        try:
            yield
        finally:
            vae.disable_tiling()
            if self.device.type != "cuda":  # on CUDA slicing is always on (see _assemble)
                vae.disable_slicing()

    # -- long clips, prompt travel, image to video

    def _still(self, params: GenerationParams) -> Image.Image | None:
        """The input image of an image-to-video job, fitted to the clip's size; GenerationError if unreadable."""
        if params.image is None:
            return None
        try:
            return load_still(params.image, params.width, params.height)
        except ImageError as exc:
            raise GenerationError(str(exc)) from None

    def _inputs(
        self, params: GenerationParams, video: list[Image.Image] | None
    ) -> tuple[AnimateDiffPipeline | AnimateDiffVideoToVideoPipeline, dict[str, Any], int]:
        """(pipeline, its clip-specific arguments, denoising steps it will run) for ``params``."""
        scenes = params.scenes
        prompt: str | dict[int, str] = params.prompt
        if len(scenes) > 1:
            # FreeNoise's per-frame prompts: each scene from its first frame, embeddings blended between.
            prompt = dict(zip(scene_starts(params.frames, len(scenes)), scenes, strict=True))
        if video is None:
            return self.pipeline, {"prompt": prompt, "num_frames": params.frames}, params.steps
        # The trailing Lightning timesteps of the full schedule, the last ``strength`` share of them;
        # at least one, or the clip would be the still plus noise.
        strength = max(params.strength, 1 / params.steps)
        steps_run = min(int(params.steps * strength), params.steps)
        inputs = {"prompt": prompt, "video": video, "strength": strength}
        return self.video_pipeline, inputs, steps_run

    @property
    def video_pipeline(self) -> AnimateDiffVideoToVideoPipeline:
        """Video-to-video on the warm pipeline's own modules (the same objects: no second copy of weights)."""
        pipe = self.pipeline
        if self._v2v is None or self._v2v.unet is not pipe.unet:
            v2v = AnimateDiffVideoToVideoPipeline(
                vae=pipe.vae,
                text_encoder=pipe.text_encoder,
                tokenizer=pipe.tokenizer,
                unet=pipe.unet,
                motion_adapter=None,
                scheduler=pipe.scheduler,
            )
            v2v.set_progress_bar_config(disable=True)
            self._v2v = v2v
            self._copy_free_noise_state(v2v)
        return self._v2v

    def _restore_vae_dtype(self) -> None:
        # Video-to-video encodes the still with the VAE in float32 and then casts the VAE to the
        # UNet's dtype; this engine decodes in ``vae_dtype`` (see _decode), so put it back.
        vae = self.pipeline.vae
        if vae.dtype != self.vae_dtype:
            vae.to(self.vae_dtype)

    def _use_free_noise(self, params: GenerationParams) -> None:
        """FreeNoise as ``params`` needs it: 16-frame windows 4 apart above 32 frames, with split
        inference so memory stays flat; one window over the whole clip for prompt travel at 32 frames
        or fewer (diffusers' per-frame prompts live in FreeNoise); off otherwise."""
        if params.free_noise:
            wanted: tuple[int, int] | None = (FREENOISE_CONTEXT, FREENOISE_STRIDE)
        elif len(params.scenes) > 1:
            wanted = (params.frames, FREENOISE_STRIDE)
        else:
            wanted = None
        pipe = self.pipeline
        if (wanted is None) != (self._free_noise is None) and self._loras:
            # Switching swaps the UNet's temporal transformer blocks for new ones and copies their
            # weights strictly; peft's LoRA layers inside them would not copy, so unload them first
            # (they are loaded again from memory by _apply_motions).
            pipe.unload_lora_weights()
            self._loras = set()
        if wanted is None and self._free_noise is not None:
            pipe.disable_free_noise()
        elif wanted is not None and wanted != self._free_noise:
            self._enable_free_noise(pipe, *wanted)
        self._free_noise = wanted
        self._split_inference(pipe, params.free_noise)
        if self._v2v is not None:
            self._copy_free_noise_state(self._v2v)
        self._freeze(pipe)

    @staticmethod
    def _enable_free_noise(pipe: AnimateDiffPipeline, context_length: int, context_stride: int) -> None:
        # pipe.enable_free_noise(context_length, context_stride), minus its first line: that reads
        # motion_adapter.config for a warning, and this engine unregisters the adapter once its
        # weights are inside the UNet (see _assemble).
        pipe._free_noise_context_length = context_length
        pipe._free_noise_context_stride = context_stride
        pipe._free_noise_weighting_scheme = "pyramid"
        pipe._free_noise_noise_type = "shuffle_context"
        pipe._free_noise_prompt_interpolation_callback = pipe._lerp
        for block in [*pipe.unet.down_blocks, pipe.unet.mid_block, *pipe.unet.up_blocks]:
            if getattr(block, "motion_modules", None) is not None:
                pipe._enable_free_noise_in_block(block)

    def _copy_free_noise_state(self, v2v: AnimateDiffVideoToVideoPipeline) -> None:
        # The blocks are shared with the text-to-video pipeline; only the settings live on each pipeline.
        pipe = self.pipeline
        v2v._free_noise_context_length = getattr(pipe, "_free_noise_context_length", None)
        for name in ("stride", "weighting_scheme", "noise_type", "prompt_interpolation_callback"):
            key = f"_free_noise_{name}"
            if hasattr(pipe, key):
                setattr(v2v, key, getattr(pipe, key))

    def _split_inference(self, pipe: AnimateDiffPipeline, on: bool) -> None:
        """Run the UNet's spatial layers (attention, resnets, samplers) 16 frames at a time, or not.

        diffusers' enable_free_noise_split_inference also wraps the temporal transformer blocks,
        which would rename the keys motion LoRAs load into; those blocks already run in
        FreeNoise's 16-frame windows, so only the spatial layers are split here. Splitting the
        frame batch changes nothing but peak memory, and it is undone for short clips.
        """
        if on == self._split:
            return
        blocks = [*pipe.unet.down_blocks, pipe.unet.mid_block, *pipe.unet.up_blocks]
        for block in blocks:
            for name in ("attentions", "resnets", "downsamplers", "upsamplers"):
                layers = getattr(block, name, None)
                if layers is None:
                    continue
                for i, layer in enumerate(layers):
                    if on and not isinstance(layer, SplitInferenceModule):
                        kwargs = ["input_tensor", "temb"] if name == "resnets" else ["hidden_states"]
                        if name == "attentions":
                            kwargs.append("encoder_hidden_states")
                        layers[i] = SplitInferenceModule(layer, _SPLIT_FRAMES, 0, kwargs)
                    elif not on and isinstance(layer, SplitInferenceModule):
                        layers[i] = layer.module
        self._split = on

    def _decode(self, latents: torch.Tensor) -> list[Image.Image]:
        """Latents (1, C, F, h, w) -> RGB frames, decoded by the VAE in ``vae_dtype``, checked for NaN and black."""
        if torch.isnan(latents).any():
            raise BadOutputError("the model produced NaN values; try another seed or float32 (dtype=float32)")
        vae = self.pipeline.vae
        # Scaled in float32, then cast: bfloat16 keeps float32's range, so nothing overflows on the way in.
        latents = (latents.to(vae.device, torch.float32) / vae.config.scaling_factor).to(self.vae_dtype)
        batch, channels, count, height, width = latents.shape
        flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * count, channels, height, width)
        video = torch.cat([vae.decode(flat[i : i + _DECODE_CHUNK]).sample for i in range(0, len(flat), _DECODE_CHUNK)])
        video = video.float()
        if torch.isnan(video).any():
            hint = " or ANIMATEBOT_VAE_DTYPE=bfloat16" if self.vae_dtype == torch.float16 else ""
            raise BadOutputError(f"the VAE produced NaN values; try another seed{hint}")
        pixels = ((video / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        if int(pixels.max()) <= _BLACK_LEVEL:
            raise BadOutputError("the clip came out all black; try another seed or prompt")
        array = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(frame) for frame in array]  # uint8 HxWx3 -> RGB

    # -- shutting down

    def close(self) -> None:
        """Release the pipeline and its GPU memory; a later call loads again."""
        self._pipe = None
        self._v2v, self._free_noise, self._split = None, None, False
        self._loras = set()
        self._smoother.close()
        _free_memory()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_engine(pipeline: str, **kwargs: Any) -> Engine:
    """An Engine for ``pipeline`` ("real" or "tiny"); keyword arguments as for ``Engine``.

    The caller says which: only ``bot/settings.py`` reads the environment.
    """
    return Engine(pipeline=pipeline.strip().lower(), **kwargs)
