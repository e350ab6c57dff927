"""Model directories: `config.json` + `model.safetensors` + `kmer_vocab.json`, written atomically
with the files that make them Hugging Face model directories (`genomix.hub`); and the training
state a stopped pretraining or fine-tuning run resumes from.

Directories written before the vocabulary was renamed keep it as `tokenizer.json` (not a
`tokenizers` file), which is still read when `kmer_vocab.json` is absent.

A model directory is complete or absent: it is written under a temporary name beside its final
place and renamed into place, so a crash never leaves a half-written checkpoint that is later
loaded. Weights are loaded with safetensors only (no pickle from a model directory); names of
older versions are mapped once, in `LEGACY_WEIGHT_NAMES`. `config.json` is checked against a
schema, and the weights and vocabulary against the SHA-256 in `checksums.sha256`, when a directory
is loaded (`genomix.model_files`); an existing directory is replaced only when it holds nothing
but a model of the same kind.

The training state (`<out>.state/state.pt`: weights, optimizer, schedule, step, random streams,
metrics) is a separate file beside the model directory, written atomically and read with
`torch.load(weights_only=True)`: tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from genomix.attention import nest_attention
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.hub import CARD_FILE, CODE_FILES, TOKENIZER_CONFIG_FILE, hub_config, write_hub_files
from genomix.kmers import KmerTokenizer
from genomix.model import Encoder, EncoderConfig, MaskedLanguageModel
from genomix.model_files import (
    CHECKSUM_FILE,
    check_model_out,
    validate_model_config,
    verify_checksum,
    write_checksums,
)
from genomix.seqio.atomic import atomic_path, current_umask, temporary_dir

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "kmer_vocab.json"
LEGACY_TOKENIZER_FILE = "tokenizer.json"
STATE_FILE = "state.pt"
# Every file a model directory is written with (metrics.csv: training curves; spans.tsv:
# learned adaptive spans): a run may replace a directory that holds nothing else.
# Every file a model directory is written with (the hub files of `genomix.hub`; metrics.csv:
# training curves; spans.tsv: learned adaptive spans; tokenizer.json: the vocabulary's old name):
# a run may replace a directory that holds nothing else.
MODEL_DIR_FILES = frozenset(
    {
        CONFIG_FILE,
        WEIGHTS_FILE,
        TOKENIZER_FILE,
        LEGACY_TOKENIZER_FILE,
        CHECKSUM_FILE,
        TOKENIZER_CONFIG_FILE,
        CARD_FILE,
        *CODE_FILES,
        "metrics.csv",
        "spans.tsv",
    }
)
STATE_VERSION = 1
# Model options that change memory, not results (recomputing activations in backward): a
# resumed run may change them.
RESUMABLE_MODEL_CHANGES = frozenset({"activation_checkpointing"})


def write_model_dir(
    directory: str | Path,
    model: nn.Module,
    tokenizer: KmerTokenizer,
    metadata: Mapping[str, Any],
    *,
    extra_files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write `model`, `tokenizer` and `metadata` (JSON-able) to `directory`, atomically.

    `config.json` holds `metadata` plus the keys `transformers` reads (`genomix.hub.hub_config`);
    the directory also gets the tokenizer config, the custom-code modules and a model card.

    `extra_files` maps a file name to a function that writes that file (given its path) into the
    directory before it is renamed into place. The weights' SHA-256 goes to `checksums.sha256`.
    An existing `directory` is replaced only when `check_model_out` allows it.
    """
    directory = Path(directory)
    check_model_out(directory, metadata["kind"], {*MODEL_DIR_FILES, *(extra_files or {})})
    with temporary_dir(directory) as staging:
        config = {**metadata, **hub_config(metadata, tokenizer)}
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        safetensors.torch.save_model(model, str(staging / WEIGHTS_FILE))
        tokenizer.save(staging / TOKENIZER_FILE)
        write_hub_files(staging, metadata, tokenizer)
        for name, writer in (extra_files or {}).items():
            writer(staging / name)
        write_checksums(staging, [file.name for file in staging.iterdir() if file.is_file()])
        # mkdtemp makes the folder private (0700), safetensors its file (0600): share as usual.
        umask = current_umask()
        os.chmod(staging, 0o777 & ~umask)
        for file in staging.iterdir():
            os.chmod(file, 0o666 & ~umask)
        _replace_directory(staging, directory)
    return directory


