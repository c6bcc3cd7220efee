"""``POST /v1/listings/check`` flags a repost of a brand's official photo by a seller it has not authorised.

The CNN is the 4×4-thumbnail stand-in (tests/link_helpers.py); hashes and the keypoint check are real.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from conftest import FakeOcr
from link_helpers import TINY_LINK, TinyEmbedder, crop, jpeg, photo
from test_service import LiveServer, check_files

from detector.config import Config
from detector.pipeline import Detector
from detector.service import CHECK_PATH, create_app
from detector.stages import NoLogos


def test_service_flags_official_photo_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.logos.embed

    monkeypatch.setattr(detector.logos.embed, "create_embedder", lambda name="": TinyEmbedder())
    (tmp_path / "cat" / "official").mkdir(parents=True)
    photo(7).save(tmp_path / "cat" / "official" / "runner.png")
    (tmp_path / "cat" / "catalog.yaml").write_text(yaml.safe_dump({"version": 1, "brands": [
        {"name": "Acme", "authorized_sellers": ["acme-store"], "official_photos": ["official/runner.png"]}]}))
    config = Config.from_dict({"link": TINY_LINK, "logos": {"backend": "none"}})
    det = Detector(ocr=FakeOcr(), logos=NoLogos(), config=config, catalog=tmp_path / "cat")
    buf = io.BytesIO()
    jpeg(crop(photo(7), 0.8), 60).save(buf, "JPEG")
    server = LiveServer(create_app(det, audit_path=tmp_path / "audit.db")).start()
    try:
        with server.client() as client:
            for seller, flagged in (("s-42", True), ("acme-store", False)):
                listing = {"listing_id": f"L-{seller}", "seller_id": seller, "title": "running shoe"}
                r = client.post(CHECK_PATH, files=check_files(listing, [("shoe.jpg", buf.getvalue())]))
                assert r.status_code == 200, r.text
                rules = [f["rule"] for f in r.json()["flags"]]
                assert ("official_photo_reuse" in rules) == flagged
                if flagged:
                    assert r.json()["decision"] == "review"
    finally:
        server.stop()
