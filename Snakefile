# genomix: fetch -> tokenize -> pretrain -> finetune -> evaluate -> explain -> report.
# Rules call the `genomix` CLI (see workflows/*.smk); `snakemake -c2` runs config.yaml end to end.
import os
from importlib.resources import files

import yaml
from snakemake.utils import min_version, validate

from genomix.attention import nest_attention

min_version("9.0")


# The defaults live beside this Snakefile, so `--directory` (where results go) works from anywhere;
# `--configfile` overrides them key by key.
configfile: os.path.join(workflow.basedir, "config.yaml")


# Lists of inputs are replaced, not merged: a --configfile (e.g. config/hg38.yaml) that names its
# own genomes or peaks must not inherit the demo's; nor may a model that names a preset inherit
# the demo's sizes (keys given beside a preset override it). Other keys override one by one.
for path in workflow.config_settings.configfiles:
    with open(path) as handle:
        given = yaml.safe_load(handle) or {}
    given_heads = given.get("heads") or {}
    if "genomes" in given:
        config["genomes"] = given["genomes"]
        # Nor the demo heads' own encoders (pretrained on demo genomes), unless given again.
        for head, settings in config["heads"].items():
            for key in ("model", "pretrain"):
                if key not in (given_heads.get(head) or {}):
                    settings.pop(key, None)
    for head, settings in given_heads.items():
        if "peaks" in (settings or {}):
            config["heads"][head]["peaks"] = settings["peaks"]
    if "preset" in given.get("model", {}):
        config["model"] = given["model"]
    attention = given.get("model", {}).get("attention")
    if isinstance(attention, dict) and "name" in attention:
        # Naming an attention family gives all its options: another family's would not apply.
        config["model"]["attention"] = attention

# Configs written for older versions give the attention options as flat `model` keys; a head's
# flat keys change the options of the shared family, unless the head names its own.
config["model"] = nest_attention(config["model"])
for head in ("promoter", "chromatin"):
    own = config.get(head, {}).get("model")
    if own is not None and nest_attention(own) != own:
        shared = {"attention": config["model"].get("attention", {})}
        config[head]["model"] = nest_attention({**shared, **own})


# The schema shipped in the package: the one the CLI checks each stage's flags against.
validate(config, schema=str(files("genomix") / "config.schema.yaml"))


include: "workflows/common.smk"
include: "workflows/fetch.smk"
include: "workflows/tokenize.smk"
include: "workflows/pretrain.smk"
include: "workflows/finetune.smk"
include: "workflows/evaluate.smk"
include: "workflows/explain.smk"
include: "workflows/report.smk"
include: "workflows/predict.smk"


# The attention/context sweep (config/sweep-attention.yaml): its table and plot are the target.
if "sweep" in config:

    include: "workflows/sweep.smk"

    rule sweep:
        """Every sweep variant trained and evaluated, gathered into one table and one plot."""
        default_target: True
        input:
            rules.sweep_table.output,


rule all:
    input:
        expand("results/genomes/{genome}.fa.fai", genome=config["genomes"]),
        [run_path(f"{head}_metrics.tsv") for head in HEADS],
        [run_path("explain", f"{head}.parquet") for head in HEADS],
        run_path("report.md"),
