"""The ``detector`` command: a thin layer over the library.

Machine output goes to stdout, logs, progress and summaries to stderr.
Exit codes (docs/DESIGN.md): 0 nothing flagged, 1 something flagged (review or
block), 2 usage or setup error, 130 interrupted; and 70 (sysexits' EX_SOFTWARE)
for an internal error, a bug: never 0 or 1, which a caller would read as a verdict.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

EXIT_OK = 0
EXIT_FLAGGED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

log = logging.getLogger("detector")


def build_parser() -> argparse.ArgumentParser:
    from detector.config import LOGO_STAGES  # the logo stage registry's names (nothing heavy is imported)

    parser = argparse.ArgumentParser(
        prog="detector",
        description="Find counterfeit branding in marketplace listing photos (OCR + logo matching + rules).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser("scan", help="scan images or folders; one JSON line per image on stdout")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (recursive)")
    scan.add_argument("--catalog", metavar="DIR", help="brand catalog directory (default: the bundled demo catalog)")
    scan.add_argument(
        "--format", choices=["jsonl", "csv", "table", "html", "parquet"], default="jsonl",
        help="output format (default: jsonl; table and html are for people: html is one page with the annotated "
        "photos; parquet only with --engine ray)"
    )
    scan.add_argument("--output", "-o", metavar="FILE", help="write to FILE (replaced atomically) instead of stdout")
    scan.add_argument("--config", metavar="FILE", help="YAML config file (limits, OCR, logos, thresholds)")
    scan.add_argument(
        "--logos", metavar="STAGES", type=_logo_backend,
        help=f"logo stages: none, or {', '.join(LOGO_STAGES)} joined by '+' "
        "(default: from the config, 'fused'; see README Limits)",
    )
    scan.add_argument(
        "--evidence", metavar="DIR", help="write an annotated copy of every flagged image to DIR (<name>-<hash>.evidence.jpg)"
    )
    scan.add_argument(
        "--workers", metavar="N", type=_workers, default=1,
        help="scan in N processes, each loading its own models (~1.5 GB each) and running 1 thread unless the "
        "config sets ocr.threads; records keep the input order. On a machine with C cores, --workers C is the "
        "fastest for folders (default: 1, in this process)",
    )
    scan.add_argument(
        "--engine", choices=["local", "ray"], default="local",
        help="local (this machine: --workers) or ray (Ray Data, one detector per actor; needs "
        "pip install 'detector[ray]' and --output; resumable: a rerun skips the images already in the output)",
    )
    scan.add_argument("--address", metavar="ADDR", help="with --engine ray: the cluster to join (default: a local Ray)")
    scan.add_argument("--actors", metavar="N", type=_workers, default=1, help="with --engine ray: actors (default 1)")
    scan.add_argument(
        "--cpus-per-actor", metavar="C", type=_workers, default=1,
        help="with --engine ray: CPUs (and threads) per actor (default 1)",
    )
    scan.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scan.set_defaults(func=cmd_scan)

    check = sub.add_parser("check-text", help="run the text rules on strings; one JSON line per string on stdout")
    check.add_argument(
        "text", metavar="TEXT", nargs="+",
        help="text to check (several arguments are checked one by one); '-' reads one string per line from stdin",
    )
    check.add_argument("--catalog", metavar="DIR", help="brand catalog directory (default: the bundled demo catalog)")
    check.add_argument("--rules", metavar="FILE", help="rules YAML merged over the shipped defaults")
    check.set_defaults(func=cmd_check_text)

    from detector.cli_link import add_parser as add_link_parser  # its command lives in its own module

    add_link_parser(sub)
    _add_catalog_parser(sub)
    _add_serve_parser(sub)
    _add_audit_parser(sub)
    from detector.cli_eval import add_eval_parser  # eval lives in its own module

    add_eval_parser(sub)
    return parser


def _add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP service (POST /v1/listings/check, /healthz, /readyz, /metrics)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="processes, each loading its own models (~1.5 GB each); on C cores, --workers C with ocr.threads: 1 "
        "in the config serves the most listings per second (default: 1)",
    )
    p.add_argument(
        "--audit-db", metavar="PATH", default="detector-audit.db", help="SQLite audit log (default: %(default)s)"
    )
    p.add_argument(
        "--audit-no-photos", action="store_true",
        help="keep only the photos' sha256s in the audit log, not their bytes (default: kept in <audit-db>.blobs/ "
        "for `detector audit export`; also service.audit_photos: false)",
    )
    p.add_argument("--catalog", metavar="DIR", help="brand catalog directory (default: the bundled demo catalog)")
    p.add_argument("--config", metavar="FILE", help="YAML config file (limits, OCR, thresholds, service)")
    p.set_defaults(func=cmd_serve)


def _add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from detector.cli_audit import add_audit_parser  # the audit commands live in their own module

    add_audit_parser(sub)


def _add_catalog_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalog = sub.add_parser("catalog", help="create, enrol, list and check brand catalogs")
    csub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    p = csub.add_parser("init", help="create an empty catalog directory")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(func=cmd_catalog_init)
    p = csub.add_parser("add", help="enrol a brand, or add marks/aliases to an enrolled one")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("name", metavar="NAME", help="brand display name")
    p.add_argument("--mark", action="append", default=[], metavar="FILE", help="reference logo image (repeatable)")
    p.add_argument("--alias", action="append", default=[], metavar="TEXT", help="genuine alternative spelling")
    p.add_argument("--seller", action="append", default=[], metavar="ID", help="authorised seller id (repeatable)")
    p.add_argument("--official-photo", action="append", default=[], metavar="FILE",
                   help="the brand's own catalogue photo, copied into official/ (repeatable): a listing that reposts "
                   "it from a seller not among --seller is flagged official_photo_reuse")
    p.add_argument("--photo", metavar="FILE", help="a product photo: its logo is found (or --box), cropped and enrolled")
    p.add_argument("--box", metavar="X1,Y1,X2,Y2", help="the logo's box in --photo, in pixels (skips the search)")
    p.set_defaults(func=cmd_catalog_add)
    p = csub.add_parser("remove", help="remove a brand and its marks")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_catalog_remove)
    p = csub.add_parser("list", help="list the brands of a catalog (default: the bundled one)")
    p.add_argument("dir", metavar="DIR", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", "-v", action="store_true", help="every mark: file, size, and the photo it was cropped from")
    p.set_defaults(func=cmd_catalog_list)
    p = csub.add_parser("index", help="build (or bring up to date) the CNN logo index of a catalog ahead of the first scan")
    p.add_argument("dir", metavar="DIR", nargs="?")
    p.add_argument("--embedder", default="mobilenet_v2-logo-ft.v1",
                   help="embedder name (default: %(default)s, the one the default fused stage uses)")
    p.set_defaults(func=cmd_catalog_index)
    p = csub.add_parser("check", help="validate a catalog; exit 2 with the reason when invalid")
    p.add_argument("dir", metavar="DIR", nargs="?")
    p.set_defaults(func=cmd_catalog_check)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from detector.errors import DetectorError

    try:
        return int(args.func(args))
    except DetectorError as exc:
        print(f"detector: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("detector: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`detector ... | head`): not an error; stop quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # noqa: BLE001 - the last line of defence: a bug must not exit 1 ("flagged")
        # A bug, not a verdict: Python's own exit code for it would be 1, which means "flagged".
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"detector: internal error (exit code {EXIT_INTERNAL}); please report it with the traceback above",
              file=sys.stderr)
        return EXIT_INTERNAL


def cmd_scan(args: argparse.Namespace) -> int:
    from detector.cli_scan import cmd_scan as run  # the command lives in its own module

    return run(args)


def _workers(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _logo_backend(value: str) -> str:
    from detector.config import logo_backend_error

    why = logo_backend_error(value)
    if why is not None:
        raise argparse.ArgumentTypeError(why.replace("logos.backend", "--logos"))
    return value


def cmd_check_text(args: argparse.Namespace) -> int:
    import json

    from detector.rules import Rules

    rules = Rules(args.catalog, args.rules)
    # One encoder for every line (json.dumps with options builds one per call), and the line assembled
    # around it: encoding a dict costs ~10x a string, and most strings have no findings.
    encode = json.JSONEncoder(ensure_ascii=False).encode
    flagged = False
    for batch in _text_batches(args.text, sys.stdin):
        # Batches share one vectorised distance computation (BENCHMARKS.md, "Rules layer").
        lines = []
        for text, findings in zip(batch, rules.check_texts(batch)):
            flagged = flagged or any(f.flagged for f in findings)
            found = encode([f.to_dict() for f in findings]) if findings else "[]"
            lines.append(f'{{"text": {encode(text)}, "findings": {found}}}')
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    return EXIT_FLAGGED if flagged else EXIT_OK


def _text_batches(texts: list[str], stdin: Any, size: int = 256) -> Iterator[list[str]]:
    """The strings to check, in order, in batches of ``size``; a '-' stands for the lines of ``stdin``."""
    batch: list[str] = []
    for text in texts:
        lines = (ln.rstrip("\r\n") for ln in stdin) if text == "-" else (text,)
        for line in lines:
            batch.append(line)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def cmd_catalog_init(args: argparse.Namespace) -> int:
    from detector.enrol import init_catalog

    init_catalog(args.dir)
    print(f"created empty catalog in {args.dir}", file=sys.stderr)
    return EXIT_OK


def cmd_catalog_add(args: argparse.Namespace) -> int:
    from detector.enrol import add_brand
    from detector.errors import CatalogError

    if args.box and not args.photo:
        raise CatalogError("--box is the logo's box in --photo: give the photo too")
    catalog = add_brand(args.dir, args.name, marks=args.mark, aliases=args.alias, authorized_sellers=args.seller,
                        official_photos=args.official_photo)
    if args.photo:
        from detector.enrol_photo import add_photo_mark, parse_box

        box = parse_box(args.box) if args.box else None
        catalog, crop = add_photo_mark(args.dir, args.name, args.photo, box=box)
        print(f"cropped {crop.box} from {crop.photo} (found by {crop.found_by}) → {crop.mark}", file=sys.stderr)
    brand = catalog.brand(args.name)
    print(f"{brand.name}: {len(brand.marks)} mark(s), {len(brand.aliases)} alias(es); catalog has {len(catalog)} brands",
          file=sys.stderr)
    return EXIT_OK


def cmd_catalog_remove(args: argparse.Namespace) -> int:
    from detector.enrol import remove_brand

    catalog = remove_brand(args.dir, args.name)
    print(f"removed {args.name}; catalog has {len(catalog)} brands", file=sys.stderr)
    return EXIT_OK


def cmd_catalog_list(args: argparse.Namespace) -> int:
    import json

    from detector.catalog import load_catalog

    catalog = load_catalog(args.dir, check_images=False)
    if args.json:
        print(json.dumps([b.to_dict() for b in catalog.brands], ensure_ascii=False, indent=1))
        return EXIT_OK
    for b in catalog.brands:
        aliases = f"  aka {', '.join(b.aliases)}" if b.aliases else ""
        print(f"{b.name:28} {len(b.marks)} mark(s){aliases}")
        if args.verbose:
            _print_marks(catalog, b)
    print(f"{len(catalog)} brands in {catalog.root}", file=sys.stderr)
    return EXIT_OK


def _print_marks(catalog, brand) -> None:
    """One line per mark: its file, pixel size, and where a photo crop came from."""
    from detector.enrol_photo import read_source
    from detector.errors import CatalogError

    for mark in brand.marks:
        try:
            size = "x".join(map(str, catalog.mark_image(brand, mark).size)) + " px"
        except CatalogError as exc:
            size = f"unreadable: {exc}"
        src = read_source(catalog, mark)
        origin = f"  crop {src.box} of {src.photo} (found by {src.found_by})" if src else ""
        print(f"    {mark}  {size}{origin}")


def cmd_catalog_index(args: argparse.Namespace) -> int:
    from detector.catalog import load_catalog
    from detector.logos.cnn import build_or_load_index, default_index_dir
    from detector.logos.embed import create_embedder

    catalog = load_catalog(args.dir)
    embedder = create_embedder(args.embedder)
    started = time.perf_counter()
    print(f"indexing {len(catalog)} brands with {embedder.name} (only new or changed brands are embedded)",
          file=sys.stderr)
    index = build_or_load_index(catalog, embedder)
    print(f"ok: {len(index)} reference vectors in {default_index_dir(catalog, embedder)} "
          f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return EXIT_OK


def cmd_catalog_check(args: argparse.Namespace) -> int:
    from detector.catalog import load_catalog

    catalog = load_catalog(args.dir)  # raises CatalogError (exit 2) with the brand and field at fault
    marks = sum(len(b.marks) for b in catalog.brands)
    print(f"ok: {len(catalog)} brands, {marks} marks, content hash {catalog.content_hash()[:12]}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from detector.service_server import serve
    except ImportError as exc:
        hint = "pip install 'detector[serve]'"
        print(f"detector serve: error: the service needs its extra: {hint} ({exc})", file=sys.stderr)
        return EXIT_USAGE
    serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        audit_path=args.audit_db,
        catalog=args.catalog,
        config_path=args.config,
        audit_photos=not args.audit_no_photos,
        log_level="debug" if args.verbose > 1 else "info",
    )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
