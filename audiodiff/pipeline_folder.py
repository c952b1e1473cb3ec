"""The pipeline folder: the reference (audio-diffusion / diffusers) layout on disk, audiodiff's additions, hub I/O.

A pipeline folder is loadable by `diffusers.DiffusionPipeline` as well as by `AudioDiffusionPipeline`:

    model_index.json   {"_class_name": "AudioDiffusionPipeline", "mel": ["diffusers", "Mel"],
                        "scheduler": ["diffusers", "<Scheduler>"], "unet": ["diffusers", "UNet2DModel"]}
                       (+ "vqvae": ["diffusers", "AutoencoderKL"] for latent models)
    unet/ scheduler/ mel/mel_config.json [vqvae/]
    audiodiff.json     audiodiff's additions: genre names, PNG bit depth, a free-form "training" record, the quality
                       fences, the recommended "sampler" (what `auto` samples with) and its measured
                       "sampler_steps" (optional), the recommended "guide" ({"model", "scale"}: what `auto`
                       guides with, optional), and for a distilled student its "distillation" record (method,
                       steps, guidance, teacher)
    vocoder/           optional: the trained vocoder that decodes its images (`audiodiff train-vocoder`), named in
                       audiodiff.json so that diffusers, which does not know it, loads the folder as before

Published reference checkpoints carry `.bin` weights only and no audiodiff.json; they load unchanged. Here: the `mel`
component, checking that components fit together, writing the additions after diffusers has written its part,
reading a folder back into components, finding a folder (local, shipped, hub id), and uploading a complete folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from audiodiff.config import MEL_CONFIG_NAME, PIPELINE_MEL_FOLDER, MelConfig
from audiodiff.models import aligned, backbone_class, check_backbone_folder
from audiodiff.schedulers import scheduler_class
from audiodiff.utils import first_line, is_hub_id

if TYPE_CHECKING:
    from audiodiff.pipeline import AudioDiffusionPipeline

PIPELINE_METADATA_NAME = "audiodiff.json"
VOCODER_FOLDER = "vocoder"
# The hub options of diffusers' `save_pretrained(push_to_hub=True)`, passed on to `push_folder`.
HUB_OPTIONS = ("commit_message", "private", "create_pr", "token")
METADATA_NAME = PIPELINE_METADATA_NAME  # the former name


class Mel(ConfigMixin, SchedulerMixin):
    """The pipeline's `mel` component: the seven settings of the reference `Mel`, saved as `mel/mel_config.json`.

    Only settings: the conversion itself is `SpectrogramCodec`. It derives from `SchedulerMixin` (as the reference
    `Mel` does) only so that diffusers' save machinery knows how to write it.
    """

    config_name = MEL_CONFIG_NAME

    @register_to_config
    def __init__(
        self,
        x_res: int = 256,
        y_res: int = 256,
        sample_rate: int = 22050,
        n_fft: int = 2048,
        hop_length: int = 512,
        top_db: int = 80,
        n_iter: int = 32,
    ):
        self.settings = MelConfig(x_res, y_res, sample_rate, n_fft, hop_length, top_db, n_iter)

    @classmethod
    def from_mel_config(cls, config: MelConfig) -> Mel:
        return cls(**config.to_dict())

    def get_sample_rate(self) -> int:
        """The reference `Mel`'s accessor."""
        return self.settings.sample_rate


