"""Metrics and calibration on labelled photos (``detector eval``).

A labels file is a CSV with ``path,brand,label``: the photo (relative to the CSV's folder), the brand it shows
(empty when none) and ``genuine``, ``counterfeit`` or ``none``. The photos are scanned once (``scan_labelled``,
cached by content and by what makes a report: stage settings and catalog), then ``evaluate`` computes what a
user of the detector sees: the brand it names and the decision it takes, each with its count and its Wilson
95 % interval, and ``calibrate`` picks the risk thresholds that reach a target precision on them.

>>> from detector.evaluate import read_labels, scan_labelled, evaluate
>>> rows = read_labels("labels.csv")  # doctest: +SKIP
>>> records = scan_labelled(rows, cache="eval-out/scans.jsonl")  # doctest: +SKIP
>>> evaluate(rows, records)["brand_top1"]["value"]  # doctest: +SKIP
0.644

Decisions are recomputed from each record's risk and flags under the thresholds evaluated (the rules'
``decide``), so a second run with other thresholds needs no rescan.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.config import Config, Thresholds
from detector.errors import LabelsError

if TYPE_CHECKING:
    from detector.catalog import Catalog

LABELS = ("genuine", "counterfeit", "none")
DECISIONS = ("allow", "review", "block")
COLUMNS = ("path", "brand", "label")
# Below ~30 photos of a kind a rate's 95 % interval is about ±15 points or more whatever it is; ±10 points is
# the widest interval we let a figure stand on without a warning.
MIN_PER_CLASS = 30
MAX_HALF_WIDTH = 0.10


@dataclasses.dataclass(frozen=True)
class LabelRow:
    """One labelled photo: ``path`` as written in the CSV, ``file`` resolved, ``row`` its line in the CSV."""

    path: str
    file: Path
    brand: str | None
    label: str
    row: int


def read_labels(csv_path: str | Path) -> list[LabelRow]:
    """The rows of a labels CSV; ``LabelsError`` names the row of the first problem."""
    src = Path(csv_path)
    try:
        text = src.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {src}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise LabelsError(f"labels file {src} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise LabelsError(f"{src}: row 1 (the header) lacks column(s) {', '.join(missing)}; expected "
                          f"{','.join(COLUMNS)} (got {','.join(reader.fieldnames or []) or 'nothing'})")
    rows: list[LabelRow] = []
    seen: dict[Path, int] = {}
    for n, raw in enumerate(reader, start=2):
        where = f"{src}: row {n}"
        path = (raw.get("path") or "").strip()
        brand = (raw.get("brand") or "").strip() or None
        label = (raw.get("label") or "").strip().lower()
        if not path:
            raise LabelsError(f"{where}: the path is empty")
        if label not in LABELS:
            raise LabelsError(f"{where}: label {raw.get('label')!r} is not one of {', '.join(LABELS)}")
        if label == "none" and brand:
            raise LabelsError(f"{where}: label 'none' means no brand is shown, but brand is {brand!r}: "
                              "empty the brand or label the photo genuine or counterfeit")
        # Normalised, not resolved: two links to one file are two photos (eval scans the content once).
        file = Path(os.path.normpath((src.parent / path).absolute()))
        if not file.is_file():
            raise LabelsError(f"{where}: no such file {path!r} (paths are relative to {src.parent.resolve()})")
        if file in seen:
            raise LabelsError(f"{where}: {path!r} is already labelled on row {seen[file]}; label each photo once")
        seen[file] = n
        rows.append(LabelRow(path, file, brand, label, n))
    if not rows:
        raise LabelsError(f"{src}: no labelled photos (only a header)")
    return rows


# ------------------------------------------------------------------------------------------ scanning


def cache_key(file_sha256: str, config: Config, catalog_hash: str) -> str:
    """What makes a report: the photo's bytes, the package version, the stage settings, the catalog.

    Thresholds are left out (decisions are recomputed from risk and flags), and so are thread counts. The
    OCR stage's version is in (a new way of reading changes the texts without a new setting).
    """
    from detector import __version__
    from detector.ocr import create_ocr

    settings = {
        "sha256": file_sha256,
        "detector": __version__,
        "catalog": catalog_hash,
        "limits": dataclasses.asdict(config.limits),
        "ocr": {k: v for k, v in dataclasses.asdict(config.ocr).items() if k != "threads"},
        "ocr_stage": create_ocr(config.ocr).name,
        "logos": {k: v for k, v in dataclasses.asdict(config.logos).items() if k != "overlap_ocr"},
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def read_cache(cache: Path) -> dict[str, dict[str, Any]]:
    """Cached records by key. The cache is append-only: a line cut short by an interrupted run is skipped."""
    out: dict[str, dict[str, Any]] = {}
    if not cache.is_file():
        return out
    for line in cache.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            out[entry["key"]] = entry["record"]
        except (ValueError, KeyError, TypeError):
            continue
    return out


def scan_labelled(
    rows: Sequence[LabelRow],
    *,
    config: Config | None = None,
    catalog: str | Path | None = None,
    workers: int = 1,
    cache: str | Path | None = None,
    progress: Callable[[Iterable[Path], int], Iterable[Path]] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The scan record (``ImageReport.to_dict()``) of every row, by ``row.path``; only uncached photos are scanned.

    ``workers`` > 1 scans in processes (``detector.parallel.scan_parallel``). ``progress(paths, total)`` wraps
    the paths being scanned (the CLI's progress bar); ``on_start(cached, to_scan)`` is told the counts first.
    Records of failed scans (``ok: false``) are not cached: the next run tries them again.
    """
    from detector.catalog import load_catalog

    config = config or Config()
    catalog_hash = load_catalog(catalog, check_images=False).content_hash()
    keys = {r.path: cache_key(_sha256(r.file), config, catalog_hash) for r in rows}
    cache_path = Path(cache) if cache is not None else None
    cached = read_cache(cache_path) if cache_path is not None else {}
    todo: dict[str, Path] = {}  # key -> a file with that content: identical photos are scanned once
    for r in rows:
        if keys[r.path] not in cached:
            todo.setdefault(keys[r.path], r.file)
    if on_start is not None:
        on_start(len(rows) - sum(keys[r.path] in todo for r in rows), len(todo))
    if todo:
        files = list(todo.values())
        by_file = {str(f): k for k, f in todo.items()}
        wrapped: Iterable[Path] = progress(files, len(files)) if progress is not None else files
        fh = cache_path.open("a", encoding="utf-8") if cache_path is not None else None
        try:
            for report in _scan(wrapped, config, catalog, min(workers, len(files))):
                record = report.to_dict()
                key = by_file[report.path]
                cached[key] = record
                if fh is not None and report.ok:
                    fh.write(json.dumps({"key": key, "record": record}, ensure_ascii=False) + "\n")
                    fh.flush()  # a record per line as it comes: an interrupted eval resumes where it stopped
        finally:
            if fh is not None:
                fh.close()
    return {r.path: {**cached[keys[r.path]], "path": r.path} for r in rows}


