"""Time and peak memory of every stage of a workflow run, from Snakemake's benchmark files.

    snakemake -c2 --forceall && python bench/stages.py

prints a markdown table (stage, seconds, max RSS) for BENCHMARKS.md, with the total.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genomix.report import stage_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--benchmarks",
        type=Path,
        default=Path("benchmarks"),
        help="Snakemake benchmark folder (default: benchmarks)",
    )
    args = parser.parse_args()
    files = sorted(args.benchmarks.rglob("*.tsv"))
    if not files:
        raise SystemExit(f"{args.benchmarks}: no benchmark files; run the workflow first")
    table = stage_times(files)
    table["stage"] = [str(f.relative_to(args.benchmarks).with_suffix("")) for f in files]
    print(table.to_markdown(index=False, floatfmt=".1f"))
    print(f"\ntotal: {table['seconds'].sum():.0f} s over {len(files)} jobs")


if __name__ == "__main__":
    main()
