"""Rules configuration (one YAML, defaults shipped), dictionary word list, lexicon and scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import B

from detector.config import Thresholds
from detector.errors import ConfigError
from detector.rules import Lexicon, Rules, RulesConfig, WordList, load_rules_config, load_word_list
from detector.rules.config import Weights
from detector.rules.scoring import decide, risk, sightings
from detector.types import Decision, Flag, Severity


def test_default_config() -> None:
    cfg = load_rules_config()
    assert cfg.thresholds == Thresholds(review=0.4, block=0.8)
    assert cfg.weights == Weights(block=0.9, review=0.5, info=0.0)
    assert cfg.ocr_block_min_confidence == 0.7
    assert cfg.lookalike.edits_for(4) == 0 and cfg.lookalike.edits_for(6) == 1 and cfg.lookalike.edits_for(12) == 3
    terms = {t.term for t in cfg.vocabulary}
    assert {"replica", "fake", "1:1", "AAA", "mirror quality", "super copy", "inspired by", "高仿", "复刻", "A货",
            "原单"} <= terms


def test_user_file_merges_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "thresholds: {review: 0.3}\n"
        "ocr: {block_min_confidence: 0.5}\n"
        "extra_vocabulary:\n  - {term: bootleg, severity: block}\n  - unbranded copy\n",
        encoding="utf-8",
    )
    cfg = RulesConfig.from_file(path)
    assert cfg.thresholds == Thresholds(review=0.3, block=0.8)  # block kept from the defaults
    assert cfg.ocr_block_min_confidence == 0.5
    assert [t.term for t in cfg.vocabulary[-2:]] == ["bootleg", "unbranded copy"]
    assert len(cfg.vocabulary) == len(RulesConfig.default().vocabulary) + 2
    rules = Rules([B("Adidas")], path)
    assert [(f.rule, f.severity) for f in rules.check_text("bootleg")] == [("counterfeit_vocabulary", Severity.BLOCK)]
    # The lower OCR bar of the user file: a 0.6-confidence look-alike now blocks.
    assert rules.check_text("Adibas", confidence=0.6)[0].severity is Severity.BLOCK


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"thresholds": {"reveiw": 0.3}}, "unknown key(s) ['reveiw'] in rules config section 'thresholds'"),
        ({"lookalike": {"spaced_severity": "maybe"}}, "must be one of ['info', 'review', 'block']"),
        ({"thresholds": {"review": 0.9, "block": 0.5}}, "review <= block"),
        ({"weights": {"block": 2}}, "weights.block' must be in [0, 1]"),
        ({"vocabulary": [{"term": "x", "colour": "red"}]}, "unknown key(s) ['colour'] in vocabulary[0]"),
        ({"dictionary": {"path": 3}}, "dictionary.path' must be a string or null"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_config_says_what_is_wrong(data, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        RulesConfig.from_dict(data)
    assert message in str(err.value)


def test_bad_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("thresholds: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RulesConfig.from_file(path)
    with pytest.raises(ConfigError, match="cannot read rules config"):
        RulesConfig.from_file(tmp_path / "missing.yaml")


def test_dictionary_path_override(tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("adibas\nhello\n", encoding="utf-8")
    cfg = RulesConfig.from_dict({"dictionary": {"path": str(words)}})
    rules = Rules([B("Adidas")], cfg)
    assert [f for f in rules.check_text("Adibas") if f.flagged] == []  # now an "ordinary word"
    missing = RulesConfig.from_dict({"dictionary": {"path": str(tmp_path / "nope.txt")}})
    with pytest.raises(ConfigError, match="cannot read the dictionary word list"):
        Rules([B("Adidas")], missing)


def test_bundled_word_list() -> None:
    words = load_word_list()
    assert len(words) > 70_000
    assert {"hike", "mike", "like", "button", "banana"} <= words.words
    assert "red" in words.common and "louis" not in words.common  # "Louis" is a proper noun
    assert "adibas" not in words
    assert "nike" not in words.without(["Nike"])
    assert "aida" in WordList.from_words(["Aida", "Aida's"]).words


def test_lexicon() -> None:
    lex = Lexicon.build([B("Coca-Cola", ("Coke",)), B("Hermès"), B("Anta", ("安踏",)), B("H&M")])
    assert lex.resolve("coca cola") == "Coca-Cola" and lex.resolve("COKE") == "Coca-Cola"
    assert lex.resolve("Hermes") == "Hermès"  # accent-free spelling derived
    assert lex.resolve("安踏") == "Anta" and lex.resolve("H & M") == "H&M"
    assert lex.resolve("Pepsi") is None
    cola = lex.by_key["cocacola"][0]
    assert cola.words == ("coca", "cola") and cola.boundaries == frozenset({4})


def test_risk_and_decision() -> None:
    w, th = Weights(block=0.9, review=0.5, info=0.0), Thresholds(review=0.4, block=0.8)
    review, block = Flag("r", Severity.REVIEW, "m"), Flag("b", Severity.BLOCK, "m")
    assert risk([], w) == 0.0 and decide(0.0, [], th) is Decision.ALLOW
    assert risk([review], w) == 0.5 and decide(0.5, [review], th) is Decision.REVIEW
    assert risk([block], w) == 0.9 and decide(0.9, [block], th) is Decision.BLOCK
    assert risk([review, review], w) == pytest.approx(0.75)
    assert decide(risk([review] * 4, w), [review] * 4, th) is Decision.REVIEW  # capped at the worst flag


def test_sightings_combine_signals() -> None:
    out = sightings([("Nike", 0.9, "logo"), ("Nike", 0.8, "text"), ("Nike", 0.5, "text"), ("Puma", 0.6, "text")])
    assert [(s.name, s.confidence, s.evidence) for s in out] == [
        ("Nike", 0.98, ("logo", "text")),
        ("Puma", 0.6, ("text",)),
    ]
