"""The Python API for notebooks: load a model once, get pandas DataFrames back.

    >>> import genomix
    >>> model = genomix.load_model("models/chromatin")
    >>> model.predict({"seq1": "ACGT..."})                    # one row per sequence
    >>> model.predict_regions(bed_df, "hg38.fa")               # chrom/start/end kept
    >>> genomix.predict_variants("calls.vcf.gz", "hg38.fa", model)

`genomix predict` and `genomix predict-variants` run the same functions
(`genomix.predict.score_records`, `genomix.variants.variant_effects`), so both give the same
numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyfaidx

from genomix.errors import GenomixError
from genomix.predict import (
    Predictor,
    load_predictor,
    prediction_columns,
    score_records,
    table_rows,
)
from genomix.seqio.fasta import FastaRecord, normalize_sequence
from genomix.seqio.genome import open_genome
from genomix.seqio.regions import bed_record


class Model:
    """A fine-tuned genomix classifier (from `load_model`).

    Attributes:
        profiles: the model's outputs, one probability column each.
        window_bases: bases per window (the fine-tuning length).
        metadata: the model directory's `config.json`.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.profiles = predictor.profiles
        self.window_bases = predictor.window
        self.metadata = predictor.metadata

    def __repr__(self) -> str:
        return f"genomix.Model({len(self.profiles)} outputs, {self.window_bases} bp windows)"

    def predict(
        self,
        sequences: Mapping[str, str] | Sequence[str] | pd.Series,
        *,
        stride: int | None = None,
        aggregate: str = "max",
        per_window: bool = False,
    ) -> pd.DataFrame:
        """Probabilities for DNA sequences of any length (scored in windows, as `genomix predict`).

        Args:
            sequences: {id: sequence}, a Series (index = id) or a list (id = position).
            stride: bases between windows (default: half a window).
            aggregate: "max" or "mean" over a sequence's windows.
            per_window: one row per window instead of per sequence.

        Returns:
            `id, length, start, end`, `n_fraction` (the fraction of N bases), then one column
            per profile.
        """
        if isinstance(sequences, pd.Series):
            items: Iterable[tuple[Any, str]] = sequences.items()
        elif isinstance(sequences, Mapping):
            items = sequences.items()
        elif isinstance(sequences, str):
            raise GenomixError("predict: give a list or mapping of sequences, not one string")
        else:
            items = enumerate(sequences)
        records = (
            FastaRecord(str(key), normalize_sequence(value, where=f"sequence '{key}'"))
            for key, value in items
        )
        return self._frame(records, stride, aggregate, per_window, genomic=False)

    def predict_regions(
        self,
        regions: pd.DataFrame,
        genome: str | Path | pyfaidx.Fasta,
        *,
        stride: int | None = None,
        aggregate: str = "max",
        per_window: bool = False,
    ) -> pd.DataFrame:
        """Probabilities for genome intervals (as `genomix predict --bed`).

        Args:
            regions: columns `chrom, start, end` (0-based, end-exclusive, as BED), optional
                `name` and `strand` (``-`` reads the reverse complement).
            genome: an indexed FASTA (path or open pyfaidx.Fasta).

        Returns:
            `id, chrom, start, end, strand, length` in genome coordinates (forward strand),
            `n_fraction`, then one column per profile; ready for bioframe or pyranges.
        """
        missing = {"chrom", "start", "end"} - set(regions.columns)
        if missing:
            raise GenomixError(
                f"predict_regions: regions lack column(s) {', '.join(sorted(missing))}"
            )
        fasta = genome if isinstance(genome, pyfaidx.Fasta) else open_genome(genome)
        names = regions["name"] if "name" in regions else ["."] * len(regions)
        strands = regions["strand"] if "strand" in regions else ["."] * len(regions)
        records = (
            bed_record([str(c), str(s), str(e), str(n), ".", str(t)], fasta, f"regions row {i}")
            for i, (c, s, e, n, t) in enumerate(
                zip(regions["chrom"], regions["start"], regions["end"], names, strands, strict=True)
            )
        )
        return self._frame(records, stride, aggregate, per_window, genomic=True)

    def _frame(
        self,
        records: Iterable[FastaRecord],
        stride: int | None,
        aggregate: str,
        per_window: bool,
        *,
        genomic: bool,
    ) -> pd.DataFrame:
        columns, kinds = prediction_columns(self.profiles, genomic=genomic)
        rows = [
            row
            for scored in score_records(self.predictor, records, stride=stride, where="sequences")
            for row in table_rows(scored, aggregate=aggregate, per_window=per_window)
        ]
        frame = pd.DataFrame(rows, columns=columns)
        floats = {
            column: "float32" for column, kind in zip(columns, kinds, strict=True) if kind is float
        }
        return frame.astype(floats)


def load_model(
    directory: str | Path,
    *,
    device: str = "auto",
    batch_size: int = 32,
    rc_average: bool | None = None,
) -> Model:
    """Load a fine-tuned model directory (from `genomix finetune`) for prediction.

    Args:
        directory: the model directory.
        device: "auto" (CUDA when there is one), "cpu" or "cuda".
        batch_size: windows per forward pass.
        rc_average: average each window with its reverse complement (default: as fine-tuned).
    """
    return Model(
        load_predictor(directory, batch_size=batch_size, device=device, rc_average=rc_average)
    )


def predict_variants(
    variants: str | Path | pd.DataFrame,
    genome: str | Path | pyfaidx.Fasta,
    model: str | Path | Model,
) -> pd.DataFrame:
    """Variant effects, as `genomix predict-variants`: one row per ALT allele.

    Args:
        variants: a VCF (plain, gzip or BGZF) or a DataFrame with `chrom, pos` (1-based),
            `ref, alt` and optional `id`; a comma in `alt` gives one row per allele.
        genome: the indexed FASTA the variants are called on.
        model: a model directory or a loaded `Model`.

    Returns:
        `chrom, pos, id, ref, alt, ref_match, contains_unk`, then `ref:<p>`, `alt:<p>` and
        `logit_diff:<p>` per profile (see `genomix.variants.predict_variants`).
    """
    from genomix.variants import effect_columns, read_vcf, variant_effects, variants_from_frame

    loaded = model if isinstance(model, Model) else load_model(model)
    fasta = genome if isinstance(genome, pyfaidx.Fasta) else open_genome(genome)
    if isinstance(variants, pd.DataFrame):
        source, where = variants_from_frame(variants), "variants"
    else:
        source, where = read_vcf(variants), variants
    columns, _ = effect_columns(loaded.profiles)
    rows = list(variant_effects(loaded.predictor, source, fasta, where))
    return pd.DataFrame(rows, columns=columns)