class PipelineFolderMixin:
    """`save_pretrained` and `from_pretrained` of `AudioDiffusionPipeline` (mixed in before `DiffusionPipeline`,
    whose own `save_pretrained` writes the reference part of the folder): the folder is the one described above."""

    @classmethod
    def from_components(cls, **components: Any) -> AudioDiffusionPipeline:
        """The constructor under its former name: it takes the same keyword arguments."""
        return cls(**components)

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        *,
        push_to_hub: bool = False,
        **kwargs,
    ) -> None:
        """Write the reference folder layout (safetensors unless `safe_serialization=False`) and audiodiff's additions
        (`pipeline_folder.write_additions`). With `push_to_hub`, the complete folder is then uploaded to `repo_id`
        (default: the folder's name) with diffusers' hub options `commit_message`, `private`, `create_pr`, `token`."""
        hub = {key: kwargs.pop(key) for key in HUB_OPTIONS if key in kwargs} if push_to_hub else {}
        repo_id = kwargs.pop("repo_id", Path(save_directory).name) if push_to_hub else None
        super().save_pretrained(save_directory, safe_serialization=safe_serialization, **kwargs)
        write_additions(
            save_directory,
            self.mel_config,
            genres=self.genres,
            bits=self.bits,
            training=self.training,
            quality=self.quality,
            distillation=self.distillation,
            vocoder=self.vocoder,
            sampler=self.sampler,
            sampler_steps=self.sampler_steps,
            recommended_guide=self.recommended_guide,
        )
        if push_to_hub:
            push_folder(save_directory, repo_id, **hub)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        scheduler: str | SchedulerMixin | None = None,
        torch_dtype: torch.dtype | None = None,
        vocoder=None,
        **download_kwargs,
    ) -> AudioDiffusionPipeline:
        """Load a pipeline folder, shipped name or hub id: audiodiff's (safetensors) or the reference's (`.bin`, read
        with `torch.load(weights_only=True)` by diffusers). `scheduler` swaps the sampler (name or instance, see
        `set_scheduler`); the folder's scheduler is kept by default. `vocoder` (a vocoder folder or decoder, see
        `set_vocoder`) replaces the folder's own `vocoder/`, which is used when there is one; `False` decodes with
        Griffin-Lim. `download_kwargs` go to `huggingface_hub.snapshot_download` for hub ids.
        """
        folder = resolve_folder(pretrained_model_name_or_path, **download_kwargs)
        components, own_vocoder = load_components(folder, torch_dtype)
        pipeline = cls(**components)
        if scheduler is not None:
            pipeline.set_scheduler(scheduler)
        pipeline.set_vocoder((own_vocoder if vocoder is None else vocoder) or None)
        pipeline.register_to_config(_name_or_path=str(pretrained_model_name_or_path))
        return pipeline


def check_components(unet, vqvae, mel_config: MelConfig, genres: Sequence[str] | None) -> None:
    """ValueError (one line) unless the UNet's samples are the mel images `(1, y_res, x_res)` (or, with a `vqvae`,
    its latents of them) and a genre-conditioned UNet has one class per genre plus the null label."""
    size = unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    channels = unet.config.in_channels
    if vqvae is None:
        if channels != 1 or (height, width) != (mel_config.y_res, mel_config.x_res):
            raise ValueError(
                f"unet samples ({channels}, {height}, {width}) do not match the mel images (1, {mel_config.y_res}, "
                f"{mel_config.x_res})"
            )
    else:
        factor = 2 ** (len(vqvae.config.block_out_channels) - 1)
        if (height * factor, width * factor) != (mel_config.y_res, mel_config.x_res):
            raise ValueError(
                f"unet latents {height}x{width} times the vqvae's factor {factor} do not match the mel images "
                f"{mel_config.y_res}x{mel_config.x_res}"
            )
    count = unet.config.num_class_embeds
    if genres is not None and (count is None or count - 1 != len(genres)):
        raise ValueError(
            f"{len(genres)} genres need a UNet with num_class_embeds={len(genres) + 1} (the last is the null label), "
            f"got {count}"
        )


def native_widths(training: dict[str, Any]) -> tuple[int, ...]:
    """The widths, in slices, a model was trained on (`TrainConfig.widths` in its training record), sorted; `(1,)`
    for a model trained on single slices (every reference checkpoint, and any record without widths)."""
    config = training.get("config")
    widths = config.get("widths") if isinstance(config, dict) else None
    if isinstance(widths, list) and widths and all(isinstance(k, int) and 1 <= k for k in widths):
        return tuple(sorted(set(widths)))
    return (1,)


def write_additions(
    folder: str | os.PathLike,
    mel_config: MelConfig,
    *,
    genres: Sequence[str] | None,
    bits: int,
    training: dict[str, Any],
    quality: dict[str, Any] | None = None,
    distillation: dict[str, Any] | None = None,
    vocoder=None,
    sampler: str | None = None,
    sampler_steps: int | None = None,
    recommended_guide: dict[str, Any] | None = None,
) -> None:
    """Complete a folder diffusers' `save_pretrained` has written: `mel` named as the reference's `Mel` in
    model_index.json (an absent vqvae dropped from it), `mel/mel_config.json`, the vocoder's `vocoder/` when it can
    save itself, and audiodiff.json."""
    folder = Path(folder)
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["mel"] = ["diffusers", "Mel"]
    if not (index.get("vqvae") or [None])[0]:
        index.pop("vqvae", None)
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    mel_config.save(folder / PIPELINE_MEL_FOLDER)
    metadata = {"genres": list(genres) if genres else None, "bits": bits, "training": training}
    if quality:
        metadata["quality"] = quality
    if distillation:
        metadata["distillation"] = distillation
    if sampler:
        metadata["sampler"] = sampler
    if sampler_steps:
        metadata["sampler_steps"] = int(sampler_steps)
    if recommended_guide:
        metadata["guide"] = dict(recommended_guide)
    if hasattr(vocoder, "save_pretrained"):
        vocoder.save_pretrained(folder / VOCODER_FOLDER)
        metadata["vocoder"] = VOCODER_FOLDER
    (folder / PIPELINE_METADATA_NAME).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")