def _replace_directory(staging: Path, directory: Path) -> None:
    # A directory cannot be os.replace()d over a non-empty one: move the old one aside first.
    if directory.exists():
        with temporary_dir(directory) as retired:
            os.replace(directory, retired / directory.name)
            os.replace(staging, directory)
    else:
        os.replace(staging, directory)


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The `config.json` of a model directory, checked against the schema of its kind;
    GenomixError (naming the file and the key) if it is not one."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise GenomixError(f"{directory}: not a genomix model directory (no {CONFIG_FILE})")
    try:
        metadata = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise GenomixError(f"{path}: not UTF-8 text (binary or damaged)") from None
    except json.JSONDecodeError as error:
        raise GenomixError(f"{path}: not valid JSON ({error})") from None
    if isinstance(metadata, dict) and isinstance(metadata.get("model"), dict):
        # Older versions wrote the attention options as flat `model` keys.
        metadata["model"] = nest_attention(metadata["model"])
    validate_model_config(metadata, path)
    return metadata


def _metadata_of_kind(directory: str | Path, kind: str, wanted: str) -> dict[str, Any]:
    metadata = read_metadata(directory)
    if metadata.get("kind") != kind:
        raise GenomixError(f"{directory}: holds a '{metadata.get('kind')}' model, not {wanted}")
    return metadata


def read_classifier_metadata(directory: str | Path) -> dict[str, Any]:
    """The metadata of a fine-tuned classifier directory; GenomixError for any other model."""
    return _metadata_of_kind(
        directory, "classifier", "a fine-tuned classifier (run `genomix finetune` first)"
    )


def read_pretrained_metadata(directory: str | Path) -> dict[str, Any]:
    """The metadata of a pretrained (masked-LM) model directory; GenomixError for any other."""
    return _metadata_of_kind(
        directory, "mlm", "a pretrained masked-LM encoder (use the output of `genomix pretrain`)"
    )


def read_tokenizer(directory: str | Path) -> KmerTokenizer:
    """The k-mer tokenizer saved with a model (`kmer_vocab.json`, or the old `tokenizer.json`),
    checked against `checksums.sha256` when that lists it."""
    path = Path(directory) / TOKENIZER_FILE
    legacy = path.with_name(LEGACY_TOKENIZER_FILE)
    path = legacy if not path.is_file() and legacy.is_file() else path
    if path.is_file():
        verify_checksum(path.parent, path.name, required=False)
    return KmerTokenizer.load(path)


def encoder_config_from(metadata: Mapping[str, Any]) -> EncoderConfig:
    """Rebuild the EncoderConfig recorded in a model directory's metadata (attention options
    nested, or flat as older versions saved them)."""
    names = {field.name for field in dataclasses.fields(EncoderConfig)}
    model = nest_attention(metadata["model"])
    return EncoderConfig(**{k: v for k, v in model.items() if k in names})


# Weight names of models saved by older genomix versions -> today's names (None: dropped).
# Before genomix.embedding, the MLM decoder was an nn.Linear whose weight was the tied embedding
# (stored once, under the embedding's name) and whose bias is today's `mlm_head.bias`.
LEGACY_WEIGHT_NAMES: Mapping[str, str | None] = {
    "mlm_head.decoder.bias": "mlm_head.bias",
    "mlm_head.decoder.weight": None,
}


