"""Clips of a teacher or a student for `bench_distill.py`: timed sampling (UNet evaluations, seconds, the decoder's
share), a warm-up, the windows of long clips, and the DDPM clips made apart (on a GPU) and read back."""

from __future__ import annotations

import time

from benchlib.generation import model_images
from benchlib.machine import machine_record


def sample(pipeline, steps: int, count: int, args, guidance: float):
    """`count` clips of `args.seconds` through `audiodiff.sampling.generate` (what `audiodiff generate` runs, no
    redraw: the sampler's own failure rate), clip k from a generator seeded `seed + k`, timed.

    Returns images `(count, 1, n_mels, frames)` in [-1, 1], audio `(count, time)`, UNet evaluations per clip (a
    guided teacher step counts 2 per window), seconds per clip, and of those the vocoder's (Griffin-Lim) seconds."""
    import torch

    from audiodiff import sampling

    pipeline.unet_evaluations = 0
    begin = time.perf_counter()
    clips = sampling.generate(
        pipeline, count=count, seed=args.seed, steps=steps, genre=args.genre if pipeline.genres else None,
        guidance=guidance, seconds=args.seconds, batch_size=args.batch_size,
    )  # fmt: skip
    seconds = (time.perf_counter() - begin) / count
    evaluations = pipeline.unet_evaluations / count
    images = model_images(clips)
    # The decoder's share of the time: one batch decoded again as `generate` decodes it.
    batch = images[: args.batch_size].to(pipeline.device)
    begin = time.perf_counter()
    pipeline.images_to_audio(batch, torch.Generator(pipeline.device).manual_seed(args.seed))
    if pipeline.device.type == "cuda":
        torch.cuda.synchronize()
    decode = (time.perf_counter() - begin) / len(batch)
    return images, clips.audios, evaluations, seconds, decode


def warm_up(pipeline, args, guidance: float) -> None:
    """One short sampling run, untimed: first-call costs (allocation, cuDNN tuning) stay out of the timings."""
    import torch

    genre = args.genre if pipeline.genres else None
    pipeline(batch_size=1, num_inference_steps=1, genre=genre, guidance_scale=guidance, seconds=args.seconds,
             generator=torch.Generator().manual_seed(0), output_type="pt")  # fmt: skip


def mean_windows(pipeline, steps: int, seconds: float) -> float:
    """Model-width windows the UNet sees per step (averaged over the steps) for a clip of `seconds`: the joint
    denoising of long clips (`AudioDiffusionPipeline._model_output`). Dividing UNet evaluations per clip by it gives
    the evaluations of a one-slice clip (the issue's 40 -> 4)."""
    from audiodiff import editing

    mel = pipeline.mel_config
    frames = editing.seconds_to_frames(seconds, mel.sample_rate, mel.hop_length)
    width = pipeline.latent_shape[2]
    stride = max(1, (mel.x_res - mel.x_res // 2) * width // mel.x_res)
    canvas = -(-frames * width // mel.x_res)
    counts = [len(editing.window_starts(canvas, width, stride, step)) for step in range(steps)]
    return sum(counts) / len(counts)


def stage_ddpm(args) -> None:
    """The teacher's DDPM clips alone (the slow part on a CPU), written to `--ddpm-file` for a later evaluate."""
    import torch

    from audiodiff.codec import model_to_pixels
    from audiodiff.pipeline import AudioDiffusionPipeline

    teacher = AudioDiffusionPipeline.from_pretrained(args.teacher).to(args.device).set_scheduler("ddpm")
    teacher.set_progress_bar_config(disable=True)
    warm_up(teacher, args, args.guidance)
    count = min(args.ddpm_clips, args.clips)
    images, _, evaluations, seconds, decode = sample(teacher, args.ddpm_steps, count, args, args.guidance)
    record = {
        "pixels": model_to_pixels(images[:, 0], 8).to(torch.uint8).cpu(), "unet_evals_per_clip": evaluations,
        "seconds_per_clip": seconds, "decode_seconds_per_clip": decode,
        "device": machine_record(args.device_name).get("gpu") or args.device_name, "steps": args.ddpm_steps,
        "guidance": args.guidance, "genre": args.genre, "seed": args.seed, "seconds": args.seconds,
    }  # fmt: skip
    args.ddpm_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, args.ddpm_file)
    print(f"{count} DDPM-{args.ddpm_steps} clips, {seconds:.2f} s a clip on {record['device']}: {args.ddpm_file}")


def load_ddpm(args, teacher):
    """The clips of `stage_ddpm` (checked to be this run's settings), decoded here for the WAVs."""
    import torch

    from audiodiff.codec import pixels_to_model

    record = torch.load(args.ddpm_file, weights_only=True)
    for key in ("steps", "guidance", "genre", "seed", "seconds"):
        expected = {"steps": args.ddpm_steps}.get(key, getattr(args, key))
        if record[key] != expected:
            raise SystemExit(f"{args.ddpm_file}: made with {key} {record[key]!r}, this run uses {expected!r}")
    images = pixels_to_model(record["pixels"], 8).unsqueeze(1).float()
    wavs = images[: args.wavs].to(teacher.device)
    audios = teacher.images_to_audio(wavs, torch.Generator(teacher.device).manual_seed(args.seed)).cpu()
    return (images, audios, record["unet_evals_per_clip"], record["seconds_per_clip"],
            record["decode_seconds_per_clip"], record["device"])  # fmt: skip
