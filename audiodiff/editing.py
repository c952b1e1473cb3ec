"""Editing building blocks for spectrogram diffusion: pure tensor functions, no models inside.

- img2img strength -> the first denoising step (SDEdit, Meng et al. 2021; the reference's `start_step`);
- time masks for inpainting, continuation (outpainting) and loops, with linear ramps so known and generated
  regions cross-fade instead of meeting at a hard edge (the mask is applied at every step, RePaint-style:
  Lugmayr et al. 2022);
- spherical linear interpolation of noise (Shoemake 1985), which keeps interpolated Gaussian noise at the norm the
  model expects;
- deterministic DDIM inversion (Song, Meng and Ermon 2020, "Denoising Diffusion Implicit Models", eq. 12 with
  eta = 0 run backwards), the inverse of the DDIM sampler used to reconstruct and edit real clips;
- classifier-free guidance (Ho and Salimans 2022);
- joint denoising of clips wider than the model's window (MultiDiffusion, Bar-Tal et al. 2023): overlapping
  windows, tapered weights and a window grid that moves from step to step;
- static clipping of the predicted clean sample done the DDIM way, usable with any DDPM-space solver;
- audio splicing and loop cross-fades.

Images are `(batch, channels, n_mels, frames)`; masks broadcast against them over the last (time) axis, with 1 where
the input is kept and 0 where the model generates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


# --- strength ---------------------------------------------------------------------------------------------------------
def start_step(num_inference_steps: int, strength: float) -> int:
    """Index of the first denoising step for img2img with `strength` in [0, 1] (diffusers' img2img convention).

    strength 1 starts from pure noise (index 0); strength 0 runs no step and returns the input. The reference's
    `start_step` is this index: `start_step = num_inference_steps - int(num_inference_steps * strength)`.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return num_inference_steps - min(int(num_inference_steps * strength), num_inference_steps)


# --- masks ------------------------------------------------------------------------------------------------------------
def seconds_to_frames(seconds: float, sample_rate: int, hop_length: int) -> int:
    """Spectrogram columns covering `seconds` of audio (one column per `hop_length` samples), rounded."""
    return int(round(seconds * sample_rate / hop_length))


def time_mask(frames: int, start: int, end: int, fade: int = 0) -> torch.Tensor:
    """Keep-mask `(frames,)`: 0 on the columns `[start, end)` to regenerate, 1 elsewhere.

    With `fade` > 0 the kept columns next to the region ramp linearly towards 0 over `fade` columns
    (`[start - fade, start)` and `[end, end + fade)`), so that the result cross-fades from the input into the
    generated part. Columns outside `[0, frames)` are ignored.
    """
    if not 0 <= start <= end <= frames:
        raise ValueError(f"mask region [{start}, {end}) must lie within [0, {frames}]")
    columns = torch.arange(frames, dtype=torch.float32)
    if fade <= 0:
        return ((columns < start) | (columns >= end)).float()
    before = ((start - columns) / (fade + 1)).clamp(0, 1)
    after = ((columns - end + 1) / (fade + 1)).clamp(0, 1)
    mask = torch.maximum(before, after)
    mask[start:end] = 0
    return mask


def blend(known: torch.Tensor, generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`mask * known + (1 - mask) * generated`; mask `(frames,)` or anything broadcasting to the images."""
    mask = mask.to(generated.device, generated.dtype)
    return mask * known + (1 - mask) * generated


def resize_mask(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """Resample a keep-mask `(..., frames_in)` to `frames` columns by area averaging (pixel -> latent time axis)."""
    if mask.shape[-1] == frames:
        return mask
    shape = mask.shape
    flat = mask.reshape(-1, 1, shape[-1]).float()
    resized = torch.nn.functional.interpolate(flat, size=frames, mode="area" if frames < shape[-1] else "linear")
    return resized.reshape(*shape[:-1], frames)


def keep_mask(
    width: int,
    frames_in: Callable[[float], int],
    mask: torch.Tensor | None = None,
    inpaint_seconds: tuple[float, float] | None = None,
    loop_seconds: float | None = None,
) -> tuple[torch.Tensor | None, int]:
    """The keep-mask over a slice's `width` columns `(width,)` (1 keeps the input, 0 regenerates; None: no mask) and
    the shift to sample the input at, for one of: `mask` (as given: `(width,)` or broadcastable to the images),
    `inpaint_seconds` (`(start, end)` seconds to regenerate, with short ramps) or `loop_seconds`.

    A loop regenerates `loop_seconds` around the point where the slice's end wraps to its start: the input is
    sampled rolled by `shift = width // 2` columns, which puts that point in the middle. `frames_in(seconds)` is the
    number of columns in that many seconds (`seconds_to_frames` at the clip's rate).
    """
    if mask is not None:
        return torch.as_tensor(mask, dtype=torch.float32), 0
    if inpaint_seconds is not None:
        start, end = (min(max(frames_in(value), 0), width) for value in inpaint_seconds)
        if end <= start:
            raise ValueError(f"inpaint_seconds {tuple(inpaint_seconds)} select no columns of the slice")
        return time_mask(width, start, end, fade=max(1, width // 64)), 0
    if loop_seconds is not None:
        region = min(max(2, frames_in(loop_seconds)), width - 2)
        shift = width // 2
        return time_mask(width, shift - region // 2, shift + region - region // 2, max(1, region // 4)), shift
    return None, 0


def extension_canvas(images: torch.Tensor, frames: int, overlap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `(batch, 1, height, width)` placed at the start of a silent (-1) canvas `(batch, 1, height, frames)`,
    and the keep-mask `(frames,)` that keeps them and generates the rest (continuation, outpainting): the input's
    last `min(overlap, width // 2) // 2` columns ramp into the new material, so the ramp stays inside the input
    whatever the window overlap."""
    width = images.shape[-1]
    canvas = torch.full((*images.shape[:-1], frames), -1.0, device=images.device, dtype=images.dtype)
    canvas[..., :width] = images
    return canvas, time_mask(frames, width, frames, fade=max(1, min(overlap, width // 2) // 2))


# --- interpolation ----------------------------------------------------------------------------------------------------
def slerp(start: torch.Tensor, end: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985) per batch item.

    start, end: `(batch, ...)`; the angle is taken over all non-batch dimensions. weight: a float or `(batch,)`,
    0 gives `start`, 1 gives `end`. Nearly parallel items fall back to linear interpolation.
    """
    if start.shape != end.shape:
        raise ValueError(f"slerp needs equal shapes, got {tuple(start.shape)} and {tuple(end.shape)}")
    flat_start, flat_end = start.reshape(len(start), -1).double(), end.reshape(len(end), -1).double()
    weight = torch.as_tensor(weight, dtype=torch.float64, device=start.device).reshape(-1, 1)
    cosine = (flat_start * flat_end).sum(-1, keepdim=True) / (
        flat_start.norm(dim=-1, keepdim=True) * flat_end.norm(dim=-1, keepdim=True)
    ).clamp(min=1e-30)
    theta = torch.arccos(cosine.clamp(-1, 1))
    sin_theta = torch.sin(theta)
    parallel = sin_theta.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sin_theta), sin_theta)
    spherical = (torch.sin((1 - weight) * theta) * flat_start + torch.sin(weight * theta) * flat_end) / safe
    linear = (1 - weight) * flat_start + weight * flat_end
    return torch.where(parallel, linear, spherical).to(start.dtype).reshape(start.shape)


def interpolation_path(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` points from `start` to `end` (both `(channels, height, width)`), by slerp: `(steps, channels, h, w)`."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    weights = torch.linspace(0, 1, steps, device=start.device)
    return slerp(start.expand(steps, *start.shape), end.expand(steps, *end.shape), weights)


# --- wide clips: joint denoising of overlapping windows (MultiDiffusion) -------------------------------------------
GOLDEN_RATIO_FRACTION = (math.sqrt(5) - 1) / 2


def window_starts(frames: int, width: int, stride: int, step: int = 0) -> list[int]:
    """First columns of the `width`-column windows that cover `frames` columns, `stride` apart, for sampling `step`.

    The grid moves with the step: its offset is the fractional part of `step * 0.618...` times `stride` (a
    low-discrepancy sequence, no random numbers), and the first and last windows are pinned to the edges. Window
    edges therefore fall on different columns at every step, so no column is always at an edge and no seam builds
    up where windows meet. `frames <= width` gives `[0]`.
    """
    if frames <= width:
        return [0]
    if not 0 < stride <= width:
        raise ValueError(f"window stride must be between 1 and {width}, got {stride}")
    offset = int((step * GOLDEN_RATIO_FRACTION) % 1.0 * stride)
    inner = range(offset if offset > 0 else stride, frames - width, stride)
    return sorted({0, frames - width, *inner})


def window_weights(width: int, ramp: int | None = None) -> torch.Tensor:
    """Trapezoid weights `(width,)` for overlap-adding window predictions: 1 in the middle, falling linearly over
    `ramp` columns (default a quarter of the window) to `1 / (ramp + 1)` at the edges, where a window has the least
    context. Never zero, so columns covered by one window only are still defined."""
    ramp = max(1, width // 4 if ramp is None else ramp)
    columns = torch.arange(width, dtype=torch.float32)
    return torch.minimum(columns + 1, width - columns).clamp(max=ramp + 1) / (ramp + 1)


def split_windows(sample: torch.Tensor, starts: Sequence[int], width: int) -> torch.Tensor:
    """`(batch, channels, height, frames)` -> `(len(starts) * batch, channels, height, width)`, window-major."""
    return torch.cat([sample[..., start : start + width] for start in starts])


def merge_windows(windows: torch.Tensor, starts: Sequence[int], frames: int, weights: torch.Tensor) -> torch.Tensor:
    """Weighted overlap-add of window predictions (the inverse of `split_windows`), normalised per column.

    windows: `(len(starts) * batch, channels, height, width)`; weights: `(width,)`. Returns
    `(batch, channels, height, frames)`: at each column the weighted mean of the windows covering it.
    """
    width = windows.shape[-1]
    batch = len(windows) // len(starts)
    weights = weights.to(windows.device, windows.dtype)
    total = windows.new_zeros((batch, *windows.shape[1:-1], frames))
    norm = windows.new_zeros(frames)
    for index, start in enumerate(starts):
        total[..., start : start + width] += windows[index * batch : (index + 1) * batch] * weights
        norm[start : start + width] += weights
    return total / norm


# --- diffusion --------------------------------------------------------------------------------------------------------
def clip_consistently(
    output: torch.Tensor,
    sample: torch.Tensor,
    alpha_prod: torch.Tensor,
    prediction_type: str,
    clip_range: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip the predicted clean sample and rebuild the sample from it and the model's noise estimate (DDIM's way).

    With `x_t = sqrt(a) x0 + sqrt(1 - a) e`: x0 and e are read off the model output, x0 is clipped to
    `[-clip_range, clip_range]`, and `(output', x_t')` are returned such that a solver step from them sees the
    clipped x0 and the model's own e: `x_t' = sqrt(a) clip(x0) + sqrt(1 - a) e`. This is what diffusers' DDIM does
    with `clip_sample` (Song et al. 2020, as in the reference). Solvers that instead clip inside their data
    prediction and keep `x_t` (DPM-Solver++, UniPC with `thresholding`) carry the clipped-away part of x0 forward as
    if it were noise; on a briefly trained model, whose x0 estimates at high noise lie far outside the range, that
    turns some clips into speckle noise. Returns `(output', sample')`, shapes as given.
    """
    alpha_prod = torch.as_tensor(alpha_prod, dtype=sample.dtype, device=sample.device)
    clean, epsilon = clean_and_noise(output, sample, alpha_prod, prediction_type, clip_range)
    signal, noise = alpha_prod.sqrt(), (1 - alpha_prod).sqrt()
    rebuilt = signal * clean + noise * epsilon
    if prediction_type == "epsilon":
        return output, rebuilt
    if prediction_type == "v_prediction":
        return signal * epsilon - noise * clean, rebuilt
    if prediction_type == "sample":
        return clean, rebuilt
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def clean_and_noise(
    output: torch.Tensor,
    sample: torch.Tensor,
    alpha_prod: torch.Tensor,
    prediction_type: str,
    clip_range: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clean-sample estimate x0 (clipped to `[-clip_range, clip_range]` when set) and the noise estimate e of a
    model output of any `prediction_type`, for `x_t = sqrt(a) x0 + sqrt(1 - a) e`: what a DDIM step (and DDIM's
    `clip_sample`) is made of. Shapes as `epsilon_from_output`; `alpha_prod` may be `(batch, 1, 1, 1)`."""
    epsilon = epsilon_from_output(output, sample, alpha_prod, prediction_type)
    # Read directly off the output (no division by the signal level, which is 0 at zero terminal SNR).
    clean = original_from_output(output, sample, alpha_prod, prediction_type)
    if clip_range is not None:
        clean = clean.clamp(-clip_range, clip_range)
    return clean, epsilon


def classifier_free_guidance(unconditional: torch.Tensor, conditional: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho and Salimans 2022): `uncond + scale * (cond - uncond)`, any equal shapes."""
    return unconditional + scale * (conditional - unconditional)


def epsilon_from_output(
    output: torch.Tensor, sample: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The noise estimate from a model output of any diffusers `prediction_type`, for `x_t = sqrt(a) x0 + sqrt(1-a) e`.

    output, sample: `(batch, channels, height, width)`; alpha_prod: the cumulative alpha `a` at the sample's timestep.
    """
    alpha_prod = torch.as_tensor(alpha_prod, dtype=sample.dtype, device=sample.device)
    if prediction_type == "epsilon":
        return output
    if prediction_type == "v_prediction":
        return alpha_prod.sqrt() * output + (1 - alpha_prod).sqrt() * sample
    if prediction_type == "sample":
        return (sample - alpha_prod.sqrt() * output) / (1 - alpha_prod).sqrt()
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def original_from_output(
    output: torch.Tensor, sample: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The clean-sample estimate x0 from a model output of any diffusers `prediction_type` (`epsilon_from_output`'s
    counterpart): for v-prediction `sqrt(a) x_t - sqrt(1 - a) v`, defined at zero SNR (a = 0) too; an epsilon model's
    `(x_t - sqrt(1 - a) e) / sqrt(a)` is not. Shapes as `epsilon_from_output`."""
    alpha_prod = torch.as_tensor(alpha_prod, dtype=sample.dtype, device=sample.device)
    if prediction_type == "epsilon":
        return (sample - (1 - alpha_prod).sqrt() * output) / alpha_prod.sqrt()
    if prediction_type == "v_prediction":
        return alpha_prod.sqrt() * sample - (1 - alpha_prod).sqrt() * output
    if prediction_type == "sample":
        return output
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def ddim_invert(
    predict_epsilon: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    sample: torch.Tensor,
    timesteps: Sequence[int] | torch.Tensor,
    alphas_cumprod: torch.Tensor,
    final_alpha_cumprod: torch.Tensor | float,
    progress: Callable | None = None,
    refinements: int = 0,
    predict_original: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Deterministic DDIM inversion (Song et al. 2020): clean sample -> the noise that DDIM (eta 0) maps back to it.

    `timesteps` are a DDIM sampler's, in sampling (descending) order; the sample is taken from below the last one up
    to the first. Each step reverses one DDIM update, `x_t = sqrt(a_t) x0_hat + sqrt(1 - a_t) e`, with
    `x0_hat = (x_prev - sqrt(1 - a_prev) e) / sqrt(a_prev)` and the noise `e = predict_epsilon(x_prev, t)` evaluated
    at the less noisy sample (the standard approximation, exact as the step size goes to 0). `refinements` > 0
    solves each step's implicit equation `x_t = step(x_prev, e(x_t, t))` by that many fixed-point iterations (as in
    Pan et al. 2023, "Effective real image editing with accelerated iterative diffusion inversion"), so that DDIM
    maps the result back to the input more exactly; each costs one more model evaluation per step.
    At a timestep of zero SNR (`a_t = 0`, zero terminal SNR, Lin et al. 2023) the noise estimate of a sample is the
    sample itself and says nothing about x0, so that step uses `predict_original(x, t)` (the model's x0 estimate)
    and inverts DDIM's update `x_prev = sqrt(a_prev) x0(x_t) + sqrt(1 - a_prev) x_t` through it instead; without
    `predict_original` such a timestep is a ValueError.
    sample: `(batch, channels, height, width)`; returns the same shape, the sample at `timesteps[0]`.
    """
    timesteps = [int(t) for t in timesteps]
    steps = range(len(timesteps) - 1, -1, -1)
    for index in progress(steps) if progress is not None else steps:
        timestep = timesteps[index]
        alpha_prod = alphas_cumprod[timestep]
        alpha_prod_prev = alphas_cumprod[timesteps[index + 1]] if index + 1 < len(timesteps) else final_alpha_cumprod
        alpha_prod, alpha_prod_prev = (
            torch.as_tensor(value, dtype=torch.float64).item() for value in (alpha_prod, alpha_prod_prev)
        )
        timestep_tensor = torch.tensor(timestep, device=sample.device)
        zero_snr = alpha_prod == 0.0
        if zero_snr and predict_original is None:
            raise ValueError(
                f"timestep {timestep} has zero SNR: inverting it needs the model's clean-sample estimate "
                "(predict_original), which an epsilon-prediction model cannot give there"
            )
        estimate = sample
        for _ in range(1 + refinements):
            if zero_snr:
                original = predict_original(estimate, timestep_tensor)
                epsilon = (sample - math.sqrt(alpha_prod_prev) * original) / math.sqrt(1 - alpha_prod_prev)
            else:
                epsilon = predict_epsilon(estimate, timestep_tensor)
                original = (sample - math.sqrt(1 - alpha_prod_prev) * epsilon) / math.sqrt(alpha_prod_prev)
            estimate = math.sqrt(alpha_prod) * original + math.sqrt(1 - alpha_prod) * epsilon
        sample = estimate
    return sample


# --- audio ------------------------------------------------------------------------------------------------------------
def loop_crossfade(audio: torch.Tensor, period: int, fade: int) -> torch.Tensor:
    """Make `(batch, time)` audio loop with period `period` samples.

    `audio` must extend at least `fade` samples beyond `period` (its continuation past the loop point); that tail is
    cross-faded (linearly, `fade` samples) into the start, so the last sample of the result flows into its first.
    Returns `(batch, period)`.
    """
    if audio.shape[-1] < period + fade:
        raise ValueError(f"loop needs {period + fade} samples, got {audio.shape[-1]}")
    result = audio[..., :period].clone()
    if fade > 0:
        ramp = torch.linspace(0, 1, fade + 2, device=audio.device, dtype=audio.dtype)[1:-1]
        result[..., :fade] = ramp * audio[..., :fade] + (1 - ramp) * audio[..., period : period + fade]
    return result


def inpaint_window(total: int, start: int, end: int, size: int) -> int:
    """First sample of the `size`-sample window of a `total`-sample clip that holds `[start, end)`, centred on it.

    Inpainting works on one slice; this picks which slice of a longer clip to regenerate part of.
    """
    if not 0 <= start < end <= max(total, size):
        raise ValueError(f"range [{start}, {end}) is not inside the clip's {total} samples")
    if end - start > size:
        raise ValueError(f"range of {end - start} samples is longer than one slice ({size} samples)")
    centred = (start + end) // 2 - size // 2
    return max(0, min(centred, total - size, start))


def splice_audio(original: torch.Tensor, replacement: torch.Tensor, start: int, fade: int) -> torch.Tensor:
    """Put `(batch, n)` `replacement` into `(batch, time)` `original` at sample `start`, cross-fading `fade` samples.

    The fades lie inside the replaced span at both ends (linear). Returns `(batch, time)`; samples outside
    `[start, start + n)` are the original's, untouched.
    """
    length = replacement.shape[-1]
    if start < 0 or start + length > original.shape[-1]:
        raise ValueError(f"replacement [{start}, {start + length}) exceeds the original's {original.shape[-1]} samples")
    fade = max(0, min(fade, length // 2))
    weight = torch.ones(length, device=original.device, dtype=original.dtype)
    if fade > 0:
        ramp = torch.linspace(0, 1, fade + 2, device=original.device, dtype=original.dtype)[1:-1]
        weight[:fade] = ramp
        weight[length - fade :] = ramp.flip(0)
    result = original.clone()
    span = result[..., start : start + length]
    result[..., start : start + length] = weight * replacement.to(original) + (1 - weight) * span
    return result