def load_weights(model: nn.Module, directory: str | Path, *, strict: bool = True) -> None:
    """Load `model.safetensors` of `directory` into `model` (shapes and names must match).

    The file is first checked against the directory's `checksums.sha256` (when it has one).
    """
    directory = Path(directory)
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise GenomixError(f"{directory}: no {WEIGHTS_FILE}")
    verify_checksum(directory, WEIGHTS_FILE)
    try:
        stored = safetensors.torch.load_file(str(path))
    except safetensors.SafetensorError as error:
        raise GenomixError(f"{path}: not a readable safetensors file ({error})") from None
    tensors = {}
    for name, tensor in stored.items():
        name = LEGACY_WEIGHT_NAMES.get(name, name)
        if name is not None:
            tensors[name] = tensor
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:  # load_state_dict: a tensor's shape differs from the model's
        detail = next((line.strip() for line in str(error).splitlines() if "size" in line), "")
        raise GenomixError(
            f"{path}: weights do not fit the model that {CONFIG_FILE} describes ({detail})"
        ) from None
    if strict and (missing or unexpected):
        raise GenomixError(
            f"{path}: weights do not match the model (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )


def load_pretrained_encoder(encoder: Encoder, directory: str | Path) -> None:
    """Copy the encoder of a pretrained MLM model directory into `encoder` (same config)."""
    pretrained = MaskedLanguageModel(encoder.config, encoder.vocab_size)
    load_weights(pretrained, directory)
    encoder.load_state_dict(pretrained.encoder.state_dict())


def build_classifier(metadata: Mapping[str, Any], tokenizer: KmerTokenizer) -> SequenceClassifier:
    """The (untrained) SequenceClassifier a classifier directory's metadata describes.

    It averages both strands when it was fine-tuned so (`finetune.rc_average`), and has a k-mer
    bag when it was fine-tuned with one (`finetune.kmer_bag`); models written before those
    options: off.
    """
    encoder = Encoder(encoder_config_from(metadata), tokenizer.vocab_size)
    return SequenceClassifier(
        encoder,
        len(metadata["profiles"]),
        pooling=metadata["pooling"],
        rc_average=bool(metadata["finetune"].get("rc_average", False)),
        tokenizer=tokenizer,
        kmer_bag=bool(metadata["finetune"].get("kmer_bag", False)),
    )


def build_masked_lm(metadata: Mapping[str, Any], tokenizer: KmerTokenizer) -> MaskedLanguageModel:
    """The (untrained) MaskedLanguageModel a pretrained directory's metadata describes."""
    return MaskedLanguageModel(encoder_config_from(metadata), tokenizer.vocab_size)


def _check_classifier_config(
    config_path: Path, metadata: Mapping[str, Any], tokenizer: KmerTokenizer
) -> None:
    """Refuse a `config.json` that disagrees with its vocabulary or cannot build its model."""
    recorded = metadata["tokenizer"]
    if (recorded["k"], recorded["stride"]) != (tokenizer.k, tokenizer.stride):
        raise GenomixError(
            f"{config_path}: tokenizer: k={recorded['k']}, stride={recorded['stride']}, but "
            f"{TOKENIZER_FILE} has k={tokenizer.k}, stride={tokenizer.stride}"
        )
    try:
        encoder_config = encoder_config_from(metadata)
    except GenomixError as error:
        raise GenomixError(f"{config_path}: model: {error}") from None
    window_tokens = tokenizer.tokens_for_length(metadata["window_bases"]) + 1
    if window_tokens > encoder_config.max_tokens:
        raise GenomixError(
            f"{config_path}: window_bases: {metadata['window_bases']} bases are {window_tokens} "
            f"tokens with [CLS], more than model.max_tokens={encoder_config.max_tokens}"
        )


def load_classifier(
    directory: str | Path,
) -> tuple[SequenceClassifier, KmerTokenizer, dict[str, Any]]:
    """A fine-tuned model directory -> (SequenceClassifier in eval mode, tokenizer, metadata)."""
    metadata = read_classifier_metadata(directory)
    tokenizer = read_tokenizer(directory)
    _check_classifier_config(Path(directory) / CONFIG_FILE, metadata, tokenizer)
    model = build_classifier(metadata, tokenizer)
    load_weights(model, directory)
    return model.eval(), tokenizer, metadata


def training_state_dir(out: str | Path) -> Path:
    """Where the training state of the model directory `out` lives: `<out>.state/`."""
    out = Path(out)
    return out.with_name(out.name + ".state")


def model_settings(model_config: EncoderConfig) -> dict[str, Any]:
    """The encoder options a saved training state must agree on (JSON-able): all but those in
    RESUMABLE_MODEL_CHANGES."""
    return {
        key: value
        for key, value in dataclasses.asdict(model_config).items()
        if key not in RESUMABLE_MODEL_CHANGES
    }


def save_training_state(
    directory: str | Path, state: Mapping[str, Any], *, settings: Mapping[str, Any]
) -> Path:
    """Write `state` (tensors, numbers, strings, containers) and the run's `settings` atomically.

    The file is written and fsynced under a temporary name, then renamed to `state.pt`, so a
    crash leaves the previous state or the new one, never a mix.
    """
    path = Path(directory) / STATE_FILE
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        saved = {"version": STATE_VERSION, "settings": json.loads(json.dumps(settings)), **state}
        torch.save(saved, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def load_training_state(
    directory: str | Path, *, settings: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The state saved in `directory`, or None when there is none.

    GenomixError when the file cannot be read as plain tensors and containers, or when it was
    saved by a run with other `settings` (JSON-able; compared key by key).
    """
    directory = Path(directory)
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    start_over = f"delete {directory} to start over"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, or a pickle weights_only refuses to run
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise GenomixError(f"{path}: unreadable training state ({reason}); {start_over}") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise GenomixError(f"{path}: not a genomix training state (version {STATE_VERSION})")
    saved = state["settings"]
    if isinstance(saved.get("model"), Mapping):  # older versions saved flat attention options
        saved = {**saved, "model": nest_attention(saved["model"])}
    changed = _differences(saved, json.loads(json.dumps(settings)))
    if changed:
        raise GenomixError(
            f"{path}: saved by a run with other settings ({'; '.join(changed[:3])}); rerun with "
            f"the saved settings to resume, or {start_over}"
        )
    return state


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """'key: saved -> current' for every leaf that differs between two JSON-like values."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [
            change
            for key in sorted(set(saved) | set(current))
            for change in _differences(
                saved.get(key), current.get(key), f"{prefix}.{key}" if prefix else key
            )
        ]
    return [] if saved == current else [f"{prefix}: {saved!r} -> {current!r}"]
