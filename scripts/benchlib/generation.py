"""Drawing clips through `audiodiff.sampling.generate` (what `audiodiff generate` runs) as model-space images."""

from __future__ import annotations


def model_images(clips):
    """The images of `audiodiff.sampling`'s `Clips` (pixels of their bit depth) as `(count, 1, n_mels, frames)` in
    model space, [-1, 1]."""
    from audiodiff.codec import pixels_to_model

    return pixels_to_model(clips.images, clips.bits).unsqueeze(1)


def generate_images(pipeline, **options):
    """`audiodiff.sampling.generate(pipeline, **options)` (clip k from a generator seeded `seed + k`): its images
    `(count, 1, n_mels, frames)` in [-1, 1] and the `Clips` themselves (audio, redrawn clips, sample rate)."""
    from audiodiff import sampling

    clips = sampling.generate(pipeline, **options)
    return model_images(clips), clips
