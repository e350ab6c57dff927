# The stages of one run, from pretraining to evaluation, under results/<run>/. workflows/sweep.smk
# loads this file as a Snakemake module once per sweep variant, with that variant's config (its
# own `run`), so every variant runs these rules unchanged. Genomes and token shards come from the
# main workflow's fetch and tokenize rules, which the variants share.
include: "common.smk"
include: "pretrain.smk"
include: "finetune.smk"
include: "evaluate.smk"
