"""EasyOCR's own nets (CRAFT, english_g2) exported to ONNX from the pinned weights, cached, run by ONNX Runtime.

``export_models()`` writes ``craft.onnx`` and ``english_g2.onnx`` (and their int8 versions where kept)
into ``cache_dir("easyocr-onnx")`` with a ``manifest.json`` beside them that records the source weights'
md5 and sha256, every file's sha256, the torch/onnx/onnxruntime versions and the export options. A file
that no longer matches its manifest (weights changed, file truncated or edited, other export options) is
exported again, written to a temporary file and moved into place, never used as it is; nothing is
downloaded. The EasyOCR ``Reader`` keeps its own pre- and post-processing; only its two nets are swapped
for the thin session wrappers below.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detector.errors import CorruptModel, MissingModel
from detector.ocr.easyocr import RECOGNITION_MODEL, EasyOcr

ONNX_PACKAGES = "onnxruntime==1.32.0 onnx==1.23.2"
CACHE_KIND = "easyocr-onnx"
MANIFEST = "manifest.json"
# Bumped when the export code changes what it writes; part of every file's key.
EXPORT_VERSION = 1
OPSET = 17
NETS = ("craft", "english_g2")
# Int8 dynamic quantisation (onnxruntime.quantization.quantize_dynamic), per net, kept only where it reads the
# same words as fp32. Measured (2026-12-02, onnxruntime 1.32.0, 2-core x86_64, CPU seconds at nice 19 on a busy
# machine): CRAFT int8 (ConvInteger) took 5.9x the CPU of fp32 on examples/ and moved the boxes on 6 of 8
# photos; english_g2 int8 took 3.5x the CPU of fp32 on 300 ICDAR 2015 crops and read other words than fp32
# on 52 of them (accuracy 30.3 % vs 29.3 %). Neither is kept: fp32 is faster here and reads like torch.
QUANTISE = {"craft": False, "english_g2": False}
QUANT_TAG = "+".join(f"{net}-int8" for net, q in QUANTISE.items() if q) or "fp32"

_LOCK = threading.Lock()
# Hashes taken in this process, by (path, mtime, size): hashing 100 MB on every Reader build is wasted work.
_HASHES: dict[tuple[str, float, int], str] = {}


def require_onnxruntime() -> Any:
    """Import onnxruntime, or say what to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingModel(
            f"the easyocr-onnx OCR backend needs ONNX Runtime: pip install {ONNX_PACKAGES} "
            "(or set ocr.backend: easyocr to use torch)"
        ) from exc
    return onnxruntime


def export_models(
    weights_dir: str | Path, quantise: dict[str, bool], cache: str | Path | None = None
) -> dict[str, Path]:
    """The ONNX file of each net (int8 where ``quantise[net]``), exported now unless a valid cached one exists.

    ``cache`` defaults to ``cache_dir("easyocr-onnx")``. Raises ``MissingModel`` when onnx/onnxruntime are
    not installed and ``CorruptModel`` when an export cannot be made valid.
    """
    from detector.logos.geometry import cache_dir

    folder = Path(cache) if cache is not None else cache_dir(CACHE_KIND)
    sources = _sources(Path(weights_dir))
    with _LOCK:
        folder.mkdir(parents=True, exist_ok=True)
        manifest = _read_manifest(folder)
        paths = {net: _ensure(folder, manifest, net, Path(weights_dir), sources[net], quantise.get(net, False))
                 for net in NETS}
        return paths


def _ensure(folder: Path, manifest: dict[str, Any], net: str, weights_dir: Path, source: dict[str, str],
            int8: bool) -> Path:
    """The cached file of ``net`` (int8 or fp32), exported (int8: quantised from the fp32 one) when not valid."""
    key = _key(net, source, int8)
    path = folder / key["file"]
    entry = manifest.setdefault("files", {}).get(key["file"])
    if entry and entry.get("key") == key and _file_matches(path, entry.get("sha256", "")):
        return path
    fp32 = _ensure(folder, manifest, net, weights_dir, source, False) if int8 else None
    try:
        _export(net, weights_dir / source["file"], fp32, path)
    except OSError as exc:
        raise MissingModel(
            f"the ONNX file {path} is missing or stale and cannot be written ({exc.strerror or exc}): make "
            f"{folder} writable, point XDG_CACHE_HOME at a writable folder, or build it ahead of time with "
            "`python -c 'from detector.ocr.onnx_models import prepare; prepare()'`"
        ) from exc
    manifest["files"][key["file"]] = {"key": key, "sha256": _sha256(path)}
    manifest["versions"] = _versions()
    _write_json(folder / MANIFEST, manifest)
    return path


