"""Config: defaults, YAML round trip, and every way a config file can be wrong."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from detector.config import Config, Limits, OcrConfig, Thresholds
from detector.errors import ConfigError, DetectorError


def test_defaults_are_valid_and_documented_values():
    cfg = Config()
    assert cfg.limits == Limits() and cfg.ocr == OcrConfig() and cfg.thresholds == Thresholds()
    assert cfg.limits.max_pixels == 40_000_000
    assert cfg.ocr.backend == "easyocr-onnx"
    assert 0.0 <= cfg.thresholds.review <= cfg.thresholds.block <= 1.0
    # The defaults survive their own validation when rebuilt from plain data.
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert Config.from_dict({}) == cfg


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().limits = Limits()  # type: ignore[misc]


def test_from_file_yaml_round_trip(tmp_path):
    cfg = Config(
        limits=Limits(max_file_bytes=1_000_000, max_pixels=2_000_000, max_side=2048),
        ocr=OcrConfig(backend="none", max_side=640, min_confidence=0.3, threads=2),
        thresholds=Thresholds(review=0.25, block=0.75),
    )
    path = tmp_path / "detector.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()), encoding="utf-8")
    assert Config.from_file(path) == cfg
    assert Config.from_file(str(path)) == cfg


def test_from_file_partial_sections_keep_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ocr:\n  backend: none\nlimits:\n  max_side: 1000\n", encoding="utf-8")
    cfg = Config.from_file(path)
    assert cfg.ocr.backend == "none" and cfg.ocr.max_side == OcrConfig().max_side
    assert cfg.limits.max_side == 1000 and cfg.limits.max_pixels == Limits().max_pixels
    assert cfg.thresholds == Thresholds()


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to change\n", encoding="utf-8")
    assert Config.from_file(path) == Config()


def test_json_is_accepted(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"thresholds": {"review": 0.5, "block": 0.9}}', encoding="utf-8")
    assert Config.from_file(path).thresholds == Thresholds(review=0.5, block=0.9)


def test_int_widens_to_float():
    cfg = Config.from_dict({"thresholds": {"review": 0, "block": 1}, "ocr": {"min_confidence": 1}})
    assert cfg.thresholds.review == 0.0 and isinstance(cfg.thresholds.review, float)
    assert cfg.thresholds.block == 1.0 and isinstance(cfg.thresholds.block, float)
    assert isinstance(cfg.ocr.min_confidence, float)


BAD_DICTS = [
    ({"limit": {"max_side": 10}}, "unknown config section"),
    ({"ocr": {"maxside": 512}}, "unknown key(s) ['maxside']"),
    ({"limits": {"max_pixels": "40M"}}, "'limits.max_pixels' must be int"),
    ({"limits": {"max_side": 1024.5}}, "'limits.max_side' must be int"),  # float never narrows to int
    ({"limits": {"max_side": True}}, "'limits.max_side' must be int"),  # YAML `yes`/`true` is not a number
    ({"thresholds": {"review": "0.4"}}, "'thresholds.review' must be float"),
    ({"thresholds": {"review": False}}, "'thresholds.review' must be float"),
    ({"ocr": {"backend": 3}}, "'ocr.backend' must be str"),
    ({"ocr": {"threads": None}}, "'ocr.threads' must be int"),
    ({"ocr": "easyocr"}, "section 'ocr' must be a mapping"),
    ({"ocr": None}, "section 'ocr' must be a mapping"),
    (["ocr"], "must be a mapping of sections"),
    ({"thresholds": {"review": 0.9, "block": 0.5}}, "review <= block"),
    ({"thresholds": {"review": -0.1}}, "0 <= review"),
    ({"thresholds": {"block": 1.5}}, "block <= 1"),
    ({"limits": {"max_pixels": 0}}, "limits.max_pixels must be positive"),
    ({"limits": {"max_file_bytes": -1}}, "limits.max_file_bytes must be positive"),
    ({"ocr": {"max_side": 32}}, "ocr.max_side must be at least 64"),
    ({"ocr": {"detect_side": 32}}, "ocr.detect_side must be 0"),
    ({"ocr": {"min_confidence": 1.5}}, "ocr.min_confidence must be in [0, 1]"),
    ({"ocr": {"threads": -1}}, "ocr.threads must be 0"),
    ({"logos": {"backend": "bogus"}}, "logos.backend must be 'none' or one or more of keypoints, shape, cnn"),
    ({"logos": {"backend": "shape+shape"}}, "got 'shape+shape'"),
    ({"logos": {"backend": "none+shape"}}, "got 'none+shape'"),
    ({"logos": {"keypoints_min_inliers": 2}}, "logos.keypoints_min_inliers must be at least 3"),
    ({"logos": {"shape_threshold": 1.2}}, "logos.shape_threshold must be in [0, 1]"),
]


@pytest.mark.parametrize(
    "data, fragment",
    BAD_DICTS,
    ids=[
        "unknown-section",
        "unknown-key",
        "str-for-int",
        "float-for-int",
        "bool-for-int",
        "str-for-float",
        "bool-for-float",
        "int-for-str",
        "null-for-int",
        "section-not-mapping",
        "section-null",
        "top-level-list",
        "review>block",
        "review<0",
        "block>1",
        "max_pixels=0",
        "max_file_bytes<0",
        "ocr.max_side<64",
        "ocr.detect_side<64",
        "min_confidence>1",
        "threads<0",
        "logos-unknown",
        "logos-twice",
        "logos-none-joined",
        "min_inliers<3",
        "shape_threshold>1",
    ],
)
def test_bad_config_dicts(data, fragment):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert fragment in str(info.value)


def test_review_above_block_in_constructor_too():
    with pytest.raises(ConfigError, match="review <= block"):
        Config(thresholds=Thresholds(review=0.9, block=0.1))


def test_unknown_section_message_lists_the_expected_ones():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"ocr": {}, "tresholds": {}})
    message = str(info.value)
    assert "tresholds" in message and "thresholds" in message


def test_unknown_key_message_lists_the_expected_ones():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"limits": {"max_bytes": 5}})
    assert "max_file_bytes" in str(info.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("ocr: [\n", "not valid YAML"),
        ("ocr:\n  backend: none\n    max_side: 1\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("ocr:\n  backend: none\nzzz: 1\n", "unknown config section"),
        ("limits:\n  max_side: big\n", "'limits.max_side' must be int"),
        ("thresholds:\n  review: 0.9\n  block: 0.5\n", "review <= block"),
    ],
    ids=["unclosed-list", "bad-indent", "top-level-list", "unknown-section", "wrong-type", "review>block"],
)
def test_bad_config_files_name_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Config.from_file(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        Config.from_file(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        Config.from_file(tmp_path)


def test_binary_file_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    with pytest.raises(ConfigError, match="not UTF-8"):
        Config.from_file(path)


def test_config_error_is_a_detector_error():
    assert issubclass(ConfigError, DetectorError)


@pytest.mark.parametrize("backend", ["none", "keypoints", "shape", "cnn", "fused", "keypoints+shape", "shape+keypoints+cnn"])
def test_logo_backends_accepted(backend):
    assert Config.from_dict({"logos": {"backend": backend}}).logos.backend == backend


def test_default_logo_stage_is_the_calibrated_fusion():
    assert Config().logos.backend == "fused"


def test_logo_operating_points_match_the_stages_defaults():
    from detector.logos.keypoints import DEFAULT_MIN_INLIERS
    from detector.logos.shapes import DEFAULT_THRESHOLD

    assert (Config().logos.keypoints_min_inliers, Config().logos.shape_threshold) == (DEFAULT_MIN_INLIERS, DEFAULT_THRESHOLD)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("header_timeout_s", 0, "service.header_timeout_s must be a positive number of seconds"),
        ("body_timeout_s", -1.0, "service.body_timeout_s must be a positive number of seconds"),
        ("body_timeout_s", float("inf"), "service.body_timeout_s must be a positive number of seconds"),
        ("max_connections", 0, "service.max_connections must be positive"),
        ("max_body_buffer_bytes", 0, "service.max_body_buffer_bytes must be positive"),
    ],
)
def test_service_deadlines_and_caps_are_checked(key, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        Config.from_dict({"service": {key: value}})


def test_service_deadlines_load_from_yaml():
    cfg = Config.from_dict({"service": {"header_timeout_s": 5, "body_timeout_s": 12.5, "max_connections": 64}})
    assert (cfg.service.header_timeout_s, cfg.service.body_timeout_s, cfg.service.max_connections) == (5.0, 12.5, 64)
