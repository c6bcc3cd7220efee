"""Reference index: round trip, provenance errors, incremental updates, atomic writes (tiny fake embedder)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.errors import CatalogError
from detector.logos.index import MANIFEST, PAYLOAD, ReferenceIndex, RefMeta, read_manifest


class TinyEmbedder:
    """Colour histogram embedder: 8-d, deterministic, no model. Enough to tell a red mark from a blue one."""

    name = "tiny-colour.v1"
    dim = 8
    weights_sha256 = "0" * 64

    def embed(self, images):
        out = []
        for im in images:
            a = np.asarray(im.convert("RGB").resize((16, 16)), dtype=np.float32) / 255.0
            r, g, b = a[..., 0].mean(), a[..., 1].mean(), a[..., 2].mean()
            sat = (a.max(axis=2) - a.min(axis=2)).mean()
            # Colour differences only: a grey image embeds to the zero vector and matches nothing.
            v = np.array([r - g, g - b, b - r, sat, 0, 0, 0, 0], dtype=np.float32)
            out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)


def _unit(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _index(**kw) -> ReferenceIndex:
    idx = ReferenceIndex(8, "tiny-colour.v1", "0" * 64, "cat-hash-1", **kw)
    idx.add(
        _unit(6), [RefMeta(b, f"marks/{b.lower()}.png", f"v{i}") for i, b in enumerate(["Nike"] * 3 + ["Puma"] * 3)]
    )
    return idx


def test_round_trip_keeps_vectors_metadata_and_search(tmp_path: Path) -> None:
    idx = _index()
    idx.save(tmp_path)
    back = ReferenceIndex.load(tmp_path, embedder="tiny-colour.v1", weights_sha256="0" * 64, catalog_hash="cat-hash-1")
    assert back.metas == idx.metas
    np.testing.assert_array_equal(back.vectors, idx.vectors)
    q = idx.vectors[4:5]
    s, ids = back.search(q, k=1)
    assert ids[0, 0] == 4 and s[0, 0] == pytest.approx(1.0, abs=1e-5)
    man = json.loads((tmp_path / MANIFEST).read_text())
    assert man["metric"] == "inner_product" and man["dim"] == 8 and man["count"] == 6
    assert man["embedder"] == "tiny-colour.v1" and man["catalog_hash"] == "cat-hash-1" and man["created"]


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"embedder": "mobilenet_v2-imagenet.v1"}, "built by embedder 'tiny-colour.v1'"),
        ({"embedder": "tiny-colour.v1", "weights_sha256": "f" * 64}, "built by embedder"),
        ({"catalog_hash": "cat-hash-2"}, "stale"),
    ],
    ids=["foreign-embedder", "foreign-weights", "stale-catalog"],
)
def test_mismatch_is_an_error_that_says_how_to_rebuild(tmp_path: Path, expect: dict, message: str) -> None:
    _index().save(tmp_path)
    with pytest.raises(CatalogError, match=message) as err:
        ReferenceIndex.load(tmp_path, rebuild_target="my-catalog", **expect)
    assert "detector catalog index my-catalog" in str(err.value)


def test_missing_or_torn_index_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no logo index"):
        ReferenceIndex.load(tmp_path)
    _index().save(tmp_path)
    (tmp_path / PAYLOAD).write_bytes(b"half a file")
    with pytest.raises(CatalogError, match="does not match its manifest"):
        ReferenceIndex.load(tmp_path)


def test_incremental_add_and_remove_brand() -> None:
    idx = _index()
    assert idx.brands == ["Nike", "Puma"]
    assert idx.remove_brand("Nike") == 3
    assert idx.brands == ["Puma"] and len(idx) == 3
    _, ids = idx.search(idx.vectors[:1], k=3)
    assert all(idx.metas[i].brand == "Puma" for i in ids[0])
    new = _unit(2, seed=7)
    idx.add(new, [RefMeta("Adidas", "marks/adidas.png", "white"), RefMeta("Adidas", "marks/adidas.png", "black")])
    _s, ids = idx.search(new[1:2], k=1)
    assert idx.metas[ids[0, 0]] == RefMeta("Adidas", "marks/adidas.png", "black")
    assert idx.remove_brand("Absent") == 0


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_exact_and_approximate_agree_on_nearest(kind: str) -> None:
    idx = ReferenceIndex(8, "tiny-colour.v1", "0" * 64, kind=kind)
    vecs = _unit(300, seed=3)
    idx.add(vecs, [RefMeta(f"B{i % 30}", "m.png", str(i)) for i in range(300)])
    _, ids = idx.search(vecs[:20], k=1)
    assert list(ids[:, 0]) == list(range(20))
    assert idx.kind == kind


def test_kind_switches_to_ivf_at_threshold() -> None:
    idx = ReferenceIndex(8, "e", "0" * 64, approx_threshold=10)
    idx.add(_unit(9), [RefMeta("A", "m", str(i)) for i in range(9)])
    assert idx.kind == "flat"
    idx.add(_unit(1, seed=1), [RefMeta("A", "m", "x")])
    assert idx.kind == "ivf"


def _ivf_index(n: int = 1200) -> tuple[ReferenceIndex, np.ndarray]:
    idx = ReferenceIndex(8, "tiny-colour.v1", "0" * 64, approx_threshold=1000)
    vecs = _unit(n, seed=5)
    idx.add(vecs, [RefMeta(f"B{i % 40}", "m.png", str(i)) for i in range(n)])
    return idx, vecs


def test_ivf_is_saved_trained_and_loaded_without_retraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector.logos.index import FAISS_FILE

    idx, vecs = _ivf_index()
    _, before = idx.search(vecs[:50], k=1)
    idx.save(tmp_path)
    man = read_manifest(tmp_path)
    assert man.kind == "ivf" and man.params["nlist"] >= 16 and man.faiss_sha256
    assert (tmp_path / FAISS_FILE).is_file()

    def no_training(self):
        raise AssertionError("a saved IVF must not be retrained on load")

    monkeypatch.setattr(ReferenceIndex, "_train_ivf", no_training)
    back = ReferenceIndex.load(tmp_path, approx_threshold=1000)
    assert back.kind == "ivf"
    _, after = back.search(vecs[:50], k=1)
    assert list(after[:, 0]) == list(before[:, 0]) == list(range(50))


def test_torn_ivf_structure_is_an_error(tmp_path: Path) -> None:
    from detector.logos.index import FAISS_FILE

    idx, _ = _ivf_index()
    idx.save(tmp_path)
    (tmp_path / FAISS_FILE).write_bytes((tmp_path / FAISS_FILE).read_bytes()[:-10])
    with pytest.raises(CatalogError, match="does not match its manifest"):
        ReferenceIndex.load(tmp_path, approx_threshold=1000)


def test_ivf_rebuilds_after_a_brand_is_removed() -> None:
    idx, vecs = _ivf_index()
    idx.search(vecs[:1], k=1)
    assert idx.remove_brand("B0") == 30
    _, ids = idx.search(vecs[1:2], k=1)
    assert idx.metas[ids[0, 0]] == RefMeta("B1", "m.png", "1")


def test_save_is_atomic_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = _index()
    idx.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    idx.add(_unit(1, seed=9), [RefMeta("Adidas", "marks/adidas.png", "white")])
    with pytest.raises(OSError, match="disk full"):
        idx.save(tmp_path)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # the old index is intact and no temporary file is left behind
    assert read_manifest(tmp_path).count == 6


def test_bad_shapes_are_rejected() -> None:
    idx = ReferenceIndex(8, "e", "0" * 64)
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        idx.add(np.zeros((2, 4), np.float32), [RefMeta("A", "m", "v")] * 2)
    with pytest.raises(ValueError, match="2 vectors but 1"):
        idx.add(_unit(2), [RefMeta("A", "m", "v")])


# -- catalog -> index (build_or_load_index), with the tiny embedder --------------------------------
def _catalog(tmp_path: Path, brands: dict[str, tuple[int, int, int]]):
    from detector.catalog import Brand, Catalog

    (tmp_path / "marks").mkdir(exist_ok=True)
    out = []
    for name, rgb in brands.items():
        im = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
        im.paste(Image.new("RGBA", (40, 20), (*rgb, 255)), (12, 6))
        im.save(tmp_path / "marks" / f"{name.lower()}.png")
        out.append(Brand(name, marks=(f"marks/{name.lower()}.png",)))
    return Catalog(tmp_path, tuple(out))


def test_build_or_load_index_updates_only_changed_brands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector.logos import cnn as logos

    emb = TinyEmbedder()
    cat = _catalog(tmp_path, {"Red": (220, 20, 20), "Blue": (20, 20, 220)})
    idx = logos.build_or_load_index(cat, emb)
    assert idx.brands == ["Blue", "Red"]
    folder = logos.default_index_dir(cat, emb)
    assert folder.is_relative_to(tmp_path) and (folder / MANIFEST).exists()

    embedded: list[str] = []
    real = logos.embed_brand
    monkeypatch.setattr(logos, "embed_brand", lambda c, b, e: (embedded.append(b.name), real(c, b, e))[1])
    again = logos.build_or_load_index(cat, emb)  # unchanged catalog: loaded, nothing embedded
    assert embedded == [] and len(again) == len(idx)

    cat2 = _catalog(tmp_path, {"Red": (220, 20, 20), "Blue": (20, 20, 220), "Green": (20, 200, 20)})
    grown = logos.build_or_load_index(cat2, emb)
    assert embedded == ["Green"] and grown.brands == ["Blue", "Green", "Red"]
    assert read_manifest(folder).catalog_hash == cat2.content_hash()


def test_bundled_catalog_index_goes_to_xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector import catalog as catalog_mod
    from detector.logos import cnn as logos

    cat = _catalog(tmp_path, {"Red": (220, 20, 20)})
    monkeypatch.setattr(catalog_mod, "default_catalog_path", lambda: tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = logos.default_index_dir(cat, TinyEmbedder())
    assert folder.is_relative_to(tmp_path / "xdg" / "detector" / "index")
