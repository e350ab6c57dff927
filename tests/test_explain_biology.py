"""bench/explain_biology.py's motif scan and ranking, by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from genomix.seqio.regions import reverse_complement

_SPEC = importlib.util.spec_from_file_location(
    "explain_biology", Path(__file__).resolve().parents[1] / "bench" / "explain_biology.py"
)
biology = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(biology)


def test_ctcf_core_matches_on_both_strands_with_mismatches() -> None:
    site = "CCGCGTGGAGGCAG"  # the consensus with its two N as T and A
    sequence = "AAAA" + site + "AAAA"
    expected = [False] * 4 + [True] * 14 + [False] * 4
    assert biology.motif_mask(sequence, mismatches=0).tolist() == expected
    assert biology.motif_mask(reverse_complement(sequence), mismatches=0).tolist() == expected[::-1]
    two_off = "AAAA" + "ACGCGTGGAGGCAT" + "AAAA"  # first and last fixed bases wrong
    assert not biology.motif_mask(two_off, mismatches=1).any()
    assert biology.motif_mask(two_off, mismatches=2).sum() == 14
    assert not biology.motif_mask("A" * 40).any()


def test_top_bases_and_bootstrap() -> None:
    assert biology.top_bases(np.array([1.0, 5, 5, 0]), 2).tolist() == [False, True, True, False]
    low, high = biology.bootstrap(np.array([1.0, 1, 1]), np.array([2.0, 2, 2]), 50)
    assert low == high == 0.5
    assert np.isnan(biology.bootstrap(np.array([1.0]), np.array([0.0]), 10)).all()


def test_iupac_matches_start_only_in_their_window() -> None:
    sequence = "GG" + "TATAAAAG" + "GGGG" + "TATATAAA" + "C"
    assert (
        biology.iupac_mask(sequence, "TATAWAWR", 0, 5).tolist()
        == [False] * 2 + [True] * 8 + [False] * 13
    )
    assert biology.iupac_mask(sequence, "TATAWAWR", 3, 20).sum() == 8  # the second, TATATAAA
    assert not biology.iupac_mask(sequence, "TATAWAWR", 3, 10).any()
