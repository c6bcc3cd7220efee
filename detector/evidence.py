"""Annotated evidence images: the photo with what was found drawn on it, and why it was flagged.

A reviewer shows this to a seller or a rights-holder: every box is labelled with
what it matched and how sure, and a footer lists the decision and the flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.types import ImageReport

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

_LOGO = (30, 110, 255)
_TEXT = (20, 160, 60)
_SUSPECT = (220, 30, 30)
_DECISION_COLOUR = {"allow": (20, 140, 60), "review": (220, 140, 0), "block": (200, 20, 20)}


def annotate(image: Image.Image, report: ImageReport) -> Image.Image:
    """A copy of ``image`` (original coordinates, as in ``report``) with boxes, labels and a footer."""
    from PIL import Image, ImageDraw

    base = image.convert("RGB")
    scale = max(base.size) / 1024 if max(base.size) > 1024 else 1.0
    width = max(2, round(3 * scale))
    font = _font(max(12, round(16 * scale)))
    flagged_brands = {f.brand for f in report.flags if f.brand}

    canvas = base.copy()
    draw = ImageDraw.Draw(canvas)
    for m in report.logos:
        _box(draw, m.box.to_list(), f"logo {m.brand} {m.score:.2f}", _LOGO, width, font)
    for t in report.texts:
        if t.box is None:
            continue
        suspect = t.relation is not None and t.relation.value != "exact" and t.brand in flagged_brands
        label = f"'{t.text}'" + (f" ~ {t.brand} ({t.relation.value})" if t.brand and t.relation else "")
        _box(draw, t.box.to_list(), label, _SUSPECT if suspect else _TEXT, width, font)

    lines = [f"{(report.decision.value if report.decision else 'error').upper()}  risk {report.risk or 0:.2f}"]
    for f in report.flags[:6]:
        # A flag's message is the evidence a reviewer reads out: wrapped to the photo's width, never cut.
        lines += _wrap(f"[{f.severity.value}] {f.rule}: {f.message}", font, canvas.width - 12)
    line_h = font.size + 6 if hasattr(font, "size") else 20
    footer = Image.new("RGB", (canvas.width, line_h * len(lines) + 8), (255, 255, 255))
    fd = ImageDraw.Draw(footer)
    colour = _DECISION_COLOUR.get(report.decision.value if report.decision else "", (0, 0, 0))
    for i, line in enumerate(lines):
        fd.text((6, 4 + i * line_h), line, fill=colour if i == 0 else (0, 0, 0), font=font)
    out = Image.new("RGB", (canvas.width, canvas.height + footer.height), (255, 255, 255))
    out.paste(canvas, (0, 0))
    out.paste(footer, (0, canvas.height))
    return out


def _wrap(text: str, font: Any, width: float) -> list[str]:
    """``text`` split at spaces into lines no wider than ``width`` pixels (a longer word gets its own line)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = "  " + word  # continuation lines are indented
        else:
            current = candidate
    return [*lines, current]


def write_evidence(source: str | Path, report: ImageReport, out_dir: str | Path) -> Path | None:
    """Write ``<out_dir>/<name>-<sha256[:8]>.evidence.jpg`` for a readable report; ``None`` for a failed one.

    The hash prefix keeps two ``IMG_0001.jpg`` from different folders apart.
    """
    if not report.ok:
        return None
    image = evidence_image(source, report)
    tag = f"-{report.sha256[:8]}" if report.sha256 else ""
    target = Path(out_dir) / f"{Path(report.path).stem}{tag}.evidence.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, quality=90)
    return target


def evidence_image(source: str | Path | bytes, report: ImageReport) -> Image.Image:
    """The photo at ``source`` (a path or its bytes) loaded as the detector loads it (EXIF orientation, size
    limits) and annotated."""
    from detector.io import load_image

    loaded = load_image(source)
    img = loaded.image
    if loaded.scale != 1.0:  # reports are in original coordinates; draw on an image of that size
        img = img.resize(loaded.original_size)
    return annotate(img, report)


def _box(draw: ImageDraw.ImageDraw, xyxy: list[float], label: str, colour: tuple[int, int, int], width: int,
         font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    draw.rectangle(xyxy, outline=colour, width=width)
    x1, y1 = xyxy[0], xyxy[1]
    tb = draw.textbbox((x1, y1), label, font=font)
    h = tb[3] - tb[1] + 4
    top = y1 - h if y1 - h >= 0 else xyxy[3]
    draw.rectangle([x1, top, x1 + (tb[2] - tb[0]) + 6, top + h], fill=colour)
    draw.text((x1 + 3, top + 1), label, fill=(255, 255, 255), font=font)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    from PIL import ImageFont

    # DejaVu ships with Debian's fonts-dejavu-core (installed by `make`); Pillow's own font otherwise.
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)
