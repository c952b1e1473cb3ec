"""`audiodiff share`: (re)write a finished folder's card, with its latest evaluation, and push it to the hub."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli.common import share, share_options


@click.command("share")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@share_options
@click.option(
    "--report",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An `audiodiff evaluate` report.json to show in the card. Default: the newest one in FOLDER, one level "
    "down (FOLDER/evaluation/), or beside FOLDER with clips generated from it.",
)
@click.option("--overwrite-card", is_flag=True, help="Replace a README.md that audiodiff did not write.")
def command(folder, push_to_hub, private, report, overwrite_card) -> None:
    """Write FOLDER's card (README.md) and, with --push-to-hub, upload FOLDER to the Hugging Face Hub.

    FOLDER is a pipeline folder (train, finetune, distill), a vocoder folder (train-vocoder) or a dataset folder
    (prepare). Those commands already write the card (datasets: only when pushed) and push with --push-to-hub;
    `share` refreshes the card after `audiodiff evaluate`, or pushes a folder later (a push that failed for want
    of a token or network). A card audiodiff wrote and nobody edited is rewritten; your own README.md is kept.
    """
    share(folder, push_to_hub, private, report=report, overwrite_card=overwrite_card, card_required=True)
