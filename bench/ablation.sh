#!/usr/bin/env bash
# One row of BENCHMARKS.md's model ablation: pretrain (or reuse, or skip), fine-tune both heads (chromatin first),
# score the test rows as the demo does (a seeded 1,000; no baselines; their figures come from the demo's evaluate stage, trained
# on the same rows). Run from the repository root after the demo's inputs exist:
#   snakemake -c2 results/demo/labels/chromatin.tsv.gz results/tokens/human_chr20.npy \
#       results/tokens/dm3_segments.npy
#   bash bench/ablation.sh NAME "PRETRAIN ARGS" "PROMOTER ARGS" "CHROMATIN ARGS"
# PRETRAIN ARGS: shards and flags of `genomix pretrain`, or `reuse:DIR` (an existing pretrained
# directory), or `none` (heads from scratch: give the model flags in the heads' args). A head's
# args `skip` skip it. Results: bench/ablation/NAME/ and one block appended to
# bench/ablation/results.txt (MLM losses; test AUROC per profile, mean and median).
set -euo pipefail
name=$1 pretrain_args=$2 promoter_args=$3 chromatin_args=$4
out=bench/ablation/$name
mkdir -p "$out"
chromatin_table=${CHROMATIN_TABLE:-results/demo/labels/chromatin.tsv.gz}
dm3=results/genomes/dm3_segments.fa
promoters=data/demo/epdnew_promoters_demo.tsv.gz
started=$(date +%s)
if [[ $pretrain_args == reuse:* ]]; then
    pretrained=(--pretrained "${pretrain_args#reuse:}")
elif [[ $pretrain_args == none ]]; then
    pretrained=()
else
    # shellcheck disable=SC2086  # the flags are words
    genomix pretrain $pretrain_args -o "$out/pretrain" >"$out/pretrain.log" 2>&1
    pretrained=(--pretrained "$out/pretrain")
fi
pretrained_at=$(date +%s)
if [[ $chromatin_args != skip ]]; then
    # shellcheck disable=SC2086
    genomix finetune --task chromatin --table "$chromatin_table" --genome "$dm3" \
        "${pretrained[@]}" --out "$out/chromatin" $chromatin_args >"$out/chromatin.log" 2>&1
    genomix evaluate --model "$out/chromatin" --table "$chromatin_table" --genome "$dm3" \
        --max-rows 1000 --out "$out/chromatin_auroc.tsv" >>"$out/evaluate.log" 2>&1
fi
chromatin_at=$(date +%s)
if [[ $promoter_args != skip ]]; then
    # shellcheck disable=SC2086
    genomix finetune --task promoter --table "$promoters" "${pretrained[@]}" \
        --out "$out/promoter" $promoter_args >"$out/promoter.log" 2>&1
    genomix evaluate --model "$out/promoter" --table "$promoters" \
        --max-rows 1000 --out "$out/promoter_metrics.tsv" >>"$out/evaluate.log" 2>&1
fi
finished=$(date +%s)
aurocs() { awk -F'\t' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "auroc") c = i}
                       NR > 1 {printf "%s %.3f  ", $1, $c}' "$1"; }
{
    echo "== $name: pretrain $((pretrained_at - started)) s, chromatin $((chromatin_at - pretrained_at)) s, promoter $((finished - chromatin_at)) s"
    echo "pretrain: $pretrain_args"
    echo "promoter: $promoter_args"
    echo "chromatin: $chromatin_args"
    if [[ -f $out/pretrain/metrics.csv ]]; then
        python -c "import pandas as pd; r = pd.read_csv('$out/pretrain/metrics.csv').iloc[-1]; print('MLM step', int(r.step), 'valid', round(r.valid_loss, 3), 'unigram', round(r.valid_unigram_loss, 3), 'neighbour', round(r.valid_neighbour_loss, 3))"
    fi
    [[ -f $out/promoter_metrics.tsv ]] && echo "promoter: $(aurocs "$out/promoter_metrics.tsv")"
    [[ -f $out/chromatin_auroc.tsv ]] && echo "chromatin: $(aurocs "$out/chromatin_auroc.tsv")"
    true
} | tee -a bench/ablation/results.txt
