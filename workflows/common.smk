# Input functions and flag plumbing shared by the rule files; no rules here.
import os
import re
import shlex
import urllib.parse

from genomix.config import HEAD_OVERRIDES, WORKFLOW_KEYS, FinetuneConfig, TokenizeConfig

RUN = config["run"]
ENV = "envs/genomix.yaml"
# head name -> its settings (config `heads`), in config order: one set of rules serves them all.
HEADS = config["heads"]


def run_path(*parts):
    """results/<run>/<parts...>: every file of this run (wildcards such as "{head}" pass through)."""
    return os.path.join("results", RUN, *parts)


def log_path(name):
    """logs/<run>/<name>.log"""
    return f"logs/{RUN}/{name}.log"


def benchmark_path(name):
    """benchmarks/<run>/<name>.tsv: one per stage and head (the report's stage times)."""
    return f"benchmarks/{RUN}/{name}.tsv"


def heads_of(task, *, key=None):
    """The heads of one task kind (binary, multilabel), those giving `key` when given."""
    return [
        head
        for head, settings in HEADS.items()
        if settings["task"] == task and (key is None or settings.get(key))
    ]


def one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def repo_path(path):
    """A config path, relative paths taken from the workflow's folder."""
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


def source_url(url):
    """The URL genomix fetch gets: a relative file: URL or path is made absolute."""
    if url.startswith("file:") and not url.startswith("file://"):
        return "file://" + repo_path(url[len("file:") :])
    if "://" not in url:
        return repo_path(url)
    return url


def is_remote(path):
    """True for an http(s)/ftp URL (fetched into results/downloads/), False for a path."""
    return urllib.parse.urlsplit(path).scheme in ("http", "https", "ftp")


def remote_files():
    """results/downloads/<file name> -> URL, for every peak file and TSS BED given as a URL."""
    urls = [url for head in heads_of("multilabel") for url in HEADS[head]["peaks"].values()]
    urls += [HEADS[head]["tss"] for head in heads_of("binary", key="tss")]
    files = {}
    for url in filter(is_remote, urls):
        name = os.path.basename(urllib.parse.urlsplit(url).path)
        if files.setdefault(name, url) != url:
            raise ValueError(
                f"{url} and {files[name]} both download to {name}; rename one"
            )
    return files


DOWNLOADS = remote_files()


def data_path(path):
    """Where a peak/TSS file is read from: its download for a URL, else the path."""
    if is_remote(path):
        return f"results/downloads/{os.path.basename(urllib.parse.urlsplit(path).path)}"
    return repo_path(path)


# Heads whose table the workflow builds: multilabel heads from peaks, binary heads from a TSS BED.
BUILT_TABLES = {"multilabel": heads_of("multilabel"), "binary": heads_of("binary", key="tss")}


def head_table(head):
    """A head's labeled table: built under results/<run>/labels/, else its `table`."""
    if head in BUILT_TABLES[HEADS[head]["task"]]:
        return run_path("labels", f"{head}.tsv.gz")
    return repo_path(HEADS[head]["table"])


def head_fasta(head):
    """The genome FASTA a head's table rows are cut from (multilabel), else nothing (the table or
    the TSS builder carries the sequences)."""
    if HEADS[head]["task"] == "multilabel":
        return f"results/genomes/{HEADS[head]['genome']}.fa"
    return []


def genome_flag(fasta):
    """--genome FASTA when the head reads its rows from a genome, else nothing."""
    return f"--genome {shlex.quote(fasta)}" if fasta else ""


def local_source(wildcards):
    """The local file behind a genome's URL (tracked as an input), or nothing for remote URLs."""
    url = source_url(config["genomes"][wildcards.genome]["url"])
    if url.startswith("file://"):
        return url[len("file://") :]
    return [] if "://" in url else url


def cli_flags(section, exclude=()):
    """--key value flags for one config section (underscores become dashes; lists, booleans,
    and the nested model.attention)."""
    flags = []
    for key, value in section.items():
        if key in exclude:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            flags += [flag, *(str(item) for item in value)]
        elif isinstance(value, dict):
            # model.attention {name, options}: --attention NAME, then each option's own flag.
            options = dict(value)
            flags += [flag, str(options.pop("name")), *shlex.split(cli_flags(options))]
        else:
            flags += [flag, str(value)]
    return shlex.join(flags)


