"""Evidence bundle: everything the audit log holds about one listing, in one zip that checks itself.

``detector audit export LISTING_ID -o case.zip`` writes::

    manifest.json                         every other file with its sha256 and size, and what is in it
    chain.json                            the bundle's audit rows exactly as stored, with their chain hashes
    decisions/<id>/decision.json          the decision as the service returned it (the listing's fields in it)
    decisions/<id>/audit.json             the record: time, seller, flags with their evidence, stage versions,
                                          the photos' sha256s, the overrides, the chain links
    decisions/<id>/evidence/<i>-<sha8>.jpg  each photo annotated (``detector.evidence``): boxes and flags
    photos/<sha256>.<ext>                 each photo's bytes as uploaded (from the log's photo store)
    catalog/<mark>                        the reference marks the logos matched

A photo the store does not have (stored with photos off, or before the store existed) is listed in
the manifest as not stored, and the rest is exported. ``verify_bundle`` checks every file against the
manifest, re-hashes the rows of ``chain.json``, and checks that each ``decision.json`` and photo is the
one its chained row names. The manifest guards against accidental change; against a forger, compare
the rows' hashes with the log (``detector audit verify`` prints its head, to keep elsewhere).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.audit import AuditError
from detector.audit_blobs import BlobStore, blob_dir
from detector.audit_chain import row_hash

if TYPE_CHECKING:
    from detector.audit import AuditLog, AuditRecord
    from detector.types import ImageReport

__all__ = ["BUNDLE_FORMAT", "BundleCheck", "BundleError", "ExportResult", "export_listing", "verify_bundle"]

BUNDLE_FORMAT = "detector-evidence-bundle/1"
MANIFEST = "manifest.json"


class BundleError(AuditError):
    """A file is not an evidence bundle that can be read (not a zip, no or malformed manifest)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    listing_id: str
    decisions: tuple[int, ...]
    files: int
    manifest_sha256: str
    photos_stored: int
    photos_missing: int
    chain_ok: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.path), "listing_id": self.listing_id, "decisions": list(self.decisions),
            "files": self.files, "manifest_sha256": self.manifest_sha256, "photos_stored": self.photos_stored,
            "photos_missing": self.photos_missing, "chain_ok": self.chain_ok, "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BundleCheck:
    """What ``verify_bundle`` found: files and rows checked, and the first problem (None when it holds)."""

    files: int
    rows: int
    manifest_sha256: str
    problem: str | None = None
    bad_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.problem is None, "files": self.files, "rows": self.rows,
                "manifest_sha256": self.manifest_sha256, "bad_file": self.bad_file, "problem": self.problem}


