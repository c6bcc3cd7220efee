"""Seller linking: the same photo reused across sellers (after edits) and shared environment values → clusters.

>>> from detector.link import link_manifest
>>> result = link_manifest("listings.csv", index_dir="link-index/")   # doctest: +SKIP
>>> [c.to_dict()["sellers"] for c in result.clusters]                # doctest: +SKIP
[['s1', 's7']]

| module | concept |
|---|---|
| ``manifest`` | the CSV: rows, columns, errors by row |
| ``describe`` | a photo's fingerprints: pHash and the CNN descriptor, each also of the mirror image |
| ``verify`` | the keypoint check of a borderline pair (the logo stage's SIFT + RANSAC engine) |
| ``index`` | the saved index: photos, float16 vectors (searched by FAISS), hashes, decided links |
| ``pairs`` | candidate pairs and the rule that decides one |
| ``clusters`` | union-find over sellers, the JSONL records, GraphML |
| ``linker`` | ``Linker`` and ``link_manifest``: all of it in chunks |
| ``official`` | the catalog's official photos, matched the same way (the ``official_photo_reuse`` rule) |

Heavy libraries (torch, faiss, imagehash, OpenCV) are imported when a photo is first described or searched.
"""

from __future__ import annotations

from detector.link.clusters import Cluster, Link
from detector.link.index import LinkIndexError
from detector.link.linker import Linker, LinkResult, link_manifest
from detector.link.manifest import ENV_COLUMNS, ManifestError, PhotoRow, read_manifest

__all__ = [
    "ENV_COLUMNS",
    "Cluster",
    "Link",
    "LinkIndexError",
    "LinkResult",
    "Linker",
    "ManifestError",
    "PhotoRow",
    "link_manifest",
    "read_manifest",
]
