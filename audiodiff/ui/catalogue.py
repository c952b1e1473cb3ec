"""The studio's models: the pipelines named on the command line (or found under the current folder), and nothing else.

The page only ever sends a name from this list; a name that is not in it is refused, so no path typed into the page
is ever loaded. Each pipeline is loaded once, on first use, and every job gets it with the sampler it asked for,
made afresh from the folder's own scheduler settings (as `audiodiff generate PIPELINE --scheduler NAME` makes it).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from audiodiff.pipeline import AudioDiffusionPipeline

PIPELINE_MARKER = "model_index.json"
NO_GUIDE = "none"  # `Catalogue.pipeline`'s guide unless a job asks (`autoguide.NONE`, kept out of start-up imports)
# Folders never searched for pipelines: training checkpoints (not pipelines), environments and caches.
SKIPPED_FOLDERS = {"checkpoints", "node_modules", "site-packages", "__pycache__"}
SEARCH_DEPTH = 4


def find_pipelines(root: str | os.PathLike, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Pipeline folders (holding `model_index.json`) at or below `root`, at most `depth` levels down, sorted;
    hidden folders, checkpoints and environments are skipped."""
    root = Path(root)
    found = []
    for folder, subfolders, files in os.walk(root):
        level = len(Path(folder).relative_to(root).parts)
        if PIPELINE_MARKER in files:
            found.append(Path(folder))
            subfolders[:] = []  # a pipeline's own sub-folders (unet/, scheduler/) hold no other pipeline
            continue
        if level >= depth:
            subfolders[:] = []
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".") and name not in SKIPPED_FOLDERS)
    return sorted(found)


def _display_name(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix() or "."
    except ValueError:
        return str(path)


class Catalogue:
    """Named pipelines: `names()` for the page, `pipeline(name, scheduler)` for the jobs.

    sources: pipeline folders, folders to search for pipelines (`find_pipelines`), hub ids or shipped names
    (`audiodiff.pretrained`); none = search `base`, and offer the shipped base model after what is found.
    Names are paths relative to `base` (the current folder) where possible: what a command line would say.
    """

    def __init__(self, sources: Sequence[str | os.PathLike] = (), device: torch.device | str = "cpu", base=None):
        self.base = Path(base or Path.cwd())
        self.device = device
        self.sources: dict[str, str] = {}
        for source in sources or [self.base]:
            path = Path(source)
            if (path / PIPELINE_MARKER).is_file():
                self.sources[_display_name(path, self.base)] = str(path)
            elif path.is_dir():
                for found in find_pipelines(path):
                    self.sources[_display_name(found, self.base)] = str(found)
            else:  # a hub id, a shipped name (or a missing folder): from_pretrained says which when it is chosen
                self.sources[str(source)] = str(source)
        if not sources:  # the shipped base model is always on offer, after the folders found here
            from audiodiff.pretrained import SHIPPED

            for name in SHIPPED:
                self.sources.setdefault(name, name)
        self._loaded: dict[str, tuple[AudioDiffusionPipeline, object]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.sources)

    def _load(self, name: str) -> tuple[AudioDiffusionPipeline, object]:
        if name not in self.sources:
            raise ValueError(f"unknown model {name!r}: choose one of {', '.join(self.sources) or 'none'}")
        with self._lock:
            if name not in self._loaded:
                from audiodiff.config import ConfigError
                from audiodiff.pipeline import AudioDiffusionPipeline
                from audiodiff.utils import first_line

                try:
                    pipeline = AudioDiffusionPipeline.from_pretrained(self.sources[name]).to(self.device)
                except (OSError, ConfigError) as error:
                    raise ValueError(f"{name}: cannot load the pipeline ({first_line(error)})") from None
                self._loaded[name] = pipeline, copy.deepcopy(pipeline.scheduler)
            return self._loaded[name]

    def pipeline(
        self,
        name: str,
        scheduler: str | None = None,
        n_iter: int | None = None,
        guide: str | None = NO_GUIDE,
        guide_scale: float | None = None,
    ) -> AudioDiffusionPipeline:
        """The pipeline `name`, sampling with `scheduler` (a short name, "auto" for the default or a distilled
        student's own; None or "saved": the folder's own), guided as `--guide GUIDE --guide-scale GUIDE_SCALE` ask
        (`autoguide.follow`: by default none; None and None, the guide the folder recommends, or none with a warning
        in the log where that cannot load, as the CLI does) and decoding with `n_iter` Griffin-Lim iterations (None:
        its mel config's)."""
        from audiodiff.autoguide import follow
        from audiodiff.sampling import set_griffin_lim_iterations

        pipeline, saved = self._load(name)
        pipeline.set_scheduler(copy.deepcopy(saved))
        if scheduler is not None:
            pipeline.set_scheduler(scheduler)  # by name: a student keeps its own for "auto" and refuses others
        follow(pipeline, guide, guide_scale, lambda line: logging.getLogger(__name__).warning("%s: %s", name, line))
        if hasattr(pipeline.codec().vocoder, "n_iter"):  # a pipeline saved with a trained vocoder has none to set
            set_griffin_lim_iterations(pipeline, n_iter)
        return pipeline

    def recommended_guide(self, name: str) -> dict | None:
        """The guide the folder of `name` recommends (`AudioDiffusionPipeline.recommended_guide`), or None."""
        return self._load(name)[0].recommended_guide

    def is_student(self, name: str) -> bool:
        """Whether the pipeline `name` is a distilled few-step student (it samples with its own scheduler)."""
        return self._load(name)[0].distillation is not None

    def auto_sampler(self, name: str) -> str:
        """The short name "auto" samples the diffusion model `name` with: its folder's recommended sampler, else the
        default (`AudioDiffusionPipeline.auto_sampler`)."""
        return self._load(name)[0].auto_sampler

    def steps_for(self, name: str, sampler: str) -> int:
        """The default steps of the short-named `sampler` ("auto": the recommended one) on the diffusion model `name`:
        its folder's measured steps for its recommended sampler, else the sampler's own
        (`AudioDiffusionPipeline.steps_for`)."""
        return self._load(name)[0].steps_for(sampler)

    def saved_default_steps(self, name: str) -> int:
        """The default steps of the folder's own scheduler (a distilled student's few steps, 1000 for DDPM, ...)."""
        from audiodiff.schedulers import default_steps_for

        return default_steps_for(self._load(name)[1])
