"""The rules configuration: one YAML file, defaults shipped as ``detector/data/rules.yaml``.

A user's file is merged over the defaults: mappings merge key by key, lists and scalars replace, and
``extra_vocabulary`` is appended to ``vocabulary``. Unknown keys and ill-typed values raise
``ConfigError`` naming the key, so a typo never falls back silently to a default.

>>> cfg = RulesConfig.default()
>>> cfg.thresholds.block, cfg.lookalike.short_name_max_len
(0.8, 4)
>>> RulesConfig.from_dict({"thresholds": {"review": 0.3}}).thresholds.review
0.3
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from detector.config import Thresholds
from detector.errors import ConfigError
from detector.types import Severity

_SCHEMA: dict[str, Any] = {
    "version": int,
    "thresholds": {"review": float, "block": float},
    "weights": {"block": float, "review": float, "info": float},
    "ocr": {"block_min_confidence": float},
    "lookalike": {
        "short_name_max_len": int,
        "max_edits": list,
        "phonetic_min_len": int,
        "phonetic_min_similarity": float,
        "anchor_min_len": int,
        "stopwords": list,
        "spaced_severity": Severity,
    },
    "dictionary": {"path": (str, type(None)), "extra_words": list, "context_severity": Severity},
    "mixed_script": {"severity": Severity},
    "mismatch": {
        "logo_min_score": float,
        "logo_text_severity": Severity,
        "logo_text_near_severity": Severity,
        "near_factor": float,
        "declared_brand_severity": Severity,
        "unauthorized_seller_severity": Severity,
        "official_photo_reuse_severity": Severity,
    },
    "price": {"below_ratio": float, "severity": Severity},
    "vocabulary": list,
    "extra_vocabulary": list,
}
_TERM_KEYS = {"term", "severity", "case_sensitive", "unless"}


@dataclass(frozen=True)
class Term:
    """A counterfeit-vocabulary phrase and how much it says."""

    term: str
    severity: Severity
    case_sensitive: bool = False
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditLimit:
    """Brand names of at least ``min_len`` letters accept look-alikes up to ``edits`` edits away."""

    min_len: int
    edits: int


@dataclass(frozen=True)
class Weights:
    """The risk one flag of each severity adds (combined as 1 - prod(1 - weight))."""

    block: float
    review: float
    info: float

    def of(self, severity: Severity) -> float:
        return {Severity.BLOCK: self.block, Severity.REVIEW: self.review, Severity.INFO: self.info}[severity]


@dataclass(frozen=True)
class LookalikeConfig:
    short_name_max_len: int
    max_edits: tuple[EditLimit, ...]
    phonetic_min_len: int
    phonetic_min_similarity: float
    anchor_min_len: int
    stopwords: frozenset[str]
    spaced_severity: Severity

    def edits_for(self, length: int) -> int:
        """The edit budget of a brand name of ``length`` letters (0 below the first row)."""
        budget = 0
        for row in self.max_edits:
            if length >= row.min_len:
                budget = row.edits
        return budget


@dataclass(frozen=True)
class DictionaryConfig:
    path: str | None
    extra_words: tuple[str, ...]
    context_severity: Severity


@dataclass(frozen=True)
class MismatchConfig:
    logo_min_score: float
    logo_text_severity: Severity
    logo_text_near_severity: Severity
    near_factor: float
    declared_brand_severity: Severity
    unauthorized_seller_severity: Severity
    official_photo_reuse_severity: Severity = Severity.REVIEW


@dataclass(frozen=True)
class PriceConfig:
    """A listing priced under ``below_ratio`` × its brand's ``min_price`` gets a ``severity`` flag."""

    below_ratio: float
    severity: Severity


@dataclass(frozen=True)
class RulesConfig:
    """Everything tunable about the rules layer; ``RulesConfig.default()`` is the shipped file."""

    thresholds: Thresholds
    weights: Weights
    ocr_block_min_confidence: float
    lookalike: LookalikeConfig
    dictionary: DictionaryConfig
    mixed_script_severity: Severity
    mismatch: MismatchConfig
    price: PriceConfig
    vocabulary: tuple[Term, ...]

    @classmethod
    def default(cls) -> RulesConfig:
        return _default()

    @classmethod
    def from_dict(cls, overrides: dict[str, Any]) -> RulesConfig:
        """The defaults with ``overrides`` (the content of a user's rules YAML) merged over them."""
        if not isinstance(overrides, dict):
            raise ConfigError(f"a rules config must be a mapping, got {type(overrides).__name__}")
        _check_schema(overrides, _SCHEMA, "")
        merged = _merge(copy.deepcopy(_default_data()), overrides)
        merged["vocabulary"] = list(merged.get("vocabulary") or []) + list(merged.pop("extra_vocabulary", None) or [])
        return _build(merged)

    @classmethod
    def from_file(cls, path: str | Path) -> RulesConfig:
        """Load a user's rules YAML and merge it over the defaults."""
        import yaml

        p = Path(path).expanduser()
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read rules config {p}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"rules config {p} is not valid YAML: {exc}") from exc
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None


def load_rules_config(path: str | Path | None = None) -> RulesConfig:
    """The shipped defaults (``None``) or a user's YAML merged over them."""
    return RulesConfig.default() if path is None else RulesConfig.from_file(path)


