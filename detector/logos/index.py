"""FAISS reference index of catalog marks, with the provenance that says when it is stale.

Vectors are L2-normalised, so inner product is cosine similarity. The stored
float32 vectors are the source of truth; the FAISS structure is derived from them:
exact ``IndexFlatIP`` while small, an inverted file (``IndexIVFFlat``, trained on the
vectors) once the index holds ``approx_threshold`` vectors or more. ``kind`` forces
``flat``, ``ivf`` or ``hnsw``. The threshold and the IVF parameters come from
``benchmarks/index_scale.py`` (BENCHMARKS.md, "Scale-out (issue 13)").

On disk an index is two or three files in one folder::

    logos.npz    vectors + per-vector metadata (brand, mark, view)
    logos.faiss  the trained IVF structure (kind ``ivf`` only), so loading does not retrain
    logos.json   manifest: embedder name + weights sha256, dim, metric, catalog hash,
                 per-brand fingerprints, kind and its parameters, created, payload and
                 FAISS file sha256

Each is written to a temporary file and moved into place with ``os.replace``; the
manifest goes last and records the others' sha256, so a torn write is detected.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detector.atomic import write_atomic
from detector.errors import CatalogError

FORMAT_VERSION = 1
METRIC = "inner_product"
PAYLOAD = "logos.npz"
MANIFEST = "logos.json"
FAISS_FILE = "logos.faiss"
KINDS = ("flat", "ivf", "hnsw")
# Exact search is linear in the number of references and memory-bound: benchmarks/index_scale.py (dim 1280,
# one core, 2026-12-02) measured flat at 5.8 ms per query at 10k vectors and 47 ms at 100k, where IVF (16 probes)
# answers in 0.45 ms and 1.9 ms with recall@1 1.000 vs exact. Below 10k flat stays exact and cheap (a 168-brand
# catalog with 10 views per mark is 1,320 vectors: ~0.8 ms), and k-means on fewer vectors makes tiny lists.
APPROX_THRESHOLD = 10_000
HNSW_M = 32
# IVF lists: about 2*sqrt(n), a power of two (fewer vectors scanned per probe than sqrt(n) at 1M, where
# the 5 ms budget binds). NPROBE 16: at 1M clustered synthetic vectors, recall@1 1.000 vs exact at 3.7 ms per
# query on one core; 8 probes gave 0.988 at 2.1 ms (BENCHMARKS.md, "Scale-out (issue 13)").
IVF_NPROBE = 16
# faiss warns below 39 training points per list; more costs training time without better lists.
IVF_TRAIN_PER_LIST = 40
IVF_TRAIN_ITER = 10


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: the power of two nearest 2*sqrt(n), at least 16."""
    target = max(16.0, 2.0 * float(np.sqrt(max(n, 1))))
    return int(2 ** round(float(np.log2(target))))


@dataclass(frozen=True)
class RefMeta:
    """What one reference vector is: a view of a mark of a brand."""

    brand: str
    mark: str
    view: str


@dataclass(frozen=True)
class IndexManifest:
    embedder: str
    weights_sha256: str
    dim: int
    metric: str
    catalog_hash: str
    brands: dict[str, str]  # brand -> fingerprint of its marks, for incremental updates
    count: int
    kind: str
    created: str
    payload_sha256: str = ""
    format_version: int = FORMAT_VERSION
    # Kind ``ivf``: the saved FAISS structure's sha256 and its parameters (nlist, nprobe).
    faiss_sha256: str = ""
    params: dict[str, int] = field(default_factory=dict)


def _rebuild_hint(where: Path | str | None) -> str:
    target = where if where is not None else "DIR"
    return f"rebuild it with `detector catalog index {target}`"


