"""Embeddings for the Frechet distance; they live in `audiodiff.evaluation.embeddings`. Re-exported here."""

from audiodiff.evaluation.embeddings import (
    BACKENDS,
    LOG_MEL_BANDS,
    PRETRAINED_BACKENDS,
    ClapEmbedder,
    ClassifierEmbedder,
    Embedder,
    EmbeddingUnavailable,
    LogMelEmbedder,
    PannEmbedder,
    VGGishEmbedder,
    images_to_db,
    load_pretrained_embedder,
    log_mel_frame_embeddings,
    parse_backend,
)

__all__ = [
    "BACKENDS",
    "LOG_MEL_BANDS",
    "PRETRAINED_BACKENDS",
    "ClapEmbedder",
    "ClassifierEmbedder",
    "Embedder",
    "EmbeddingUnavailable",
    "LogMelEmbedder",
    "PannEmbedder",
    "VGGishEmbedder",
    "images_to_db",
    "load_pretrained_embedder",
    "log_mel_frame_embeddings",
    "parse_backend",
]
