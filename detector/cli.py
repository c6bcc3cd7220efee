"""The ``detector`` command: a thin layer over the library.

Machine output goes to stdout, logs, progress and summaries to stderr.
Exit codes (docs/DESIGN.md): 0 nothing flagged, 1 something flagged (review or
block), 2 usage or setup error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_FLAGGED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("detector")


def build_parser() -> argparse.ArgumentParser:
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
        "--format", choices=["jsonl", "csv", "table"], default="jsonl", help="output format (default: jsonl; table is for people)"
    )
    scan.add_argument("--output", "-o", metavar="FILE", help="write to FILE (replaced atomically) instead of stdout")
    scan.add_argument("--config", metavar="FILE", help="YAML config file (limits, OCR, thresholds)")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scan.set_defaults(func=cmd_scan)

    _add_catalog_parser(sub)
    return parser


def _add_catalog_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
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
    p.set_defaults(func=cmd_catalog_add)
    p = csub.add_parser("remove", help="remove a brand and its marks")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_catalog_remove)
    p = csub.add_parser("list", help="list the brands of a catalog (default: the bundled one)")
    p.add_argument("dir", metavar="DIR", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_catalog_list)
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


def cmd_scan(args: argparse.Namespace) -> int:
    from detector.config import Config
    from detector.io import FolderWalk
    from detector.pipeline import Detector
    from detector.report import OutputFormat, ReportSink, ScanSummary

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"detector scan: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    config = Config.from_file(args.config) if args.config else Config()

    walk = FolderWalk(args.paths)
    files = list(walk)
    summary = ScanSummary(skipped=len(walk.skipped))
    detector = Detector(config=config, catalog=args.catalog)
    if files:
        print(f"detector scan: {len(files)} images; loading models ({', '.join(detector.stages.values())})", file=sys.stderr)
        detector.warm_up()  # keep model loading out of the first image's timings

    started = time.perf_counter()
    sink = ReportSink(OutputFormat(args.format), args.output)
    interrupted = False
    try:
        for report in detector.scan_paths(_progress(files, disabled=args.no_progress)):
            sink.write(report)
            summary.add(report)
    except KeyboardInterrupt:
        # Everything written so far is whole (one record per line); keep it and say where it is.
        interrupted = True
    finally:
        sink.close()
        summary.seconds = time.perf_counter() - started

    where = f" to {args.output}" if args.output else ""
    if interrupted:
        print(f"detector scan: interrupted after {sink.count} of {len(files)} images (written{where})", file=sys.stderr)
        print(summary.line(), file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary.line(), file=sys.stderr)
    return EXIT_FLAGGED if summary.flagged else EXIT_OK


def cmd_catalog_init(args: argparse.Namespace) -> int:
    from detector.catalog import init_catalog

    init_catalog(args.dir)
    print(f"created empty catalog in {args.dir}", file=sys.stderr)
    return EXIT_OK


def cmd_catalog_add(args: argparse.Namespace) -> int:
    from detector.catalog import add_brand

    catalog = add_brand(args.dir, args.name, marks=args.mark, aliases=args.alias, authorized_sellers=args.seller)
    brand = catalog.brand(args.name)
    print(f"{brand.name}: {len(brand.marks)} mark(s), {len(brand.aliases)} alias(es); catalog has {len(catalog)} brands",
          file=sys.stderr)
    return EXIT_OK


def cmd_catalog_remove(args: argparse.Namespace) -> int:
    from detector.catalog import remove_brand

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
    print(f"{len(catalog)} brands in {catalog.root}", file=sys.stderr)
    return EXIT_OK


def cmd_catalog_check(args: argparse.Namespace) -> int:
    from detector.catalog import load_catalog

    catalog = load_catalog(args.dir)  # raises CatalogError (exit 2) with the brand and field at fault
    marks = sum(len(b.marks) for b in catalog.brands)
    print(f"ok: {len(catalog)} brands, {marks} marks, content hash {catalog.content_hash()[:12]}")
    return EXIT_OK


def _progress(files: list[Path], *, disabled: bool):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs, pipes).
    return tqdm(files, desc="scanning", unit="img", file=sys.stderr, disable=True if disabled else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
