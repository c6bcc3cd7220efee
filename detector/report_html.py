"""The HTML page of a scan (``detector scan --format html``): one self-contained file for people.

A reviewer opens it in a browser, attaches it to a case or sends it to a rights-holder: per image the
decision, risk, brands, every flag with the evidence it rests on, the text read, and the annotated
photo (``evidence.annotate``) inline as a small JPEG, so the page needs neither the photo folder nor a
network; allowed images get a small thumbnail only, so a large scan stays one page a browser opens. No
script: a CSS-only switch hides the allowed images, and the summary, written last because the page is
streamed as the scan goes, is shown first.

Everything that comes from a photo or a path is escaped: OCR text is seller-controlled. A file name
that is not valid UTF-8 is shown with ``\\xNN`` escapes and its exact bytes in hex (``detector.pathtext``).
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from datetime import UTC, datetime
from html import escape as _html_escape
from pathlib import Path

from detector.pathtext import escape_surrogates, path_bytes
from detector.types import ImageReport

# Longest side of the inline photos. Flagged ones are the review queue: big enough to read the labels
# (~30-60 kB each). Allowed ones are there for spot checks only, small enough that a scan of 10,000
# photos stays a page a browser opens (~5 kB each).
FLAGGED_SIDE = 640
ALLOWED_SIDE = 160

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em;
       display: flex; flex-direction: column; color: #222; }
header { order: -4; } #summary { order: -3; } label.filter { order: -2; margin: .6em 0; }
table.index { order: -1; border-collapse: collapse; margin: 0 0 1em; }
table.index th, table.index td { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; }
table.index th { cursor: pointer; user-select: none; background: #f4f4f4; }
table.index th[aria-sort=ascending]::after { content: " \25B2"; }
table.index th[aria-sort=descending]::after { content: " \25BC"; }
body:has(#flagged-only:checked) tr.allow { display: none; }
#summary { background: #f4f4f4; padding: .6em 1em; border-radius: 6px; }
body:has(#flagged-only:checked) section.allow { display: none; }
section.image { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1em;
                border-top: 1px solid #ddd; padding: 1em 0; }
section.allow { grid-template-columns: 170px minmax(0, 1fr); }
section.image img { max-width: 100%; height: auto; border: 1px solid #ccc; }
.decision { font-weight: 700; padding: .1em .5em; border-radius: 4px; color: #fff; }
.allow .decision { background: #148c3c; } .review .decision { background: #d88c00; }
.block .decision { background: #c81414; } .error .decision { background: #555; }
h2 { font-size: 1em; margin: 0 0 .4em; word-break: break-all; }
ul { margin: .3em 0; padding-left: 1.2em; } .sev-block { color: #c81414; } .sev-review { color: #b06e00; }
.muted { color: #777; } code { background: #f4f4f4; padding: 0 .2em; }
table.figures th, table.figures td { padding: .1em .8em; text-align: left; } img.plot { max-width: 49%; }
"""