def _scan(files: Iterable[Path], config: Config, catalog: str | Path | None, workers: int) -> Iterator[Any]:
    """Reports for ``files`` in order: the same code as ``detector scan`` (one process, or ``--workers``)."""
    if workers > 1:
        from detector.parallel import scan_parallel

        yield from scan_parallel(files, workers=workers, config=config, catalog=catalog)
        return
    from detector.pipeline import Detector  # looked up at call time: tests swap in fake stages there

    detector = Detector(config=config, catalog=catalog)
    detector.warm_up()
    yield from detector.scan_paths(files)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ metrics


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95 % interval of ``k`` successes in ``n`` trials ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> dict[str, Any]:
    """A proportion with its count and interval, as metrics.json writes every figure."""
    lo, hi = wilson(k, n)
    return {"value": round(k / n, 4) if n else None, "k": k, "n": n, "ci95": [round(lo, 4), round(hi, 4)]}


def decision_of(record: dict[str, Any], thresholds: Thresholds) -> str:
    """The decision ``record`` gets under ``thresholds``: the rules' own ``decide`` on its risk and flags."""
    if not record.get("ok"):
        return "error"
    from detector.rules.scoring import decide
    from detector.types import Flag, Severity

    flags = [Flag(f["rule"], Severity(f["severity"]), f.get("message") or "") for f in record.get("flags", [])]
    return decide(float(record.get("risk") or 0.0), flags, thresholds).value


def top_brand(record: dict[str, Any], min_confidence: float = 0.0) -> str | None:
    """The most confident brand the record names at ``min_confidence`` or above, or None."""
    brands = sorted(record.get("brands") or [], key=lambda b: -b["confidence"])
    return brands[0]["name"] if brands and brands[0]["confidence"] >= min_confidence else None


