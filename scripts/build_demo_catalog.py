"""Rebuild the bundled demo catalog (detector/data/catalog) from the simple-icons PNG renders.

    python scripts/build_demo_catalog.py                  # write detector/data/catalog
    python scripts/build_demo_catalog.py --check          # exit 1 if the committed catalog differs

The brand list lives here (BRANDS, TEXT_ONLY). Aliases are the simple-icons ones (aka, dup titles,
localised and former names) plus the genuine spellings written below; never misspellings, which
are what the rules layer must catch. Every FlickrLogos-27 brand that simple-icons has a mark for
(coverage.csv) must be in BRANDS; the script refuses to build otherwise.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detector.catalog import Brand, Catalog, load_catalog
from detector.enrol import render_yaml

SIMPLE_ICONS_VERSION = "16.37.0"


@dataclass(frozen=True)
class Entry:
    slugs: tuple[str, ...]  # simple-icons slugs: the first is the main mark, the rest extra marks
    name: str  # what a shopper writes
    aliases: tuple[str, ...] = ()


def E(slugs: str, name: str, *aliases: str) -> Entry:
    return Entry(tuple(slugs.split()), name, aliases)


# (category, entries). Categories become comments in catalog.yaml.
BRANDS: list[tuple[str, list[Entry]]] = [
    (
        "Sportswear and outdoor",
        [
            E("adidas", "Adidas"),
            E("nike", "Nike", "Nike Inc"),
            E("puma", "Puma"),
            E("reebok", "Reebok"),
            E("newbalance", "New Balance", "NewBalance"),
            E("underarmour", "Under Armour", "UnderArmour"),
            E("fila", "Fila"),
            E("jordan", "Jordan", "Air Jordan", "Jumpman"),
            E("thenorthface", "The North Face", "North Face"),
            E("hellyhansen", "Helly Hansen", "Helly-Hansen"),
            E("anta", "Anta", "安踏"),
            E("lining", "Li-Ning", "Li Ning", "LiNing", "李宁"),
            E("burton", "Burton", "Burton Snowboards"),
        ],
    ),
    (
        "Fashion",
        [
            E("bata", "Bata"),
            E("dior", "Dior", "Christian Dior"),
            E("zara", "Zara"),
            E("handm", "H&M", "H & M", "Hennes & Mauritz"),
            E("uniqlo uniqlo_ja", "Uniqlo"),
        ],
    ),
    (
        "Electronics, cameras and gaming",
        [
            E("apple", "Apple"),
            E("samsung", "Samsung", "삼성"),
            E("sony", "Sony", "ソニー"),
            E("lg", "LG", "LG Electronics"),
            E("huawei", "Huawei", "华为"),
            E("xiaomi", "Xiaomi", "小米"),
            E("oneplus", "OnePlus", "One Plus"),
            E("oppo", "Oppo"),
            E("vivo", "Vivo"),
            E("honor", "Honor", "荣耀"),
            E("motorola", "Motorola"),
            E("nokia", "Nokia"),
            E("lenovo", "Lenovo", "联想"),
            E("dell", "Dell"),
            E("hp", "HP", "Hewlett-Packard", "Hewlett Packard"),
            E("asus", "Asus"),
            E("acer", "Acer"),
            E("msi", "MSI"),
            E("alienware", "Alienware"),
            E("playstation", "PlayStation"),
            E("nikon", "Nikon"),
            E("fujifilm", "Fujifilm"),
            E("leica", "Leica"),
            E("kodak", "Kodak"),
            E("dji", "DJI", "大疆"),
            E("bose", "Bose"),
            E("jbl", "JBL"),
            E("beatsbydre", "Beats", "Beats by Dre", "Beats by Dr. Dre", "Beats Electronics"),
            E("sennheiser", "Sennheiser"),
            E("audiotechnica", "Audio-Technica", "Audio Technica", "AudioTechnica"),
            E("panasonic", "Panasonic"),
            E("toshiba", "Toshiba"),
            E("intel", "Intel"),
            E("amd", "AMD", "Advanced Micro Devices"),
            E("nvidia", "Nvidia"),
            E("razer", "Razer"),
            E("corsair", "Corsair"),
            E("steelseries", "SteelSeries"),
            E("hyperx", "HyperX"),
            E("garmin", "Garmin"),
            E("fitbit", "Fitbit"),
            E("sonos", "Sonos"),
            E("epson", "Epson"),
            E("bosch", "Bosch"),
            E("sega", "Sega"),
        ],
    ),
    (
        "Food and drink",
        [
            E("cocacola", "Coca-Cola", "Coca Cola", "CocaCola", "Coke"),
            E("redbull", "Red Bull", "RedBull"),
            E("starbucks", "Starbucks", "Starbucks Coffee"),
            E("jameson", "Jameson", "Jameson Irish Whiskey"),
            E("carlsberggroup", "Carlsberg", "Carlsberg Group"),
            E("chupachups", "Chupa Chups"),
            E("mcdonalds", "McDonald's", "McDonalds", "Mc Donald's", "McDonald\u2019s"),
            E("burgerking", "Burger King"),
            E("kfc", "KFC"),
            E("tacobell", "Taco Bell"),
        ],
    ),
    (
        "Cars and motorcycles",
        [
            E("bmw", "BMW"),
            E("audi", "Audi"),
            E("volkswagen", "Volkswagen", "VW"),
            E("porsche", "Porsche"),
            E("ferrari", "Ferrari"),
            E("lamborghini", "Lamborghini"),
            E("ford", "Ford"),
            E("toyota", "Toyota"),
            E("honda", "Honda"),
            E("nissan", "Nissan"),
            E("hyundai", "Hyundai"),
            E("kia", "Kia"),
            E("tesla", "Tesla"),
            E("citroen", "Citroen", "Citroën"),
            E("peugeot", "Peugeot"),
            E("renault", "Renault"),
            E("fiat", "Fiat"),
            E("mini", "Mini"),
            E("volvo", "Volvo"),
            E("skoda", "Skoda", "Škoda"),
            E("chevrolet", "Chevrolet", "Chevy"),
            E("jeep", "Jeep"),
            E("bentley", "Bentley"),
            E("rollsroyce", "Rolls-Royce", "Rolls Royce"),
            E("astonmartin", "Aston Martin"),
            E("maserati", "Maserati"),
            E("bugatti", "Bugatti"),
            E("mazda", "Mazda"),
            E("subaru", "Subaru"),
            E("suzuki", "Suzuki"),
            E("mitsubishi", "Mitsubishi"),
            E("ducati", "Ducati"),
        ],
    ),
    (
        "Retail and marketplaces",
        [
            E("ikea", "IKEA"),
            E("target", "Target"),
            E("lidl", "Lidl"),
            E("tesco", "Tesco"),
            E("carrefour", "Carrefour"),
            E("ebay", "eBay"),
            E("etsy", "Etsy"),
            E("aliexpress", "AliExpress", "Ali Express"),
            E("zalando", "Zalando"),
        ],
    ),
    (
        "Logistics",
        [
            E("dhl", "DHL"),
            E("fedex", "FedEx", "Federal Express"),
            E("ups", "UPS", "United Parcel Service"),
            E("usps", "USPS", "United States Postal Service"),
            E("dpd", "DPD"),
            E("deutschepost", "Deutsche Post"),
        ],
    ),
    (
        "Tech, media and telecom",
        [
            E("google", "Google"),
            E("nbc", "NBC"),
            E("vodafone", "Vodafone"),
        ],
    ),
    (
        "Sports leagues and merchandise",
        [
            E("nasa", "NASA"),
            E("nba", "NBA", "National Basketball Association"),
            E("fifa", "FIFA"),
            E("premierleague", "Premier League"),
            E("f1", "Formula 1", "F1", "Formula One"),
            E("mlb", "MLB"),
            E("nhl", "NHL"),
            E("ufc", "UFC", "Ultimate Fighting Championship"),
        ],
    ),
]

# Brands simple-icons 16.37.0 has no mark for, kept for the text rules (look-alikes such as
# "Louis Button" need the real name in the catalog): the six FlickrLogos-27 brands without a mark,
# then brands among the most counterfeited in customs seizure reports. Not used: the simple-icons
# "hermes" mark, which is the Hermes parcel service, not Hermès the fashion house.
TEXT_ONLY: list[Entry] = [
    E("", "Heineken"),
    E("", "Pepsi", "Pepsi-Cola"),
    E("", "Sprite"),
    E("", "Texaco"),
    E("", "UNICEF"),
    E("", "Yahoo", "Yahoo!"),
    E("", "Louis Vuitton"),
    E("", "Gucci"),
    E("", "Chanel"),
    E("", "Prada"),
    E("", "Hermès", "Hermes"),
    E("", "Rolex"),
    E("", "Burberry"),
    E("", "Versace"),
    E("", "Fendi"),
    E("", "Balenciaga"),
    E("", "Cartier"),
    E("", "Yves Saint Laurent", "Saint Laurent", "YSL"),
    E("", "Michael Kors"),
    E("", "Ray-Ban", "Ray Ban", "RayBan"),
    E("", "Oakley"),
    E("", "Lacoste"),
    E("", "Ralph Lauren", "Polo Ralph Lauren"),
    E("", "Tommy Hilfiger"),
    E("", "Calvin Klein"),
    E("", "Supreme"),
    E("", "Converse"),
    E("", "Vans"),
    E("", "Asics"),
    E("", "Moncler"),
    E("", "Canada Goose"),
    E("", "Nintendo"),
    E("", "Microsoft"),
    E("", "GoPro"),
    E("", "Logitech"),
    E("", "Dyson"),
    E("", "Lego"),
]

HEADER = f"""Demo brand catalog bundled with the detector (format: docs/DESIGN.md).
Generated by scripts/build_demo_catalog.py from simple-icons {SIMPLE_ICONS_VERSION} (CC0-1.0); do not edit by hand.
The marks are trademarks of their respective owners; for demonstration and testing only (see README.md)."""


def index_aliases(entry: dict) -> list[str]:
    """Other genuine names simple-icons records for an icon: aka, dup titles, localised, former."""
    a = entry.get("aliases") or {}
    return [
        *(a.get("aka") or []),
        *(d["title"] for d in a.get("dup") or []),
        *(a.get("loc") or {}).values(),
        *(a.get("old") or []),
    ]


def unique(name: str, spellings: list[str]) -> tuple[str, ...]:
    """Drop spellings equal to the name or to each other when case is ignored (lookup is case-insensitive)."""
    seen, out = {name.casefold()}, []
    for s in spellings:
        if s.casefold() not in seen:
            seen.add(s.casefold())
            out.append(s)
    return tuple(out)


def check_flickrlogos(source: Path) -> list[str]:
    """The FlickrLogos-27 brands with a simple-icons mark; raises if any is missing from BRANDS."""
    chosen = {s for _, entries in BRANDS for e in entries for s in e.slugs}
    with open(source / "coverage.csv", newline="", encoding="utf-8") as fh:
        mapped = [(row["brand"], row["slug"]) for row in csv.DictReader(fh) if row["slug"]]
    missing = [f"{b} ({s})" for b, s in mapped if s not in chosen]
    if missing:
        raise SystemExit(f"FlickrLogos-27 brands with a mark are missing from BRANDS: {', '.join(missing)}")
    return [b for b, _ in mapped]


def build(source: Path, out: Path) -> Catalog:
    """Write ``out``/catalog.yaml and ``out``/marks; everything is checked before ``out`` is touched."""
    icons_dir = source / "simple-icons"
    if not (icons_dir / "index.json").is_file():
        raise SystemExit(f"{icons_dir / 'index.json'} not found: point --source at the logos data folder")
    index = {e["slug"]: e for e in json.loads((icons_dir / "index.json").read_text(encoding="utf-8"))}

    sections: list[tuple[str, list[Brand]]] = []
    for category, entries in BRANDS:
        brands = []
        for e in entries:
            missing = [slug for slug in e.slugs if slug not in index]
            if missing:
                raise SystemExit(f"simple-icons {SIMPLE_ICONS_VERSION} has no icon {missing} (brand {e.name!r})")
            spellings = [s for slug in e.slugs for s in (index[slug]["title"], *index_aliases(index[slug]))]
            marks = tuple(f"marks/{slug}.png" for slug in e.slugs)
            brands.append(Brand(e.name, unique(e.name, [*e.aliases, *spellings]), marks))
        sections.append((category, brands))
    text_only = [Brand(e.name, unique(e.name, list(e.aliases))) for e in TEXT_ONLY]
    sections.append(("Text only: no simple-icons mark (see scripts/build_demo_catalog.py)", text_only))
    # Constructing the Catalog checks that names and aliases are unique across all brands.
    everything = Catalog(root=out, brands=tuple(b for _, bs in sections for b in bs))

    text = render_yaml(Catalog(root=out, brands=()), header=HEADER).replace("brands: []\n", "brands:\n")
    for category, brands in sections:
        body = render_yaml(Catalog(root=out, brands=tuple(brands))).split("brands:\n", 1)[1]
        text += f"\n# --- {category} ({len(brands)}) ---\n" + body

    shutil.rmtree(out / "marks", ignore_errors=True)  # drop marks of brands no longer listed
    (out / "marks").mkdir(parents=True)
    for _, mark in everything.iter_marks():
        shutil.copyfile(icons_dir / Path(mark).name, out / mark)
    (out / "catalog.yaml").write_text(text, encoding="utf-8")
    loaded = load_catalog(out)
    if loaded.to_dict() != everything.to_dict():
        raise SystemExit("the written catalog.yaml does not read back as built; fix render_yaml")
    return loaded


def _differences(built: Path, committed: Path) -> list[str]:
    """Files (relative paths) that are missing, extra or different in ``committed``; README.md is hand-written."""

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"README.md"}

    a, b = files(built), files(committed) if committed.is_dir() else set()
    return sorted((a ^ b) | {f for f in a & b if not filecmp.cmp(built / f, committed / f, shallow=False)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source",
        type=Path,
        default=REPO.parent / "shared" / "data" / "logos",
        help="the logos data folder holding simple-icons/ and coverage.csv (default: %(default)s)",
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=REPO / "detector" / "data" / "catalog",
        help="catalog directory to (re)write (default: %(default)s)",
    )
    ap.add_argument("--check", action="store_true", help="build to a temp dir and compare with --output")
    args = ap.parse_args(argv)

    if not (args.source / "coverage.csv").is_file():
        raise SystemExit(f"{args.source / 'coverage.csv'} not found: point --source at the logos data folder")
    flickr = check_flickrlogos(args.source)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(args.source, Path(tmp))
            diff = _differences(Path(tmp), args.output)
        if diff:
            print(f"{args.output} is out of date ({', '.join(diff[:10])}); rerun without --check", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date", file=sys.stderr)
        return 0
    catalog = build(args.source, args.output)
    with_marks = sum(1 for b in catalog.brands if b.marks)
    print(
        f"wrote {args.output}: {len(catalog)} brands ({with_marks} with marks, "
        f"{sum(len(b.marks) for b in catalog.brands)} mark files); "
        f"FlickrLogos-27 brands with a mark: {len(flickr)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
