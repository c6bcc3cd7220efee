"""``detector scan``: folders and files to a report sink, in this process or in ``--workers N`` processes.

The parser and the exit codes live in ``detector.cli``; this is the command itself.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from detector.cli import EXIT_FLAGGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from detector.types import ImageReport


def cmd_scan(args: argparse.Namespace) -> int:
    from detector.config import Config
    from detector.io import FolderWalk

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"detector scan: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    config = Config.from_file(args.config) if args.config else Config()
    if args.logos:
        import dataclasses

        config = dataclasses.replace(config, logos=dataclasses.replace(config.logos, backend=args.logos))
    # Checked before any model loads: otherwise a bad --output surfaces as a traceback after the whole scan.
    if args.output is not None and (Path(args.output).is_dir() or not Path(args.output).parent.is_dir()):
        why = "it is a folder" if Path(args.output).is_dir() else "its folder does not exist"
        print(f"detector scan: error: cannot write --output {args.output}: {why}", file=sys.stderr)
        return EXIT_USAGE

    if getattr(args, "engine", "local") == "ray":
        return _scan_ray(args, config)
    if args.format == "parquet":
        print("detector scan: error: --format parquet needs --engine ray", file=sys.stderr)
        return EXIT_USAGE

    walk = FolderWalk(args.paths)
    files = list(walk)
    workers = min(args.workers, len(files))  # no process without an image to scan
    pool = None
    with contextlib.ExitStack() as stack:
        if workers > 1:
            from detector.parallel import ScanPool

            print(f"detector scan: {len(files)} images; loading models in {workers} worker processes", file=sys.stderr)
            # Entering waits until every worker has loaded its models (a ModelError is raised here, before the
            # output is touched) and keeps model loading out of the images/s; leaving stops the workers,
            # after an error or Ctrl-C at once.
            pool = stack.enter_context(ScanPool(workers, config=config, catalog=args.catalog))
            reports = _progress(pool.scan(files), total=len(files), disabled=args.no_progress)
        else:
            from detector.pipeline import Detector

            detector = Detector(config=config, catalog=args.catalog)
            if files:
                stages = ", ".join(detector.stages.values())
                print(f"detector scan: {len(files)} images; loading models ({stages})", file=sys.stderr)
                detector.warm_up()  # keep model loading out of the first image's timings
            reports = detector.scan_paths(_progress(files, total=len(files), disabled=args.no_progress))
        code = _write(args, reports, total=len(files), skipped=len(walk.skipped))
        if pool is not None and code == EXIT_INTERRUPTED:
            pool.close(wait_s=0.0)  # Ctrl-C: stop the workers now, not after the images they are on
        return code


def _scan_ray(args: argparse.Namespace, config: object) -> int:
    """``--engine ray``: the scan on Ray Data (``detector.batch``); records merged into ``--output``."""
    from detector.batch import BatchError, require_ray, scan_batch

    if args.output is None:
        print("detector scan: error: --engine ray needs --output FILE (its records are resumed from it)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.format not in ("jsonl", "parquet"):
        print(f"detector scan: error: --engine ray writes jsonl or parquet, not {args.format}", file=sys.stderr)
        return EXIT_USAGE
    try:
        require_ray()
        started = time.perf_counter()
        summary = scan_batch(
            args.paths, args.output, actors=args.actors, cpus_per_actor=args.cpus_per_actor, address=args.address,
            config=config, catalog=args.catalog, fmt=args.format, progress=not args.no_progress,  # type: ignore[arg-type]
        )
    except BatchError as exc:
        print(f"detector scan: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"detector scan: interrupted; rerun the same command to resume into {args.output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    summary.seconds = time.perf_counter() - started
    print(summary.line(), file=sys.stderr)
    return EXIT_FLAGGED if summary.flagged else EXIT_OK


def _write(args: argparse.Namespace, reports: Iterable[ImageReport], *, total: int, skipped: int) -> int:
    """Every report to the sink (and --evidence); the summary line; the exit code."""
    from detector.report import OutputFormat, ReportSink

    started = time.perf_counter()
    try:
        sink = ReportSink(OutputFormat(args.format), args.output)
    except OSError as exc:  # e.g. permission denied on the folder
        print(f"detector scan: error: cannot write --output {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    summary = sink.summary
    summary.skipped = skipped
    interrupted = False
    try:
        for report in reports:
            sink.write(report)
            if args.evidence and report.flagged:
                from detector.evidence import write_evidence

                write_evidence(report.path, report, args.evidence)
    except KeyboardInterrupt:
        # Ctrl-C is the user's choice: keep every whole record written so far, in place.
        interrupted = True
    except BaseException:
        # A setup error (missing model) or a crash: leave any previous output file whole.
        sink.abort()
        raise
    sink.close()
    summary.seconds = time.perf_counter() - started

    where = f" to {args.output}" if args.output else ""
    if interrupted:
        print(f"detector scan: interrupted after {sink.count} of {total} images (written{where})", file=sys.stderr)
        print(summary.line(), file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary.line(), file=sys.stderr)
    return EXIT_FLAGGED if summary.flagged else EXIT_OK


def _progress(items: Iterable, *, total: int, disabled: bool) -> Iterator:  # type: ignore[type-arg]
    from tqdm import tqdm

    # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs, pipes).
    return tqdm(items, total=total, desc="scanning", unit="img", file=sys.stderr,  # type: ignore[no-any-return]
                disable=True if disabled else None)
