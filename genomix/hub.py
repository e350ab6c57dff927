"""What makes a genomix model directory a Hugging Face model directory too.

The custom-code layout of DNA models on the hub (Caduceus, Nucleotide Transformer): `config.json`
names a `model_type` and maps each `Auto*` class to a module shipped in the directory
(`auto_map`); `tokenizer_config.json` does the same for the tokenizer; `README.md` is the model
card. The modules are those of `genomix.huggingface`, copied as they are; they import genomix.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from genomix.attention import nest_attention
from genomix.kmers import SPECIAL_TOKENS, KmerTokenizer

CODE_FILES = ("configuration_genomix.py", "modeling_genomix.py", "tokenization_genomix.py")
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CARD_FILE = "README.md"
LICENSE = "mit"
AUTO_MAP: dict[str, Any] = {
    "AutoConfig": "configuration_genomix.GenomixConfig",
    "AutoModel": "modeling_genomix.GenomixModel",
    "AutoModelForMaskedLM": "modeling_genomix.GenomixForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_genomix.GenomixForSequenceClassification",
    "AutoTokenizer": ["tokenization_genomix.GenomixTokenizer", None],
}


@dataclass(frozen=True)
class HubKind:
    """How one kind of genomix model directory presents itself on the hub."""

    architecture: str
    pipeline_tag: str
    title: str


KINDS: Mapping[str, HubKind] = {
    "mlm": HubKind("GenomixForMaskedLM", "fill-mask", "pretrained masked-LM encoder"),
    "classifier": HubKind(
        "GenomixForSequenceClassification", "text-classification", "fine-tuned classifier"
    ),
}


def genomix_version() -> str:
    """The installed genomix version."""
    from genomix import __version__

    return __version__


def hub_config(metadata: Mapping[str, Any], tokenizer: KmerTokenizer) -> dict[str, Any]:
    """The `config.json` keys `transformers` reads, added to genomix's own metadata."""
    config: dict[str, Any] = {
        "model_type": "genomix",
        "auto_map": AUTO_MAP,
        "genomix_version": genomix_version(),
        "license": LICENSE,
        "vocab_size": tokenizer.vocab_size,
        "pad_token_id": tokenizer.pad_id,
    }
    kind = KINDS.get(str(metadata.get("kind")))
    if kind is not None:
        config["architectures"] = [kind.architecture]
    if metadata.get("kind") == "classifier":
        profiles = list(metadata["profiles"])
        config["id2label"] = dict(enumerate(profiles))
        config["label2id"] = {name: index for index, name in enumerate(profiles)}
        # One sigmoid per output, as genomix trains and predicts (also for a single promoter).
        config["problem_type"] = "multi_label_classification"
    return config


