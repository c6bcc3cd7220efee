"""Evidence bundles (`detector audit export`, `verify-bundle`) and the audit log's photo store."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from detector.audit import AuditError, AuditLog
from detector.audit_blobs import BlobStore, blob_dir
from detector.audit_export import export_listing, verify_bundle
from detector.cli import EXIT_OK, EXIT_USAGE, main
from detector.types import (
    Box,
    BrandSighting,
    Decision,
    Flag,
    ImageReport,
    ListingDecision,
    LogoMatch,
    Relation,
    Severity,
    TextSpan,
)


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (160, 120)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG")
    return buf.getvalue()


PHOTOS = [jpeg((250, 250, 250)), jpeg((20, 40, 200))]
SHAS = [hashlib.sha256(p).hexdigest() for p in PHOTOS]


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    (root / "marks").mkdir(parents=True)
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "marks" / "nike.png")
    (root / "catalog.yaml").write_text("version: 1\nbrands:\n  - name: Nike\n    marks: [marks/nike.png]\n")
    return root


def listing_decision(listing_id: str = "L-7", catalog_hash: str = "c" * 64) -> ListingDecision:
    flag = Flag("lookalike_brand_text", Severity.BLOCK, "'NlKE' looks like Nike", brand="Nike", evidence=("image:b.jpg",))
    logo = LogoMatch("Nike", 0.91, Box(10, 10, 60, 50), "marks/nike.png")
    text = TextSpan("NlKE", 0.98, Box(70, 60, 140, 90), brand="Nike", relation=Relation.LOOKALIKE)
    return ListingDecision(
        listing_id=listing_id,
        decision=Decision.BLOCK,
        risk=0.95,
        brands=(BrandSighting("Nike", 0.91, ("logo", "text")),),
        flags=(flag,),
        images=(
            ImageReport(path="a.jpg", ok=True, decision=Decision.ALLOW, risk=0.0, sha256=SHAS[0], size=(160, 120)),
            ImageReport(path="b.jpg", ok=True, decision=Decision.BLOCK, risk=0.95, logos=(logo,), texts=(text,),
                        flags=(flag,), sha256=SHAS[1], size=(160, 120)),
        ),
        versions={"detector": "0.1.0", "ocr": "fake-ocr", "logos": "fused", "catalog": catalog_hash},
        timings_ms={"total": 10.0},
    )


@pytest.fixture
def db(tmp_path: Path, catalog: Path) -> Path:
    from detector.catalog import load_catalog

    path = tmp_path / "audit.db"
    chash = load_catalog(catalog, check_images=False).content_hash()
    with AuditLog(path) as log:
        log.record(listing_decision("OTHER", chash), images=[jpeg((0, 255, 0))])
        first = log.record(listing_decision(catalog_hash=chash), seller_id="s-9", images=PHOTOS)
        log.override(first, "review", "seller sent an invoice", reviewer="ana")
        log.record(listing_decision(catalog_hash=chash), seller_id="s-9", images=PHOTOS)  # re-upload: same photos
    return path


def unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


# -- the photo store --------------------------------------------------------------------------------


def test_photos_are_stored_once_by_sha256_before_the_row(db: Path) -> None:
    store = BlobStore(blob_dir(db))
    assert all(store.get(sha) == photo for sha, photo in zip(SHAS, PHOTOS))
    assert store.path(SHAS[0]) == Path(f"{db}.blobs") / SHAS[0][:2] / f"{SHAS[0]}.bin"
    files = [p for p in Path(f"{db}.blobs").rglob("*") if p.is_file()]
    assert len(files) == 3  # two photos sent twice, plus the other listing's one; no temporary file left


def test_a_photo_given_by_path_is_stored_and_a_pil_image_is_not(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(PHOTOS[0])
    with AuditLog(tmp_path / "a.db") as log:
        log.record(listing_decision(), images=[photo, Image.new("RGB", (8, 8))])
        assert log.blobs is not None and SHAS[0] in log.blobs
        assert len(list(log.blobs.root.rglob("*.bin"))) == 1


def test_photos_off_keeps_only_the_hashes(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db", photos=False) as log:
        log.record(listing_decision(), images=PHOTOS)
        assert log.blobs is None
    assert not blob_dir(tmp_path / "a.db").exists()


def test_an_altered_photo_is_not_served(db: Path) -> None:
    store = BlobStore(blob_dir(db))
    store.path(SHAS[0]).write_bytes(b"not the photo")
    with pytest.raises(ValueError, match="altered or corrupt"):
        store.get(SHAS[0])
    with pytest.raises(ValueError, match="64 lowercase hex"):
        store.path("../../etc/passwd")


def test_a_photo_that_cannot_be_stored_fails_the_record(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    blob_dir(path).write_text("a file where the folder should be")
    with AuditLog(path) as log:
        with pytest.raises(AuditError, match="cannot store the photos"):
            log.record(listing_decision(), images=PHOTOS)
        assert log.count() == 0  # no photo, no row


# -- export -----------------------------------------------------------------------------------------


def test_export_bundles_the_listing_and_its_manifest_verifies(db: Path, catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.zip"
    with AuditLog(db) as log:
        result = export_listing(log, "L-7", out, catalog=catalog)
        records = log.of_listing("L-7")
    assert result.decisions == (2, 3) and result.photos_stored == 4 and result.photos_missing == 0
    assert result.chain_ok and result.notes == ()
    files = unzip(out)
    manifest = json.loads(files.pop("manifest.json"))
    assert hashlib.sha256(unzip(out)["manifest.json"]).hexdigest() == result.manifest_sha256
    # Every file is listed with its sha256 and size, and nothing else is in the zip.
    assert {f["path"]: (f["sha256"], f["size"]) for f in manifest["files"]} == {
        p: (hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()
    }
    assert manifest["listing_id"] == "L-7" and manifest["decisions"] == [2, 3]
    assert manifest["chain"]["ok"] and manifest["chain"]["head"]["seq"] == 4

    for rec in records:
        assert json.loads(files[f"decisions/{rec.id}/decision.json"]) == rec.decision_json
        audit = json.loads(files[f"decisions/{rec.id}/audit.json"])
        assert audit["flags"][0]["evidence"] == ["image:b.jpg"] and audit["versions"]["logos"] == "fused"
        assert audit["image_sha256s"] == SHAS and audit["created_at"] == rec.created_at
        assert audit["chain"]["hash"] == rec.chain.hash
        for i, sha in enumerate(SHAS):
            evidence = files[f"decisions/{rec.id}/evidence/{i}-{sha[:8]}.jpg"]
            annotated = Image.open(io.BytesIO(evidence))
            assert annotated.width == 160 and annotated.height > 120  # the photo with the footer below
    assert json.loads(files["decisions/2/audit.json"])["overrides"][0]["reason"] == "seller sent an invoice"
    # The photos are the uploaded bytes, once each; the matched mark is the catalog's file.
    assert files[f"photos/{SHAS[0]}.jpg"] == PHOTOS[0] and files[f"photos/{SHAS[1]}.jpg"] == PHOTOS[1]
    assert files["catalog/marks/nike.png"] == (catalog / "marks" / "nike.png").read_bytes()
    assert manifest["marks"] == [{"brand": "Nike", "mark": "marks/nike.png", "found": True,
                                  "file": "catalog/marks/nike.png"}]
    assert manifest["catalog"]["same_as_decisions"] is True
    # The rows travel as stored, with the hashes of the log: decisions 2, 3 and the override.
    rows = json.loads(files["chain.json"])["rows"]
    assert [(r["table"], r["id"], r["seq"]) for r in rows] == [("decisions", 2, 2), ("overrides", 1, 3),
                                                               ("decisions", 3, 4)]
    check = verify_bundle(out)
    assert check.problem is None and check.files == len(files) and check.rows == 3


def test_a_listing_whose_photos_were_not_stored_still_exports(tmp_path: Path, catalog: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nophotos.db"
    with AuditLog(path, photos=False) as log:
        log.record(listing_decision(), images=PHOTOS)
    out = tmp_path / "case.zip"
    assert main(["audit", "export", "L-7", "--db", str(path), "-o", str(out), "--catalog", str(catalog)]) == EXIT_OK
    captured = capsys.readouterr()
    assert json.loads(captured.out)["photos_missing"] == 2
    assert "not stored" in captured.err
    manifest = json.loads(unzip(out)["manifest.json"])
    assert [(p["stored"], "not stored" in p["note"]) for p in manifest["photos"]] == [(False, True)] * 2
    assert not [f for f in manifest["files"] if f["path"].startswith(("photos/", "decisions/1/evidence/"))]
    assert "decisions/1/decision.json" in unzip(out)
    assert manifest["catalog"]["same_as_decisions"] is False  # the decision names another catalog hash
    assert verify_bundle(out).problem is None


def test_cli_export_then_verify_bundle(db: Path, catalog: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cases" / "case.zip"
    assert main(["audit", "export", "L-7", "--db", str(db), "-o", str(out), "--catalog", str(catalog)]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["bundle"] == str(out) and summary["decisions"] == [2, 3]
    assert main(["audit", "verify-bundle", str(out)]) == EXIT_OK
    out_text, err = capsys.readouterr()
    assert json.loads(out_text)["ok"] is True and "files match manifest.json" in err
    assert [p.name for p in out.parent.iterdir()] == ["case.zip"]  # no temporary file left


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("edit decision", "decisions/2/decision.json"),
        ("edit photo", "photos/{sha1}.jpg"),
        ("drop file", "catalog/marks/nike.png"),
        ("add file", "extra.txt"),
    ],
)
def test_a_tampered_bundle_fails_naming_the_file(
    db: Path, catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, named: str
) -> None:
    out = tmp_path / "case.zip"
    with AuditLog(db) as log:
        export_listing(log, "L-7", out, catalog=catalog)
    files = unzip(out)
    named = named.format(sha1=SHAS[1])
    if change == "edit decision":
        files[named] = files[named].replace(b'"block"', b'"allow"')
    elif change == "edit photo":
        files[named] = PHOTOS[0]
    elif change == "drop file":
        del files[named]
    else:
        files[named] = b"added later"
    rezip(out, files)
    assert main(["audit", "verify-bundle", str(out)]) == 1
    out_text, err = capsys.readouterr()
    assert json.loads(out_text)["bad_file"] == named
    assert f"does NOT verify: {named}:" in err


def test_a_bundle_forged_with_a_new_manifest_fails_on_its_chained_rows(db: Path, catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.zip"
    with AuditLog(db) as log:
        export_listing(log, "L-7", out, catalog=catalog)
    files = unzip(out)
    files["decisions/3/decision.json"] = files["decisions/3/decision.json"].replace(b'"block"', b'"allow"')
    manifest = json.loads(files["manifest.json"])
    for f in manifest["files"]:  # the forger recomputes the manifest too
        data = files[f["path"]]
        f["sha256"], f["size"] = hashlib.sha256(data).hexdigest(), len(data)
    files["manifest.json"] = json.dumps(manifest).encode()
    rezip(out, files)
    check = verify_bundle(out)
    assert check.bad_file == "decisions/3/decision.json"
    assert "is not the decision its chained row (decisions id 3) holds" in (check.problem or "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "export", "NOPE", "-o", "{tmp}/x.zip"], "no audit record of listing 'NOPE'"),
        (["audit", "export", "L-7", "-o", "{tmp}"], "is a folder"),
        (["audit", "verify-bundle", "{tmp}/missing.zip"], "no bundle at"),
        (["audit", "verify-bundle", "{db}"], "is not a zip file"),
        (["audit", "verify-bundle", "{tmp}/empty.zip"], "has no usable manifest.json"),
    ],
)
def test_cli_export_and_verify_bundle_errors_exit_2(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    rezip(tmp_path / "empty.zip", {"a.txt": b"a"})
    args = [a.format(tmp=tmp_path, db=db) for a in argv]
    if args[1] == "export":
        args += ["--db", str(db)]
    assert main(args) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_an_interrupted_export_leaves_the_old_bundle_whole(
    db: Path, catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "case.zip"
    out.write_bytes(b"the previous bundle")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with AuditLog(db) as log, pytest.raises(AuditError, match="cannot write the bundle"):
        export_listing(log, "L-7", out, catalog=catalog)
    assert out.read_bytes() == b"the previous bundle"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".case")] == []


def test_export_of_a_tampered_log_says_so(db: Path, catalog: Path, tmp_path: Path) -> None:
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER decisions_append_only_u")
    con.execute("UPDATE decisions SET risk = 0.1 WHERE id = 1")
    con.commit()
    con.close()
    with AuditLog(db) as log:
        result = export_listing(log, "L-7", tmp_path / "case.zip", catalog=catalog)
    assert not result.chain_ok and "does not verify" in result.notes[0]
    manifest = json.loads(unzip(tmp_path / "case.zip")["manifest.json"])
    assert manifest["chain"]["problem"]["id"] == 1
