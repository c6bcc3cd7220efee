"""The fused logo stage: each stage's evidence for a brand → one probability, one threshold, the best box."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from detector.errors import ConfigError, CorruptModel
from detector.logos.candidate import LogoCandidate
from detector.logos.fusion import FEATURES, MODEL_FILE, FusedLogos, FusionModel, features
from detector.logos.text_evidence import BrandNames
from detector.types import Box, TextSpan


class FakeStage:
    def __init__(self, name: str, cands: list[LogoCandidate]) -> None:
        self.name, self._cands, self.loaded = name, cands, False

    def load(self) -> None:
        self.loaded = True

    def candidates(self, image: Image.Image) -> list[LogoCandidate]:
        return list(self._cands)


# Weights that favour CNN similarity and keypoint inliers, like the fitted model does.
# Text naming the brand near the box counts for it.
MODEL = FusionModel("fake-embedder", bias=-8.0, weights=(6.0, 4.0, 2.0, 2.0, 1.0, 1.0, 4.0), threshold=0.5)


def test_features_put_zero_where_a_stage_proposed_nothing() -> None:
    assert features({}) == [0.0] * len(FEATURES)
    f = features({"cnn": {"score": 0.8, "margin": 0.1, "background": 0.3}, "keypoints": {"inliers": 9}})
    assert f[:3] == pytest.approx([0.8, 0.1, 0.5]) and f[3] == pytest.approx(2.302585, rel=1e-5) and f[4:] == [0, 0, 0]
    assert features({"shape": {"score": -0.2, "margin": 0.05}})[4:] == [0.0, 0.05, 0.0]
    assert features({"text": {"same": 0.5}})[-1:] == [0.5]


def test_fusion_reports_the_brand_every_stage_agrees_on_with_the_keypoint_box() -> None:
    kp = LogoCandidate("Nike", "marks/nike.png", Box(10, 10, 50, 40), 0.7, "kp", inliers=12, matches=20)
    cnn_nike = LogoCandidate("Nike", "marks/nike.png", Box(0, 0, 100, 100), 0.85, "cnn", margin=0.2, background=0.3)
    cnn_puma = LogoCandidate("Puma", "marks/puma.png", Box(0, 0, 60, 60), 0.55, "cnn", margin=-0.2, background=0.5)
    stage = FusedLogos({"keypoints": FakeStage("kp", [kp]), "cnn": FakeStage("cnn", [cnn_nike, cnn_puma])}, MODEL)
    image = Image.new("RGB", (120, 80))
    cands = stage.candidates(image)
    assert [c.brand for c in cands] == ["Nike", "Puma"]
    assert cands[0].score > 0.9 and cands[1].score < 0.1
    found = stage.find(image)
    assert [m.brand for m in found] == ["Nike"] and found[0].box == Box(10, 10, 50, 40) and found[0].score > 0.9
    stage.load()
    assert all(s.loaded for s in stage.stages.values())


def test_cnn_box_is_cut_to_the_photo_when_no_keypoints() -> None:
    cnn = LogoCandidate("Nike", "marks/nike.png", Box(-40, -10, 200, 90), 0.95, "cnn", margin=0.4, background=0.1)
    stage = FusedLogos({"cnn": FakeStage("cnn", [cnn])}, MODEL, threshold=0.3)
    (m,) = stage.find(Image.new("RGB", (120, 80)))
    assert m.box == Box(0, 0, 120, 80)


def test_unknown_stage_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fusion knows the stages"):
        FusedLogos({"ocr": FakeStage("x", [])}, MODEL)


def test_shipped_model_loads_and_names_its_features() -> None:
    if not MODEL_FILE.exists():
        pytest.skip("no fitted fusion model shipped (benchmarks/logo_fusion.py fit --write writes it)")
    model = FusionModel.load()
    assert len(model.weights) == len(FEATURES) and 0 < model.threshold < 1


def test_a_damaged_model_file_says_how_to_refit(tmp_path: Path) -> None:
    bad = tmp_path / "fusion.json"
    bad.write_text(json.dumps({"embedder": "x", "features": ["cnn_score"], "bias": 0, "weights": [1], "threshold": 0.5}))
    with pytest.raises(CorruptModel, match="logo_fusion.py fit --write"):
        FusionModel.load(bad)
    bad.write_text("{not json")
    with pytest.raises(CorruptModel):
        FusionModel.load(bad)


def test_a_stage_sure_on_its_own_is_reported_and_scores_map_the_threshold_to_one_half() -> None:
    shape = LogoCandidate("Nike", "marks/nike.png", Box(5, 5, 40, 30), 0.97, "shape", margin=0.3)
    weak = LogoCandidate("Puma", "marks/puma.png", Box(0, 0, 60, 60), 0.6, "cnn", margin=0.05, background=0.5)
    stages = {"shape": FakeStage("shape", [shape]), "cnn": FakeStage("cnn", [weak])}
    image = Image.new("RGB", (120, 80))
    assert FusedLogos(stages, MODEL).find(image) == []  # the fusion alone is not sure of either
    found = FusedLogos(stages, MODEL, own_points={"shape": 0.87}).find(image)
    assert [(m.brand, m.score) for m in found] == [("Nike", 0.5)]
    sure = LogoCandidate("Nike", "m", Box(1, 1, 9, 9), 0.99, "cnn", margin=0.9, background=0.0)
    p = MODEL.probability(features({"cnn": {"score": 0.99, "margin": 0.9, "background": 0.0}}))
    (m,) = FusedLogos({"cnn": FakeStage("cnn", [sure])}, MODEL).find(image)
    assert m.score == pytest.approx(0.5 + 0.5 * (p - 0.5) / 0.5, abs=1e-4)


def test_text_naming_the_brand_near_the_box_tips_a_weak_candidate_and_another_brand_never_hides_one() -> None:
    weak = LogoCandidate("Starbucks", "marks/sb.png", Box(20, 20, 80, 80), 0.8, "cnn", margin=0.05, background=0.6)
    names = BrandNames({"Starbucks": ["Starbucks"], "Nike": ["Nike"], "Costa Coffee": ["Costa Coffee", "Costa"]})
    stage = FusedLogos({"cnn": FakeStage("cnn", [weak])}, MODEL, names=names)
    image = Image.new("RGB", (300, 200))
    assert stage.reads_text and stage.find(image) == []  # the logo alone is not enough
    partial = TextSpan("STARBUC", 0.3, Box(25, 82, 75, 95))  # under the mark, half read
    assert [m.brand for m in stage.find(image, texts=[partial])] == ["Starbucks"]
    far = TextSpan("STARBUCKS", 0.9, Box(250, 180, 299, 199))  # on the other side of the photo
    assert stage.find(image, texts=[far]) == []
    sure = LogoCandidate("Starbucks", "marks/sb.png", Box(20, 20, 80, 80), 0.95, "cnn", margin=0.3, background=0.2)
    strong = FusedLogos({"cnn": FakeStage("cnn", [sure])}, MODEL, names=names)
    assert [m.brand for m in strong.find(image)] == ["Starbucks"]
    other = TextSpan("COSTA COFFEE", 0.9, Box(20, 82, 80, 95))  # a mismatch is the rules' to report
    assert [m.brand for m in strong.find(image, texts=[other])] == ["Starbucks"]
    # Without the catalog's names the text features stay 0: the same as no text.
    assert FusedLogos({"cnn": FakeStage("cnn", [weak])}, MODEL).find(image, texts=[partial]) == []


def test_find_is_propose_then_find_proposed() -> None:
    kp = LogoCandidate("Nike", "marks/nike.png", Box(10, 10, 50, 40), 0.7, "kp", inliers=12, matches=20)
    stage = FusedLogos({"keypoints": FakeStage("kp", [kp])}, MODEL, names=BrandNames({"Nike": ["Nike"]}))
    image = Image.new("RGB", (120, 80))
    texts = [TextSpan("NIKE", 0.9, Box(10, 42, 50, 50))]
    assert stage.find_proposed(stage.propose(image), image.size, texts) == stage.find(image, texts=texts) != []
