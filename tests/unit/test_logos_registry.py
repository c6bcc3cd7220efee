"""The logo stage registry: one table from a name to its builder, read by the config and the pipeline."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from detector.config import LOGO_STAGES, Config, LogosConfig, logo_backend_error
from detector.errors import ConfigError
from detector.logos import STAGES, AnyLogos, build_logo_stage, list_stages
from detector.stages import NoLogos
from detector.types import Box, LogoMatch


class _Fixed:
    """A logo stage that reports one brand wherever it looks."""

    def __init__(self, name: str, brand: str, score: float) -> None:
        self.name, self.brand, self.score = name, brand, score

    def load(self) -> None:
        pass

    def find(self, image: Image.Image) -> list[LogoMatch]:
        return [LogoMatch(self.brand, self.score, Box(0, 0, 1, 1), "m.png")]


def test_the_config_names_are_the_registry() -> None:
    assert LOGO_STAGES == tuple(STAGES) == ("keypoints", "shape", "cnn", "fused")
    assert list(list_stages()) == list(STAGES)
    assert all(list_stages().values())  # every stage has a one-line description


def test_a_registered_stage_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def fixed(cfg: LogosConfig, catalog: Any) -> _Fixed:
        built.append(catalog)
        return _Fixed("logos.fixed.v1", "Nike", 0.8)

    monkeypatch.setitem(STAGES, "fixed", fixed)
    monkeypatch.setitem(STAGES, "other", lambda cfg, catalog: _Fixed("logos.other.v1", "Nike", 0.9))
    assert logo_backend_error("fixed+other") is None
    cfg = Config(logos=LogosConfig(backend="fixed+other")).logos
    stage = build_logo_stage(cfg, "the catalog")  # type: ignore[arg-type]
    assert isinstance(stage, AnyLogos) and stage.name == "logos.fixed.v1+logos.other.v1"
    assert built == ["the catalog"]  # the builder got the catalog at construction
    assert [(m.brand, m.score) for m in stage.find(Image.new("RGB", (4, 4)))] == [("Nike", 0.9)]
    single = build_logo_stage(LogosConfig(backend="fixed"), None)  # type: ignore[arg-type]
    assert single.name == "logos.fixed.v1"


@pytest.mark.parametrize(
    ("backend", "error"),
    [("none", None), ("ocr", "one or more of keypoints, shape, cnn"), ("shape+shape", r"got 'shape\+shape'")],
)
def test_build_logo_stage(backend: str, error: str | None) -> None:
    if error is None:
        assert isinstance(build_logo_stage(LogosConfig(backend=backend), None), NoLogos)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=error):
        build_logo_stage(LogosConfig(backend=backend), None)  # type: ignore[arg-type]
