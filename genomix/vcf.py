"""VCF beyond genomix's small reader: a region of an indexed VCF (pysam), and effects as VCF.

`genomix.variants.read_vcf` reads any VCF from the start, plain gzip included. A region
(``chr1:100000-200000``) needs random access, so it needs a bgzipped VCF with its tabix or CSI
index, read through pysam (optional: ``pip install 'genomix-dna[vcf]'``). The annotated VCF
output is plain text written here (one record per ALT allele, scores in INFO), so it needs no
extra package; pysam reads it back in the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyfaidx

from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path
from genomix.seqio.outputs import STDOUT

# INFO keys of the annotated VCF, each with one value per model output (in `##genomix_outputs`).
INFO_FIELDS = (
    ("GX_REF", "Float", "probability of each model output on the reference window"),
    ("GX_ALT", "Float", "probability of each model output on the alternative window"),
    ("GX_LOGIT_DIFF", "Float", "logit(alt) - logit(ref) of each model output"),
)
FLAGS = (
    ("GX_REF_MISMATCH", "REF differs from the genome at POS"),
    ("GX_UNK", "the reference window holds an unknown base (N)"),
)


def read_vcf_region(path: str | Path, region: str) -> Iterator[list[str]]:
    """The first five columns (CHROM POS ID REF ALT, as text) of each record of `region` in a
    bgzipped, indexed VCF, for `genomix.variants` to parse and check like any other line.

    Raises:
        GenomixError: pysam is missing, the VCF has no index, or the region is malformed or names
            a chromosome the VCF lacks.
    """
    try:
        import pysam
    except ImportError:
        raise GenomixError(
            "--region reads indexed VCFs through pysam: pip install 'genomix-dna[vcf]'"
        ) from None
    path = Path(path)
    try:
        with pysam.VariantFile(str(path)) as vcf:
            for record in vcf.fetch(region=region):
                alts = ",".join(record.alts) if record.alts else "."
                yield [record.chrom, str(record.pos), record.id or ".", record.ref, alts]
    except (OSError, ValueError) as error:
        raise GenomixError(
            f"{path}: cannot read region {region!r} ({error}); --region needs a bgzipped VCF with "
            "its index (bgzip calls.vcf && tabix -p vcf calls.vcf.gz)"
        ) from None


def vcf_header(profiles: Sequence[str], genome: pyfaidx.Fasta, source: str) -> list[str]:
    """Header lines of the annotated VCF (contigs from `genome`)."""
    from genomix import __version__

    n = len(profiles)
    lines = [
        "##fileformat=VCFv4.2",
        f"##source=genomix {__version__}",
        f"##genomix_model={source}",
        f"##genomix_outputs={','.join(profiles)}",
        *(f"##contig=<ID={name},length={len(record)}>" for name, record in genome.records.items()),
        *(
            f'##INFO=<ID={key},Number={n},Type={kind},Description="{text}">'
            for key, kind, text in INFO_FIELDS
        ),
        *(f'##INFO=<ID={key},Number=0,Type=Flag,Description="{text}">' for key, text in FLAGS),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    return lines


def vcf_line(row: Sequence[Any], n_outputs: int) -> str:
    """One VCF record from a `genomix.variants.effect_columns` row."""
    chrom, pos, name, ref, alt, ref_match, contains_unk = row[:7]
    scores = row[7:]
    info = [
        f"{key}={','.join(f'{float(v):.6g}' for v in scores[i * n_outputs : (i + 1) * n_outputs])}"
        for i, (key, _, _) in enumerate(INFO_FIELDS)
    ]
    info += [key for (key, _), on in zip(FLAGS, (not ref_match, contains_unk), strict=True) if on]
    return "\t".join([str(chrom), str(pos), str(name), ref, alt, ".", ".", ";".join(info)])


def write_effects_vcf(
    out: str | Path,
    rows: Iterable[Sequence[Any]],
    profiles: Sequence[str],
    genome: pyfaidx.Fasta,
    *,
    source: str,
    on_row: Callable[[], None] | None = None,
) -> None:
    """Write effect rows as a VCF (one record per ALT allele), atomically; `out` ``-`` is
    standard output (streamed, e.g. into ``bgzip``)."""
    if Path(out) == STDOUT:
        _write_vcf(sys.stdout, rows, profiles, genome, source, on_row)
        sys.stdout.flush()
        return
    with atomic_path(out) as temporary, open(temporary, "w") as handle:
        _write_vcf(handle, rows, profiles, genome, source, on_row)


def _write_vcf(
    handle: IO[str],
    rows: Iterable[Sequence[Any]],
    profiles: Sequence[str],
    genome: pyfaidx.Fasta,
    source: str,
    on_row: Callable[[], None] | None,
) -> None:
    handle.write("\n".join(vcf_header(profiles, genome, source)) + "\n")
    for row in rows:
        handle.write(vcf_line(row, len(profiles)) + "\n")
        if on_row is not None:
            on_row()
