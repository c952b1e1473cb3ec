"""The recipes of the table, the sampler and seeds every run shares, and `Settings`: everything that decides the
data and a run's result, hashed to decide whether a finished run is reused."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

SAMPLER, SAMPLER_STEPS = "dpm", 20
GENERATION_SEED = 10_000  # every run samples from the same noise: clip k of genre g from seed 10000 + 1000 g + k
INSTRUMENT = "instrument"  # the pseudo-run that scores the known-good and known-bad sets
# Held-out tracks per genre: the reference (split by `evaluate` into compared and baseline halves) and the probe (real
# music scored like a generator). More tracks per side make both less dependent on which tracks were drawn.
REFERENCE_TRACKS, PROBE_TRACKS = 8, 4

# name -> (what it is, TrainConfig overrides)
RECIPES: dict[str, tuple[str, dict]] = {
    "default": ("epsilon, linear, uniform", {"prediction_type": "epsilon", "beta_schedule": "linear"}),
    "v": ("v-prediction", {"prediction_type": "v_prediction", "beta_schedule": "linear"}),
    "v-zero-snr": (
        "v-prediction + zero terminal SNR",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "rescale_betas_zero_snr": True},
    ),
    "min-snr5-eps": (
        "Min-SNR-5, epsilon",
        {"prediction_type": "epsilon", "beta_schedule": "linear", "snr_gamma": 5.0},
    ),
    "min-snr5-v": (
        "Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0},
    ),
    "cosine": ("cosine schedule, epsilon", {"prediction_type": "epsilon", "beta_schedule": "squaredcos_cap_v2"}),
    "v-cosine-min-snr5": (
        "v + cosine + Min-SNR-5 (combination fixed in advance)",
        {"prediction_type": "v_prediction", "beta_schedule": "squaredcos_cap_v2", "snr_gamma": 5.0},
    ),
    "dit-min-snr5-v": (
        "DiT at matched parameters (dit-64), Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0, "model": "dit-64"},
    ),
    "dit-lr1e-4-min-snr5-v": (
        "DiT (dit-64) at DiT's learning rate 1e-4 (demo-base: 5e-4), Min-SNR-5, v-prediction",
        {
            "prediction_type": "v_prediction",
            "beta_schedule": "linear",
            "snr_gamma": 5.0,
            "model": "dit-64",
            "learning_rate": 1e-4,
        },
    ),
    "dit-conv-min-snr5-v": (
        "DiT + U-ViT output convolution (dit-64-conv), Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0, "model": "dit-64-conv"},
    ),
}
NOT_RUN: dict[str, str] = {}
# The smoke test's stand-ins for a recipe's own model preset.
SMOKE_MODELS = {"dit-64": "dit-tiny", "dit-64-conv": "dit-tiny"}
METRICS = ("fd_fine", "fd_log_mel", "fd_classifier", "flagged", "genre_share")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides the data and a run's result (hashed to decide whether a finished run is reused)."""

    model: str
    train_config: str
    mel: dict
    tracks_per_genre: int
    track_seconds: float
    held_out_tracks: int
    held_out_seconds: float
    classifier_steps: int
    steps: int
    batch_size: int
    clips_per_genre: int
    guidance: float

    def data_key(self) -> str:
        mel = self.mel
        return (
            f"data-{mel['x_res']}x{mel['y_res']}-{self.tracks_per_genre}x{self.track_seconds:g}s"
            f"-held{self.held_out_tracks}x{self.held_out_seconds:g}s"
        )

    def run_hash(self, recipe: str, seed: int) -> str:
        overrides = RECIPES.get(recipe, ("", {}))[1]
        text = json.dumps([dataclasses.asdict(self), recipe, overrides, seed], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_of(args) -> Settings:
    from audiodiff.config import MelConfig, configs_dir

    mel = MelConfig.load(configs_dir() / "mel" / "demo-64.yaml")
    if args.smoke:
        mel = dataclasses.replace(mel, x_res=32, y_res=32, n_iter=8)
    # A multiple of 4: the reference's compared and baseline sides hold 4 held-out tracks of each genre each.
    clips_per_genre = REFERENCE_TRACKS // 2 * math.ceil(args.clips / 3 / (REFERENCE_TRACKS // 2))
    return Settings(
        model="tiny" if args.smoke else "small-64",
        train_config="demo-base",
        mel=mel.to_dict(),
        tracks_per_genre=2 if args.smoke else args.tracks_per_genre,
        track_seconds=20.0 if args.smoke else 40.0,
        held_out_tracks=REFERENCE_TRACKS + PROBE_TRACKS,
        held_out_seconds=8.0 if args.smoke else 20.0,
        classifier_steps=60 if args.smoke else 300,
        steps=args.steps,
        batch_size=args.batch_size,
        clips_per_genre=clips_per_genre,
        guidance=args.guidance,
    )
