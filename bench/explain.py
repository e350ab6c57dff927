"""Attribution speed and agreement on CPU: ISM mutants/s beside the cost floor of one forward pass
per mutant, the gradient estimate's speed, and its Spearman rank correlation with ISM.

    python bench/explain.py results/demo/promoter --table data/demo/epdnew_promoters_demo.tsv.gz
    python bench/explain.py results/demo/chromatin --table results/demo/labels/chromatin.tsv.gz \\
        --genome results/genomes/dm3_segments.fa --records 3

Records are the first `--records` positive test rows of the table (any profile). The floor is
`genomix.scoring.score_logits` on as many distinct sequences of the record length as ISM scores
mutants, in batches of the same size: ISM cannot be faster than that. Spearman's rho is taken
per record and output over all 3L single-base changes (logit_diff), and over the L per-base
importances; the table gives the median over records and outputs. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from genomix.attribution import METHODS, importance
from genomix.checkpoint import load_classifier
from genomix.data.tables import read_labeled_table
from genomix.scoring import score_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="fine-tuned model directory")
    parser.add_argument("--table", type=Path, required=True, help="the head's labeled table")
    parser.add_argument("--genome", type=Path, help="FASTA of a coordinate table")
    parser.add_argument("--records", type=int, default=2, help="positive test rows to explain")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model, tokenizer, metadata = load_classifier(args.model)
    table = read_labeled_table(
        args.table, task=metadata["task"], genome=args.genome, seed=metadata["finetune"]["seed"]
    ).subset("test")
    rows = [
        i for i in np.flatnonzero(table.labels.max(axis=1) > 0) if "N" not in table.sequences[i]
    ][: args.records]
    sequences = [table.sequences[i] for i in rows]
    window = int(metadata["window_bases"])
    options = {
        "batch_size": args.batch_size,
        "device": device,
        "pad_to": tokenizer.tokens_for_length(max(window, *map(len, sequences))) + 1,
    }
    seconds: dict[str, float] = {}
    results: dict[str, list[np.ndarray]] = {}
    for name, method in METHODS.items():
        started = time.perf_counter()
        results[name] = [method(model, tokenizer, s, **options)[1] for s in sequences]
        seconds[name] = time.perf_counter() - started
    mutants = sum(3 * len(s) for s in sequences)
    rng = np.random.default_rng(0)
    floor_sequences = [
        "".join(rng.choice(list("ACGT"), size=len(sequences[0]))) for _ in range(mutants)
    ]
    started = time.perf_counter()
    score_logits(model, tokenizer, floor_sequences, **options)
    floor = time.perf_counter() - started
    rho_changes, rho_importance = [], []
    for exact, estimate in zip(results["ism"], results["gradient"], strict=True):
        for output in range(exact.shape[2]):
            rho_changes.append(
                spearmanr(exact[..., output].ravel(), estimate[..., output].ravel())[0]
            )
            rho_importance.append(
                spearmanr(importance(exact)[:, output], importance(estimate)[:, output])[0]
            )
    lengths = sorted({len(s) for s in sequences})
    print(
        f"{args.model} ({metadata['task']}): {len(sequences)} records of {lengths} bp, "
        f"{mutants} mutants, {args.threads} threads, batch {args.batch_size}\n"
    )
    print("| what | seconds | mutants/s |")
    print("|---|---|---|")
    print(f"| ISM (`--method ism`) | {seconds['ism']:.1f} | {mutants / seconds['ism']:.0f} |")
    print(
        f"| floor: one forward pass per mutant (score_logits) | {floor:.1f} | "
        f"{mutants / floor:.0f} |"
    )
    print(
        f"| gradient estimate (`--method gradient`) | {seconds['gradient']:.2f} | "
        f"{mutants / seconds['gradient']:.0f} (equivalent) |"
    )
    print(
        f"\nSpearman rho, gradient vs ISM (median over {len(rho_changes)} record x output): "
        f"per change {np.median(rho_changes):.3f} (min {np.min(rho_changes):.3f}), "
        f"per-base importance {np.median(rho_importance):.3f} "
        f"(min {np.min(rho_importance):.3f})"
    )


if __name__ == "__main__":
    main()