def tokenizer_config(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`tokenizer_config.json`: the custom tokenizer class and its special tokens."""
    pad, unk, cls, sep, mask = SPECIAL_TOKENS
    config: dict[str, Any] = {
        "tokenizer_class": "GenomixTokenizer",
        "auto_map": {"AutoTokenizer": AUTO_MAP["AutoTokenizer"]},
        "pad_token": pad,
        "unk_token": unk,
        "cls_token": cls,
        "sep_token": sep,
        "mask_token": mask,
        "padding_side": "right",
    }
    max_tokens = metadata.get("model", {}).get("max_tokens")
    if max_tokens is not None:
        config["model_max_length"] = int(max_tokens)
    return config


def write_hub_files(directory: Path, metadata: Mapping[str, Any], tokenizer: KmerTokenizer) -> None:
    """Write the tokenizer config, the custom-code modules and the model card into `directory`."""
    code = resources.files("genomix.huggingface")
    for name in CODE_FILES:
        with resources.as_file(code / name) as source:
            shutil.copyfile(source, directory / name)
    (directory / TOKENIZER_CONFIG_FILE).write_text(
        json.dumps(tokenizer_config(metadata), indent=2, sort_keys=True) + "\n"
    )
    (directory / CARD_FILE).write_text(model_card(metadata, tokenizer))


def model_card(metadata: Mapping[str, Any], tokenizer: KmerTokenizer) -> str:
    """The model card (`README.md`): hub metadata, data, held-out metrics, version, licence."""
    kind = KINDS.get(str(metadata.get("kind")), KINDS["mlm"])
    lines = [
        "---",
        "library_name: transformers",
        f"license: {LICENSE}",
        f"pipeline_tag: {kind.pipeline_tag}",
        "tags: [genomix, dna, genomics, custom_code]",
        "---",
        "",
        f"# genomix {kind.title}",
        "",
        f"Written by genomix {genomix_version()}. Tokens: overlapping {tokenizer.k}-mers "
        f"(stride {tokenizer.stride}), {tokenizer.vocab_size} ids. Encoder: "
        f"{_encoder_summary(metadata.get('model', {}))}.",
        "",
        "## Data",
        "",
        *_data_lines(metadata),
        "",
        "## Held-out metrics",
        "",
        *_metric_lines(metadata),
        "",
        "## Use",
        "",
        "```python",
        "# pip install 'genomix-dna[hf]'  (the model code in this directory imports genomix)",
        "from transformers import AutoTokenizer, " + _auto_class(metadata),
        'tokenizer = AutoTokenizer.from_pretrained("DIR", trust_remote_code=True)',
        f'model = {_auto_class(metadata)}.from_pretrained("DIR", trust_remote_code=True)',
        'logits = model(**tokenizer(["ACGTACGTTAGC"], return_tensors="pt")).logits',
        "```",
        "",
        'With genomix itself: `genomix.load_model("DIR")` (Python) or `genomix predict DIR '
        "in.fa -o out.tsv` (classifiers).",
        "",
        "## Licence",
        "",
        f"Model code and weights: {LICENSE.upper()}, as genomix. The training data keep their own "
        "terms (see the data's sources).",
        "",
    ]
    return "\n".join(lines)


def _auto_class(metadata: Mapping[str, Any]) -> str:
    if metadata.get("kind") == "classifier":
        return "AutoModelForSequenceClassification"
    return "AutoModelForMaskedLM"


def _encoder_summary(model: Mapping[str, Any]) -> str:
    model = nest_attention(model)
    if "attention" in model:
        model["attention"] = model["attention"]["name"]
    keys = ("attention", "n_layers", "d_model", "n_heads", "max_tokens")
    given = [f"{key} {model[key]}" for key in keys if key in model]
    return ", ".join(given) if given else "see config.json"


def _data_lines(metadata: Mapping[str, Any]) -> list[str]:
    if metadata.get("kind") == "classifier":
        profiles = metadata.get("profiles", [])
        start = metadata.get("pretrained") or "scratch (no pretraining)"
        return [
            f"Fine-tuned for task `{metadata.get('task')}` on windows of "
            f"{metadata.get('window_bases')} bp, {len(profiles)} output(s): "
            f"{', '.join(map(str, profiles[:20]))}{' ...' if len(profiles) > 20 else ''}.",
            f"Started from: {start}.",
        ]
    shards = metadata.get("shards", [])
    return [f"Masked-LM pretraining on token shards: {', '.join(map(str, shards)) or 'unknown'}."]


def _metric_lines(metadata: Mapping[str, Any]) -> list[str]:
    if metadata.get("kind") == "classifier" and "valid_mean_auroc" in metadata:
        return [
            f"Validation mean AUROC {metadata['valid_mean_auroc']:.4f} at the best epoch "
            f"({metadata.get('best_epoch')}). Test metrics: `genomix evaluate` on the held-out "
            "rows (not stored in this directory).",
        ]
    final = metadata.get("final")
    if isinstance(final, Mapping) and final:
        shown = ", ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in final.items()
            if key.startswith("valid_") or key == "step"
        )
        return [f"Last validation of pretraining: {shown or 'none recorded'}."]
    return ["None recorded."]
