"""``detector link``: a manifest of listing photos to seller clusters (JSONL), optionally GraphML and an index.

The parser and the exit codes live in ``detector.cli``; this is the command itself. Exit codes: 0 no cluster,
1 clusters found (something to look at, like ``scan``), 2 usage or setup error (a manifest error names its row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from detector.atomic import write_atomic
from detector.cli import EXIT_FLAGGED, EXIT_OK, EXIT_USAGE


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "link", help="link sellers that reuse a photo (after edits) or share a device, IP or payment account; "
        "one JSON line per cluster of sellers on stdout")
    p.add_argument("manifest", metavar="MANIFEST.csv",
                   help="columns listing_id,seller_id,image (+ optional device_id, ip, payment_account); "
                   "image paths relative to the manifest")
    p.add_argument("--output", "-o", metavar="FILE", help="write the JSONL to FILE (replaced atomically) instead of stdout")
    p.add_argument("--graphml", metavar="FILE", help="also write the seller graph as GraphML (sellers: nodes, links: edges)")
    p.add_argument("--index", metavar="DIR",
                   help="keep the photo index in DIR: photos indexed by an earlier run are not described again, "
                   "and today's listings are linked against them")
    p.add_argument("--catalog", metavar="DIR",
                   help="brand catalog: photos that copy one of its official_photos do not link sellers (every "
                   "reseller may post the brand's own pictures)")
    p.add_argument("--config", metavar="FILE", help="YAML config file (its link section)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_link)


def cmd_link(args: argparse.Namespace) -> int:
    from detector.config import Config
    from detector.link import Linker, ManifestError, read_manifest

    for flag, value in (("--output", args.output), ("--graphml", args.graphml)):
        if value is not None and (Path(value).is_dir() or not Path(value).parent.is_dir()):
            why = "it is a folder" if Path(value).is_dir() else "its folder does not exist"
            print(f"detector link: error: cannot write {flag} {value}: {why}", file=sys.stderr)
            return EXIT_USAGE
    config = Config.from_file(args.config) if args.config else Config()
    try:
        rows = read_manifest(args.manifest)  # every row checked before any model loads
    except ManifestError as exc:
        print(f"detector link: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    official = None
    if args.catalog:
        from detector.catalog import load_catalog

        catalog = load_catalog(args.catalog, check_images=False)
        if any(b.official_photos for b in catalog):
            official = catalog
    linker = Linker(config.link, limits=config.limits, progress=None if args.no_progress else _bar,
                    official=official)
    index = linker.open_index(args.index)
    found, described, skipped = linker.add(index, rows)
    for why in skipped:
        print(f"detector link: skipped {why}", file=sys.stderr)
    if args.index:
        index.save(args.index)
    clusters = linker.clusters(index)
    lines = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in clusters)
    if args.output:
        write_atomic(Path(args.output), lines.encode("utf-8"))
    else:
        sys.stdout.write(lines)
        sys.stdout.flush()
    if args.graphml:
        from detector.link.clusters import graphml

        write_atomic(Path(args.graphml), graphml(clusters))
    sellers = sum(len(c.sellers) for c in clusters)
    dropped = f"; {linker.dropped_official} photo links through official photos left out" if official else ""
    print(f"detector link: {len(rows)} rows, {described} photos described, {len(index)} in the index; "
          f"{len(found)} new photo links{dropped}; {len(clusters)} clusters of {sellers} sellers", file=sys.stderr)
    return EXIT_FLAGGED if clusters else EXIT_OK


def _bar(total: int, what: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="photo", file=sys.stderr, leave=False)
