"""Metrics of evaluation: pure tensor functions, no file or model I/O.

- Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule..."; for audio FAD,
  Kilgour et al. 2019): fit a Gaussian N(mu, Sigma) to the embeddings of each set and report
  `||mu_g - mu_r||^2 + Tr(Sigma_g + Sigma_r - 2 (Sigma_g Sigma_r)^(1/2))`. Embeddings come from
  `audiodiff.evaluation.embeddings` (log-mel frame statistics by default, a genre classifier, or a pretrained model).
- Genre share: the fraction of clips that a genre classifier assigns to the target genre.
- Diversity: mean pairwise log-mel distance between clips (0 = the model repeats one clip), and the distance of each
  clip to its nearest reference clip (copying).
- Fidelity and diversity apart: improved precision and recall (Kynkaanniemi et al. 2019, arXiv 1904.06991) and
  density and coverage (Naeem et al. 2020, arXiv 2002.09797) on one vector per clip. A Frechet distance mixes the
  two and rewards a set of averaged, near-identical clips; recall and coverage fall for such a set whatever its FD.
- Codec quality: spectral convergence and log-spectral distance between a reference waveform and its
  reconstruction. The spectrogram image stores levels relative to each slice's maximum, so a decoded clip has the
  right shape but an arbitrary overall level: both first scale the estimate's magnitude spectrogram by the
  least-squares gain `g = <S, S_hat> / <S_hat, S_hat>` before comparing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from audiodiff.evaluation.embeddings import images_to_db
from audiodiff.spectral import least_squares_gain, magnitude_stft  # noqa: F401 - their old home


class EvaluationError(ValueError):
    """Inputs that cannot be evaluated (missing, empty, mismatched); `str(error)` is one line."""


# --- Frechet distance -------------------------------------------------------------------------------------------------
def gaussian_statistics(embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `(dim,)` and unbiased covariance `(dim, dim)` (float64) of embeddings `(count, dim)`, count >= 2."""
    embeddings = torch.as_tensor(embeddings).reshape(-1, torch.as_tensor(embeddings).shape[-1]).double()
    if len(embeddings) < 2:
        raise EvaluationError(f"a covariance needs at least 2 embedding vectors, got {len(embeddings)}")
    return embeddings.mean(dim=0), torch.cov(embeddings.T).reshape(embeddings.shape[1], embeddings.shape[1])


def frechet_distance(
    mean_a: torch.Tensor, covariance_a: torch.Tensor, mean_b: torch.Tensor, covariance_b: torch.Tensor
) -> float:
    """Frechet (2-Wasserstein) distance between N(mean_a, covariance_a) and N(mean_b, covariance_b), squared form.

    `||mean_a - mean_b||^2 + Tr(A + B - 2 (A B)^(1/2))` (Heusel et al. 2017; FAD, Kilgour et al. 2019). The trace of
    the matrix square root is computed stably in float64 as the sum of the square roots of the eigenvalues of the
    symmetric matrix `A^(1/2) B A^(1/2)` (same spectrum as A B), so identical inputs give 0 up to rounding.
    means: `(dim,)`; covariances: `(dim, dim)`. Returns a float >= 0.
    """
    mean_a, mean_b = torch.as_tensor(mean_a).double(), torch.as_tensor(mean_b).double()
    covariance_a, covariance_b = torch.as_tensor(covariance_a).double(), torch.as_tensor(covariance_b).double()
    values, vectors = torch.linalg.eigh((covariance_a + covariance_a.T) / 2)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = root_a @ covariance_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + covariance_a.trace() + covariance_b.trace() - 2 * trace_root
    return max(0.0, float(distance))


def frechet_distance_between(embeddings_a: torch.Tensor, embeddings_b: torch.Tensor) -> float:
    """Frechet distance between two sets of embeddings, `(..., dim)` each (all leading axes are pooled)."""
    return frechet_distance(*gaussian_statistics(embeddings_a), *gaussian_statistics(embeddings_b))


