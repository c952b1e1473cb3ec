"""Inpainting a time range of a clip longer than one slice: which slice to regenerate, and splicing it back.

The pipeline regenerates part of one slice (`AudioDiffusionPipeline.__call__(audio=..., inpaint_seconds=...)`);
`InpaintRange` is the arithmetic around it: the slice of the clip that holds the range (`editing.inpaint_window`),
the range in that slice's seconds, and the splice of the regenerated audio back into the whole clip with short
cross-fades inside the kept audio next to the range, so that outside the range the output is the input sample for
sample.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from audiodiff import editing

CROSSFADE_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class InpaintRange:
    """Samples `[first, last)` of a `length`-sample clip to regenerate inside the slice starting at `window`.

    `begin`/`end` is the span of the clip replaced by regenerated audio: the range plus `fade` samples of
    cross-fade on each side, clipped to the slice and the clip.
    """

    length: int
    slice_size: int
    sample_rate: int
    first: int
    last: int
    window: int
    fade: int

    @classmethod
    def from_seconds(
        cls,
        length: int,
        start: float,
        end: float,
        sample_rate: int,
        slice_size: int,
        crossfade_seconds: float = CROSSFADE_SECONDS,
    ) -> InpaintRange:
        """The range `[start, end)` seconds of a `length`-sample clip. ValueError (one line) when it is empty, outside
        the clip or longer than one slice."""
        first, last = int(round(start * sample_rate)), int(round(end * sample_rate))
        if not 0 <= first < last <= length:
            clip = length / sample_rate
            raise ValueError(f"range {start:g}..{end:g} s is not inside the clip (0..{clip:.2f} s), or it is empty")
        window = editing.inpaint_window(length, first, last, slice_size)
        return cls(length, slice_size, sample_rate, first, last, window, int(crossfade_seconds * sample_rate))

    @property
    def begin(self) -> int:
        return max(self.window, self.first - self.fade)

    @property
    def end(self) -> int:
        return min(self.window + self.slice_size, self.last + self.fade, self.length)

    def slice_of(self, audio: np.ndarray) -> np.ndarray:
        """The `(slice_size,)` slice of `(length,)` audio holding the range, zero-padded past the clip's end."""
        piece = np.asarray(audio)[self.window : self.window + self.slice_size]
        return np.pad(piece, (0, self.slice_size - len(piece)))

    def seconds_in_slice(self) -> tuple[float, float]:
        """The range in seconds from the start of the slice: the pipeline's `inpaint_seconds`."""
        return (self.first - self.window) / self.sample_rate, (self.last - self.window) / self.sample_rate

    def splice(self, audio: np.ndarray, regenerated: np.ndarray) -> np.ndarray:
        """`(length,)` audio with `[begin, end)` taken from `regenerated`, the `(time,)` audio of the regenerated slice,
        cross-faded over `fade` samples at both ends of that span. Returns `(length,)` float32."""
        replacement = torch.from_numpy(np.asarray(regenerated, dtype=np.float32)[None, self.begin - self.window :])
        replacement = replacement[:, : self.end - self.begin]
        original = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
        return editing.splice_audio(original, replacement, self.begin, self.fade)[0].numpy()
