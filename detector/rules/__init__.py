"""The rules layer: brand look-alikes, counterfeit vocabulary and mismatches, fused into one decision.

>>> from detector.rules import Rules, check_text
>>> rules = Rules()                                   # bundled demo catalog, default rules.yaml
>>> [(f.rule, f.brand) for f in rules.check_text("Adibas") if f.flagged]
[('lookalike_brand_text', 'Adidas')]

Policies (dictionary words, OCR confidence) are described in README.md beside this file.
"""

from detector.rules.config import RulesConfig, Term, load_rules_config
from detector.rules.dictionary import WordList, load_word_list
from detector.rules.engine import Rules, check_text
from detector.rules.findings import Finding
from detector.rules.lexicon import Lexicon

__all__ = [
    "Finding",
    "Lexicon",
    "Rules",
    "RulesConfig",
    "Term",
    "WordList",
    "check_text",
    "load_rules_config",
    "load_word_list",
]