# --- diversity and copying --------------------------------------------------------------------------------------------
def pairwise_log_mel_distances(images_a: torch.Tensor, images_b: torch.Tensor, top_db: float) -> torch.Tensor:
    """RMS difference in dB between the log-mel spectrograms of every pair: `sqrt(mean((dB_i - dB_j)^2))`.

    images_a `(Na, 1, n_mels, frames)`, images_b `(Nb, 1, n_mels, frames)` in [-1, 1] (the longer clips are cut to
    the common width). Returns `(Na, Nb)` in dB; 0 for identical clips.
    """
    db_a, db_b = images_to_db(images_a, top_db).double(), images_to_db(images_b, top_db).double()
    if db_a.shape[-2] != db_b.shape[-2]:
        raise EvaluationError(f"clips have {db_a.shape[-2]} and {db_b.shape[-2]} mel bands; they must match")
    width = min(db_a.shape[-1], db_b.shape[-1])
    flat_a, flat_b = db_a[..., :width].flatten(1), db_b[..., :width].flatten(1)
    squared = (
        flat_a.square().sum(1, keepdim=True) + flat_b.square().sum(1).unsqueeze(0) - 2 * flat_a @ flat_b.T
    ).clamp(min=0)
    return (squared / flat_a.shape[1]).sqrt()


def _same_clip(clip_index: Sequence[int] | None, count: int) -> torch.Tensor:
    """`(count, count)` True where two windows come from the same clip (`clip_index[i]`: window i's clip; None:
    every window is its own clip, only the diagonal)."""
    if clip_index is None:
        return torch.eye(count, dtype=torch.bool)
    if len(clip_index) != count:
        raise EvaluationError(f"got {len(clip_index)} clip indices for {count} windows")
    index = torch.as_tensor(list(clip_index))
    return index[:, None] == index[None, :]


def diversity(images: torch.Tensor, top_db: float, clip_index: Sequence[int] | None = None) -> dict[str, float]:
    """Mean and smallest pairwise log-mel distance (dB, `pairwise_log_mel_distances`) within one set of clips.

    images: `(N, 1, n_mels, frames)`, N >= 2. clip_index: for windows cut from longer clips, the clip of each window;
    pairs of windows of one clip are then left out (neighbouring windows of a clip overlap, and would read as
    duplicates). `mean_pairwise_db` ~ 0 means every clip is the same clip; `closest_pair_db` ~ 0 means at least two
    clips are (near) duplicates.
    """
    if len(images) < 2:
        raise EvaluationError(f"diversity needs at least 2 clips, got {len(images)}")
    distances = pairwise_log_mel_distances(images, images, top_db)
    upper = torch.triu(~_same_clip(clip_index, len(images)), diagonal=1)
    if not upper.any():
        raise EvaluationError("diversity needs windows of at least 2 clips, got windows of one clip")
    pairs = distances[upper]
    return {"mean_pairwise_db": float(pairs.mean()), "closest_pair_db": float(pairs.min())}


def nearest_neighbour_distances(
    queries: torch.Tensor,
    references: torch.Tensor,
    top_db: float,
    exclude_self: bool = False,
    clip_index: Sequence[int] | None = None,
) -> torch.Tensor:
    """For each query clip the log-mel distance (dB) to its nearest reference clip: `(Nq,)`.

    With `exclude_self` (queries are the references) the diagonal is skipped: leave-one-out nearest neighbours; with
    `clip_index` too (windows cut from longer clips), every window of the query's own clip is skipped.
    """
    distances = pairwise_log_mel_distances(queries, references, top_db)
    if exclude_self:
        distances = distances.masked_fill(_same_clip(clip_index, len(distances)), float("inf"))
    return distances.min(dim=1).values


# --- precision, recall, density, coverage -----------------------------------------------------------------------------
# The papers' k: with 32 clips a side, k = 3 gave real excerpts of other tracks a recall of 0 to 0.3 against 0.3
# to 0.9 for the baseline (the balls only joined clips of one track); k = 5 holds real music near the baseline.
PRDC_NEIGHBOURS = 5


