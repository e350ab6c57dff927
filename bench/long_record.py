"""Time and peak memory of `genomix predict` on one long record: 1, 10 and 50 Mb.

    python bench/long_record.py MODEL [--sizes 1 10 50] [--stride 300] [--threads 1]

Each record is the real 1 Mb human chr20 slice of data/demo/ repeated to the size (so every
size holds the same bases, in the same windows per Mb). Each size runs `genomix predict` in a
fresh process on the CPU; peak resident memory is that process's ``ru_maxrss`` (``os.wait4``),
so it counts everything the command holds: Python, torch, the model and the record. Prints a
markdown table and the command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genomix.seqio.fasta import read_fasta

ROOT = Path(__file__).resolve().parents[1]
HUMAN = ROOT / "data" / "demo" / "human_grch37_chr20_1mb.fa.gz"


def _run(model: Path, fasta: Path, out: Path, stride: int, threads: int) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one `genomix predict` process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "genomix.cli", "predict", str(model), str(fasta)]
    command += ["-o", str(out), "--stride", str(stride), "--device", "cpu", "--no-progress"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"predict failed on {fasta}")
    return seconds, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50], help="Mb")
    parser.add_argument("--stride", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    slice_ = next(read_fasta(HUMAN)).sequence
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            fasta, out = Path(folder) / f"{size}mb.fa", Path(folder) / f"{size}mb.tsv"
            with fasta.open("w") as handle:
                handle.write(f">long_{size}mb\n")
                for _ in range(size):
                    for start in range(0, len(slice_), 60):
                        handle.write(slice_[start : start + 60] + "\n")
            seconds, peak = _run(args.model, fasta, out, args.stride, args.threads)
            rows.append((size, seconds, peak))
            fasta.unlink()
    print(
        f"`python bench/long_record.py {args.model} --sizes {' '.join(map(str, args.sizes))} "
        f"--stride {args.stride} --threads {args.threads}`\n"
    )
    print("| record | seconds | Mb/s | peak RSS (MiB) |\n|---|---|---|---|")
    for size, seconds, peak in rows:
        print(f"| {size} Mb | {seconds:.1f} | {size / seconds:.3f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