def _canonical(name: str | None, catalog: Catalog | None) -> str | None:
    """A brand name folded for comparison: the catalog's display name for an alias, case-insensitive."""
    if name is None:
        return None
    brand = catalog.find(name) if catalog is not None else None
    return (brand.name if brand is not None else name).casefold()


def evaluate(
    rows: Sequence[LabelRow],
    records: dict[str, dict[str, Any]],
    *,
    thresholds: Thresholds | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Every figure of metrics.json but the calibration, under ``thresholds`` (default: ``Config()``'s)."""
    th = thresholds or Thresholds()
    decisions = {r.path: decision_of(records[r.path], th) for r in rows}
    want = {r.path: _canonical(r.brand, catalog) for r in rows}
    got = {r.path: _canonical(top_brand(records[r.path]), catalog) for r in rows}
    branded = [r for r in rows if r.brand]
    plain = [r for r in rows if r.label == "none"]
    out: dict[str, Any] = {
        "n": len(rows),
        "by_label": dict(Counter(r.label for r in rows)),
        "errors": sum(decisions[r.path] == "error" for r in rows),
        "thresholds": dataclasses.asdict(th),
        "brand_top1": rate(sum(got[r.path] == want[r.path] for r in branded), len(branded)),
        "brand_fp_rate": rate(sum(got[r.path] is not None for r in plain), len(plain)),
        "per_brand": _per_brand(rows, want, got, catalog),
        "confusion": {
            lab: {d: sum(r.label == lab and decisions[r.path] == d for r in rows) for d in (*DECISIONS, "error")}
            for lab in LABELS
        },
        "decision_levels": {},
        "brand_sweep": brand_sweep(rows, records, catalog),
        "counterfeit_pr": pr_curve(rows, records),
    }
    if catalog is not None:
        unknown = sorted({r.brand for r in branded if catalog.find(r.brand) is None})  # type: ignore[arg-type]
        if unknown:
            out["brands_not_in_catalog"] = unknown
    for level, flagged in (("review", ("review", "block")), ("block", ("block",))):
        counts = {lab: (sum(r.label == lab and decisions[r.path] in flagged for r in rows),
                        sum(r.label == lab for r in rows)) for lab in LABELS}
        out["decision_levels"][level] = {
            "counterfeit_recall": rate(*counts["counterfeit"]),
            "genuine_false_flag_rate": rate(*counts["genuine"]),
            "none_false_flag_rate": rate(*counts["none"]),
        }
    out["warnings"] = small_sample_warnings(out)
    if out.get("brands_not_in_catalog"):
        out["warnings"].append(f"labelled brand(s) not in the catalog, never named: {', '.join(out['brands_not_in_catalog'])}")
    return out


def _per_brand(rows: Sequence[LabelRow], want: dict[str, str | None], got: dict[str, str | None],
               catalog: Catalog | None) -> dict[str, Any]:
    """Precision and recall of each labelled brand as the top brand named, under its catalog display name."""
    display: dict[str, str] = {}
    for r in rows:
        if r.brand:
            found = catalog.find(r.brand) if catalog is not None else None
            display.setdefault(str(want[r.path]), found.name if found is not None else r.brand)
    out = {}
    for key, name in sorted(display.items(), key=lambda kv: kv[1].casefold()):
        n = sum(want[r.path] == key for r in rows)
        named = sum(got[r.path] == key for r in rows)
        right = sum(want[r.path] == key and got[r.path] == key for r in rows)
        out[name] = {"n": n, "named": named, "precision": rate(right, named), "recall": rate(right, n)}
    return out


def brand_sweep(rows: Sequence[LabelRow], records: dict[str, dict[str, Any]], catalog: Catalog | None,
                steps: int = 100) -> list[dict[str, float]]:
    """Top-1 accuracy and logo-free FP rate if brands below a minimum confidence were not named."""
    branded = [r for r in rows if r.brand]
    plain = [r for r in rows if r.label == "none"]
    out = []
    for i in range(steps + 1):
        t = i / steps
        right = sum(_canonical(top_brand(records[r.path], t), catalog) == _canonical(r.brand, catalog) for r in branded)
        fp = sum(top_brand(records[r.path], t) is not None for r in plain)
        out.append({"min_confidence": t, "top1": right / len(branded) if branded else math.nan,
                    "fp_rate": fp / len(plain) if plain else math.nan})
    return out


def pr_curve(rows: Sequence[LabelRow], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of "counterfeit" at every risk threshold (score = the report's ``risk``)."""
    scored = [(float(records[r.path].get("risk") or 0.0), r.label == "counterfeit")
              for r in rows if records[r.path].get("ok")]
    positives = sum(p for _, p in scored)
    points = []
    for t in sorted({s for s, _ in scored}, reverse=True):
        flagged = [p for s, p in scored if s >= t]
        tp = sum(flagged)
        points.append({"threshold": t, "precision": tp / len(flagged), "recall": tp / positives if positives else 0.0})
    # Average precision: precision at each step in recall, weighted by the step.
    ap, last = 0.0, 0.0
    for p in points:
        ap += (p["recall"] - last) * p["precision"]
        last = p["recall"]
    return {"positives": positives, "n": len(scored), "average_precision": round(ap, 4) if positives else None,
            "points": points}


def small_sample_warnings(metrics: dict[str, Any]) -> list[str]:
    """Where the labelled set is too small for the figure it gives."""
    warn = []
    for lab in ("counterfeit", "genuine"):
        n = metrics["by_label"].get(lab, 0)
        if n < MIN_PER_CLASS:
            warn.append(f"only {n} {lab} photos (fewer than {MIN_PER_CLASS}): its rates are rough; label more")
    figures = {"brand_top1": metrics["brand_top1"], "brand_fp_rate": metrics["brand_fp_rate"]}
    for level, d in metrics["decision_levels"].items():
        figures[f"{level}: counterfeit_recall"] = d["counterfeit_recall"]
        figures[f"{level}: genuine_false_flag_rate"] = d["genuine_false_flag_rate"]
    for name, fig in figures.items():
        lo, hi = fig["ci95"]
        if fig["n"] and (hi - lo) / 2 > MAX_HALF_WIDTH:
            warn.append(f"{name} = {fig['value']:.1%} of {fig['n']}: its 95 % interval is {lo:.1%}-{hi:.1%}, "
                        f"wider than ±{MAX_HALF_WIDTH:.0%}")
    return warn


# ------------------------------------------------------------------------------------------ calibration


def calibrate(
    rows: Sequence[LabelRow],
    records: dict[str, dict[str, Any]],
    *,
    target_precision: float = 0.95,
    review_recall: float = 0.95,
    base: Thresholds | None = None,
) -> dict[str, Any]:
    """Thresholds from the risk scores: ``block`` the lowest at which blocking reaches ``target_precision`` for
    counterfeit (labelled genuine and none photos are the negatives); ``review`` the highest at or below it
    that still flags ``review_recall`` of the counterfeits the rules can flag at all. When no threshold reaches
    the target, ``base`` is kept and ``reached`` is False.
    """
    base = base or Thresholds()
    ok = [r for r in rows if records[r.path].get("ok")]
    candidates = sorted({float(records[r.path].get("risk") or 0.0) for r in ok} - {0.0})
    out: dict[str, Any] = {"target_precision": target_precision, "reached": False,
                           "review": base.review, "block": base.block}
    if not any(r.label == "counterfeit" for r in ok):
        out["why"] = "no counterfeit photo was scanned: nothing to calibrate on; thresholds kept"
        return out

    def flagged(th: Thresholds, levels: tuple[str, ...]) -> list[LabelRow]:
        return [r for r in ok if decision_of(records[r.path], th) in levels]

    for t in candidates:
        hits = flagged(Thresholds(review=min(base.review, t), block=t), ("block",))
        precision = sum(r.label == "counterfeit" for r in hits) / len(hits) if hits else 0.0
        if hits and precision >= target_precision:
            out.update(reached=True, block=t, precision=round(precision, 4), flagged=len(hits))
            break
    if not out["reached"]:
        out["why"] = (f"no risk threshold blocks counterfeits with precision {target_precision:.0%} on these photos; "
                      f"thresholds kept (review {base.review}, block {base.block})")
        return out
    block = out["block"]
    most = len([r for r in flagged(Thresholds(review=min(candidates), block=block), ("review", "block"))
                if r.label == "counterfeit"])
    review = min(candidates)
    for t in sorted((c for c in candidates if c <= block), reverse=True):
        caught = sum(r.label == "counterfeit" for r in flagged(Thresholds(review=t, block=block), ("review", "block")))
        if caught >= review_recall * most:
            review = t
            break
    out["review"] = review
    return out


def calibrated_config(config: Config, calibration: dict[str, Any]) -> Config:
    """``config`` with the calibrated thresholds (unchanged when the target was not reached)."""
    th = Thresholds(review=calibration["review"], block=calibration["block"])
    return dataclasses.replace(config, thresholds=th)
