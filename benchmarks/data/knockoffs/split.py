"""Deterministic dev/test split for the real-knockoff brand-name corpus.

Usage: python split.py RAW.csv

RAW.csv has the header ``text,brand,category,source_url``. Within each
category, rows are sorted by sha256((brand.lower() + "|" + text.lower()))
hex digest; the row at position i goes to test.csv when i % 4 == 0, else to
dev.csv. Both files are written next to this script (UTF-8, csv module
quoting). The split depends only on the rows, never on detector output.
"""
import csv
import hashlib
import os
import sys

FIELDS = ["text", "brand", "category", "source_url"]


def key(row):
    return hashlib.sha256((row["brand"].lower() + "|" + row["text"].lower()).encode()).hexdigest()


def main(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {"dev": [], "test": []}
    for cat in sorted({r["category"] for r in rows}):
        for i, row in enumerate(sorted((r for r in rows if r["category"] == cat), key=key)):
            out["test" if i % 4 == 0 else "dev"].append(row)
    here = os.path.dirname(os.path.abspath(__file__))
    for name, part in out.items():
        with open(os.path.join(here, name + ".csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(part)
    print(f"dev={len(out['dev'])} test={len(out['test'])}")


if __name__ == "__main__":
    main(sys.argv[1])