def peak_flags(head):
    """--peaks PROFILE=FILE ... for a multilabel head's label builder."""
    peaks = HEADS[head]["peaks"]
    return shlex.join(
        ["--peaks", *(f"{name}={data_path(path)}" for name, path in peaks.items())]
    )


def head_flags(head):
    """Fine-tuning flags of one head: the `finetune` section, overridden by the head's own keys."""
    overrides = {k: v for k, v in HEADS[head].items() if k in HEAD_OVERRIDES}
    return cli_flags({**config["finetune"], **overrides})


def scratch_models(head):
    """{"scratch": model dir} when `evaluate.pretraining_gain` asks for the head from scratch."""
    if config.get("evaluate", {}).get("pretraining_gain", False):
        return {"scratch": run_path("scratch", head)}
    return {}


def compare_flags(head):
    """genomix evaluate's --compare NAME=DIR for the head's scratch model, if any."""
    models = scratch_models(head)
    if not models:
        return ""
    return shlex.join(
        ["--compare", *(f"{name}={path}" for name, path in models.items())]
    )


def encoder_name(head):
    """The pretrained encoder a head starts from: `pretrain` (shared), or `pretrain_<head>` when
    the head's section has its own `model` or `pretrain` keys (its own encoder)."""
    own = HEADS[head].get("model") or HEADS[head].get("pretrain")
    return f"pretrain_{head}" if own else "pretrain"


def encoder_settings(head):
    """(model, pretrain) sections of the head's encoder: the shared ones, the head's keys over
    them."""
    return (
        {**config["model"], **HEADS[head].get("model", {})},
        {**config["pretrain"], **HEADS[head].get("pretrain", {})},
    )


# encoder name -> (model, pretrain) settings, for every encoder some head starts from.
ENCODERS = {encoder_name(head): encoder_settings(head) for head in HEADS}


def encoder_flags(name):
    """genomix pretrain's flags of one encoder."""
    model, pretrain = ENCODERS[name]
    return f"{cli_flags(model)} {cli_flags(pretrain, exclude=WORKFLOW_KEYS['pretrain'])}"


def tokenizer_suffix():
    """k<k>s<stride> of the run's tokenizer: token shards are keyed by it, so runs with another k
    or stride keep their own."""
    tokenize = {"k": TokenizeConfig.k, "stride": TokenizeConfig.stride, **config["tokenize"]}
    return f"k{tokenize['k']}s{tokenize['stride']}"


def token_shard(genome):
    """The token shard of a genome: results/tokens/<genome>.<tokenizer_suffix>.npy."""
    return f"results/tokens/{genome}.{tokenizer_suffix()}.npy"


def rows_shard(head):
    """The token shard of a head's training rows: results/<run>/rows/<head>.<tokenizer_suffix>.npy."""
    return run_path("rows", f"{head}.{tokenizer_suffix()}.npy")


def rows_flags(head):
    """genomix tokenize-rows' flags for a head: its fine-tuning sample (cap and seed) and the
    run's tokenizer."""
    settings = {**config["finetune"], **HEADS[head]}
    sample = {key: settings[key] for key in ("max_train_rows", "seed") if key in settings}
    return f"{cli_flags(sample)} {cli_flags(config['tokenize'])}"


def encoder_shards(wildcards):
    """The token shards one encoder pretrains on: its genomes', and with `pretrain.head_rows` the
    training rows of every head that starts from it."""
    pretrain = ENCODERS[wildcards.encoder][1]
    shards = [token_shard(genome) for genome in pretrain["genomes"]]
    if pretrain.get("head_rows", False):
        shards += [rows_shard(head) for head in HEADS if encoder_name(head) == wildcards.encoder]
    return shards



def head_pairs(flag, paths):
    """FLAG HEAD=PATH ... for every head (paths: head -> path)."""
    return shlex.join([flag, *(f"{head}={path}" for head, path in paths.items())])
