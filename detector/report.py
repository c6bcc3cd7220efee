"""Report sinks: JSONL, CSV, a readable table and an HTML page, to stdout or to a file replaced atomically.

A file sink writes to ``<output>.partial`` beside the target, one whole record
per line, flushed as it goes; ``close()`` renames it over the target. If the
process dies before that, the previous output file is untouched and the
records written so far are in the ``.partial`` file. Ctrl-C is a deliberate stop:
the records so far replace the target, each one whole.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any, Self

from detector.pathtext import escape_surrogates
from detector.types import ImageReport


class OutputFormat(str, Enum):
    JSONL = "jsonl"
    CSV = "csv"
    #: One readable line per image (plus a line per flag) for people, not programs.
    TABLE = "table"
    #: One self-contained page with the annotated photos (``report_html``), for reviewers.
    HTML = "html"


# path_bytes (last, so existing readers' column positions hold): the hex bytes of a file name that is
# not valid UTF-8, else empty (detector.pathtext).
CSV_COLUMNS = ("path", "ok", "error", "decision", "risk", "brands", "flags", "texts", "logos", "sha256", "path_bytes")


class ReportSink:
    """Writes reports one by one in ``fmt`` to ``output`` (stdout when None)."""

    def __init__(self, fmt: OutputFormat = OutputFormat.JSONL, output: str | Path | None = None) -> None:
        self.fmt = OutputFormat(fmt)
        self.target = Path(output) if output is not None else None
        self.partial: Path | None = None
        if self.target is not None:
            self.partial = self.target.with_name(self.target.name + ".partial")
            self._fh: IO[str] = self.partial.open("w", encoding="utf-8", newline="")
        else:
            self._fh = sys.stdout
        self._csv = csv.writer(self._fh) if self.fmt is OutputFormat.CSV else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)
        self.count = 0
        self.summary = ScanSummary()  # what was written: the HTML page's last section, the CLI's last line
        self._index: list = []  # the HTML page's index table rows, written at the end (one short row per image)
        if self.fmt is OutputFormat.HTML:
            from detector.report_html import page_head

            self._fh.write(page_head())

    def write(self, report: ImageReport) -> None:
        if self._csv is not None:
            self._csv.writerow(csv_row(report))
        elif self.fmt is OutputFormat.TABLE:
            self._fh.write(table_lines(report))
        elif self.fmt is OutputFormat.HTML:
            from detector.report_html import image_section, scan_index_row

            anchor = f"img-{self.count}"
            self._fh.write(image_section(report, anchor=anchor))
            self._index.append(scan_index_row(report, anchor))
        else:
            self._fh.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        self._fh.flush()
        self.count += 1
        self.summary.add(report)

    def close(self) -> None:
        """Finish the output: for a file, fsync it and move it over the target."""
        if self.fmt is OutputFormat.HTML:
            from detector.report_html import SCAN_INDEX_HEADERS, index_table, page_tail

            index = index_table(SCAN_INDEX_HEADERS, self._index) if self._index else ""
            self._fh.write(page_tail(self.summary.decisions, self.summary.errors, index))
        if self.target is None or self.partial is None:
            self._fh.flush()
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.partial, self.target)

    def abort(self) -> None:
        """Stop without touching the target: the records so far stay in the ``.partial`` file."""
        self._fh.flush()
        if self.target is not None:
            self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None or exc_type is KeyboardInterrupt:
            self.close()
        else:
            self.abort()


def csv_row(report: ImageReport) -> list[Any]:
    d = report.to_dict()
    return [
        d["path"],
        d["ok"],
        d["error"] or "",
        d["decision"] or "",
        "" if d["risk"] is None else d["risk"],
        ";".join(f"{b['name']}:{b['confidence']}" for b in d["brands"]),
        ";".join(f["rule"] for f in d["flags"]),
        ";".join(t["text"] for t in d["texts"]),
        ";".join(f"{m['brand']}:{m['score']}" for m in d["logos"]),
        d["sha256"] or "",
        d.get("path_bytes", ""),
    ]


def table_lines(report: ImageReport) -> str:
    """A readable block for one report: decision, risk, path, brands, then one line per flag."""
    path = escape_surrogates(report.path)
    if not report.ok:
        return f"{'ERROR':6} {'':5} {path}\n       {escape_surrogates(report.error or '')}\n"
    decision = report.decision.value.upper() if report.decision else "-"
    brands = ", ".join(f"{b.name} ({b.confidence:.2f})" for b in sorted(report.brands, key=lambda b: -b.confidence))
    head = f"{decision:6} {report.risk or 0.0:5.2f} {path}" + (f"  brands: {brands}" if brands else "")
    lines = [head]
    lines += [f"       [{f.severity.value}] {f.rule}: {f.message}" for f in report.flags]
    if not report.flags and report.texts:
        lines.append("       text: " + ", ".join(repr(t.text) for t in report.texts[:8]))
    return "\n".join(lines) + "\n"


@dataclass
class ScanSummary:
    """Counts for the closing line of a scan."""

    decisions: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def add(self, report: ImageReport) -> None:
        if not report.ok:
            self.errors += 1
        elif report.decision is not None:
            self.decisions[report.decision.value] += 1

    @property
    def images(self) -> int:
        return sum(self.decisions.values()) + self.errors

    @property
    def flagged(self) -> int:
        return self.decisions["review"] + self.decisions["block"]

    def line(self) -> str:
        rate = f", {self.images / self.seconds:.2f} images/s" if self.seconds > 0 and self.images else ""
        return (
            f"{self.images} images in {self.seconds:.1f} s{rate}: "
            f"{self.decisions['allow']} allow, {self.decisions['review']} review, {self.decisions['block']} block, "
            f"{self.errors} unreadable; {self.skipped} non-image files skipped"
        )
