"""Real knockoff names (issue 10): recall on names counterfeiters printed, false flags on honest text.

    python benchmarks/knockoff_bench.py            # print the results as a BENCHMARKS.md section
    python benchmarks/knockoff_bench.py --write    # also replace that section in BENCHMARKS.md
    python benchmarks/knockoff_bench.py --dev      # the dev split only, with every miss (for tuning)

**Corpus.** ``benchmarks/data/knockoffs/{dev,test}.csv``: knockoff names reported by public sources
(each row has its source URL), with the genuine brand and a category (README.md there). ``test.csv``
is held out: the matcher is tuned on ``dev.csv`` only, and this script prints no row of the test split,
only its counts; ``--dev`` never reads it.

**Catalog.** The bundled demo catalog plus every genuine brand of the corpus that it lacks (name only):
"a catalog holding the genuine brands", as a rights-holder's catalog would.

**Detected** means the text, checked alone (``Rules.check_texts``, confidence 1.0), gets a flagged
(review or block) look-alike finding naming the right brand. Knockoffs that are ordinary words
(category ``dictionary_word``: "Bike" for Nike) cannot be told from the word by text alone; they are
measured with the listing's context (``check_text(text, context=[brand])``: the listing declares the
brand, or its logo is in the photo), and also alone.

**False flags** are measured with the same catalog: every line of the dictionary (and a held-out half:
the word filter built from the even lines, tested on the odd ones), every genuine name and alias as
written, upper- and lower-case, the ICDAR 2015 scene-text words in ../shared (when present), 2,000
genuine product titles (``benchmarks/data/product_titles.csv``) and the product phrases of the rules
benchmark. A text counts as falsely flagged when any look-alike rule fires on it.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules_bench import DICT, PHRASES, detected, false_flags

from detector.catalog import Brand, load_catalog
from detector.rules import Rules, WordList

DATA = ROOT / "benchmarks" / "data"
KNOCKOFFS = DATA / "knockoffs"
TITLES = DATA / "product_titles.csv"
ICDAR = ROOT.parent / "shared" / "data" / "ocr" / "icdar2015-words-train" / "gt.csv"
SECTION = "## Rules layer: real knockoff names (issue 10)"
# Corpus brands that are a product line or another name of one company: one catalog brand with the
# others as aliases, as a rights-holder would enrol them (a knockoff of "CK One" names Calvin Klein).
SAME_BRAND = {
    "Giorgio Armani": "Armani", "Kentucky Fried Chicken": "KFC", "Johnnie Walker Red Label": "Johnnie Walker",
    "Domino's Pizza": "Domino's", "PlayStation 2": "PlayStation", "Polo": "Ralph Lauren",
    "Polo Sport": "Ralph Lauren", "Chanel No. 5": "Chanel", "CK One": "Calvin Klein", "Xbox 360": "Xbox",
    "Beats by Dr. Dre": "Beats",
}
CATEGORIES = (
    "single_edit", "multi_edit", "transposition", "first_letter", "homoglyph", "punct_leet", "word_changed",
    "reorder_split_glue", "pun", "dictionary_word",
)


def read_rows(split: str) -> list[dict[str, str]]:
    """The rows of a split, each ``brand`` the catalog brand it belongs to (``SAME_BRAND``)."""
    with open(KNOCKOFFS / f"{split}.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["brand"] = SAME_BRAND.get(row["brand"], row["brand"])
    return rows


def corpus_brands() -> list[str]:
    """Every genuine brand of the corpus, both splits (names only: no knockoff text is read here)."""
    names: dict[str, None] = {}
    for split in ("dev", "test"):
        path = KNOCKOFFS / f"{split}.csv"
        if path.exists():
            with open(path, encoding="utf-8", newline="") as fh:
                names.update((row["brand"], None) for row in csv.DictReader(fh))
    return list(names)


def bench_catalog() -> list[Brand]:
    """The demo catalog's brands plus the corpus brands it does not know (see module docstring)."""
    demo = load_catalog(check_images=False)
    brands = {b.name: b for b in demo.brands}
    known = {n.casefold(): b.name for b in demo.brands for n in b.all_names}
    for name in corpus_brands():
        owner = SAME_BRAND.get(name, name)
        owner = known.get(owner.casefold(), owner)
        brand = brands.get(owner) or Brand(name=owner)
        if name.casefold() not in known and name != owner:
            brand = Brand(brand.name, (*brand.aliases, name), brand.marks, brand.authorized_sellers)
        brands[owner] = brand
        known.update((n.casefold(), owner) for n in brand.all_names)
    return list(brands.values())


def recall(rules: Rules, rows: list[dict[str, str]]) -> tuple[dict[str, list[int]], list[tuple[str, str, str, str]]]:
    """Per category [rows, flagged, blocked]; dictionary words with context under ``<cat>+context``."""
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    missed = []
    results = rules.check_texts([r["text"] for r in rows])
    for row, findings in zip(rows, results):
        cat, brand = row["category"], row["brand"]
        hit, block = detected(findings, brand)
        keys = [cat, "all (text alone)"]
        if cat == "dictionary_word":
            ctx_hit, ctx_block = detected(rules.check_text(row["text"], context=[brand]), brand)
            for key in (f"{cat} + context", "all (dictionary words with context)"):
                _count(stats[key], ctx_hit, ctx_block)
        else:
            _count(stats["all (dictionary words with context)"], hit, block)
        for key in keys:
            _count(stats[key], hit, block)
        if not hit:
            got = [(f.rule, f.brand, f.severity.value) for f in findings if f.flagged or f.brand]
            missed.append((row["text"], brand, cat, str(got)))
    return stats, missed


