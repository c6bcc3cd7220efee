"""Probe: ``load_image`` on mutated images of every format answers with an image or the project's own error.

A bounded, deterministic run (hypothesis, ``derandomize``) of the mutation fuzzer in ``tests/image_fuzz.py``;
``benchmarks/fuzz_load_image.py`` runs the same fuzzer on far more inputs (BENCHMARKS.md, "Hostile input").
"""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from image_fuzz import KINDS, Outcome, check_one, mutate, seeds

from detector.config import Limits
from detector.io import load_image

#: Inputs per run: the issue's floor for the test (the benchmark runs 50,000+).
EXAMPLES = 2_000

OPS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.floats(0.0, 1.0), st.integers(0, 0xFFFF)), min_size=1, max_size=4
)


def test_mutated_images_give_an_image_or_our_error(capfd: pytest.CaptureFixture[str]) -> None:
    corpus = seeds()
    outcome = Outcome()
    # Small limits keep every input fast; the bomb and size checks are exercised, not disabled.
    limits = Limits(max_pixels=4_000_000, max_file_bytes=2_000_000, max_side=1024)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(name=st.sampled_from(sorted(corpus)), ops=OPS)
    def probe(name: str, ops: list[tuple[str, float, int]]) -> None:
        check_one(mutate(corpus[name], ops), outcome, lambda data: load_image(data, limits, name=name))

    probe()
    out, err = capfd.readouterr()
    total = outcome.loaded + outcome.refused + outcome.too_large
    assert total >= EXAMPLES
    # both kinds of answer are exercised, not only one
    assert outcome.loaded > 100 and outcome.refused > 100
    assert (out, err) == ("", ""), f"written on stdout/stderr while loading: {(out + err)[:500]}"
