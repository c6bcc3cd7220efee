"""``detector.batch.read_inputs``: folders and CSV/Parquet manifests (no Ray needed, only pyarrow)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow", reason="manifests need the optional extra: pip install 'detector[ray]'")

from detector.batch import BatchError, read_inputs


def test_csv_manifest_rows_keep_listing_fields_and_folders_are_walked(tmp_path, images):
    folder = tmp_path / "photos"
    folder.mkdir()
    images.write(folder / "a.png", images.png((10, 10)))
    (folder / "notes.txt").write_text("not an image")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,listing_id,brand,extra\ns3://bucket/x.jpg,L1,Nike,ignored\n/data/y.jpg,,,\n")
    rows, skipped = read_inputs([manifest, folder])
    assert rows == [
        {"path": "s3://bucket/x.jpg", "listing_id": "L1", "brand": "Nike"},
        {"path": "/data/y.jpg", "listing_id": None, "brand": None},
        {"path": str(folder / "a.png")},
    ]
    assert skipped == 1


def test_parquet_manifest_without_a_path_column_says_what_it_needs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"file": ["x.jpg"]}), tmp_path / "m.parquet")
    with pytest.raises(BatchError, match="no 'path' column .* expected path and optionally listing_id"):
        read_inputs([tmp_path / "m.parquet"])