@dataclass
class _Bundle:
    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return path

    def add_json(self, path: str, value: Any) -> str:
        return self.add(path, (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def export_listing(
    log: AuditLog, listing_id: str, out: str | Path, *, catalog: str | Path | None = None
) -> ExportResult:
    """Write the evidence bundle of ``listing_id`` to ``out`` (atomically). ``AuditError`` when it has no record."""
    from datetime import UTC, datetime

    from detector import __version__

    records = log.of_listing(listing_id)
    ids = [r.id for r in records]
    chain = log.verify()
    bundle = _Bundle()
    if not chain.ok:
        bundle.notes.append(f"the audit log's chain does not verify ({chain.problem}); the manifest records it")
    rows = log.chain_rows(ids)
    bundle.add_json("chain.json", {"head_at_export": chain.to_dict()["head"], "rows": rows})
    photos = _photos(bundle, records, BlobStore(blob_dir(log.path)))
    marks, catalog_info = _marks(bundle, records, catalog)
    for r in records:
        bundle.add_json(f"decisions/{r.id}/decision.json", r.decision_json)
        bundle.add_json(f"decisions/{r.id}/audit.json", {k: v for k, v in r.to_dict().items() if k != "decision_json"})
    manifest = {
        "format": BUNDLE_FORMAT,
        "listing_id": listing_id,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "exported_by": f"detector {__version__}",
        "audit_db": log.path,
        "decisions": ids,
        "chain": chain.to_dict(),
        "photos": photos,
        "marks": marks,
        "catalog": catalog_info,
        "notes": bundle.notes,
        "files": [
            {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in sorted(bundle.files.items())
        ],
    }
    data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    target = _write_zip(Path(out), {**bundle.files, MANIFEST: data})
    stored = sum(1 for p in photos if p["stored"])
    return ExportResult(
        target, listing_id, tuple(ids), len(bundle.files) + 1, hashlib.sha256(data).hexdigest(), stored,
        len(photos) - stored, chain.ok, tuple(bundle.notes),
    )


def _photos(bundle: _Bundle, records: list[AuditRecord], store: BlobStore) -> list[dict[str, Any]]:
    """Each photo's bytes (once per sha256) and its annotated copy per decision; a manifest entry for each."""
    out = []
    for r in records:
        reports = r.decision_json.get("images", [])
        for i, sha in enumerate(r.image_sha256s):
            name = reports[i].get("path") if i < len(reports) else None
            entry: dict[str, Any] = {"decision_id": r.id, "index": i, "name": name, "sha256": sha, "stored": False}
            out.append(entry)
            try:
                data = store.get(sha) if sha else None
            except ValueError as exc:  # a bad key or bytes that no longer hash to it: not evidence
                entry["note"] = str(exc)
                bundle.notes.append(f"decision {r.id} photo {i}: {exc}")
                continue
            if data is None:
                entry["note"] = "not stored (the log kept only its sha256: photos off, or recorded before the store)"
                bundle.notes.append(f"decision {r.id} photo {i} ({name}): {entry['note']}")
                continue
            entry["stored"] = True
            entry["file"] = f"photos/{sha}.{_extension(data)}"
            bundle.add(entry["file"], data)
            try:
                annotated = _annotated(data, reports[i])
            except Exception as exc:  # noqa: BLE001 - an unreadable report or photo costs its picture, not the bundle
                entry["evidence_note"] = f"no annotated copy: {type(exc).__name__}: {exc}"
                continue
            if annotated is not None:
                entry["evidence"] = bundle.add(f"decisions/{r.id}/evidence/{i}-{(sha or '')[:8]}.jpg", annotated)
    return out


def _annotated(data: bytes, record: dict[str, Any]) -> bytes | None:
    from detector.evidence import evidence_image

    report = _report(record)
    if not report.ok:
        return None
    buf = io.BytesIO()
    evidence_image(data, report).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _report(d: dict[str, Any]) -> ImageReport:
    """An ``ImageReport`` back from its JSON record: what the annotator draws (boxes, flags, decision)."""
    from detector.types import Box, Decision, Flag, ImageReport, LogoMatch, Relation, Severity, TextSpan

    return ImageReport(
        path=str(d.get("path")), ok=bool(d.get("ok")), error=d.get("error"),
        decision=Decision(d["decision"]) if d.get("decision") else None, risk=d.get("risk"),
        logos=tuple(LogoMatch(m["brand"], m["score"], Box(*m["box"]), m["mark"]) for m in d.get("logos", [])),
        texts=tuple(
            TextSpan(t["text"], t["confidence"], Box(*t["box"]) if t.get("box") else None, t.get("brand"),
                     Relation(t["relation"]) if t.get("relation") else None)
            for t in d.get("texts", [])
        ),
        flags=tuple(
            Flag(f["rule"], Severity(f["severity"]), f["message"], f.get("brand"), tuple(f.get("evidence", ())))
            for f in d.get("flags", [])
        ),
        sha256=d.get("sha256"),
    )


def _marks(
    bundle: _Bundle, records: list[AuditRecord], catalog_dir: str | Path | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The catalog's files of the marks the logos matched, and which catalog that was."""
    from detector.catalog import load_catalog
    from detector.errors import CatalogError

    wanted = sorted({
        (m.get("brand"), m.get("mark")) for r in records for im in r.decision_json.get("images", [])
        for m in im.get("logos", []) if m.get("mark")
    })
    if not wanted:
        return [], None
    try:
        catalog = load_catalog(catalog_dir, check_images=False)
        info = {"root": str(catalog.root), "content_hash": catalog.content_hash()}
    except CatalogError as exc:
        bundle.notes.append(f"catalog unavailable, marks not included: {exc}")
        return [{"brand": b, "mark": m, "found": False, "note": str(exc)} for b, m in wanted], None
    used = sorted({r.versions.get("catalog", "") for r in records} - {""})
    info["decisions_used"] = used
    info["same_as_decisions"] = used == [info["content_hash"]]
    if not info["same_as_decisions"]:
        bundle.notes.append("the catalog differs from the one the decisions used: its marks are as they are now")
    out = []
    for brand, mark in wanted:
        entry: dict[str, Any] = {"brand": brand, "mark": mark, "found": False}
        try:
            entry["file"] = bundle.add(f"catalog/{mark}", catalog.mark_path(mark).read_bytes())
            entry["found"] = True
        except (CatalogError, OSError) as exc:  # a mark removed from the catalog since, or a path never in it
            entry["note"] = str(exc)
            bundle.notes.append(f"mark {mark!r} ({brand}): not found: {exc}")
        out.append(entry)
    return out, info


def _extension(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            fmt = (im.format or "").lower()
    except Exception:  # noqa: BLE001 - any undecodable header: the bytes are kept as they are
        return "bin"
    return {"jpeg": "jpg", "": "bin"}.get(fmt, fmt)


def _write_zip(target: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` into a zip at ``target`` via a temporary file and a rename: an interruption leaves the old one."""
    target = target.expanduser()
    if target.is_dir():
        raise AuditError(f"-o {target} is a folder; give the zip file to write, e.g. {target / 'case.zip'}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise AuditError(f"cannot write the bundle {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path, data in files.items():
                    zf.writestr(path, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AuditError(f"cannot write the bundle {target}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- verifying a bundle -----------------------------------------------------------------------------


def verify_bundle(path: str | Path) -> BundleCheck:
    """Check every file of the bundle at ``path`` against its manifest, and its rows against their hashes.

    ``BundleError`` when it is not a bundle at all; a ``BundleCheck`` naming the first bad file otherwise.
    """
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"no bundle at {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a zip file ({exc}): expected a bundle from `detector audit export`") from None
    with zf:
        try:
            raw = zf.read(MANIFEST)
            manifest = json.loads(raw)
            listed = {f["path"]: f for f in manifest["files"]}
        except KeyError:
            raise BundleError(f"{path} has no usable {MANIFEST}: not a bundle from `detector audit export`") from None
        except (ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise BundleError(f"{path}: {MANIFEST} is unreadable or malformed: {exc}") from None
        digest = hashlib.sha256(raw).hexdigest()

        def bad(file: str, why: str, rows: int = 0) -> BundleCheck:
            return BundleCheck(len(listed), rows, digest, f"{file}: {why}", file)

        contents: dict[str, bytes] = {}
        for name, entry in listed.items():
            try:
                data = zf.read(name)
            except KeyError:
                return bad(name, "listed in manifest.json but missing from the bundle")
            except (zipfile.BadZipFile, OSError) as exc:  # a CRC error: the bytes were changed in place
                return bad(name, f"unreadable ({exc})")
            got = hashlib.sha256(data).hexdigest()
            if got != entry.get("sha256") or len(data) != entry.get("size"):
                return bad(name, f"sha256 {got[:12]}… ({len(data)} bytes) does not match the manifest's "
                                 f"{str(entry.get('sha256'))[:12]}… ({entry.get('size')} bytes)")
            contents[name] = data
        extra = sorted({i.filename for i in zf.infolist() if not i.is_dir()} - set(listed) - {MANIFEST})
        if extra:
            return bad(extra[0], "in the bundle but not listed in manifest.json")
    problem = _check_rows(contents, manifest)
    rows = len(json.loads(contents["chain.json"])["rows"]) if "chain.json" in contents else 0
    if problem:
        return bad(*problem, rows=rows)
    return BundleCheck(len(listed), rows, digest)


def _check_rows(contents: dict[str, bytes], manifest: dict[str, Any]) -> tuple[str, str] | None:
    """Each row of chain.json hashes to its recorded hash; each decision.json and photo is the one its row names."""
    if "chain.json" not in contents:
        return "chain.json", "missing: the bundle has no audit rows to check"
    try:
        rows = json.loads(contents["chain.json"])["rows"]
        images: dict[int, list[str]] = {}
        for row in rows:
            fields = row["fields"]
            values = [fields[k] for k in _table_fields(row["table"])]
            if row_hash(row["table"], row["id"], row["seq"], row["prev_hash"], values) != row["hash"]:
                return "chain.json", f"{row['table']} id {row['id']}: its fields do not hash to its recorded hash"
            if row["table"] == "decisions":
                images[row["id"]] = json.loads(fields["image_sha256s"])
                name = f"decisions/{row['id']}/decision.json"
                if json.loads(contents.get(name, b"null")) != json.loads(fields["decision_json"]):
                    return name, f"is not the decision its chained row (decisions id {row['id']}) holds"
        for photo in manifest.get("photos", []):
            file = photo.get("file")
            if file and file not in contents:
                return file, "named in the manifest's photos but not among its files"
            if file and (hashlib.sha256(contents[file]).hexdigest() != photo["sha256"]
                         or photo["sha256"] not in images.get(photo["decision_id"], [])):
                return file, f"is not a photo that decisions id {photo['decision_id']} names by its sha256"
    except (KeyError, TypeError, ValueError) as exc:
        return "chain.json", f"malformed ({type(exc).__name__}: {exc})"
    return None


def _table_fields(table: str) -> tuple[str, ...]:
    from detector.audit_chain import TABLES

    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    return TABLES[table]
