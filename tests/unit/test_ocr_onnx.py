"""The ONNX backend without EasyOCR's weights: the export cache (with a tiny stand-in exporter), errors, config.

The real export of CRAFT and english_g2 is exercised by tests/integration/test_ocr_onnx_real.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from detector.config import Config, OcrConfig
from detector.errors import ConfigError, CorruptModel, MissingModel

onnx = pytest.importorskip("onnx", reason="onnx is a pinned dependency: pip install -e .")
pytest.importorskip("onnxruntime", reason="onnxruntime is a pinned dependency: pip install -e .")

from detector.ocr import onnx_models as om  # after the skips: it is what they guard


def _tiny_model(dest: Path, scale: float) -> None:
    """out = image @ W, W a 4×4 multiple of the identity: a valid graph with one quantisable MatMul."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array((np.eye(4, dtype=np.float32) * scale), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["image", "W"], ["out"])], "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 4])], initializer=[w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", om.OPSET)]), str(dest))


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Stand-in weights (their hashes are the ones the cache keys on) and an exporter that counts its calls."""
    weights = tmp_path / "weights"
    weights.mkdir()
    state = {"exports": [], "sources": {}}
    for net in om.NETS:
        (weights / f"{net}.pth").write_bytes(f"weights of {net}".encode())

    def sources(folder: Path) -> dict[str, dict[str, str]]:
        return {net: {"file": f"{net}.pth", "md5": "m" * 32, "sha256": om._sha256(folder / f"{net}.pth")}
                for net in om.NETS}

    def export_fp32(net: str, weights_file: Path, dest: Path) -> None:
        state["exports"].append(net)
        _tiny_model(dest, 2.0)

    monkeypatch.setattr(om, "_sources", sources)
    monkeypatch.setattr(om, "_export_fp32", export_fp32)
    state["weights"] = weights
    state["cache"] = tmp_path / "cache"
    return state


FP32 = {"craft": False, "english_g2": False}


def test_first_use_exports_both_nets_and_the_manifest_records_the_hashes(fake):
    paths = om.export_models(fake["weights"], FP32, fake["cache"])
    assert sorted(fake["exports"]) == sorted(om.NETS)
    manifest = json.loads((fake["cache"] / om.MANIFEST).read_text())
    for net in om.NETS:
        entry = manifest["files"][f"{net}.onnx"]
        assert entry["sha256"] == om._sha256(paths[net])
        assert entry["key"]["source"]["sha256"] == om._sha256(fake["weights"] / f"{net}.pth")
        assert entry["key"]["source"]["md5"] and entry["key"]["opset"] == om.OPSET
    assert set(manifest["versions"]) == {"torch", "onnx", "onnxruntime"}
    assert not [p for p in fake["cache"].iterdir() if p.name.endswith(".tmp")]


def test_second_use_reuses_the_files(fake):
    first = om.export_models(fake["weights"], FP32, fake["cache"])
    stamps = {net: p.stat().st_mtime_ns for net, p in first.items()}
    om._HASHES.clear()  # as a new process would: hash the files again rather than trust this one's memory
    again = om.export_models(fake["weights"], FP32, fake["cache"])
    assert again == first and len(fake["exports"]) == len(om.NETS)
    assert {net: p.stat().st_mtime_ns for net, p in again.items()} == stamps


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_file_is_exported_again(fake, damage):
    paths = om.export_models(fake["weights"], FP32, fake["cache"])
    target = paths["english_g2"]
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        target.unlink()
    fake["exports"].clear()
    om.export_models(fake["weights"], FP32, fake["cache"])
    assert fake["exports"] == ["english_g2"]  # only the damaged one
    manifest = json.loads((fake["cache"] / om.MANIFEST).read_text())
    assert manifest["files"]["english_g2.onnx"]["sha256"] == om._sha256(target) != ""
    onnx.checker.check_model(str(target))


def test_changed_source_weights_are_exported_again(fake):
    om.export_models(fake["weights"], FP32, fake["cache"])
    (fake["weights"] / "craft.pth").write_bytes(b"other weights of craft")
    fake["exports"].clear()
    om.export_models(fake["weights"], FP32, fake["cache"])
    assert fake["exports"] == ["craft"]
    manifest = json.loads((fake["cache"] / om.MANIFEST).read_text())
    assert manifest["files"]["craft.onnx"]["key"]["source"]["sha256"] == om._sha256(fake["weights"] / "craft.pth")


def test_an_unreadable_manifest_means_export_again(fake):
    om.export_models(fake["weights"], FP32, fake["cache"])
    (fake["cache"] / om.MANIFEST).write_text("{not json")
    fake["exports"].clear()
    om.export_models(fake["weights"], FP32, fake["cache"])
    assert sorted(fake["exports"]) == sorted(om.NETS)


def test_int8_files_are_quantised_from_the_fp32_ones_and_both_are_kept(fake):
    paths = om.export_models(fake["weights"], {"craft": False, "english_g2": True}, fake["cache"])
    assert paths["english_g2"].name == "english_g2.int8.onnx" and paths["craft"].name == "craft.onnx"
    manifest = json.loads((fake["cache"] / om.MANIFEST).read_text())
    assert {"craft.onnx", "english_g2.onnx", "english_g2.int8.onnx"} <= set(manifest["files"])
    assert manifest["files"]["english_g2.int8.onnx"]["key"]["int8"] is True
    ops = {n.op_type for n in onnx.load(str(paths["english_g2"])).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeLinear" in ops  # it was quantised
    fake["exports"].clear()
    om.export_models(fake["weights"], FP32, fake["cache"])  # switching back costs nothing
    assert fake["exports"] == []


def test_a_failed_export_leaves_no_file_behind(fake, monkeypatch):
    def broken(net: str, weights_file: Path, dest: Path) -> None:
        dest.write_bytes(b"half a model")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(om, "_export_fp32", broken)
    with pytest.raises(RuntimeError, match="crashed"):
        om.export_models(fake["weights"], FP32, fake["cache"])
    assert [p.name for p in fake["cache"].iterdir()] == []


def test_an_unwritable_cache_says_how_to_fix_it(fake, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(om.tempfile, "mkstemp", refuse)
    with pytest.raises(MissingModel, match="Permission denied.*XDG_CACHE_HOME.*prepare"):
        om.export_models(fake["weights"], FP32, fake["cache"])


def test_a_file_onnxruntime_refuses_is_rebuilt_once_then_reported(fake, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    good = tmp_path / "good.onnx"
    _tiny_model(good, 3.0)
    sess = om.session(bad, 1, rebuild=lambda: good)
    assert [i.name for i in sess.get_inputs()] == ["image"]
    worse = tmp_path / "worse.onnx"
    worse.write_bytes(b"garbage")

    def rebuild_badly() -> Path:
        (tmp_path / "rebuilt.onnx").write_bytes(b"still garbage")
        return tmp_path / "rebuilt.onnx"

    with pytest.raises(CorruptModel, match="cannot load .*rebuilt.onnx.*delete"):
        om.session(worse, 1, rebuild=rebuild_badly)
    assert not worse.exists()  # the refused file is not kept


def test_missing_onnxruntime_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingModel, match=r"pip install onnxruntime==[\d.]+ onnx==[\d.]+"):
        om.require_onnxruntime()


def test_missing_onnxruntime_fails_the_backend_load_with_the_same_advice(monkeypatch):
    from detector.ocr import create_ocr

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    ocr = create_ocr(OcrConfig(backend="easyocr-onnx", threads=1))
    with pytest.raises(MissingModel, match="onnxruntime"):
        ocr._build_reader("/nonexistent")


def test_backend_names_say_onnx_and_the_quantisation():
    from detector.ocr import BACKENDS, create_ocr

    assert "easyocr-onnx" in BACKENDS and "easyocr" in BACKENDS
    ocr = create_ocr(OcrConfig(backend="easyocr-onnx"))
    assert type(ocr).__name__ == "EasyOcrOnnx"
    assert ".onnx-" in ocr.name and om.QUANT_TAG in ocr.name
    assert create_ocr(OcrConfig(backend="easyocr")).name == "easyocr-english_g2+ppocrv4-det.v2"
    assert create_ocr(OcrConfig(backend="easyocr", text_detector="craft")).name == "easyocr-english_g2.v2"
    assert create_ocr(OcrConfig(text_detector="craft")).name.endswith("-fp32.v2")


def test_ocr_backend_from_a_config_file_value():
    cfg = Config.from_dict({"ocr": {"backend": "easyocr-onnx", "threads": 2}})
    assert cfg.ocr.backend == "easyocr-onnx"


def test_unknown_backend_lists_the_onnx_one():
    from detector.ocr import create_ocr

    with pytest.raises(ConfigError, match="easyocr-onnx"):
        create_ocr(OcrConfig(backend="onnx"))
