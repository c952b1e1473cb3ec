"""The small shared helpers: error lines, hub ids, saved datasets, atomic writes."""

from __future__ import annotations

import pytest

from audiodiff.utils import atomic_file, atomic_folder, first_line, is_hub_id, is_saved_dataset


def test_first_line_of_an_error():
    assert first_line(ValueError("\n  bad value\nmore detail")) == "bad value"
    assert first_line(KeyError()) == "KeyError"


@pytest.mark.parametrize(
    "name, with_owner, bare_allowed",
    [
        ("teticio/audio-diffusion-256", True, True),
        ("mnist", False, True),
        ("runs/x", True, True),  # the form of a hub id while there is no local folder runs/
        ("./runs/x", False, False),
        ("/data/set", False, False),
        ("~/music", False, False),
        ("a/b/c", False, False),
        ("song.wav", False, True),
    ],
)
def test_hub_ids_by_form(name, with_owner, bare_allowed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_id(name) is with_owner
    assert is_hub_id(name, owner_required=False) is bare_allowed


def test_a_missing_folder_under_a_local_folder_is_not_a_hub_id(tmp_path, monkeypatch):
    import huggingface_hub

    from audiodiff.pipeline import AudioDiffusionPipeline

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert not is_hub_id("runs/x") and is_hub_id("teticio/audio-diffusion-256")

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was asked for a local path")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(ValueError, match="^runs/x: no such pipeline folder"):
        AudioDiffusionPipeline.from_pretrained("runs/x")


def test_saved_datasets_are_recognised_by_their_state_files(tmp_path):
    assert not is_saved_dataset(tmp_path)
    (tmp_path / "state.json").write_text("{}")
    assert is_saved_dataset(tmp_path)


def test_atomic_file_replaces_in_one_step_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_file(target) as temporary:
        temporary.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


def test_atomic_folder_replaces_the_whole_folder(tmp_path):
    target = tmp_path / "checkpoint"
    (target / "stale").mkdir(parents=True)
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as folder:
            (folder / "weights").write_text("half")
            raise RuntimeError("killed")
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint"] and (target / "stale").is_dir()
    with atomic_folder(target) as folder:
        (folder / "weights").write_text("w")
    assert sorted(path.name for path in target.iterdir()) == ["weights"]


def test_auto_mixed_precision_is_bf16_only_where_the_device_runs_it_fast(monkeypatch):
    """ "auto" is bf16 on a CPU with AMX or AVX512-BF16 (Linux names them amx_tile, avx512_bf16) or a GPU with bf16,
    fp32 elsewhere; a named precision is kept."""
    from pathlib import Path

    import torch

    from audiodiff import runtime

    cpu = torch.device("cpu")
    assert [runtime.mixed_precision_for(name, cpu) for name in ("no", "bf16", "fp16")] == ["no", "bf16", "fp16"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        assert runtime.cpu_has_amx() == ("amx_tile" in flags)
        assert runtime.cpu_flags() >= flags - {"flags", ":"}
        assert runtime.cpu_has_fast_bf16() == bool(flags & {"amx_tile", "avx512_bf16"})
    for amx, flags, expected in ((True, set(), "bf16"), (False, {"avx512f", "avx512_bf16"}, "bf16"),
                                 (False, {"avx512f", "avx2"}, "no")):  # fmt: skip
        monkeypatch.setattr(runtime, "cpu_has_amx", lambda amx=amx: amx)
        monkeypatch.setattr(runtime, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert runtime.mixed_precision_for("auto", cpu) == expected
    assert runtime.mixed_precision_for("auto", torch.device("mps")) == "no"
    for supported, expected in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, supported=supported, **kwargs: supported)
        assert runtime.mixed_precision_for("auto", torch.device("cuda")) == expected