def page_head(title: str = "detector scan") -> str:
    """The start of the page, up to the first image."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p class=\"muted\">Written {when}.</p></header>\n"
        "<label class=\"filter\"><input type=\"checkbox\" id=\"flagged-only\"> show flagged and unreadable images only</label>\n"
    )


def image_section(report: ImageReport, source: str | Path | None = None, anchor: str | None = None,
                  extra: str = "") -> str:
    """One image's section; ``source`` (default ``report.path``) is read again for the annotated photo.
    ``anchor`` is its id (the index table links to it); ``extra`` is HTML put under its heading."""
    kind = report.decision.value if report.ok and report.decision else "error"
    ident = f" id=\"{escape(anchor)}\"" if anchor else ""
    parts = [f"<section class=\"image {kind}\"{ident}>", "<div>", _photo(report, source), "</div>", "<div>"]
    parts.append(f"<h2>{escape(report.path)}</h2>")
    if extra:
        parts.append(extra)
    raw = path_bytes(report.path)
    if raw is not None:
        parts.append(f"<p class=\"muted path-bytes\">file name bytes (not UTF-8), hex: <code>{raw}</code></p>")
    if not report.ok:
        parts.append(f"<p><span class=\"decision\">UNREADABLE</span> {escape(report.error or '')}</p>")
        parts.append("</div></section>\n")
        return "\n".join(parts)
    parts.append(f"<p><span class=\"decision\">{kind.upper()}</span> risk {report.risk or 0.0:.2f}</p>")
    if report.brands:
        brands = ", ".join(
            f"{escape(b.name)} ({b.confidence:.2f}; {escape(', '.join(b.evidence))})"
            for b in sorted(report.brands, key=lambda b: -b.confidence)
        )
        parts.append(f"<p>Brands seen: {brands}</p>")
    else:
        parts.append("<p class=\"muted\">No brand seen.</p>")
    if report.flags:
        parts.append("<p>Why:</p><ul>")
        for f in report.flags:
            evidence = "; ".join(f.evidence)
            parts.append(
                f"<li class=\"sev-{escape(f.severity.value)}\"><b>{escape(f.severity.value)}</b> "
                f"<code>{escape(f.rule)}</code>: {escape(f.message)}"
                + (f" <span class=\"muted\">(evidence: {escape(evidence)})</span>" if evidence else "")
                + "</li>"
            )
        parts.append("</ul>")
    if report.logos:
        parts.append("<p>Logos:</p><ul>")
        parts += [
            f"<li>{escape(m.brand)} {m.score:.2f} at {m.box.to_list()} "
            f"<span class=\"muted\">(matched {escape(m.mark or '?')})</span></li>"
            for m in report.logos
        ]
        parts.append("</ul>")
    if report.texts:
        texts = ", ".join(
            f"<code>{escape(t.text)}</code> {t.confidence:.2f}"
            + (f" ~ {escape(t.brand)} ({escape(t.relation.value)})" if t.brand and t.relation else "")
            for t in report.texts
        )
        parts.append(f"<p>Text read: {texts}</p>")
    if report.sha256:
        parts.append(f"<p class=\"muted\">sha256 {escape(report.sha256)}</p>")
    parts.append("</div></section>\n")
    return "\n".join(parts)


def page_tail(decisions: Counter[str], errors: int, index: str = "") -> str:
    """The summary and ``index`` (``index_table``; both shown at the top by the page's CSS) and the end of the page."""
    total = sum(decisions.values()) + errors
    counts = ", ".join(f"{decisions[d]} {d}" for d in ("block", "review", "allow"))
    return (
        f"<div id=\"summary\"><b>{total} images</b>: {counts}, {errors} unreadable.</div>\n{index}</body>\n</html>\n"
    )


#: A cell of the index table: its HTML and the value it sorts by (a number sorts numerically).
Cell = tuple[str, "str | float"]


def index_table(headers: list[str], rows: list[tuple[str, str, list[Cell]]]) -> str:
    """A table with one row per image (``(css class, section id, cells)``); clicking a header sorts by it."""
    head = "".join(f"<th scope=\"col\" data-col=\"{i}\">{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for cls, anchor, cells in rows:
        tds = "".join(f"<td data-sort=\"{escape(str(key))}\">{html}</td>" for html, key in cells)
        body.append(f"<tr class=\"{escape(cls)}\" data-href=\"#{escape(anchor)}\">{tds}</tr>")
    return (f"<table class=\"index\"><thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + f"\n</tbody></table>\n<script>{_SORT_SCRIPT}</script>\n")


def scan_index_row(report: ImageReport, anchor: str) -> tuple[str, str, list[Cell]]:
    """The index row of one scanned image: path, decision, risk, top brand, flags."""
    kind = report.decision.value if report.ok and report.decision else "error"
    brands = sorted(report.brands, key=lambda b: -b.confidence)
    top = f"{brands[0].name} ({brands[0].confidence:.2f})" if brands else ""
    link = f"<a href=\"#{escape(anchor)}\">{escape(report.path)}</a>"
    return kind, anchor, [
        (link, report.path), (kind, {"allow": 0, "review": 1, "block": 2}.get(kind, -1)),
        (f"{report.risk or 0.0:.2f}", report.risk or 0.0), (escape(top), top),
        (escape(", ".join(f.rule for f in report.flags)), len(report.flags)),
    ]


SCAN_INDEX_HEADERS = ["photo", "decision", "risk", "top brand", "flags"]

# Sorts the index table by the clicked column (numbers numerically), toggling the direction.
_SORT_SCRIPT = """
document.querySelectorAll("table.index th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = +th.dataset.col;
    var up = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    var key = function (tr) { var v = tr.cells[col].dataset.sort, n = Number(v);
      return v !== "" && !isNaN(n) ? n : v.toLowerCase(); };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) { var x = key(a), y = key(b);
      var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
      return up ? c : -c; });
    rows.forEach(function (tr) { body.appendChild(tr); });
  });
});
"""


def escape(text: str) -> str:
    """HTML-escaped text that also encodes as UTF-8 (lone surrogates become ``\\xNN`` / ``\\uXXXX``)."""
    return _html_escape(escape_surrogates(text))


def _photo(report: ImageReport, source: str | Path | None) -> str:
    """The annotated photo as an inline JPEG, or a note saying why there is none."""
    if not report.ok:
        return "<p class=\"muted\">No photo: the file could not be read.</p>"
    from detector.errors import DetectorError
    from detector.evidence import evidence_image

    path = Path(source if source is not None else report.path)
    try:
        image = evidence_image(path, report)
    except (OSError, DetectorError) as exc:  # moved or changed since the scan: the findings still stand
        return f"<p class=\"muted\">Photo not shown: {escape(str(exc))}</p>"
    side = FLAGGED_SIDE if report.flagged else ALLOWED_SIDE
    image.thumbnail((side, side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt=\"{escape(report.path)}, annotated\" src=\"data:image/jpeg;base64,{data}\">"
