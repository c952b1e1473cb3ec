"""Spectrogram datasets: preparing them from a music collection, and loading them for training.

    sources.py    what to prepare: folders, audio files, file lists, audio datasets and hub ids -> tracks
    encoding.py   one track -> slices -> PNG rows (loudness, silence), written as one part of the work folder
    workdir.py    the resumable work folder: one atomic Arrow part per finished track
    prepare.py    `prepare_dataset`: all tracks in worker processes, then the parts assembled into the dataset
    merge.py      `merge_datasets`: shards prepared on several machines -> one dataset
    dataset.py    the dataset folder: `load_spectrogram_dataset` (ours, the reference format, hub ids), its files
    order.py      the order training reads it in: epochs of row indices, rows decoded into batches

This package re-exports the public names so that `from audiodiff.data import ...` finds them in one place.
"""

from audiodiff.audio import UNSUPPORTED_AUDIO_EXTENSIONS
from audiodiff.data.dataset import (
    CONTACT_SHEET_NAME,
    DATASET_METADATA_NAME,
    DatasetError,
    SpectrogramDataset,
    images_to_tensor,
    load_spectrogram_dataset,
    read_metadata,
)
from audiodiff.data.encoding import (
    DEFAULT_MIN_LOUDNESS_DB,
    PART_VERSION,
    EncodeSettings,
    encode_track,
    png_bytes,
    process_track,
    slice_loudness_db,
)
from audiodiff.data.merge import merge_datasets
from audiodiff.data.order import EPOCH_SAMPLING, TrainingRows, epoch_indices
from audiodiff.data.prepare import (
    DEFAULT_MAX_SHARD_SIZE,
    FORMAT_NAME,
    FORMAT_VERSION,
    PrepareSummary,
    default_num_proc,
    prepare_dataset,
)
from audiodiff.data.sources import (
    FILE_LIST_EXTENSIONS,
    AudioDatasetSource,
    SourceItem,
    SourceListing,
    in_shard,
    list_sources,
    parse_genre_from,
    parse_shard,
)
from audiodiff.data.workdir import WORK_DIR_NAME, read_part_record, read_part_table, write_part
from audiodiff.figures import contact_sheet, write_contact_sheet  # their old home; figures.py draws them

__all__ = [
    "CONTACT_SHEET_NAME",
    "DATASET_METADATA_NAME",
    "DEFAULT_MAX_SHARD_SIZE",
    "DEFAULT_MIN_LOUDNESS_DB",
    "EPOCH_SAMPLING",
    "FILE_LIST_EXTENSIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PART_VERSION",
    "UNSUPPORTED_AUDIO_EXTENSIONS",
    "WORK_DIR_NAME",
    "AudioDatasetSource",
    "DatasetError",
    "EncodeSettings",
    "PrepareSummary",
    "SourceItem",
    "SourceListing",
    "SpectrogramDataset",
    "TrainingRows",
    "contact_sheet",
    "default_num_proc",
    "encode_track",
    "epoch_indices",
    "images_to_tensor",
    "in_shard",
    "list_sources",
    "load_spectrogram_dataset",
    "merge_datasets",
    "parse_genre_from",
    "parse_shard",
    "png_bytes",
    "prepare_dataset",
    "process_track",
    "read_metadata",
    "read_part_record",
    "read_part_table",
    "slice_loudness_db",
    "write_contact_sheet",
    "write_part",
]