def _kth_neighbour_radii(vectors: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each of `(count, dim)` vectors to its k-th nearest other vector: the radius of its ball."""
    distances = torch.cdist(vectors, vectors)
    distances.fill_diagonal_(float("inf"))
    return distances.kthvalue(min(k, len(vectors) - 1), dim=1).values


def precision_recall_density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = PRDC_NEIGHBOURS
) -> dict[str, float]:
    """Fidelity and diversity of `fake` `(m, dim)` against `real` `(n, dim)`, one vector per clip.

    Each set's manifold is the union of balls around its vectors reaching their k-th nearest neighbour.
    precision: share of fake vectors inside the real manifold (are the clips like real ones?); recall: share of real
    vectors inside the fake manifold (is every kind of real clip made?) (Kynkaanniemi et al. 2019). density: how many
    real balls hold each fake vector, over k, averaged (about 1 for real vs real; not capped, so it rewards clips in
    dense real regions without the outlier sensitivity of precision); coverage: share of real vectors whose ball holds
    at least one fake vector (Naeem et al. 2020). Copies of one clip: high precision, low recall and coverage.
    Distances are Euclidean: scale the dimensions alike first (`report.standardized`). n and m >= 2.
    """
    real, fake = real.double().reshape(len(real), -1), fake.double().reshape(len(fake), -1)
    if len(real) < 2 or len(fake) < 2:
        raise EvaluationError(f"precision and recall need at least 2 clips per set, got {len(real)} and {len(fake)}")
    real_radii, fake_radii = _kth_neighbour_radii(real, k), _kth_neighbour_radii(fake, k)
    between = torch.cdist(fake, real)  # (m, n)
    inside_real = between <= real_radii.unsqueeze(0)  # fake j inside real ball i
    return {
        "precision": float(inside_real.any(dim=1).double().mean()),
        "recall": float((between <= fake_radii.unsqueeze(1)).any(dim=0).double().mean()),
        "density": float(inside_real.double().sum() / (min(k, len(real) - 1) * len(fake))),
        "coverage": float((between.min(dim=0).values <= real_radii).double().mean()),
    }


def genre_share(probabilities: torch.Tensor, target_index: int) -> float:
    """Fraction of clips whose most likely genre (argmax of `(N, num_genres)` probabilities) is `target_index`."""
    return float((torch.as_tensor(probabilities).argmax(dim=-1) == target_index).float().mean())


# --- codec quality: a waveform against its reconstruction -------------------------------------------------------------
def _aligned_magnitudes(reference, estimate, n_fft, hop_length):
    reference = torch.as_tensor(reference, dtype=torch.float32)
    estimate = torch.as_tensor(estimate, dtype=torch.float32).to(reference.device)
    length = min(reference.shape[-1], estimate.shape[-1])
    target = magnitude_stft(reference[..., :length], n_fft, hop_length)
    approx = magnitude_stft(estimate[..., :length], n_fft, hop_length)
    return target, approx * least_squares_gain(target, approx)[..., None, None]


def spectral_convergence(
    reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, hop_length: int = 512
) -> torch.Tensor:
    """Spectral convergence ||S - g S_hat||_F / ||S||_F of magnitude STFTs (0 = identical; lower is better).

    reference, estimate: `(..., time)` (the longer is cut to the shorter). Returns `(...)`.
    """
    target, approx = _aligned_magnitudes(reference, estimate, n_fft, hop_length)
    error = torch.linalg.vector_norm(target - approx, dim=(-2, -1))
    return error / torch.linalg.vector_norm(target, dim=(-2, -1)).clamp(min=1e-20)


def log_spectral_distance(
    reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, hop_length: int = 512, floor_db: float = 80.0
) -> torch.Tensor:
    """Log-spectral distance in dB: RMS over frequency of the dB difference of power spectra, mean over frames.

    Power below `floor_db` under each clip's peak is floored so that silence does not dominate.
    reference, estimate: `(..., time)`. Returns `(...)`.
    """
    target, approx = _aligned_magnitudes(reference, estimate, n_fft, hop_length)

    def to_db(magnitude):
        db = 20.0 * torch.log10(magnitude.clamp(min=1e-10))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        return torch.maximum(db, peak - floor_db)

    difference = to_db(target) - to_db(approx)
    return difference.square().mean(dim=-2).sqrt().mean(dim=-1)
