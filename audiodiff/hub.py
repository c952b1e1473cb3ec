"""Pushing a finished folder (pipeline, vocoder or dataset) to the Hugging Face Hub: one `create_repo` and one
`upload_folder`, after everything (the card included) is written.

What travels: the folder as it is, minus what only the machine that trained needs (`IGNORED`: checkpoints with
optimizer state, raw previews, TensorBoard logs, the resume record, prepare's work cache, the lock file). A
pipeline folder keeps the reference layout, so `from_pretrained(REPO)` works with audiodiff and diffusers; a
dataset folder stays a `save_to_disk` folder whose card points `load_dataset` at its Arrow files (`cards/`).
"""

from __future__ import annotations

import os
from pathlib import Path

from audiodiff.utils import LOCK_NAME, first_line

REPO_TYPES = ("model", "dataset")
# Training-machine files: large (checkpoints hold the optimizer state), personal (run.json's local paths) or
# rebuilt on demand; the card links to examples/ and examples.png instead of samples/.
IGNORED = (
    "checkpoints/**",
    "samples/**",
    "logs/**",
    "run.json",
    ".prepare-work/**",
    LOCK_NAME,
    ".*.tmp-*",
)


class HubError(RuntimeError):
    """A push that failed (no token, no network, no permission): one line, saying the local folder is complete."""


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a valid hub repository id `owner/name`, else `ValueError` (one line). Checked before a
    run starts, so a typo does not surface after hours of training. The owner is required: the card names the
    repository in its "how to use" lines, and `from_pretrained` needs the full id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if "/" not in repo_id:
        raise ValueError(f"{repo_id!r}: give the repository as owner/name, e.g. your-name/{repo_id}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        reason = first_line(error)
        raise ValueError(f"{repo_id!r} is not a hub repository id, e.g. your-name/my-model ({reason})") from None
    return repo_id


def has_token(token: str | None = None) -> bool:
    """Whether a Hugging Face token is at hand (given, `HF_TOKEN`, or saved by `hf auth login`); no network."""
    from huggingface_hub import get_token

    return bool(token or get_token())


def push(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str = "model",
    private: bool = False,
    token: str | None = None,
) -> str:
    """Create `repo_id` on the hub if needed (`private` when new) and upload `folder` to it in one commit;
    returns the repository's URL. `HubError` (one line naming the folder, which stays complete) on any failure."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {', '.join(REPO_TYPES)}, not {repo_type!r}")
    if not folder.is_dir():
        raise HubError(f"{folder}: no such folder to push")
    kept = f"{folder} is complete on this machine; push it later with: audiodiff share {folder} --push-to-hub {repo_id}"
    if not has_token(token):
        raise HubError(f"no Hugging Face token (run `hf auth login` or set HF_TOKEN); {kept}")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True)
        api.upload_folder(
            repo_id=getattr(url, "repo_id", None) or repo_id,
            folder_path=folder,
            repo_type=repo_type,
            ignore_patterns=list(IGNORED),
            commit_message=f"audiodiff: upload {folder.name}",
        )
    except Exception as error:  # network, permission, quota, server: the same advice, and the work is safe
        raise HubError(f"pushing {folder} to {repo_id} failed ({first_line(error)}); {kept}") from None
    return str(url)
