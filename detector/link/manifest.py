"""The ``detector link`` manifest: one CSV row per listing photo, checked row by row.

Columns ``listing_id,seller_id,image`` (required; ``image`` is a path relative to the manifest's folder)
and the optional environment columns ``device_id``, ``ip`` and ``payment_account``. Every error names
the row (the header is row 1, as a spreadsheet numbers them) and what to fix.

>>> rows = read_manifest("listings.csv")        # doctest: +SKIP
>>> rows[0].seller_id, rows[0].env
('s1', {'ip': '10.0.0.7'})
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import DetectorError

REQUIRED = ("listing_id", "seller_id", "image")
#: Environment columns: two sellers sharing a non-empty value of one are linked (``kind`` is the column).
ENV_COLUMNS = ("device_id", "ip", "payment_account")


class ManifestError(DetectorError):
    """A link manifest is unreadable or a row of it is invalid; ``row`` is its 1-based line (header = 1)."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class PhotoRow:
    """One photo of a listing, as the manifest gives it."""

    row: int
    listing_id: str
    seller_id: str
    image: str  # as written in the manifest: what the output names
    path: Path  # the file, resolved against the manifest's folder
    env: dict[str, str] = field(default_factory=dict)  # non-empty environment values only

    def ref(self) -> dict[str, str]:
        """The ``{"seller_id", "listing_id", "image"}`` object a link's ends are written as."""
        return {"seller_id": self.seller_id, "listing_id": self.listing_id, "image": self.image}


def read_manifest(path: str | Path, *, check_files: bool = True) -> list[PhotoRow]:
    """Parse and validate a manifest; ``ManifestError`` names the first bad row.

    Checked: the required columns exist; every row has a listing id, a seller id and an image; the image
    exists (``check_files``); no (listing, image) pair appears twice; a listing belongs to one seller.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets save a BOM before the header
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}: expected a CSV with the columns {','.join(REQUIRED)}") from None
    except IsADirectoryError:
        raise ManifestError(f"{path} is a folder; pass the manifest CSV inside it") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8 CSV") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise ManifestError(f"{path} row 1: the file is empty; expected a header row with {','.join(REQUIRED)}", row=1)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ManifestError(
            f"{path} row 1 (header): missing column(s) {', '.join(missing)}; expected {','.join(REQUIRED)} "
            f"(+ optional {', '.join(ENV_COLUMNS)}), got {','.join(header)}", row=1)
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise ManifestError(f"{path} row 1 (header): column(s) {', '.join(dupes)} appear twice", row=1)
    root = path.resolve().parent
    col = {h: i for i, h in enumerate(header)}
    env_cols = [c for c in ENV_COLUMNS if c in col]
    rows: list[PhotoRow] = []
    seen: dict[tuple[str, str], int] = {}
    owner: dict[str, tuple[str, int]] = {}
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines (a trailing newline, a spacer) are not rows
        where = f"{path} row {n}"
        if len(cells) > len(header):
            raise ManifestError(f"{where}: {len(cells)} cells but the header has {len(header)} columns "
                                "(an unquoted comma?)", row=n)
        value = {h: (cells[i].strip() if i < len(cells) else "") for h, i in col.items()}
        for c in REQUIRED:
            if not value[c]:
                raise ManifestError(f"{where}: empty {c}; every row needs a listing_id, a seller_id and an image",
                                    row=n)
        listing, seller, image = value["listing_id"], value["seller_id"], value["image"]
        if Path(image).is_absolute():
            raise ManifestError(f"{where}: image {image!r} must be a path relative to the manifest's folder {root}",
                                row=n)
        file = root / image
        if check_files and not file.is_file():
            why = "is a folder" if file.is_dir() else "does not exist"
            raise ManifestError(f"{where}: image {image!r} {why} ({file})", row=n)
        key = (listing, image)
        if key in seen:
            raise ManifestError(f"{where}: duplicate row: listing {listing!r} image {image!r} is already row "
                                f"{seen[key]}", row=n)
        seen[key] = n
        first = owner.setdefault(listing, (seller, n))
        if first[0] != seller:
            raise ManifestError(f"{where}: listing {listing!r} has seller {seller!r} but row {first[1]} gives it "
                                f"seller {first[0]!r}; a listing belongs to one seller", row=n)
        env = {c: value[c] for c in env_cols if value[c]}
        rows.append(PhotoRow(n, listing, seller, image, file, env))
    return rows
