"""LoRA adapters: trained weights are only the adapter's (and the class embedding), the merged weights load into a
plain model and give the adapted model's output, the adapter alone re-applies to its base (merged or not), and the
errors users meet are one line."""

import pytest
import torch

pytest.importorskip("peft", reason="LoRA needs the lora extra (peft); make install puts it in .venv")

from audiodiff import lora  # noqa: E402
from audiodiff.models import add_genre, build_model, load_model_preset  # noqa: E402


def backbone(preset: str = "tiny", genres: int = 2, seed: int = 0):
    torch.manual_seed(seed)  # the builder draws its initial weights from torch's global generator
    return build_model(load_model_preset(preset), (32, 32), num_genres=genres).eval()


def output(model, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, 1, 32, 32, generator=generator)
    with torch.no_grad():
        return model(sample, torch.tensor([10, 500]), class_labels=torch.tensor([0, 2])).sample


def trained(model, steps: int = 3):
    """Adapt `model` (rank 4) and take `steps` real optimizer steps on a denoising loss of random images."""
    parameters = lora.add_adapter(model, rank=4)
    optimizer = torch.optim.AdamW(parameters, lr=1e-2)
    generator = torch.Generator().manual_seed(2)
    model.train()
    for _ in range(steps):
        clean = torch.randn(4, 1, 32, 32, generator=generator)
        noise = torch.randn(4, 1, 32, 32, generator=generator)
        prediction = model(clean + noise, torch.full((4,), 300), class_labels=torch.tensor([0, 1, 2, 2])).sample
        loss = torch.nn.functional.mse_loss(prediction, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_only_the_adapter_and_the_class_embedding_train():
    base = backbone()
    before = {name: value.clone() for name, value in base.state_dict().items()}
    model = trained(backbone())
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all(".lora_" in name or name.startswith("class_embedding") for name in trainable)
    state = model.state_dict()
    for name, value in before.items():  # the base's own weights did not move
        key = (
            name
            if name in state
            else name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        )
        if not name.startswith("class_embedding"):
            assert torch.equal(state[key], value), name
    assert not torch.equal(state["class_embedding.weight"], before["class_embedding.weight"])
    adapter = sum(parameter.numel() for name, parameter in model.named_parameters() if ".lora_" in name)
    assert 0 < adapter < 0.5 * sum(value.numel() for value in before.values())  # rank 4 of a 66 k-weight model


def test_merged_weights_load_into_a_plain_model_and_match(tmp_path):
    model = trained(backbone())
    adapted = output(model)
    assert not torch.allclose(adapted, output(backbone()), atol=1e-4)  # training changed the output
    plain = backbone(seed=5)
    plain.load_state_dict(lora.merged_state_dict(model))
    torch.testing.assert_close(output(plain), adapted, rtol=1e-4, atol=1e-5)
    assert lora.is_adapted(model)  # merging for the export leaves the trained model unmerged
    torch.testing.assert_close(output(model), adapted, rtol=0, atol=0)


@pytest.mark.parametrize("merge", [False, True])
def test_the_adapter_alone_reapplies_to_its_base(tmp_path, merge):
    model = trained(backbone())
    folder = lora.save_adapter(model, tmp_path / "song-model", base="tiny-base", genres=["a", "b"])
    assert sorted(path.name for path in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "audiodiff_lora.json"
    ]  # fmt: skip
    again = lora.load_adapter(backbone(), tmp_path / "song-model", merge=merge)
    assert lora.is_adapted(again) is not merge
    torch.testing.assert_close(output(again), output(model), rtol=1e-4, atol=1e-5)


def test_an_adapter_that_added_a_genre_brings_its_row():
    model = backbone()
    genres = add_genre(model, ["a", "b"], "mine")
    model = trained(model)
    adapted = output(model)
    folder = lora.save_adapter(model, lora_folder := __import__("tempfile").mkdtemp(), genres=genres)
    assert lora.read_record(folder)["genres"] == ["a", "b", "mine"]
    again = lora.load_adapter(backbone(), lora_folder, merge=True)
    assert again.class_embedding.num_embeddings == 4 and again.config.num_class_embeds == 4
    torch.testing.assert_close(output(again), adapted, rtol=1e-4, atol=1e-5)


def test_one_line_errors(tmp_path):
    with pytest.raises(lora.LoraError, match="--lora-rank must be a whole number of at least 1"):
        lora.add_adapter(backbone(), rank=0)
    with pytest.raises(lora.LoraError, match="--lora-alpha must be a positive number"):
        lora.add_adapter(backbone(), rank=2, alpha=-1.0)
    model = trained(backbone())
    with pytest.raises(lora.LoraError, match="already carries"):
        lora.add_adapter(model, rank=2)
    with pytest.raises(lora.LoraError, match="no LoRA adapter to save"):
        lora.save_adapter(backbone(), tmp_path / "none")
    with pytest.raises(lora.LoraError, match="not a LoRA adapter folder"):
        lora.load_adapter(backbone(), tmp_path)
    lora.save_adapter(model, tmp_path / "adapter", base="tiny-base")
    other = build_model(load_model_preset("tiny"), (32, 64), num_genres=2)  # another base: a wider canvas
    with pytest.raises(lora.LoraError, match="trained on another base \\(tiny-base\\)"):
        lora.load_adapter(other, tmp_path / "adapter")


class _Stop(Exception):
    pass


def test_a_lora_finetune_writes_merged_weights_and_its_adapter_and_resumes_exactly(data, tmp_path):
    from safetensors.torch import load_file

    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.training import TrainConfig, Trainer, TrainingError, train

    common = dict(model="tiny", batch_size=4, epochs=None, sample_every=0, num_samples=0, lr_warmup_steps=0)
    base = tmp_path / "base"
    train(TrainConfig(**common, learning_rate=2e-3, max_steps=3, conditional=True, checkpoint_every=0), data, base,
          progress=False)  # fmt: skip
    config = TrainConfig(**common, learning_rate=5e-3, max_steps=6, checkpoint_every=3, ema_max_decay=0.9, lora_rank=4)
    straight = tmp_path / "straight"
    Trainer.start(config, data, straight, pretrained=str(base), genre="pads", progress=False).run()

    weights = load_file(straight / "unet" / "diffusion_pytorch_model.safetensors")
    assert not any("lora" in name or "base_layer" in name for name in weights)  # a plain model: every loader reads it
    before = load_file(base / "unet" / "diffusion_pytorch_model.safetensors")
    assert weights.keys() == before.keys()
    adapted = [name for name in weights if name.endswith(("conv1.weight", "to_q.weight"))]
    assert adapted and all(not torch.equal(weights[name], before[name]) for name in adapted)  # merged updates
    assert torch.equal(weights["conv_in.weight"], before["conv_in.weight"])  # not a LoRA target: frozen
    assert lora.read_record(straight)["base"] == str(base) and lora.read_record(straight)["rank"] == 4
    from audiodiff.cards import model_card

    card = model_card(straight)
    assert "| LoRA | rank 4, alpha 4: the base frozen" in card and "0 warm-up steps" in card

    tuned = AudioDiffusionPipeline.from_pretrained(straight).unet.eval()
    unmerged = lora.load_adapter(AudioDiffusionPipeline.from_pretrained(base).unet.eval(), straight, merge=False)
    torch.testing.assert_close(output(unmerged), output(tuned), rtol=1e-4, atol=1e-5)

    class Stopping(Trainer):
        def save_checkpoint(self):
            super().save_checkpoint()
            raise _Stop

    resumed = tmp_path / "resumed"
    with pytest.raises(_Stop):
        Stopping.start(config, data, resumed, pretrained=str(base), genre="pads", progress=False).run()
    Trainer.resume(resumed, progress=False).run()
    again = load_file(resumed / "unet" / "diffusion_pytorch_model.safetensors")
    differ = [name for name in weights if not torch.allclose(again[name], weights[name], rtol=0, atol=1e-6)]
    assert not differ, differ

    with pytest.raises(TrainingError, match="--lora-rank adapts a pretrained model"):
        Trainer.start(config, data, tmp_path / "scratch", progress=False)
