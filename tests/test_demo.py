"""The demo's results page: the verdicts it prints from an evaluation report."""

from audiodiff.demo import quality_section


def _report(precision: float, recall: float) -> dict:
    real = {"precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.9}
    fidelity = {"precision": precision, "recall": recall, "density": 1.0, "coverage": 0.5, "real": real}
    return {"precision_recall": {"log-mel-fine": fidelity}}


def test_the_page_tells_washes_and_copies_from_music():
    assert "like real music, and as varied" in quality_section(_report(0.7, 0.75))
    assert "too alike" in quality_section(_report(0.95, 0.1))  # near copies or washes: precise, nothing covered
    assert "unlike real music" in quality_section(_report(0.1, 0.1))
    assert "precision 0.95 (real music 0.80)" in quality_section(_report(0.95, 0.1))
