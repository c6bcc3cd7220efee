"""Sellers linked by shared photos or shared environment values, grouped into clusters (union-find).

A cluster is a connected component of the seller graph with at least two sellers. Its record (the
``detector link`` JSONL contract, docs/DESIGN.md) lists the sellers, the listings that take part in its
links, and the links themselves; clusters are numbered from the largest (most sellers, then most
listings) down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from detector.link.index import Photo, PhotoLink
from detector.link.manifest import ENV_COLUMNS


@dataclass(frozen=True)
class Link:
    """An edge of the seller graph: two photos (of two sellers) and why they are linked."""

    a: Photo
    b: Photo
    kind: str  # "photo" or an environment column
    score: float
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.ref(), "b": self.b.ref(), "kind": self.kind, "score": round(self.score, 4),
                "evidence": self.evidence}


@dataclass(frozen=True)
class Cluster:
    """Sellers linked together, with the links that tie them."""

    cluster: int
    sellers: tuple[str, ...]
    listings: tuple[str, ...]
    links: tuple[Link, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "sellers": list(self.sellers), "listings": list(self.listings),
                "links": [lk.to_dict() for lk in self.links]}


class UnionFind:
    """Disjoint sets of hashable items, with path halving and union by size."""

    def __init__(self) -> None:
        self._parent: dict[Any, Any] = {}
        self._size: dict[Any, int] = {}

    def find(self, x: Any) -> Any:
        self._parent.setdefault(x, x)
        self._size.setdefault(x, 1)
        while self._parent[x] != x:
            self._parent[x] = self._parent[self._parent[x]]
            x = self._parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]


def photo_links(photos: Sequence[Photo], links: Iterable[PhotoLink]) -> list[Link]:
    """Decided photo links between two different sellers, as seller-graph edges."""
    out = []
    for lk in links:
        a, b = photos[lk.a], photos[lk.b]
        if a.seller_id == b.seller_id:
            continue
        evidence: dict[str, Any] = {"by": lk.by, "phash_distance": lk.phash_distance}
        if lk.by == "keypoints":
            evidence["inliers"] = lk.inliers
        out.append(Link(a, b, "photo", lk.score, evidence))
    return out


def env_links(photos: Sequence[Photo]) -> list[Link]:
    """Sellers sharing a non-empty value of an environment column: one link from the first seller (in
    photo order) to each other seller with that value, so a shared office IP costs n - 1 links, not n²."""
    out = []
    for column in ENV_COLUMNS:
        first_of: dict[str, dict[str, Photo]] = {}
        for p in photos:
            value = p.env.get(column)
            if value:
                first_of.setdefault(value, {}).setdefault(p.seller_id, p)
        for value, by_seller in first_of.items():
            sellers = list(by_seller.values())
            for other in sellers[1:]:
                out.append(Link(sellers[0], other, column, 1.0, {"value": value}))
    return out


def clusters(links: Iterable[Link]) -> list[Cluster]:
    """Connected components of the seller graph (≥ 2 sellers), largest first, numbered in that order."""
    links = list(links)
    uf = UnionFind()
    for lk in links:
        uf.union(lk.a.seller_id, lk.b.seller_id)
    groups: dict[Any, list[Link]] = {}
    for lk in links:
        groups.setdefault(uf.find(lk.a.seller_id), []).append(lk)
    made = []
    for group in groups.values():
        sellers = sorted({s for lk in group for s in (lk.a.seller_id, lk.b.seller_id)})
        listings = sorted({x for lk in group for x in (lk.a.listing_id, lk.b.listing_id)})
        group.sort(key=lambda lk: (lk.kind != "photo", -lk.score, lk.kind, lk.a.seller_id, lk.b.seller_id,
                                   lk.a.listing_id, lk.b.listing_id, lk.a.image, lk.b.image))
        made.append((sellers, listings, group))
    made.sort(key=lambda m: (-len(m[0]), -len(m[1]), m[0]))
    return [Cluster(i, tuple(s), tuple(li), tuple(g)) for i, (s, li, g) in enumerate(made)]


def graphml(found: Sequence[Cluster]) -> bytes:
    """The seller graph as GraphML: sellers are nodes (with their cluster), links are edges (kind, score,
    the two listings and images). networkx reads it with ``read_graphml`` (a MultiGraph when two sellers
    share several links)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("graphml", {"xmlns": "http://graphml.graphdrawing.org/xmlns"})
    keys = [("cluster", "node", "int"), ("kind", "edge", "string"), ("score", "edge", "double"),
            ("a_listing", "edge", "string"), ("b_listing", "edge", "string"),
            ("a_image", "edge", "string"), ("b_image", "edge", "string"), ("evidence", "edge", "string")]
    for name, where, kind in keys:
        ET.SubElement(root, "key", {"id": name, "for": where, "attr.name": name, "attr.type": kind})
    graph = ET.SubElement(root, "graph", {"id": "sellers", "edgedefault": "undirected"})

    def data(parent: ET.Element, key: str, value: Any) -> None:
        ET.SubElement(parent, "data", {"key": key}).text = str(value)

    import json

    n = 0
    for c in found:
        for seller in c.sellers:
            data(ET.SubElement(graph, "node", {"id": seller}), "cluster", c.cluster)
        for lk in c.links:
            edge = ET.SubElement(graph, "edge", {"id": f"e{n}", "source": lk.a.seller_id, "target": lk.b.seller_id})
            n += 1
            for key, value in (("kind", lk.kind), ("score", round(lk.score, 4)), ("a_listing", lk.a.listing_id),
                               ("b_listing", lk.b.listing_id), ("a_image", lk.a.image), ("b_image", lk.b.image),
                               ("evidence", json.dumps(lk.evidence, ensure_ascii=False, sort_keys=True))):
                data(edge, key, value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