@lru_cache(maxsize=1)
def _default_data() -> dict[str, Any]:
    import yaml

    text = resources.files("detector").joinpath("data").joinpath("rules.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    _check_schema(data, _SCHEMA, "")
    return data


@lru_cache(maxsize=1)
def _default() -> RulesConfig:
    data = copy.deepcopy(_default_data())
    data["vocabulary"] = list(data["vocabulary"]) + list(data.pop("extra_vocabulary", None) or [])
    return _build(data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base


def _check_schema(data: Any, schema: dict[str, Any], where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"rules config section '{where or '<top>'}' must be a mapping, got {data!r}")
    unknown = set(data) - set(schema)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)} in rules config section '{where or '<top>'}'; expected {sorted(schema)}"
        )
    for key, value in data.items():
        expected = schema[key]
        name = f"{where}.{key}" if where else key
        if isinstance(expected, dict):
            _check_schema(value, expected, name)
        elif expected is Severity:
            _severity(value, name)
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"rules config key '{name}' must be a number, got {value!r}")
        elif expected is list:
            if not isinstance(value, list):
                raise ConfigError(f"rules config key '{name}' must be a list, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, expected):
            want = expected.__name__ if isinstance(expected, type) else "a string or null"
            raise ConfigError(f"rules config key '{name}' must be {want}, got {value!r}")


def _severity(value: Any, name: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ConfigError(
            f"rules config key '{name}' must be one of {[s.value for s in Severity]}, got {value!r}"
        ) from None


def _unit(value: float, name: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"rules config key '{name}' must be in [0, 1], got {value!r}")
    return float(value)


def _build(d: dict[str, Any]) -> RulesConfig:
    th = d["thresholds"]
    review, block = _unit(th["review"], "thresholds.review"), _unit(th["block"], "thresholds.block")
    if review > block:
        raise ConfigError(f"thresholds must satisfy review <= block, got review={review}, block={block}")
    weights = Weights(**{k: _unit(v, f"weights.{k}") for k, v in d["weights"].items()})
    la = d["lookalike"]
    limits = []
    for i, row in enumerate(la["max_edits"]):
        if not (isinstance(row, dict) and set(row) == {"min_len", "edits"}):
            raise ConfigError(f"lookalike.max_edits[{i}] must be a mapping {{min_len, edits}}, got {row!r}")
        if not all(isinstance(row[k], int) and row[k] >= 0 for k in row):
            raise ConfigError(f"lookalike.max_edits[{i}] values must be non-negative integers, got {row!r}")
        limits.append(EditLimit(row["min_len"], row["edits"]))
    limits.sort(key=lambda r: r.min_len)
    lookalike = LookalikeConfig(
        short_name_max_len=int(la["short_name_max_len"]),
        max_edits=tuple(limits),
        phonetic_min_len=int(la["phonetic_min_len"]),
        phonetic_min_similarity=_unit(la["phonetic_min_similarity"], "lookalike.phonetic_min_similarity"),
        anchor_min_len=int(la["anchor_min_len"]),
        stopwords=frozenset(str(w).casefold() for w in la["stopwords"]),
        spaced_severity=_severity(la["spaced_severity"], "lookalike.spaced_severity"),
    )
    dc = d["dictionary"]
    dictionary = DictionaryConfig(
        path=dc["path"],
        extra_words=tuple(str(w) for w in dc["extra_words"]),
        context_severity=_severity(dc["context_severity"], "dictionary.context_severity"),
    )
    mm = d["mismatch"]
    mismatch = MismatchConfig(
        logo_min_score=_unit(mm["logo_min_score"], "mismatch.logo_min_score"),
        logo_text_severity=_severity(mm["logo_text_severity"], "mismatch.logo_text_severity"),
        logo_text_near_severity=_severity(mm["logo_text_near_severity"], "mismatch.logo_text_near_severity"),
        near_factor=float(mm["near_factor"]),
        declared_brand_severity=_severity(mm["declared_brand_severity"], "mismatch.declared_brand_severity"),
        unauthorized_seller_severity=_severity(
            mm["unauthorized_seller_severity"], "mismatch.unauthorized_seller_severity"
        ),
        official_photo_reuse_severity=_severity(
            mm.get("official_photo_reuse_severity", "review"), "mismatch.official_photo_reuse_severity"
        ),
    )
    return RulesConfig(
        thresholds=Thresholds(review=review, block=block),
        weights=weights,
        ocr_block_min_confidence=_unit(d["ocr"]["block_min_confidence"], "ocr.block_min_confidence"),
        lookalike=lookalike,
        dictionary=dictionary,
        mixed_script_severity=_severity(d["mixed_script"]["severity"], "mixed_script.severity"),
        mismatch=mismatch,
        price=PriceConfig(
            below_ratio=_unit(d["price"]["below_ratio"], "price.below_ratio"),
            severity=_severity(d["price"]["severity"], "price.severity"),
        ),
        vocabulary=tuple(_term(t, i) for i, t in enumerate(d["vocabulary"])),
    )


def _term(raw: Any, i: int) -> Term:
    if isinstance(raw, str):
        raw = {"term": raw, "severity": "review"}
    if not isinstance(raw, dict) or "term" not in raw:
        raise ConfigError(f"vocabulary[{i}] must be a phrase or a mapping with a 'term', got {raw!r}")
    unknown = set(raw) - _TERM_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in vocabulary[{i}]; expected {sorted(_TERM_KEYS)}")
    term = raw["term"]
    if not isinstance(term, (str, int, float)) or not str(term).strip():
        raise ConfigError(f"vocabulary[{i}].term must be a non-empty phrase, got {term!r}")
    unless = raw.get("unless", [])
    if not isinstance(unless, list):
        raise ConfigError(f"vocabulary[{i}].unless must be a list of phrases, got {unless!r}")
    return Term(
        term=str(term).strip(),
        severity=_severity(raw.get("severity", "review"), f"vocabulary[{i}].severity"),
        case_sensitive=bool(raw.get("case_sensitive", False)),
        unless=tuple(str(u) for u in unless),
    )
