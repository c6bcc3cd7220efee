"""What ``detector eval`` writes: metrics.json, calibrated.yaml, the PNG plots, report.html and the summary table.

Every file is written through a temporary file and a rename (``io.write_atomic``): an interrupted eval
leaves the previous one whole. matplotlib is imported inside the plotting functions (Agg, no display needed).
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.atomic import write_atomic
from detector.config import Config
from detector.evaluate import DECISIONS, LABELS, LabelRow, calibrated_config, decision_of, top_brand
from detector.types import BrandSighting, Decision, Flag, ImageReport, LogoMatch, Relation, Severity, TextSpan

PLOTS = {"counterfeit_pr": "pr_curve.png", "brand_sweep": "brand_sweep.png"}


def write_outputs(out_dir: Path, rows: Sequence[LabelRow], records: dict[str, dict[str, Any]],
                  metrics: dict[str, Any], config: Config) -> dict[str, Path]:
    """Every output file of an eval into ``out_dir``; returns them by name."""
    from detector.config import Thresholds

    files = {"metrics": out_dir / "metrics.json", "calibrated": out_dir / "calibrated.yaml",
             "pr_curve": out_dir / PLOTS["counterfeit_pr"], "brand_sweep": out_dir / PLOTS["brand_sweep"],
             "report": out_dir / "report.html"}
    write_atomic(files["metrics"], json.dumps(sanitise(metrics), indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    write_atomic(files["calibrated"], calibrated_yaml(config, metrics["calibration"]))
    write_atomic(files["pr_curve"], pr_plot(metrics))
    write_atomic(files["brand_sweep"], sweep_plot(metrics))
    write_atomic(files["report"], eval_page(rows, records, metrics, Thresholds(**metrics["thresholds"]),
                                            {k: files[k].read_bytes() for k in ("pr_curve", "brand_sweep")}))
    return files


def calibrated_yaml(config: Config, calibration: dict[str, Any]) -> str:
    """The user's config with the calibrated thresholds, as YAML ``Config.from_file`` loads."""
    import yaml

    cfg = calibrated_config(config, calibration)
    if calibration["reached"]:
        why = (f"# thresholds calibrated by `detector eval`: blocking at {cfg.thresholds.block} reached "
               f"{calibration['precision']:.1%} counterfeit precision (target {calibration['target_precision']:.0%}) "
               f"on {calibration['flagged']} blocked labelled photos.\n")
    else:
        why = f"# `detector eval` kept these thresholds: {calibration['why']}\n"
    return why + yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def _sanitise(obj: Any) -> Any:
    """NaN (a rate of nothing) as null: metrics.json stays strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _sanitise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_sanitise(v) for v in obj]
    return obj


def sanitise(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every NaN as None."""
    return _sanitise(metrics)  # type: ignore[no-any-return]


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def pr_plot(metrics: dict[str, Any]) -> bytes:
    """Precision-recall of "counterfeit" (score: risk), with the evaluated and calibrated block thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    pr = metrics["counterfeit_pr"]
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    if pr["points"] and pr["positives"]:
        ax.step([p["recall"] for p in pr["points"]], [p["precision"] for p in pr["points"]], where="post",
                marker=".", label=f"AP {pr['average_precision']:.2f}")
        for name, t, style in (("block now", metrics["thresholds"]["block"], "x"),
                               ("calibrated block", metrics["calibration"]["block"], "o")):
            at = [p for p in pr["points"] if p["threshold"] >= t]
            if at:
                ax.plot(at[-1]["recall"], at[-1]["precision"], style, ms=9, label=f"{name} ({t:.2f})")
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no counterfeit photo scanned", ha="center")
    ax.set(xlabel="counterfeit recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05),
           title=f"counterfeit by risk ({pr['positives']} of {pr['n']} photos)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def sweep_plot(metrics: dict[str, Any]) -> bytes:
    """Top-1 brand accuracy and logo-free FP rate against the minimum brand confidence."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    sweep = metrics["brand_sweep"]
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    t = [p["min_confidence"] for p in sweep]
    ax.plot(t, [p["top1"] for p in sweep], label=f"top-1 right (n={metrics['brand_top1']['n']})")
    ax.plot(t, [p["fp_rate"] for p in sweep], label=f"none photos naming a brand (n={metrics['brand_fp_rate']['n']})")
    ax.set(xlabel="minimum brand confidence", ylabel="share of photos", ylim=(-0.02, 1.02), title="brand threshold sweep")
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def report_from_dict(record: dict[str, Any], decision: str | None = None) -> ImageReport:
    """An ``ImageReport`` back from its JSONL record (``decision`` replaces the recorded one)."""
    from detector.types import Box

    def box(b: Any) -> Box | None:
        return Box(*b) if b else None

    if not record.get("ok"):
        return ImageReport.failed(record["path"], record.get("error") or "not analysed")
    dec = decision if decision in DECISIONS else record.get("decision")
    return ImageReport(
        path=record["path"], ok=True, decision=Decision(dec) if dec else None, risk=record.get("risk"),
        brands=tuple(BrandSighting(b["name"], b["confidence"], tuple(b["evidence"])) for b in record["brands"]),
        logos=tuple(LogoMatch(m["brand"], m["score"], box(m["box"]), m["mark"]) for m in record["logos"]),  # type: ignore[arg-type]
        texts=tuple(TextSpan(t["text"], t["confidence"], box(t["box"]), t.get("brand"),
                             Relation(t["relation"]) if t.get("relation") else None, t.get("similarity"))
                    for t in record["texts"]),
        flags=tuple(Flag(f["rule"], Severity(f["severity"]), f["message"], f.get("brand"), tuple(f["evidence"]))
                    for f in record["flags"]),
        sha256=record.get("sha256"),
    )


