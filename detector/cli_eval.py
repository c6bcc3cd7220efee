"""``detector eval``: scan labelled photos, measure, calibrate the thresholds, write the outputs.

The parser is added to ``detector.cli``'s by ``add_eval_parser``; the work is ``detector.evaluate`` (figures)
and ``detector.eval_output`` (files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.cli import EXIT_OK, EXIT_USAGE


def add_eval_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from detector.cli import _workers

    p = sub.add_parser(
        "eval", help="measure the detector on labelled photos (path,brand,label CSV) and calibrate its thresholds"
    )
    p.add_argument("labels", metavar="LABELS.csv",
                   help="CSV with columns path,brand,label (genuine | counterfeit | none); paths relative to it")
    p.add_argument("--catalog", metavar="DIR", help="brand catalog directory (default: the bundled demo catalog)")
    p.add_argument("--config", metavar="FILE", help="YAML config file; its thresholds are the ones measured")
    p.add_argument("--output", "-o", metavar="DIR", default="eval-out",
                   help="folder for metrics.json, calibrated.yaml, the plots, report.html and the scan cache "
                   "scans.jsonl (default: %(default)s)")
    p.add_argument("--target-precision", metavar="P", type=_precision, default=0.95,
                   help="counterfeit precision that blocking must reach for calibrated.yaml (default: %(default)s)")
    p.add_argument("--workers", metavar="N", type=_workers, default=1,
                   help="scan in N processes, as `detector scan --workers` (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_eval)


def _precision(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a precision between 0 and 1, got {value!r}") from None
    if not 0.0 < p <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {p}")
    return p


def cmd_eval(args: argparse.Namespace) -> int:
    from detector.catalog import load_catalog
    from detector.cli_scan import _progress
    from detector.config import Config
    from detector.eval_output import summary_table, write_outputs
    from detector.evaluate import calibrate, evaluate, read_labels, scan_labelled

    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        print(f"detector eval: error: --output {out_dir} is a file; give a folder", file=sys.stderr)
        return EXIT_USAGE
    rows = read_labels(args.labels)  # LabelsError (exit 2) names the row at fault
    config = Config.from_file(args.config) if args.config else Config()
    catalog = load_catalog(args.catalog, check_images=False)
    out_dir.mkdir(parents=True, exist_ok=True)

    def started(cached: int, to_scan: int) -> None:
        print(f"detector eval: {len(rows)} labelled photos: {cached} from the cache ({out_dir / 'scans.jsonl'}), "
              f"{to_scan} to scan", file=sys.stderr)

    records = scan_labelled(
        rows, config=config, catalog=args.catalog, workers=args.workers, cache=out_dir / "scans.jsonl",
        progress=lambda files, total: _progress(files, total=total, disabled=args.no_progress), on_start=started,
    )
    metrics = evaluate(rows, records, thresholds=config.thresholds, catalog=catalog)
    metrics["calibration"] = calibrate(rows, records, target_precision=args.target_precision, base=config.thresholds)
    if not metrics["calibration"]["reached"]:
        metrics["warnings"].append(metrics["calibration"]["why"])
    files = write_outputs(out_dir, rows, records, metrics, config)
    for warning in metrics["warnings"]:
        print(f"detector eval: warning: {warning}", file=sys.stderr)
    sys.stdout.write(summary_table(metrics))
    print(f"detector eval: wrote {', '.join(p.name for p in files.values())} to {out_dir}", file=sys.stderr)
    return EXIT_OK
