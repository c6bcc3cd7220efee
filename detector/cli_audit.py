"""``detector audit …``: read the audit log, record overrides, verify its hash chain, export evidence.

Machine output (JSON) on stdout, sentences for people on stderr. ``verify`` and ``verify-bundle``
exit 0 when everything holds and 1 naming the first bad row or file; a missing log, record or
bundle is a usage error (2), like every ``DetectorError``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detector.audit import AuditLog

EXIT_OK = 0
EXIT_BAD = 1  # the chain or the bundle does not hold (mirrors "flagged": something to look at)
DEFAULT_DB = "detector-audit.db"


def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser(
        "audit", help="read the audit log of served decisions; record overrides; verify it; export evidence"
    )
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", metavar="PATH", default=DEFAULT_DB, help="SQLite audit log (default: %(default)s)")
        return p

    p = with_db(asub.add_parser("list", help="newest decisions first, one JSON object per line"))
    p.add_argument("--limit", type=int, default=20, help="how many (default: %(default)s)")
    p.add_argument("--listing", metavar="ID", help="only this listing's decisions")
    p.set_defaults(func=cmd_audit_list)
    p = with_db(asub.add_parser("show", help="one decision in full, with its overrides, as JSON"))
    p.add_argument("id", type=int, metavar="ID")
    p.set_defaults(func=cmd_audit_show)
    p = with_db(asub.add_parser("override", help="record a reviewer's decision beside the original (never over it)"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--decision", required=True, choices=["allow", "review", "block"])
    p.add_argument("--reason", required=True, help="why the original decision was wrong")
    p.add_argument("--reviewer", metavar="NAME", help="who decided (default: the OS user)")
    p.set_defaults(func=cmd_audit_override)
    p = with_db(asub.add_parser(
        "verify", help="check the hash chain over every row; print the head hash to keep elsewhere (exit 1 if broken)"
    ))
    p.set_defaults(func=cmd_audit_verify)
    p = with_db(asub.add_parser(
        "export", help="write a listing's evidence bundle (zip: decisions, photos, annotated photos, marks, manifest)"
    ))
    p.add_argument("listing_id", metavar="LISTING_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the zip to write (replaced atomically)")
    p.add_argument("--catalog", metavar="DIR", help="catalog holding the matched marks (default: the bundled one)")
    p.set_defaults(func=cmd_audit_export)
    p = asub.add_parser("verify-bundle", help="check every file of an evidence bundle against its manifest.json")
    p.add_argument("bundle", metavar="FILE")
    p.set_defaults(func=cmd_audit_verify_bundle)


def open_audit(path: str) -> AuditLog:
    """The log at ``path``; a missing file is an error here (never created by a reading command)."""
    from detector.audit import AuditError, AuditLog

    if not Path(path).is_file():
        raise AuditError(f"no audit log at {path}: pass --db PATH (the file `detector serve --audit-db` writes)")
    return AuditLog(path, photos=False)


def cmd_audit_list(args: argparse.Namespace) -> int:
    with open_audit(args.db) as audit:
        for record in audit.latest(args.limit, listing_id=args.listing):
            print(json.dumps(record.summary(), ensure_ascii=False))
    return EXIT_OK


def cmd_audit_show(args: argparse.Namespace) -> int:
    with open_audit(args.db) as audit:
        print(json.dumps(audit.get(args.id).to_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_audit_override(args: argparse.Namespace) -> int:
    import getpass

    reviewer = args.reviewer
    if reviewer is None:
        try:
            reviewer = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name in this environment; the override is still valid
            reviewer = None
    with open_audit(args.db) as audit:
        override = audit.override(args.id, args.decision, args.reason, reviewer)
    print(json.dumps(override.to_dict(), ensure_ascii=False))
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with open_audit(args.db) as audit:
        report = audit.verify()
    print(json.dumps(report.to_dict(), ensure_ascii=False))
    if report.migrated_rows:
        print(f"note: the first {report.migrated_rows} row(s) were written before the chain existed and were "
              f"chained on {report.migrated_at}; changes made to them before then cannot be seen", file=sys.stderr)
    if report.problem is not None:
        print(f"audit log {args.db} does NOT verify: first bad row: {report.problem}", file=sys.stderr)
        return EXIT_BAD
    print(f"ok: {report.rows} rows checked ({report.decisions} decisions, {report.overrides} overrides); "
          f"head: position {report.head_seq}, sha256 {report.head_hash} (keep a copy elsewhere: a log rewritten "
          "end to end is caught only by comparing this hash)", file=sys.stderr)
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    from detector.audit_export import export_listing

    with open_audit(args.db) as audit:
        result = export_listing(audit, args.listing_id, args.output, catalog=args.catalog)
    print(json.dumps(result.to_dict(), ensure_ascii=False))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {result.path}: {result.files} files; manifest.json sha256 {result.manifest_sha256}",
          file=sys.stderr)
    return EXIT_OK


def cmd_audit_verify_bundle(args: argparse.Namespace) -> int:
    from detector.audit_export import verify_bundle

    result = verify_bundle(args.bundle)
    print(json.dumps(result.to_dict(), ensure_ascii=False))
    if result.problem is not None:
        print(f"bundle {args.bundle} does NOT verify: {result.problem}", file=sys.stderr)
        return EXIT_BAD
    print(f"ok: {result.files} files match manifest.json (sha256 {result.manifest_sha256}); "
          f"{result.rows} audit rows hash as recorded", file=sys.stderr)
    return EXIT_OK