def load_components(
    folder: str | os.PathLike, torch_dtype: torch.dtype | None = None
) -> tuple[dict[str, Any], Path | None]:
    """A pipeline folder's components, as `AudioDiffusionPipeline`'s keyword arguments (unet, scheduler, vqvae,
    mel_config, genres, bits, training, quality, distillation, sampler, sampler_steps, recommended_guide), and its
    own vocoder folder
    (None without one).

    A hostile `unet/config.json` is refused before its network is built (`models.check_backbone_folder`). Reference
    folders (`.bin` weights) are read by diffusers with `torch.load(weights_only=True)`. ValueError, one line naming
    the folder, for a folder that is not a pipeline or names an unknown backbone or scheduler class.
    """
    from diffusers import AutoencoderKL

    folder = Path(folder)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ValueError(f"{folder}: no model_index.json, not a pipeline folder")
    index = read_json_object(index_path)
    try:
        backbone = backbone_class((index.get("unet") or [None, None])[1])
    except ValueError as error:
        raise ValueError(f"{folder}: {error}") from None
    check_backbone_folder(folder / "unet", backbone)
    unet = aligned(backbone.from_pretrained(folder, subfolder="unet", torch_dtype=torch_dtype))
    scheduler_name = (index.get("scheduler") or [None, "DDPMScheduler"])[1]
    saved_class = scheduler_class(scheduler_name)
    if saved_class is None:
        raise ValueError(f"{folder}: unknown scheduler class {scheduler_name!r}")
    scheduler = saved_class.from_pretrained(folder, subfolder="scheduler")
    vqvae = None
    if (index.get("vqvae") or [None])[0]:
        vqvae = aligned(AutoencoderKL.from_pretrained(folder, subfolder="vqvae", torch_dtype=torch_dtype))
    metadata = read_metadata(folder)
    components = dict(
        unet=unet,
        scheduler=scheduler,
        vqvae=vqvae,
        mel_config=MelConfig.load(folder / PIPELINE_MEL_FOLDER / MEL_CONFIG_NAME),
        genres=metadata.get("genres"),
        bits=metadata.get("bits", 8),
        training=metadata.get("training"),
        quality=metadata.get("quality"),
        distillation=metadata.get("distillation"),
        sampler=metadata.get("sampler"),
        sampler_steps=metadata.get("sampler_steps"),
        recommended_guide=metadata.get("guide"),
    )
    return components, folder / str(metadata["vocoder"]) if metadata.get("vocoder") else None


def read_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """A pipeline folder's `audiodiff.json` (genres, bits, training record, quality fences, vocoder); {} for folders
    without one (the reference's). ValueError (one line) when it is malformed."""
    path = Path(folder) / PIPELINE_METADATA_NAME
    return read_json_object(path) if path.is_file() else {}


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; ValueError (one line, naming the file) when it is malformed or not an object."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def resolve_folder(name_or_path: str | os.PathLike, **download_kwargs) -> Path:
    """A local folder as is; a shipped pipeline's name (`audiodiff.pretrained`, e.g. `audiodiff-base-64`) as its
    folder inside the package; an `owner/name` hub id downloaded (or found in the cache) by huggingface_hub
    (`download_kwargs` go to `snapshot_download`). ValueError (one line) for anything else or a failed download."""
    from audiodiff.pretrained import SHIPPED, shipped_folder

    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = shipped_folder(name_or_path)
    if shipped is not None:
        return shipped
    text = str(name_or_path)
    if path.exists() or not is_hub_id(text):
        raise ValueError(
            f"{text}: no such pipeline folder (and not a hub id of the form owner/name, nor a shipped pipeline: "
            f"{', '.join(SHIPPED)})"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(text, **download_kwargs))
    except Exception as error:  # noqa: BLE001 - hub errors come in many types; report one line
        raise ValueError(f"{text}: could not download the pipeline ({first_line(error)})") from None


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    commit_message: str | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    token: str | None = None,
) -> str:
    """Upload a complete pipeline folder to the hub repository `repo_id` (created when missing, as diffusers'
    `push_to_hub` does) in one commit; returns the commit's URL. Called only once every file is written, so that the
    hub never holds a folder without its audiodiff.json, mel/ or vocoder/."""
    from huggingface_hub import create_repo, upload_folder

    repo_id = create_repo(repo_id, exist_ok=True, private=private, token=token).repo_id
    return upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        token=token,
        commit_message=commit_message or "Upload AudioDiffusionPipeline",
        create_pr=create_pr,
    )