class ReferenceIndex:
    """Reference vectors of catalog marks with their metadata, searchable by inner product."""

    def __init__(
        self,
        dim: int,
        embedder: str,
        weights_sha256: str,
        catalog_hash: str = "",
        *,
        kind: str | None = None,
        approx_threshold: int = APPROX_THRESHOLD,
        nprobe: int = IVF_NPROBE,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be None (automatic), 'flat', 'ivf' or 'hnsw', got {kind!r}")
        self.dim = dim
        self.embedder = embedder
        self.weights_sha256 = weights_sha256
        self.catalog_hash = catalog_hash
        self.brand_fingerprints: dict[str, str] = {}
        self._kind = kind
        self._approx_threshold = approx_threshold
        self.nprobe = nprobe
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self.metas: list[RefMeta] = []
        self._faiss: Any = None  # built lazily from _vectors
        self._kind_of_built = ""

    # -- contents --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.metas)

    @property
    def kind(self) -> str:
        """``flat`` (exact), ``ivf`` or ``hnsw`` (approximate): forced, or chosen by size (flat or ivf)."""
        if self._kind is not None:
            return self._kind
        return "ivf" if len(self) >= self._approx_threshold else "flat"

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @property
    def brands(self) -> list[str]:
        return sorted({m.brand for m in self.metas})

    def add(self, vectors: np.ndarray, metas: list[RefMeta]) -> None:
        """Append reference vectors (rows L2-normalised) with one ``RefMeta`` each.

        Into an empty index a float32 C-contiguous array is kept as is (no copy: at 1M x 1280 a copy is
        5 GB); do not modify it afterwards.
        """
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {v.shape}")
        if len(metas) != v.shape[0]:
            raise ValueError(f"got {v.shape[0]} vectors but {len(metas)} metadata entries")
        self._vectors = v if not len(self._vectors) else np.concatenate([self._vectors, v])
        self.metas.extend(metas)
        # A trained IVF takes new vectors into its lists; its centroids are not refitted until a rebuild.
        if self._faiss is not None and self._kind_of_built == self.kind:
            self._faiss.add(v)
        else:
            self._faiss = None

    def remove_brand(self, brand: str) -> int:
        """Drop every vector of ``brand``; returns how many were removed."""
        keep = np.array([m.brand != brand for m in self.metas], dtype=bool)
        removed = int((~keep).sum())
        if removed:
            self._vectors = self._vectors[keep]
            self.metas = [m for m, k in zip(self.metas, keep) if k]
            # HNSW cannot delete and IVF ids would shift; rebuilding from the stored vectors is cheap at
            # catalog sizes (an IVF is retrained: ~1-2 min at 1M vectors, BENCHMARKS.md).
            self._faiss = None
        self.brand_fingerprints.pop(brand, None)
        return removed

    def replace_brand(self, brand: str, vectors: np.ndarray, metas: list[RefMeta], fingerprint: str = "") -> None:
        """Swap in a brand's new reference vectors (enrolment or re-enrolment)."""
        self.remove_brand(brand)
        self.add(vectors, metas)
        if fingerprint:
            self.brand_fingerprints[brand] = fingerprint

    # -- search ----------------------------------------------------------------------------------
    def _index(self) -> Any:
        if self._faiss is None:
            import faiss

            if self.kind == "hnsw":
                idx = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                idx.hnsw.efSearch = 64
            elif self.kind == "ivf":
                idx = self._train_ivf()
            else:
                idx = faiss.IndexFlatIP(self.dim)
            if len(self):
                idx.add(self._vectors)
            self._faiss = idx
            self._kind_of_built = self.kind
        return self._faiss

    def _train_ivf(self) -> Any:
        """An empty ``IndexIVFFlat`` whose lists are k-means centroids of a fixed sample of the vectors."""
        import faiss

        n = len(self)
        nlist = ivf_nlist(n)
        quantizer = faiss.IndexFlatIP(self.dim)
        idx = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        idx.cp.niter = IVF_TRAIN_ITER
        idx.cp.seed = 1234
        size = min(n, IVF_TRAIN_PER_LIST * nlist)
        # A seeded sample: the same vectors train the same lists, so a rebuild is reproducible.
        rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False)) if size < n else slice(None)
        idx.train(np.ascontiguousarray(self._vectors[rows]))
        idx.nprobe = self.nprobe
        return idx

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` references per query: ``(scores, ids)``, ids index ``metas`` (-1 where fewer exist)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (n, {self.dim}), got {q.shape}")
        if not len(self) or not len(q):
            return np.zeros((len(q), k), np.float32), np.full((len(q), k), -1, np.int64)
        return self._index().search(q, min(k, len(self)))

    def brand_scores(self, queries: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Best similarity of each query to each brand: ``(brands, (n_queries, n_brands) scores)``.

        Exact over all vectors (a matrix product); fine for catalogs up to ~10^5 references.
        """
        brands = self.brands
        col = {b: i for i, b in enumerate(brands)}
        q = np.ascontiguousarray(queries, dtype=np.float32)
        out = np.full((len(q), len(brands)), -1.0, dtype=np.float32)
        if not len(self) or not len(q):
            return brands, out
        sims = q @ self._vectors.T
        owner = np.array([col[m.brand] for m in self.metas])
        for j in range(len(brands)):
            out[:, j] = sims[:, owner == j].max(axis=1)
        return brands, out

    # -- persistence -----------------------------------------------------------------------------
    def manifest(self) -> IndexManifest:
        return IndexManifest(
            embedder=self.embedder,
            weights_sha256=self.weights_sha256,
            dim=self.dim,
            metric=METRIC,
            catalog_hash=self.catalog_hash,
            brands=dict(sorted(self.brand_fingerprints.items())),
            count=len(self),
            kind=self.kind,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            params={"nlist": ivf_nlist(len(self)), "nprobe": self.nprobe} if self.kind == "ivf" else {},
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``logos.npz`` (and ``logos.faiss``) then ``logos.json`` into ``folder`` atomically.

        Kind ``ivf`` is trained here if it was not yet, so a later load does not retrain. Returns the
        manifest path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        metas_json = json.dumps([asdict(m) for m in self.metas], ensure_ascii=False)
        np.savez(buf, vectors=self._vectors, metas=np.array(metas_json))
        payload = buf.getvalue()
        write_atomic(folder / PAYLOAD, payload)
        man = self.manifest()
        extra: dict[str, Any] = {"payload_sha256": hashlib.sha256(payload).hexdigest()}
        if self.kind == "ivf" and len(self):
            import faiss

            structure = faiss.serialize_index(self._index()).tobytes()
            write_atomic(folder / FAISS_FILE, structure)
            extra["faiss_sha256"] = hashlib.sha256(structure).hexdigest()
        man = IndexManifest(**{**asdict(man), **extra})
        write_atomic(folder / MANIFEST, json.dumps(asdict(man), indent=2, ensure_ascii=False).encode("utf-8"))
        return folder / MANIFEST

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        embedder: str | None = None,
        weights_sha256: str | None = None,
        catalog_hash: str | None = None,
        kind: str | None = None,
        approx_threshold: int = APPROX_THRESHOLD,
        rebuild_target: str | Path | None = None,
    ) -> ReferenceIndex:
        """Load an index; with the expectations given, a foreign or stale index raises ``CatalogError``.

        ``rebuild_target`` is the catalog folder named in the error's "rebuild it with" hint.
        """
        folder = Path(folder)
        hint = _rebuild_hint(rebuild_target)
        man = read_manifest(folder, hint)
        if embedder is not None and (
            man.embedder != embedder or (weights_sha256 and man.weights_sha256 != weights_sha256)
        ):
            raise CatalogError(
                f"the logo index in {folder} was built by embedder {man.embedder!r} "
                f"(weights {man.weights_sha256[:12]}), not {embedder!r}"
                f"{f' (weights {weights_sha256[:12]})' if weights_sha256 else ''}: {hint}"
            )
        if catalog_hash is not None and man.catalog_hash != catalog_hash:
            raise CatalogError(
                f"the logo index in {folder} is stale: built for catalog {man.catalog_hash[:12]}, "
                f"the catalog is now {catalog_hash[:12]}: {hint}"
            )
        try:
            payload = (folder / PAYLOAD).read_bytes()
        except OSError as exc:
            raise CatalogError(
                f"cannot read logo index payload {folder / PAYLOAD}: {exc.strerror or exc}; {hint}"
            ) from exc
        if hashlib.sha256(payload).hexdigest() != man.payload_sha256:
            raise CatalogError(
                f"logo index payload {folder / PAYLOAD} does not match its manifest (torn write?): {hint}"
            )
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            vectors = z["vectors"].astype(np.float32)
            metas = [RefMeta(**m) for m in json.loads(str(z["metas"]))]
        if vectors.shape != (man.count, man.dim):
            raise CatalogError(
                f"logo index {folder} holds {vectors.shape} vectors, manifest says ({man.count}, {man.dim}): {hint}"
            )
        idx = cls(
            man.dim, man.embedder, man.weights_sha256, man.catalog_hash, kind=kind, approx_threshold=approx_threshold,
            nprobe=man.params.get("nprobe", IVF_NPROBE),
        )
        idx._vectors = vectors
        idx.metas = metas
        idx.brand_fingerprints = dict(man.brands)
        if idx.kind == "ivf" and man.kind == "ivf" and man.faiss_sha256:
            idx._load_ivf(folder / FAISS_FILE, man.faiss_sha256, hint)
        return idx

    def _load_ivf(self, path: Path, sha256: str, hint: str) -> None:
        """Adopt the saved, trained IVF structure (checked against the manifest and the vectors)."""
        import faiss

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read logo index structure {path}: {exc.strerror or exc}; {hint}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CatalogError(f"logo index structure {path} does not match its manifest (torn write?): {hint}")
        idx = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if idx.ntotal != len(self) or idx.d != self.dim:
            raise CatalogError(
                f"logo index structure {path} holds {idx.ntotal} vectors of dim {idx.d}, "
                f"the payload {len(self)} of dim {self.dim}: {hint}"
            )
        faiss.extract_index_ivf(idx).nprobe = self.nprobe
        self._faiss = idx
        self._kind_of_built = "ivf"


def read_manifest(folder: str | Path, hint: str | None = None) -> IndexManifest:
    """The manifest of the index saved in ``folder``; ``CatalogError`` when absent or unreadable."""
    path = Path(folder) / MANIFEST
    hint = hint or _rebuild_hint(None)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"no logo index at {path}: {hint}") from exc
    except (OSError, ValueError) as exc:
        raise CatalogError(f"logo index manifest {path} is unreadable ({exc}): {hint}") from exc
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        got = data.get("format_version") if isinstance(data, dict) else type(data).__name__
        raise CatalogError(f"logo index manifest {path} has format {got!r}, expected {FORMAT_VERSION}: {hint}")
    try:
        return IndexManifest(**data)
    except TypeError as exc:
        raise CatalogError(f"logo index manifest {path} has unexpected fields ({exc}): {hint}") from exc