def prepare(cache: str | Path | None = None) -> dict[str, Path]:
    """Export (or check) the shipped backend's ONNX files now, e.g. at image build time; returns their paths."""
    from detector.ocr.easyocr import weights_directory

    return export_models(weights_directory(), QUANTISE, cache)


def session(path: Path, threads: int, rebuild: Callable[[], Path]) -> Any:
    """An ONNX Runtime session on ``path`` (all graph optimisations, ``threads`` intra-op threads).

    A file ONNX Runtime refuses although its hash matched (a runtime too old for it) is rebuilt once by
    ``rebuild``; refused again, it is a ``CorruptModel``.
    """
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the optimiser's notes on unused initialisers are not our users' business
    for attempt in (0, 1):
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            if attempt:
                raise CorruptModel(f"ONNX Runtime cannot load {path}: {exc}; delete {path.parent} to export again") from exc
            _HASHES.clear()
            path.unlink(missing_ok=True)
            path = rebuild()
    raise AssertionError("unreachable")


class CraftSession:
    """Stands in for EasyOCR's CRAFT module: ``net(x)`` → (score maps as a torch tensor, None)."""

    def __init__(self, sess: Any) -> None:
        self.sess = sess

    def eval(self) -> CraftSession:
        return self

    def __call__(self, x: Any) -> tuple[Any, None]:
        import torch

        (y,) = self.sess.run(None, {"image": x.numpy()})
        return torch.from_numpy(y), None  # EasyOCR's test_net never reads the feature map


class RecogniserSession:
    """Stands in for EasyOCR's recogniser module: ``model(images, text)`` → per-step logits as a torch tensor."""

    def __init__(self, sess: Any) -> None:
        self.sess = sess

    def eval(self) -> RecogniserSession:
        return self

    def __call__(self, image: Any, text: Any = None) -> Any:
        import torch

        (logits,) = self.sess.run(None, {"image": image.numpy()})
        return torch.from_numpy(logits)


# --------------------------------------------------------------------------- export


def _sources(weights_dir: Path) -> dict[str, dict[str, str]]:
    import easyocr.config as table

    files = {
        "craft": table.detection_models["craft"],
        "english_g2": table.recognition_models["gen2"]["english_g2"],
    }
    out = {}
    for net, row in files.items():
        path = weights_dir / row["filename"]
        out[net] = {"file": row["filename"], "md5": row["md5sum"], "sha256": _sha256(path)}
    return out


def _key(net: str, source: dict[str, str], int8: bool) -> dict[str, Any]:
    """Everything the exported file depends on; a cached file whose key differs is exported again."""
    return {
        "file": f"{net}{'.int8' if int8 else ''}.onnx",
        "source": source,
        "export_version": EXPORT_VERSION,
        "opset": OPSET,
        "int8": int8,
        "quantisation": "onnxruntime.quantization.quantize_dynamic(QInt8, per_channel=False)" if int8 else None,
    }