def eval_page(rows: Sequence[LabelRow], records: dict[str, dict[str, Any]], metrics: dict[str, Any],
              thresholds: Any, plots: dict[str, bytes]) -> str:
    """One self-contained page: the figures, the plots, a sortable table of every photo and its section."""
    from detector.report_html import escape, image_section, index_table, page_head, page_tail

    parts = [page_head("detector eval"), "<div id=\"metrics\" style=\"order: -3\">", summary_html(metrics)]
    for name, data in plots.items():
        src = base64.b64encode(data).decode("ascii")
        parts.append(f"<img class=\"plot\" alt=\"{escape(name)}\" src=\"data:image/png;base64,{src}\">")
    parts.append("</div>")
    index, decisions, errors = [], Counter[str](), 0
    for i, r in enumerate(rows):
        record, anchor = records[r.path], f"img-{i}"
        decision = decision_of(record, thresholds)
        if decision == "error":
            errors += 1
        else:
            decisions[decision] += 1
        top = top_brand(record) or ""
        right = (top.casefold() == (r.brand or "").casefold()) if r.brand else (not top)
        extra = (f"<p>Labelled <b>{escape(r.label)}</b>" + (f", brand {escape(r.brand)}" if r.brand else ", no brand")
                 + f" (row {r.row})</p>")
        parts.append(image_section(report_from_dict(record, decision), r.file, anchor=anchor, extra=extra))
        index.append((decision, anchor, [
            (f"<a href=\"#{anchor}\">{escape(r.path)}</a>", r.path), (escape(r.label), r.label),
            (escape(r.brand or ""), r.brand or ""), (escape(top), top), ("yes" if right else "no", int(right)),
            (decision, {"allow": 0, "review": 1, "block": 2}.get(decision, -1)),
            (f"{record.get('risk') or 0.0:.2f}", float(record.get("risk") or 0.0)),
        ]))
    headers = ["photo", "label", "brand", "top brand", "brand right", "decision", "risk"]
    parts.append(page_tail(decisions, errors, index_table(headers, index)))
    return "\n".join(parts)


def summary_html(metrics: dict[str, Any]) -> str:
    from detector.report_html import escape

    lines = "".join(f"<tr><td>{escape(name)}</td><td>{value}</td><td>{n}</td><td>{ci}</td></tr>"
                    for name, value, n, ci in _figures(metrics))
    warn = "".join(f"<li>{escape(w)}</li>" for w in metrics["warnings"])
    return (f"<table class=\"figures\"><tr><th>figure</th><th>value</th><th>n</th><th>95 % interval</th></tr>{lines}"
            "</table>" + (f"<ul class=\"warnings\">{warn}</ul>" if warn else ""))


def _pct(fig: dict[str, Any]) -> tuple[str, int, str]:
    if fig["value"] is None:
        return "-", fig["n"], "-"
    lo, hi = fig["ci95"]
    return f"{fig['value']:.1%}", fig["n"], f"{lo:.1%}-{hi:.1%}"


def _figures(metrics: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    out = [("brand top-1 right", *_pct(metrics["brand_top1"])),
           ("none photos naming a brand", *_pct(metrics["brand_fp_rate"]))]
    for level, d in metrics["decision_levels"].items():
        out.append((f"counterfeit recall at {level}", *_pct(d["counterfeit_recall"])))
        out.append((f"genuine flagged at {level}", *_pct(d["genuine_false_flag_rate"])))
    return out


def summary_table(metrics: dict[str, Any]) -> str:
    """The summary printed on stdout: the figures with n and interval, the confusion matrix, the calibration."""
    lines = [f"{'figure':32} {'value':>7} {'n':>6}  95 % interval"]
    lines += [f"{name:32} {value:>7} {n:>6}  {ci}" for name, value, n, ci in _figures(metrics)]
    corner = "label \\ decision"
    lines += ["", f"{corner:18}" + "".join(f"{d:>8}" for d in (*DECISIONS, "error"))]
    for lab in LABELS:
        row = metrics["confusion"][lab]
        lines.append(f"{lab:18}" + "".join(f"{row[d]:>8}" for d in (*DECISIONS, "error")))
    cal = metrics["calibration"]
    lines.append("")
    if cal["reached"]:
        lines.append(f"calibrated: review {cal['review']}, block {cal['block']} (block precision {cal['precision']:.1%} "
                     f"on {cal['flagged']} photos; target {cal['target_precision']:.0%})")
    else:
        lines.append(f"not calibrated: {cal['why']}")
    return "\n".join(lines) + "\n"
