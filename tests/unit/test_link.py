"""``detector.link``: the manifest's errors by row, the pair rule, clusters, GraphML, the saved index.

Photos are small synthetic mosaics and the CNN is a 4×4-thumbnail stand-in (tests/link_helpers.py);
the keypoint check and the hashes are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from link_helpers import TINY_LINK, TinyEmbedder, crop, jpeg, mirror, photo, write_manifest

from detector.config import Config, LinkConfig
from detector.errors import ConfigError
from detector.link import Linker, LinkIndexError, ManifestError, link_manifest, read_manifest
from detector.link.clusters import UnionFind, clusters, env_links, graphml, photo_links
from detector.link.describe import PhotoDescriber
from detector.link.index import MANIFEST, Photo, PhotoLink
from detector.link.pairs import Candidate, decide
from detector.link.verify import Geometry, hull_share

CFG = LinkConfig(**TINY_LINK)


def tiny_linker(**kwargs) -> Linker:  # type: ignore[no-untyped-def]
    return Linker(CFG, describer=PhotoDescriber(TinyEmbedder()), **kwargs)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """s1 posts photo 1; s2 reposts it cropped; s3 mirrored and re-encoded; s4 and s5 post other photos;
    s5 and s6 share a device."""
    (tmp_path / "p").mkdir()
    pics = {"a.jpg": photo(1), "a-crop.jpg": crop(photo(1)), "a-mirror.jpg": jpeg(mirror(photo(1))),
            "b.jpg": photo(2), "c.jpg": photo(3), "d.jpg": photo(4)}
    for name, im in pics.items():
        im.save(tmp_path / "p" / name, quality=92)
    write_manifest(tmp_path, [
        ("L1", "s1", "p/a.jpg", ""), ("L2", "s2", "p/a-crop.jpg", ""), ("L3", "s3", "p/a-mirror.jpg", ""),
        ("L4", "s4", "p/b.jpg", ""), ("L5", "s5", "p/c.jpg", "dev-9"), ("L6", "s6", "p/d.jpg", "dev-9"),
    ], header="listing_id,seller_id,image,device_id")
    return tmp_path


# -- the manifest ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "row", "message"), [
    ("listing_id,image\nL1,p/a.jpg\n", 1, "missing column(s) seller_id"),
    ("listing_id,seller_id,image\nL1,s1,p/a.jpg\nL2,,p/a.jpg\n", 3, "empty seller_id"),
    ("listing_id,seller_id,image\nL1,s1,p/nope.jpg\n", 2, "does not exist"),
    ("listing_id,seller_id,image\nL1,s1,p/a.jpg\n\nL1,s1,p/a.jpg\n", 4, "duplicate row: listing 'L1' image 'p/a.jpg' is already row 2"),
    ("listing_id,seller_id,image\nL1,s1,p/a.jpg\nL1,s2,p/b.jpg\n", 3, "listing 'L1' has seller 's2' but row 2"),
    ("listing_id,seller_id,image\nL1,s1,/etc/passwd\n", 2, "must be a path relative"),
    ("listing_id,seller_id,image\nL1,s1,p/a.jpg,extra\n", 2, "4 cells but the header has 3"),
    ("", 1, "the file is empty"),
])
def test_manifest_errors_name_the_row(tmp_path: Path, text: str, row: int, message: str) -> None:
    (tmp_path / "p").mkdir()
    for name in ("a.jpg", "b.jpg"):
        photo(0).save(tmp_path / "p" / name)
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=f"row {row}") as err:
        read_manifest(path)
    assert message in str(err.value)
    assert err.value.row == row


def test_manifest_rows_keep_environment_values(shop: Path) -> None:
    rows = read_manifest(shop / "manifest.csv")
    assert [r.row for r in rows] == [2, 3, 4, 5, 6, 7]
    assert rows[4].env == {"device_id": "dev-9"} and rows[0].env == {}
    assert rows[1].path == (shop / "p" / "a-crop.jpg").resolve()
    assert rows[0].ref() == {"seller_id": "s1", "listing_id": "L1", "image": "p/a.jpg"}


def test_a_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no manifest at"):
        read_manifest(tmp_path / "nope.csv")


# -- the pair rule -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("cosine", "distance", "inliers", "spread", "expected"), [
    (0.5, 3, 0, 0.0, ("phash", 0)),      # near-exact copy: the hash decides whatever the CNN says
    (0.97, 30, 0, 0.0, ("cnn", 0)),      # above cnn_sure: no keypoint check
    (0.80, 30, 40, 0.5, ("keypoints", 40)),
    (0.80, 30, 10, 0.5, None),           # borderline and too few inliers: two photos of one kind of product
    (0.80, 30, 90, 0.1, None),           # many inliers in one strip: two photos sharing a caption banner
    (0.50, 30, 99, 0.9, None),           # under cnn_candidate: never checked
    (0.50, 10, 60, 0.8, ("keypoints", 60)),  # a watermarked copy: far for the CNN, near for the hash
    (0.50, 10, 10, 0.8, None),           # near hashes alone link nothing: the keypoints decide
])
def test_decide(cosine: float, distance: int, inliers: int, spread: float, expected: object) -> None:
    cfg = LinkConfig(phash_max_distance=4, phash_candidate=12, cnn_sure=0.96, cnn_candidate=0.6,
                     keypoint_min_inliers=20, keypoint_min_spread=0.2)
    calls = []

    def check() -> Geometry:
        calls.append(1)
        return Geometry(inliers, spread)

    assert decide(Candidate(0, 1, cosine, False, distance), cfg, check) == expected
    assert bool(calls) == (distance > 4 and cosine < 0.96 and (cosine >= 0.6 or distance <= 12))


def test_hull_share_is_the_frame_share_the_points_cover() -> None:
    strip = np.array([[0, 90], [100, 90], [100, 100], [0, 100], [50, 95]], np.float32)
    assert hull_share(strip, (100, 100)) == pytest.approx(0.10)
    assert hull_share(np.array([[0, 0], [100, 0], [0, 100], [100, 100]], np.float32), (100, 100)) == 1.0
    assert hull_share(strip[:2], (100, 100)) == 0.0  # two points span no area


def test_link_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="cnn_candidate <= cnn_sure"):
        Config.from_dict({"link": {"cnn_candidate": 0.9, "cnn_sure": 0.8}})
    with pytest.raises(ConfigError, match="keypoint_min_inliers"):
        Config.from_dict({"link": {"keypoint_min_inliers": 2}})
    with pytest.raises(ConfigError, match="phash_candidate"):
        Config.from_dict({"link": {"phash_candidate": 65}})
    with pytest.raises(ConfigError, match="keypoint_min_spread"):
        Config.from_dict({"link": {"keypoint_min_spread": 1.5}})
    assert Config.from_dict({"link": {"neighbours": 5}}).link.neighbours == 5


# -- clusters ----------------------------------------------------------------------------------------

def _p(listing: str, seller: str, **env: str) -> Photo:
    return Photo(listing, seller, f"{listing}.jpg", f"/x/{listing}.jpg", "0" * 64, env)


def test_union_find_joins_chains() -> None:
    uf = UnionFind()
    uf.union("a", "b")
    uf.union("c", "d")
    uf.union("b", "d")
    assert len({uf.find(x) for x in "abcd"}) == 1 and uf.find("e") == "e"


def test_clusters_are_components_of_two_or_more_sellers_largest_first() -> None:
    photos = [_p("L1", "s1"), _p("L2", "s2"), _p("L3", "s3", ip="1.1.1.1"), _p("L4", "s4", ip="1.1.1.1"),
              _p("L5", "s5", ip="1.1.1.1"), _p("L6", "s1"), _p("L7", "s7", ip="")]
    links = [PhotoLink(1, 0, 0.91, "keypoints", 30, 44), PhotoLink(5, 0, 0.99, "cnn", 20)]  # the second: same seller
    found = clusters([*photo_links(photos, links), *env_links(photos)])
    assert [c.sellers for c in found] == [("s3", "s4", "s5"), ("s1", "s2")]
    assert [c.cluster for c in found] == [0, 1]
    ip, ph = found[0].to_dict(), found[1].to_dict()
    assert ip["listings"] == ["L3", "L4", "L5"]
    assert [(lk["kind"], lk["score"]) for lk in ip["links"]] == [("ip", 1.0), ("ip", 1.0)]  # n - 1 links, not n²
    [link] = ph["links"]
    assert link["kind"] == "photo" and link["score"] == 0.91
    assert {link["a"]["seller_id"], link["b"]["seller_id"]} == {"s1", "s2"}
    assert set(link["a"]) == {"seller_id", "listing_id", "image"}
    assert link["evidence"] == {"by": "keypoints", "phash_distance": 30, "inliers": 44}


def test_graphml_reads_back_with_networkx() -> None:
    nx = pytest.importorskip("networkx")
    photos = [_p("L1", "s1"), _p("L2", "s2", device_id="d"), _p("L3", "s3", device_id="d")]
    found = clusters([*photo_links(photos, [PhotoLink(1, 0, 0.97, "cnn", 12)]), *env_links(photos)])
    import io

    graph = nx.read_graphml(io.BytesIO(graphml(found)))
    assert sorted(graph.nodes) == ["s1", "s2", "s3"]
    kinds = sorted((d["kind"], d["score"]) for _, _, d in graph.edges(data=True))
    assert kinds == [("device_id", 1.0), ("photo", 0.97)]
    assert {graph.nodes[n]["cluster"] for n in graph.nodes} == {0}


# -- the linker and its index ------------------------------------------------------------------------

def test_copies_link_sellers_and_different_photos_do_not(shop: Path) -> None:
    result = link_manifest(shop / "manifest.csv", linker=tiny_linker())
    assert [c.sellers for c in result.clusters] == [("s1", "s2", "s3"), ("s5", "s6")]
    photo_cluster = result.clusters[0].to_dict()
    assert photo_cluster["listings"] == ["L1", "L2", "L3"]
    assert {lk["kind"] for lk in photo_cluster["links"]} == {"photo"}
    assert result.described == 6 and result.photos == 6 and result.skipped == ()


def test_the_index_is_reused_and_extended(shop: Path) -> None:
    index_dir = shop / "idx"
    first = tiny_linker()
    link_manifest(shop / "manifest.csv", index_dir=index_dir, linker=first)
    assert (index_dir / MANIFEST).is_file()
    calls = first.describer.embedder.calls
    assert calls == 12  # 6 photos and their mirror images

    # The same manifest again: nothing is described, the clusters are the same.
    again = tiny_linker()
    result = link_manifest(shop / "manifest.csv", index_dir=index_dir, linker=again)
    assert again.describer.embedder.calls == 0 and result.described == 0
    assert [c.sellers for c in result.clusters] == [("s1", "s2", "s3"), ("s5", "s6")]

    # Tomorrow: one new listing reposting photo 2 is linked against yesterday's s4.
    jpeg(crop(photo(2), 0.85), 50).save(shop / "p" / "b-new.jpg")
    tomorrow = write_manifest(shop, [("L9", "s9", "p/b-new.jpg")])
    later = tiny_linker()
    result = link_manifest(tomorrow, index_dir=index_dir, linker=later)
    assert result.described == 1 and result.photos == 7
    assert ("s4", "s9") in [c.sellers for c in result.clusters]
    payload = {p.name for p in index_dir.iterdir()}
    assert len(payload) == 4, payload  # the manifest and its three current files; older payloads deleted


def test_an_index_of_another_embedder_or_other_settings_is_refused(shop: Path) -> None:
    index_dir = shop / "idx"
    link_manifest(shop / "manifest.csv", index_dir=index_dir, linker=tiny_linker())

    class Other(TinyEmbedder):
        name = "other.v1"

    with pytest.raises(LinkIndexError, match="built with embedder 'tiny-test.v1'"):
        Linker(CFG, describer=PhotoDescriber(Other())).open_index(index_dir)
    stricter = LinkConfig(**{**TINY_LINK, "keypoint_min_inliers": 40})
    with pytest.raises(LinkIndexError, match="other link settings"):
        Linker(stricter, describer=PhotoDescriber(TinyEmbedder())).open_index(index_dir)


def test_a_damaged_index_file_is_detected(shop: Path) -> None:
    index_dir = shop / "idx"
    link_manifest(shop / "manifest.csv", index_dir=index_dir, linker=tiny_linker())
    manifest = json.loads((index_dir / MANIFEST).read_text())
    (index_dir / manifest["files"]["hashes.npy"]["file"]).write_bytes(b"torn")
    with pytest.raises(LinkIndexError, match="does not match its sha256"):
        tiny_linker().open_index(index_dir)


def test_a_listing_moved_to_another_seller_is_a_row_error(shop: Path) -> None:
    index_dir = shop / "idx"
    link_manifest(shop / "manifest.csv", index_dir=index_dir, linker=tiny_linker())
    moved = write_manifest(shop, [("L4", "s8", "p/c.jpg")])
    with pytest.raises(ManifestError, match="row 2: listing 'L4' belongs to seller 's4' in the index"):
        link_manifest(moved, index_dir=index_dir, linker=tiny_linker())


def test_an_unreadable_photo_is_skipped_with_its_row(shop: Path) -> None:
    (shop / "p" / "broken.jpg").write_bytes(b"not a jpeg at all")
    rows = write_manifest(shop, [("L1", "s1", "p/a.jpg"), ("L2", "s2", "p/broken.jpg"), ("L3", "s3", "p/a-crop.jpg")])
    result = link_manifest(rows, linker=tiny_linker())
    assert len(result.skipped) == 1 and result.skipped[0].startswith("row 3:")
    assert [c.sellers for c in result.clusters] == [("s1", "s3")]