def _count(acc: list[int], hit: bool, block: bool) -> None:
    acc[0] += 1
    acc[1] += hit
    acc[2] += block


def honest_texts(rules: Rules) -> list[tuple[str, list[str]]]:
    """The false-flag sets, name → texts (those whose source is missing are left out)."""
    sets = []
    words = [w.strip() for w in DICT.read_text(encoding="utf-8", errors="replace").splitlines() if w.strip()]
    sets.append((f"dictionary `{DICT}` (every line)", words))
    spellings = rules.lexicon.genuine_spellings()
    sets.append(("genuine brand names and aliases (as written, UPPER, lower)",
                 [v for s in spellings for v in (s, s.upper(), s.lower())]))
    if ICDAR.exists():
        with open(ICDAR, encoding="utf-8", newline="") as fh:
            icdar = [r["text"] for r in csv.DictReader(fh) if r["text"].strip() and r["text"] != "###"]
        sets.append(("ICDAR 2015 scene-text words (../shared, every word)", icdar))
    if TITLES.exists():
        with open(TITLES, encoding="utf-8", newline="") as fh:
            sets.append(("genuine product titles (`benchmarks/data/product_titles.csv`)",
                         [r["title"] for r in csv.DictReader(fh)]))
    sets.append(("ordinary product phrases (`benchmarks/data/product_phrases.txt`)",
                 [ln.strip() for ln in PHRASES.read_text(encoding="utf-8").splitlines()
                  if ln.strip() and not ln.startswith("#")]))
    return sets


def machine() -> str:
    """The CPU model (from /proc/cpuinfo where there is one) and the core count."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} CPUs"
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs"


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.2f} %" if d else "–"


def recall_table(stats: dict[str, list[int]]) -> list[str]:
    out = ["| category | names | flagged (review or block) | blocked |", "|---|---:|---:|---:|"]
    order = [c for c in CATEGORIES if c in stats] + [c for c in stats if c not in CATEGORIES]
    for cat in order:
        n, hit, block = stats[cat]
        name = f"**{cat}**" if cat.startswith("all") else cat
        out.append(f"| {name} | {n} | {pct(hit, n)} | {pct(block, n)} |")
    return out


def run(dev_only: bool) -> str:
    brands = bench_catalog()
    t0 = time.perf_counter()
    rules = Rules(brands)
    lines = [
        SECTION,
        "",
        (
            f"Command: `python benchmarks/knockoff_bench.py`. Date: {date.today()}. Machine: {machine()}, "
            f"Python {platform.python_version()}. Catalog: the demo catalog plus the corpus brands it lacks, "
            f"{len(brands)} brands, {len(rules.lexicon)} genuine spellings; default `detector/data/rules.yaml`."
        ),
        "",
    ]
    splits = ["dev"] if dev_only else ["dev", "test"]
    misses = []
    for split in splits:
        rows = read_rows(split)
        stats, missed = recall(rules, rows)
        brands_n = len({r["brand"] for r in rows})
        title = "dev split (tuned on)" if split == "dev" else "**test split (held out: never tuned on)**"
        lines += [f"### Recall, {title}: {len(rows)} names, {brands_n} brands", ""] + recall_table(stats) + [""]
        if split == "dev":
            misses = missed
    if misses:
        lines.append(f"Missed on the dev split ({len(misses)}): " + ", ".join(
            f"`{t}` ({b}, {c})" for t, b, c, _ in misses) + ".")
        lines.append("")
    if dev_only:
        for t, b, c, got in misses:
            print(f"MISS {t!r:28} {b:22} {c:18} {got}", file=sys.stderr)

    lines += ["### False flags (same catalog)", "",
              "| input | strings | flagged as a brand look-alike | examples |", "|---|---:|---:|---|"]
    sets = honest_texts(rules)  # the dictionary first
    for name, texts in sets:
        _, look, _, examples = false_flags(rules, texts)
        ex = ", ".join(f"`{t}` → {', '.join(sorted({b for _, b in fl if b}))}" for t, fl in examples[:6])
        lines.append(f"| {name} | {len(texts):,} | {look} ({pct(look, len(texts))}) | {ex} |")
    # Words the filter does not know (an OCR misreading, a proper noun): the filter built from half.
    words = sets[0][1]
    held = Rules(brands, words=WordList.from_words(words[0::2]))
    _, look, _, examples = false_flags(held, words[1::2])
    ex = ", ".join(f"`{t}` → {', '.join(sorted({b for _, b in fl if b}))}" for t, fl in examples[:6])
    lines.append(f"| held out: filter from the even dictionary lines, tested on the odd | {len(words[1::2]):,} | "
                 f"{look} ({pct(look, len(words[1::2]))}) | {ex} |")
    lines += ["", f"Total run time {time.perf_counter() - t0:.0f} s.", ""]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    doc = path.read_text(encoding="utf-8")
    start = doc.find(SECTION)
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        nxt = re.search(r"^## ", doc[start + len(SECTION):], flags=re.MULTILINE)
        end = start + len(SECTION) + nxt.start() if nxt else len(doc)
        doc = doc[:start] + text + ("\n" if nxt else "") + doc[end:]
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    ap.add_argument("--dev", action="store_true", help="the dev split only, every miss on stderr")
    args = ap.parse_args()
    text = run(args.dev)
    print(text)
    if args.write and not args.dev:
        write_section(text)


if __name__ == "__main__":
    main()
