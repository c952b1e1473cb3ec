"""The demo's results page: the verdicts it prints from an evaluation report."""

from audiodiff.demo import quality_section


def _report(precision: float, recall: float, embedding: str = "log-mel-fine") -> dict:
    real = {"precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.9}
    fidelity = {"precision": precision, "recall": recall, "density": 1.0, "coverage": 0.5, "real": real}
    return {"precision_recall": {embedding: fidelity}}


def test_the_page_tells_washes_and_copies_from_music():
    assert "like real music, and as varied" in quality_section(_report(0.7, 0.75))
    assert "too alike" in quality_section(_report(0.95, 0.1))  # near copies or washes: precise, nothing covered
    assert "unlike real music" in quality_section(_report(0.1, 0.1))
    assert "precision 0.95 (real music 0.80)" in quality_section(_report(0.95, 0.1))


def test_the_page_says_when_clips_are_smoother_than_real_music():
    """Clips can pass every fence of the artefact check and still hold far less detail than real music: the page
    says so from the structure ratios, and calls real-like ratios real-like."""

    def page(detail: float, onsets: float, real: float = 1.0) -> str:
        structure = {"spectral_detail": {"ratio": detail, "real_ratio": real},
                     "onset_strength": {"ratio": onsets, "real_ratio": real}}  # fmt: skip
        artifacts = {"flagged_share": 0.0, "real_flagged_share": 0.0, "by_reason": {}, "flagged_clips": 0, "clips": 8}
        return quality_section({**_report(0.7, 0.75), "artifacts": {**artifacts, "structure": structure}})

    assert "spectral detail 0.55x, onsets 0.90x" in page(0.55, 0.9)
    assert "smoother than real music" in page(0.55, 0.9) and "smoother than real music" in page(1.0, 0.6)
    assert "as much as real music" in page(0.95, 1.1)
    assert "as much as real music" in page(0.55, 0.6, real=0.6)  # other real tracks are that smooth too
    assert "real held-out clips: 0.60x, 0.60x" in page(0.55, 0.6, real=0.6)
    assert "structure" not in quality_section(_report(0.7, 0.75))  # a report without the section: no row


def test_the_page_says_when_clips_have_no_steady_beat():
    """The pulse of whole clips against real runs of their length: below 0.8 of real held-out tracks' own ratio the
    page says the clips are less regular; no pulse ratio, no row."""

    def page(pulse: float | None, real: float | None = 1.0) -> str:
        entry = {"ratio": pulse, "real_ratio": real} if pulse is not None else {"available": False}
        structure = {"pulse_clarity": entry}
        artifacts = {"flagged_share": 0.0, "real_flagged_share": 0.0, "by_reason": {}, "flagged_clips": 0, "clips": 8}
        return quality_section({**_report(0.7, 0.75), "artifacts": {**artifacts, "structure": structure}})

    assert "less regular than real music" in page(0.35) and "0.35x; real held-out tracks: 1.00x" in page(0.35)
    assert "as regular as real music" in page(0.95) and "as regular as real music" in page(0.6, real=0.7)
    assert "less regular" in page(0.5, real=None) and "real held-out tracks" not in page(0.5, real=None)
    assert "pulse" not in page(None)


def test_the_page_judges_by_the_cola_embedding_when_it_ran():
    """The learned embedding is the headline; the fine log-mel frames only when it did not run."""
    both = _report(0.7, 0.75, "cola")
    both["precision_recall"]["log-mel-fine"] = _report(0.95, 0.1)["precision_recall"]["log-mel-fine"]
    page = quality_section(both)
    assert "(cola embedding)" in page and "like real music, and as varied" in page
    assert "(log-mel-fine embedding)" in quality_section(_report(0.95, 0.1))


def test_the_page_shows_the_newest_set_of_clips(tmp_path):
    """`generate` adds a set beside an earlier run's: the demo run again shows the clips it just made."""
    import json

    from audiodiff.demo import newest_set

    for name in ("generated_000", "generated_001", "generated_002"):
        (tmp_path / f"{name}.wav").write_bytes(b"")
    assert [path.name for path in newest_set(tmp_path)] == ["generated_000.wav", "generated_001.wav",
                                                             "generated_002.wav"]  # fmt: skip
    for first, last in ((0, 1), (2, 2)):
        clips = [{"file": f"generated_{index:03d}.wav"} for index in range(first, last + 1)]
        name = f"generated_{first:03d}-{last:03d}" if last > first else f"generated_{first:03d}"
        (tmp_path / f"{name}.json").write_text(json.dumps({"clips": clips}))
    assert [path.name for path in newest_set(tmp_path)] == ["generated_002.wav"]
