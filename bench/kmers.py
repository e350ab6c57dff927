"""Benchmark: genomix k-mer tokenizer vs a plain-Python DNABERT-style tokenizer (k = 6).

Run from the repository root::

    python bench/kmers.py [--megabases 10] [--reference-megabases 1]

Corpus: real sequence from ``data/demo`` (E. coli K-12 genome, the 1 Mb human chr20 slice, then
dm3 upstream segments) up to ``--megabases``. genomix tokenizes each FASTA record on its own, as
the pipeline does, and all records at once with ``encode_many``, from bytes (as read from a file)
and from str (as parsers hand them; adds one ASCII encode). The reference (``' '.join`` of k-mer
slices, then a dict lookup per k-mer) runs on the first fraction of every record
(``--reference-megabases`` in all); its time is scaled linearly to the whole corpus.
``numpy.copy`` of the same bytes gives the memory-bandwidth ceiling. Prints a markdown table, the
speed-up of each stride's fastest genomix row, and one long record alone.
"""

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genomix.kmers import KmerTokenizer
from genomix.seqio.fasta import read_fasta_records

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SOURCES = (
    "GCF_000005845.2_ASM584v2_genomic.fna.gz",
    "human_grch37_chr20_1mb.fa.gz",
    "dm3_segments.fa.gz",
)
K = 6


def load_corpus(n_bases: int) -> list[str]:
    """Records from ``SOURCES`` in order until ``n_bases`` bases (the last one cut)."""
    records: list[str] = []
    total = 0
    for name in SOURCES:
        for _, seq in read_fasta_records(DEMO / name):
            records.append(seq[: n_bases - total])
            total += len(records[-1])
            if total >= n_bases:
                return records
    raise SystemExit(f"data/demo holds only {total:,} bases, fewer than {n_bases:,}")


def reference_tokenize(seq: str, k: int, stride: int, vocab: dict[str, int]) -> list[int]:
    """DNABERT-style: space-joined k-mer string, then one dict lookup per k-mer."""
    text = " ".join(seq[i : i + k] for i in range(0, len(seq) - k + 1, stride))
    return [vocab.get(kmer, 1) for kmer in text.split()]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` wall-clock runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Time both tokenizers and the copy ceiling; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabases", type=float, default=10.0)
    parser.add_argument("--reference-megabases", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    records = load_corpus(int(args.megabases * 1e6))
    n_bases = sum(len(r) for r in records)
    raw = [r.encode() for r in records]
    vocab = {"".join(p): 5 + i for i, p in enumerate(itertools.product("ACGT", repeat=K))}
    # The reference sees the same mix: the first fraction f of every record.
    fraction = min(1.0, args.reference_megabases * 1e6 / n_bases)
    ref_records = [r[: round(len(r) * fraction)] for r in records]
    ref_bases = sum(len(r) for r in ref_records)
    blob = np.frombuffer(b"".join(raw), dtype=np.uint8)

    copy_s = best_time(lambda: blob.copy(), args.repeats)
    rows = [("numpy copy of the same bytes (ceiling)", "-", copy_s, "")]
    best: dict[int, tuple[str, float]] = {}
    for stride in (1, K):
        tok = KmerTokenizer(K, stride)
        tok.encode_many(ref_records[:2])  # compile (or load the numba cache) before timing
        start = time.perf_counter()
        expected = [reference_tokenize(r.upper(), K, stride, vocab) for r in ref_records]
        ref_s = (time.perf_counter() - start) * n_bases / ref_bases
        if [tok.encode(r).tolist() for r in ref_records] != expected:
            raise SystemExit(f"stride {stride}: encode and reference tokens differ")
        if [m.tolist() for m in tok.encode_many(ref_records)] != expected:
            raise SystemExit(f"stride {stride}: encode_many and reference tokens differ")
        label = f"reference (timed on {ref_bases / 1e6:.1f} Mb, scaled)"
        rows.append((label, str(stride), ref_s, ""))
        timed = {
            "genomix `encode`, per record, bytes": lambda tok=tok: [tok.encode(r) for r in raw],
            "genomix `encode_many`, all records, bytes": lambda tok=tok: tok.encode_many(raw),
            "genomix `encode`, per record, str": lambda tok=tok: [tok.encode(r) for r in records],
            "genomix `encode_many`, all records, str": lambda tok=tok: tok.encode_many(records),
        }
        for name, fn in timed.items():
            seconds = best_time(fn, args.repeats)
            rows.append((name, str(stride), seconds, f"{ref_s / seconds:,.0f}x"))
            if seconds < best.get(stride, ("", np.inf))[1]:
                best[stride] = (name, seconds)
        best[stride] = (best[stride][0], ref_s / best[stride][1])

    print(
        f"k = {K}, {n_bases / 1e6:.2f} Mb in {len(records):,} records "
        f"(E. coli, human chr20 slice, dm3 segments); best of {args.repeats}\n"
    )
    print("| method | stride | seconds for the corpus | MB/s | speed-up vs reference |")
    print("|---|---|---|---|---|")
    for name, stride, seconds, speedup in rows:
        mbps = n_bases / 1e6 / seconds
        print(f"| {name} | {stride} | {seconds:.4f} | {mbps:,.1f} | {speedup} |")
    print()
    for stride, (name, speedup) in best.items():
        print(f"stride {stride}: fastest genomix row {name}: {speedup:,.0f}x the reference")
    ecoli = raw[0]  # the whole E. coli chromosome, one record
    for stride in (1, K):
        tok = KmerTokenizer(K, stride)
        seconds = best_time(lambda tok=tok: tok.encode(ecoli), args.repeats)
        print(
            f"\nE. coli genome (first record, {len(ecoli) / 1e6:.2f} Mb) alone, stride {stride}: "
            f"encode {seconds * 1e3:.1f} ms = {len(ecoli) / 1e6 / seconds:,.0f} MB/s"
        )
    print(f"\ncommand: python bench/{Path(__file__).name} " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
