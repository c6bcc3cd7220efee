"""``detector link`` in-process: output shape, exit codes, manifest errors by row, GraphML, --index reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from link_helpers import TINY_LINK, TinyEmbedder, crop, jpeg, photo, write_manifest

from detector.cli import EXIT_FLAGGED, EXIT_OK, EXIT_USAGE, main


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> list[TinyEmbedder]:
    """Every embedder the command builds is a tiny one (no CNN); the list holds them."""
    import detector.logos.embed

    made: list[TinyEmbedder] = []

    def create(name: str = "") -> TinyEmbedder:
        made.append(TinyEmbedder())
        return made[-1]

    monkeypatch.setattr(detector.logos.embed, "create_embedder", create)
    return made


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "p").mkdir()
    for name, im in {"a.jpg": photo(1), "a2.jpg": jpeg(crop(photo(1))), "b.jpg": photo(2), "c.jpg": photo(3)}.items():
        im.save(tmp_path / "p" / name, quality=92)
    write_manifest(tmp_path, [("L1", "s1", "p/a.jpg", "", "pay-1"), ("L2", "s2", "p/a2.jpg", "", ""),
                              ("L3", "s3", "p/b.jpg", "10.0.0.1", "pay-1"), ("L4", "s4", "p/c.jpg", "", "")],
                   header="listing_id,seller_id,image,ip,payment_account")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"link": TINY_LINK}))
    return tmp_path


def link(capsys, shop: Path, *args: str) -> tuple[int, list[dict], str]:  # type: ignore[no-untyped-def]
    code = main(["link", "--no-progress", "--config", str(shop / "config.yaml"), *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_clusters_are_jsonl_on_stdout_and_exit_1(tiny, shop, capsys) -> None:
    code, records, err = link(capsys, shop, str(shop / "manifest.csv"))
    assert code == EXIT_FLAGGED
    [cluster] = records  # s1-s2 by the photo, s1-s3 by the payment account: one component
    assert cluster["cluster"] == 0 and cluster["sellers"] == ["s1", "s2", "s3"]
    assert cluster["listings"] == ["L1", "L2", "L3"]
    kinds = [lk["kind"] for lk in cluster["links"]]
    assert kinds == ["photo", "payment_account"]
    photo_link = cluster["links"][0]
    assert {photo_link["a"]["image"], photo_link["b"]["image"]} == {"p/a.jpg", "p/a2.jpg"}
    assert 0.0 <= photo_link["score"] <= 1.0
    assert "1 clusters of 3 sellers" in err


def test_no_cluster_exits_0(tiny, shop, capsys) -> None:
    alone = write_manifest(shop, [("L1", "s1", "p/a.jpg"), ("L3", "s3", "p/b.jpg")])
    code, records, _ = link(capsys, shop, str(alone))
    assert (code, records) == (EXIT_OK, [])


@pytest.mark.parametrize(("rows", "header", "message"), [
    ([("L1", "s1", "p/a.jpg")], "listing_id,seller,image", "row 1 (header): missing column(s) seller_id"),
    ([("L1", "s1", "p/a.jpg"), ("L2", "s2", "p/zzz.jpg")], "listing_id,seller_id,image", "row 3: image 'p/zzz.jpg' does not exist"),
    ([("L1", "s1", "p/a.jpg"), ("L1", "s1", "p/a.jpg")], "listing_id,seller_id,image", "row 3: duplicate row"),
])
def test_manifest_errors_exit_2_with_the_row(tiny, shop, capsys, rows, header, message) -> None:
    bad = write_manifest(shop, rows, header=header)
    code, records, err = link(capsys, shop, str(bad))
    assert code == EXIT_USAGE and records == []
    assert message in err
    assert tiny == []  # refused before any model was built


def test_output_and_graphml_files(tiny, shop, capsys) -> None:
    nx = pytest.importorskip("networkx")
    out, graph = shop / "clusters.jsonl", shop / "sellers.graphml"
    code, records, _ = link(capsys, shop, str(shop / "manifest.csv"), "--output", str(out), "--graphml", str(graph))
    assert code == EXIT_FLAGGED and records == []
    [cluster] = [json.loads(line) for line in out.read_text().splitlines()]
    g = nx.read_graphml(graph)
    assert sorted(g.nodes) == cluster["sellers"]
    assert sorted(d["kind"] for _, _, d in g.edges(data=True)) == ["payment_account", "photo"]


def test_unwritable_output_is_a_usage_error(tiny, shop, capsys) -> None:
    code, _, err = link(capsys, shop, str(shop / "manifest.csv"), "--graphml", str(shop / "no" / "g.graphml"))
    assert code == EXIT_USAGE and "its folder does not exist" in err


def test_index_makes_the_second_run_describe_nothing(tiny, shop, capsys) -> None:
    index = shop / "idx"
    code, first, err = link(capsys, shop, str(shop / "manifest.csv"), "--index", str(index))
    assert code == EXIT_FLAGGED and "4 photos described" in err
    code, second, err = link(capsys, shop, str(shop / "manifest.csv"), "--index", str(index))
    assert code == EXIT_FLAGGED and second == first
    assert "0 photos described, 4 in the index" in err
    assert sum(e.calls for e in tiny) == 8  # 4 photos + mirrors, the first time only


def test_catalog_official_photos_do_not_link_sellers(tiny, shop, capsys) -> None:
    cat = shop / "cat"
    (cat / "official").mkdir(parents=True)
    photo(1).save(cat / "official" / "a.png")  # s1 and s2 both post the brand's own picture
    (cat / "catalog.yaml").write_text(yaml.safe_dump(
        {"version": 1, "brands": [{"name": "Acme", "official_photos": ["official/a.png"]}]}))
    pair = write_manifest(shop, [("L1", "s1", "p/a.jpg"), ("L2", "s2", "p/a2.jpg")])
    code, records, _ = link(capsys, shop, str(pair))
    assert code == EXIT_FLAGGED and records[0]["sellers"] == ["s1", "s2"]
    code, records, err = link(capsys, shop, str(pair), "--catalog", str(cat))
    assert (code, records) == (EXIT_OK, [])
    assert "1 photo links through official photos left out" in err
