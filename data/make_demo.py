"""Make the small demo data under ``data/demo/`` (and one test fixture) from ``../shared/data``.

Run once by hand from the repository root; nothing in genomix or the tests calls it::

    python data/make_demo.py [--shared ../shared/data]

What it writes (all gzip output uses mtime 0, so reruns give identical bytes):

- ``data/demo/dm3_segments.fa.gz``: the segments of arms chr2L, chrX and chr3L of
  ``drosophila-insulators-dm3/segments.fa.gz``, names and lowercase kept, 60-column lines.
- ``data/demo/dm3_peaks/<profile>.bed.gz``: byte copies of the 8 peak files.
- ``data/demo/epdnew_promoters_demo.tsv.gz``: 3,000 pairs of
  ``epdnew-human-promoters-300bp/promoters_300bp.tsv.gz`` drawn with
  ``numpy.random.default_rng(0)`` (both rows of each pair; columns pair_id, label, sequence).
- ``data/demo/dnabert_6mer_dev.tsv.gz``: byte copy of ``dnabert-6mer-sample/dev.tsv.gz``.
- ``data/demo/human_grch37_chr20_1mb.fa.gz``: byte copy of ``human-grch37-chr20-1mb/z.fa.gz``.
- ``data/demo/GCF_000005845.2_ASM584v2_genomic.fna.gz``: byte copy of the E. coli genome.
- ``tests/data/dm3_windows_ref_chr3L_sample.tsv.gz``: the chr3L rows of
  ``drosophila-insulators-dm3/windows.tsv.gz`` without the sequence column.
It prints the provenance table (source, method and checksums of every file above, plus the
hand-written ``tests/data/human_chr20_1mb_tss.bed``) that ``data/README.md`` carries.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

DM3_ARMS = ("chr2L", "chrX", "chr3L")
N_PROMOTER_PAIRS = 3000
SEED = 0


def _gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` at level 9 with mtime 0 and no file name (deterministic bytes)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as fh:
        fh.write(data)
    return buf.getvalue()


def _checksums(path: Path) -> tuple[int, str, str]:
    """Return (size in bytes, md5, sha256) of ``path``."""
    data = path.read_bytes()
    return len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def _subset_segments(src: Path, out: Path) -> int:
    """Write the records of ``src`` whose arm is in ``DM3_ARMS`` to ``out``; return the count."""
    text = gzip.decompress(src.read_bytes()).decode("ascii")
    kept: list[str] = []
    for block in text.split(">")[1:]:
        name, _, body = block.partition("\n")
        if name.split(":")[0] not in DM3_ARMS:
            continue
        seq = body.replace("\n", "")
        lines = [seq[i : i + 60] for i in range(0, len(seq), 60)]
        kept.append(">" + name + "\n" + "\n".join(lines) + "\n")
    out.write_bytes(_gzip_bytes("".join(kept).encode("ascii")))
    return len(kept)


def _subsample_promoters(src: Path, out: Path) -> int:
    """Write both rows of ``N_PROMOTER_PAIRS`` seeded random pairs to ``out``; return rows."""
    df = pd.read_csv(src, sep="\t", usecols=["pair_id", "label", "sequence"])
    pairs = np.sort(df["pair_id"].unique())
    chosen = np.random.default_rng(SEED).choice(pairs, size=N_PROMOTER_PAIRS, replace=False)
    sub = df[df["pair_id"].isin(chosen)].sort_values(["pair_id", "label"], ascending=[True, False])
    out.write_bytes(_gzip_bytes(sub.to_csv(sep="\t", index=False).encode("ascii")))
    return len(sub)


def _reference_chr3l(src: Path, out: Path) -> int:
    """Write the chr3L rows of the reference windows without sequences; return rows."""
    df = pd.read_csv(src, sep="\t")
    sub = df[df["chrom"] == "chr3L"].drop(columns=["sequence"])
    out.write_bytes(_gzip_bytes(sub.to_csv(sep="\t", index=False).encode("ascii")))
    return len(sub)


def main() -> None:
    """Build every demo file and print the provenance table of data/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    shared: Path = args.shared
    demo = Path("data/demo")
    (demo / "dm3_peaks").mkdir(parents=True, exist_ok=True)
    Path("tests/data").mkdir(parents=True, exist_ok=True)
    dm3 = shared / "drosophila-insulators-dm3"
    rows: list[tuple[Path, str, str]] = []

    out = demo / "dm3_segments.fa.gz"
    n = _subset_segments(dm3 / "segments.fa.gz", out)
    rows.append(
        (
            out,
            "drosophila-insulators-dm3/segments.fa.gz",
            f"the {n} records whose arm is {', '.join(DM3_ARMS)}; names and lowercase kept, "
            "60-column lines, gzip -9 with mtime 0 (`_subset_segments`)",
        )
    )
    for peak in sorted((dm3 / "peaks").glob("*.bed.gz")):
        out = demo / "dm3_peaks" / peak.name
        shutil.copyfile(peak, out)
        rows.append((out, f"drosophila-insulators-dm3/peaks/{peak.name}", "byte copy"))
    out = demo / "epdnew_promoters_demo.tsv.gz"
    n = _subsample_promoters(shared / "epdnew-human-promoters-300bp/promoters_300bp.tsv.gz", out)
    rows.append(
        (
            out,
            "epdnew-human-promoters-300bp/promoters_300bp.tsv.gz",
            f"{N_PROMOTER_PAIRS} pairs from `numpy.random.default_rng({SEED}).choice(sorted "
            f"pair_ids, {N_PROMOTER_PAIRS}, replace=False)`, both rows of each pair ({n} rows), "
            "columns pair_id, label, sequence, sorted by pair_id then label 1 first",
        )
    )
    copies = [
        ("dnabert-6mer-sample/dev.tsv.gz", "dnabert_6mer_dev.tsv.gz"),
        ("human-grch37-chr20-1mb/z.fa.gz", "human_grch37_chr20_1mb.fa.gz"),
        (
            "ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna.gz",
            "GCF_000005845.2_ASM584v2_genomic.fna.gz",
        ),
    ]
    for src, name in copies:
        out = demo / name
        shutil.copyfile(shared / src, out)
        rows.append((out, src, "byte copy"))
    out = Path("tests/data/dm3_windows_ref_chr3L_sample.tsv.gz")
    n = _reference_chr3l(dm3 / "windows.tsv.gz", out)
    rows.append(
        (
            out,
            "drosophila-insulators-dm3/windows.tsv.gz",
            f"the {n} chr3L rows, `sequence` column dropped (chrom, start, end in genome "
            "coordinates + 8 labels), gzip -9 with mtime 0 (`_reference_chr3l`)",
        )
    )

    rows.append(
        (
            Path("tests/data/human_chr20_1mb_tss.bed"),
            "(none)",
            "hand-written test fixture (not made by this script): 6 made-up TSSs on record `z` "
            "of `human_grch37_chr20_1mb.fa.gz`, both strands, one too close to the end",
        )
    )
    lines = [
        "| file | source (under ../shared/data) | what was done | bytes | md5 | sha256 |",
        "|---|---|---|---|---|---|",
    ]
    for path, src, how in rows:
        size, md5, sha = _checksums(path)
        lines.append(f"| `{path}` | `{src}` | {how} | {size:,} | `{md5}` | `{sha}` |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
