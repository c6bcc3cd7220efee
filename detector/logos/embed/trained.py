"""Torch adapter for the logo embedder this project trains (models/logo_embedder/, MODEL_CARD.md).

MobileNetV2 with its last blocks fine-tuned on rendered product views of every simple-icons mark:
a 128-px crop → GeM-pooled 1280-d features → linear 256-d → unit vector. The weights file lives in the
repository (``models/logo_embedder/``; ``DETECTOR_MODELS_DIR`` points elsewhere) and its sha256 is checked
before torch reads it. It also holds the background proxies training pushed logo-free crops towards:
the stage uses them as its background bank. torch and torchvision are imported here only.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from detector.errors import CorruptModel, MissingModel

if TYPE_CHECKING:
    from PIL import Image

BATCH_SIZE = 64  # 128-px crops: a batch of 64 holds ~60 MB of activations
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TrainedSpec:
    """A trained logo embedder: its weights file (relative to the models folder) and that file's sha256."""

    name: str
    relpath: str
    sha256: str
    input_size: int = 128
    gem_p: float = 3.0


def models_dir() -> Path:
    """``$DETECTOR_MODELS_DIR`` or the repository's ``models/`` folder."""
    env = os.environ.get("DETECTOR_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


class TrainedEmbedder:
    """Implements ``Embedder``; build it with ``detector.logos.embed.create_embedder(name)``."""

    def __init__(self, spec: TrainedSpec) -> None:
        import io

        import torch
        import torchvision

        path = models_dir() / spec.relpath
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise MissingModel(
                f"embedder {spec.name!r} needs {path}, which is missing: it ships in the detector repository under "
                f"models/ (set DETECTOR_MODELS_DIR when running from elsewhere), or retrain it with "
                f"models/logo_embedder/train.py"
            ) from exc
        got = hashlib.sha256(raw).hexdigest()
        if got != spec.sha256:
            raise CorruptModel(
                f"weights file {path} has sha256 {got}, expected {spec.sha256}: the file is damaged or another "
                f"version; check it out again from the repository"
            )
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        state = {k: v.float() for k, v in payload["state"].items()}
        features = torchvision.models.mobilenet_v2().features
        features.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
        features.eval()
        # Traced, frozen and fused for inference: 2.3x faster than eager on a 2-core CPU (BENCHMARKS.md,
        # "Logo matching, round 2"), same outputs to float rounding (tests/integration/test_logo_embedder_real.py).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing warns about Python control flow it records as constants
            example = torch.zeros(2, 3, spec.input_size, spec.input_size)
            self._features = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(features, example)))
        self._eager = features
        self._head = state["head.weight"].numpy().T.copy()  # (1280, dim)
        self.background = payload["background"].float().numpy()
        self.name = spec.name
        self.spec = spec
        self.dim = int(self._head.shape[1])
        self.weights_sha256 = spec.sha256
        self.input_size = spec.input_size
        self._mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"TrainedEmbedder({self.name!r}, input={self.input_size}px, dim={self.dim})"

    def _forward(self, batch: np.ndarray, eager: bool = False) -> np.ndarray:
        import torch

        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
        x = ((x - self._mean) / self._std).contiguous()  # NCHW in memory: the fused graph is built for it
        p = self.spec.gem_p
        with torch.no_grad():
            f = (self._eager if eager else self._features)(x).clamp(min=1e-6).pow(p).mean((2, 3)).pow(1.0 / p)
        v = f.numpy() @ self._head
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed each image resized (squashed) to the input size, as the training crops were."""
        from PIL import Image as PILImage

        s = self.input_size
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), BATCH_SIZE):
            chunk = images[start : start + BATCH_SIZE]
            arr = np.stack(
                [np.asarray(im.convert("RGB").resize((s, s), PILImage.Resampling.BILINEAR), np.uint8) for im in chunk]
            )
            out[start : start + len(chunk)] = self._forward(arr)
        return out

    def embed_arrays(self, crops: np.ndarray) -> np.ndarray:
        """Embed ``(n, s, s, 3)`` uint8 crops already at the input size (the stage's windows)."""
        if not len(crops):
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self._forward(crops[i : i + BATCH_SIZE]) for i in range(0, len(crops), BATCH_SIZE)])


