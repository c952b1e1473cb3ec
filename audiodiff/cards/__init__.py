"""Model and dataset cards (public re-exports): the `README.md` that says what a pipeline, vocoder or dataset
folder is, written from the records audiodiff keeps in it.

A model card follows the Hugging Face convention (YAML front matter, then Markdown) and the fields of the reference's
cards (teticio/audio-diffusion-256: licence, tags, datasets): what the model is, its genres, its mel settings, the
data it was trained on (from the dataset's `audiodiff_dataset.json` summary, or its rows), the recipe and its
length, the measured quality (an `audiodiff evaluate` report in or next to the folder), example spectrograms (the
run's last preview clips drawn into `examples.png`, their audio in `examples/`), the licence and how to use it.

The records it reads: `audiodiff.json` (genres, bits, the `training` record: run.json's data, pretrained, genre,
preset and config, plus steps and final loss; a student's `distillation` record), `mel/mel_config.json`,
`scheduler/scheduler_config.json`, the UNet's safetensors header (parameters), `losses.json`, `samples/step_N/`.
A vocoder folder's `config.json` holds its own `training` record.

A card carries a checksum of its own text (`<!-- audiodiff card sha256:... -->`): a card audiodiff wrote and nobody
edited is rewritten with newer facts (an evaluation, the repository it was pushed to); any other `README.md` (the
user's own, or an edited card) is kept.

The package: `records.py` reads a folder's records, `sections.py` holds the text every card shares (front matter,
the checksum, the mel, data and licence sections), `model_card.py` writes a pipeline's or vocoder's card,
`dataset_card.py` a dataset's, `write.py` whichever a folder needs (`write_card`).
"""

from audiodiff.cards.dataset_card import dataset_card, write_dataset_card
from audiodiff.cards.model_card import EXAMPLES_DIR, EXAMPLES_NAME, LOSS_PLOT_NAME, model_card, write_model_card
from audiodiff.cards.records import REPORT_NAME, CardError, find_report, folder_kind
from audiodiff.cards.sections import CARD_NAME, LICENCE_PLACEHOLDER, TAGS, written_by_audiodiff
from audiodiff.cards.write import write_card

__all__ = [
    "CARD_NAME",
    "EXAMPLES_DIR",
    "EXAMPLES_NAME",
    "LICENCE_PLACEHOLDER",
    "LOSS_PLOT_NAME",
    "REPORT_NAME",
    "TAGS",
    "CardError",
    "dataset_card",
    "find_report",
    "folder_kind",
    "model_card",
    "write_card",
    "write_dataset_card",
    "write_model_card",
    "written_by_audiodiff",
]