def _export(net: str, weights: Path, fp32: Path | None, dest: Path) -> None:
    """Export ``net`` to ``dest`` (int8: quantise the ``fp32`` file) via a checked temp file and os.replace."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingModel(f"exporting EasyOCR's nets to ONNX needs onnx: pip install {ONNX_PACKAGES}") from exc
    require_onnxruntime()
    for stale in dest.parent.glob(f".{dest.stem}-*.onnx.tmp"):  # left by a process killed mid-export
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}-", suffix=".onnx.tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fp32 is None:
            _export_fp32(net, weights, tmp)
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8, per_channel=False)
        onnx.checker.check_model(str(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep other users of a shared cache out
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _export_fp32(net: str, weights: Path, dest: Path) -> None:
    import warnings

    import torch

    torch_net, example, axes = _torch_net(net, weights)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            torch_net, (example,), str(dest), dynamo=False, opset_version=OPSET, input_names=["image"],
            output_names=["out"], dynamic_axes=axes, do_constant_folding=True,
        )


def _torch_net(net: str, weights: Path) -> tuple[Any, Any, dict[str, dict[int, str]]]:
    """The unquantised torch net (EasyOCR's own loaders), an example input and its dynamic axes."""
    import torch
    from easyocr import detection, recognition

    if net == "craft":
        craft = detection.get_detector(str(weights), device="cpu", quantize=False)

        class Craft(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = craft

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net(x)[0]  # the score maps only: the feature map is never read

        return Craft().eval(), torch.zeros(1, 3, 320, 480), {"image": {2: "h", 3: "w"}, "out": {1: "h2", 2: "w2"}}
    import easyocr.config as table

    row = table.recognition_models["gen2"]["english_g2"]
    model, _ = recognition.get_recognizer(
        "generation2", {"input_channel": 1, "output_channel": 256, "hidden_size": 256}, row["characters"], {}, {},
        str(weights), device="cpu", quantize=False,
    )

    class Recogniser(torch.nn.Module):
        """english_g2's forward with AdaptiveAvgPool2d((None, 1)) written as the mean over the feature height.

        The TorchScript exporter refuses adaptive pooling with a free output size; pooling the last axis
        to 1 while keeping the other is exactly that mean.
        """

        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            visual = self.m.FeatureExtraction(image).permute(0, 3, 1, 2).mean(dim=3)
            return self.m.Prediction(self.m.SequenceModeling(visual).contiguous())

    return Recogniser().eval(), torch.zeros(2, 1, 64, 256), {"image": {0: "n", 3: "w"}, "out": {0: "n", 1: "t"}}


# --------------------------------------------------------------------------- cache files


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or unreadable: every file is exported again
    return data if isinstance(data, dict) and isinstance(data.get("files", {}), dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _file_matches(path: Path, sha256: str) -> bool:
    try:
        return _sha256(path) == sha256
    except FileNotFoundError:
        return False


def _sha256(path: Path) -> str:
    stat = path.stat()
    mark = (str(path), stat.st_mtime_ns, stat.st_size)
    if mark not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[mark] = digest.hexdigest()
    return _HASHES[mark]


def build_reader(
    weights_dir: str, threads: int, quantise: dict[str, bool], cache: str | Path | None = None, craft: bool = True
) -> Any:
    """An ``easyocr.Reader`` whose CRAFT and recogniser are ONNX Runtime sessions (the torch nets are never loaded).

    Without ``craft`` (another text detector finds the boxes) no CRAFT session is built.
    """
    require_onnxruntime()
    import easyocr
    import torch
    from easyocr.config import BASE_PATH
    from easyocr.utils import CTCLabelConverter

    torch.set_num_threads(threads)  # EasyOCR's own tensor work around the nets (softmax, resizing) stays in torch
    paths = export_models(weights_dir, quantise, cache)

    def rebuild(net: str) -> Callable[[], Path]:
        return lambda: export_models(weights_dir, quantise, cache)[net]

    reader = easyocr.Reader(
        ["en"], gpu=False, model_storage_directory=weights_dir, user_network_directory=weights_dir,
        detect_network="craft", recog_network="english_g2", download_enabled=False, verbose=False,
        detector=False, recognizer=False,
    )
    from easyocr.detection import get_textbox

    reader.get_textbox = get_textbox
    if craft:
        reader.detector = CraftSession(session(paths["craft"], threads, rebuild("craft")))
    reader.recognizer = RecogniserSession(session(paths["english_g2"], threads, rebuild("english_g2")))
    # As Reader builds it for english_g2 (no separators; the word list only serves beam search).
    reader.converter = CTCLabelConverter(reader.character, {}, {"en": os.path.join(BASE_PATH, "dict", "en.txt")})
    return reader


class EasyOcrOnnx(EasyOcr):
    """EasyOCR (CRAFT + english_g2, its own pre- and post-processing) with both nets run by ONNX Runtime.

    The nets are exported from the pinned weights into the cache on first use (``export_models``).
    """

    name = f"easyocr-{RECOGNITION_MODEL}.onnx-{QUANT_TAG}.v2"
    batch_boxes = True  # fp32: a box reads the same alone or batched with boxes of its padded width

    def __init__(self, *args: Any, cache: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache

    def _reader_key(self, weights_dir: str) -> tuple[str, ...]:
        return (*super()._reader_key(weights_dir), str(self.cache))

    def _build_reader(self, weights_dir: str) -> Any:
        return build_reader(weights_dir, self.threads, QUANTISE, self.cache, craft=self.text_detector == "craft")
