"""Encoder, MLM head and heads: shapes, tied weights, padding, save/load round trips."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
import yaml

from genomix.attention import BigBirdOptions, attention_options
from genomix.checkpoint import (
    load_classifier,
    load_pretrained_encoder,
    load_weights,
    read_metadata,
    write_model_dir,
)
from genomix.cli import build_parser
from genomix.config import config_from_arguments, config_from_mapping
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.model import Encoder, EncoderConfig, MaskedLanguageModel

CONFIG = EncoderConfig(
    d_model=32,
    n_layers=2,
    n_heads=2,
    d_ff=64,
    max_tokens=256,
    attention=BigBirdOptions(block_size=16),
)
# Small patterns, so that 70-100 tokens span several blocks.
SMALL = {
    "dense": {},
    "bigbird": {"block_size": 16},
    "strided": {"sparse_stride": 16},
    "fixed": {"sparse_stride": 16},
    "adaptive_span": {},
}
TOKENIZER = KmerTokenizer(3, 1)


@pytest.mark.parametrize("attention", ["dense", "bigbird", "strided", "fixed", "adaptive_span"])
def test_mlm_shapes_for_every_attention(attention: str, device: str) -> None:
    small = {"name": attention, **SMALL[attention]}
    config = dataclasses.replace(CONFIG, attention=attention_options(small))
    model = MaskedLanguageModel(config, TOKENIZER.vocab_size).to(device).eval()
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 100), device=device)
    assert model(tokens).shape == (2, 100, TOKENIZER.vocab_size)
    predict = torch.zeros(2, 100, dtype=torch.bool, device=device)
    predict[0, 3] = predict[1, 50] = True
    selected = model(tokens, predict=predict)
    assert torch.allclose(selected, model(tokens)[predict], atol=1e-5)


def test_mlm_decoder_is_tied_to_embedding() -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    hidden = torch.randn(3, CONFIG.d_model)
    expected = model.mlm_head.transform(hidden) @ model.encoder.token_embedding.weight.T
    assert torch.allclose(model.mlm_head(hidden, model.encoder.token_embedding.matrix()), expected)
    names = [name for name, _ in model.named_parameters()]
    assert not any("decoder" in name for name in names)  # no second copy of the embedding


def test_padding_does_not_change_real_outputs() -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(Encoder(CONFIG, TOKENIZER.vocab_size), 3, pooling="mean").eval()
    tokens = torch.randint(5, TOKENIZER.vocab_size, (1, 40))
    padded = torch.cat([tokens, torch.zeros(1, 24, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 40), torch.zeros(1, 24)], dim=1).bool()
    alone = model(tokens, torch.ones(1, 40, dtype=torch.bool))
    assert torch.allclose(model(padded, mask), alone, atol=1e-5)


def test_too_long_input_is_refused() -> None:
    encoder = Encoder(CONFIG, TOKENIZER.vocab_size)
    with pytest.raises(GenomixError, match="longer than the model's max_tokens=256"):
        encoder(torch.zeros(1, 257, dtype=torch.long), None)


def test_mlm_save_load_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size).eval()
    write_model_dir(
        tmp_path / "mlm", model, TOKENIZER, {"kind": "mlm", "model": dataclasses.asdict(CONFIG)}
    )
    loaded = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "mlm")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 64))
    assert torch.equal(model(tokens), loaded(tokens))
    encoder = Encoder(CONFIG, TOKENIZER.vocab_size)
    load_pretrained_encoder(encoder, tmp_path / "mlm")
    assert torch.equal(encoder.token_embedding.weight, model.encoder.token_embedding.weight)


def test_rewriting_a_model_dir_replaces_it_whole(tmp_path: Path) -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    metadata = {
        "kind": "mlm",
        "model": dataclasses.asdict(CONFIG),
        "tokenizer": {"k": TOKENIZER.k, "stride": TOKENIZER.stride},
    }
    write_model_dir(tmp_path / "m", model, TOKENIZER, {**metadata, "round": 1})
    write_model_dir(tmp_path / "m", model, TOKENIZER, {**metadata, "round": 2})
    assert read_metadata(tmp_path / "m")["round"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)

    def explode(path: Path) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_model_dir(
            tmp_path / "m", model, TOKENIZER, {"kind": "mlm"}, extra_files={"metrics.csv": explode}
        )
    assert list(tmp_path.iterdir()) == []


def test_loading_a_non_model_directory(tmp_path: Path) -> None:
    with pytest.raises(GenomixError, match="not a genomix model directory"):
        load_classifier(tmp_path)


def test_classifier_round_trip(promoter_model: Path, promoter_table) -> None:
    model, tokenizer, metadata = load_classifier(promoter_model)
    assert metadata["task"] == "binary" and metadata["profiles"] == ["promoter"]
    assert metadata["window_bases"] == 300
    assert (tokenizer.k, tokenizer.stride) == (3, 1)
    again, _, _ = load_classifier(promoter_model)
    tokens = torch.from_numpy(tokenizer.encode_batch(promoter_table.sequences[:4], add_cls=True))
    mask = tokens != tokenizer.pad_id
    assert torch.equal(model(tokens, mask), again(tokens, mask))


def test_model_dir_is_readable_by_others(tmp_path: Path) -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    directory = write_model_dir(tmp_path / "m", model, TOKENIZER, {"kind": "mlm"})
    previous = os.umask(0o022)
    try:
        directory = write_model_dir(tmp_path / "m", model, TOKENIZER, {"kind": "mlm"})
    finally:
        os.umask(previous)
    assert directory.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in directory.iterdir()} == {0o644}


def test_base_preset_is_bigbirds_genomics_model() -> None:
    config = config_from_mapping(EncoderConfig, {"preset": "base"})
    sizes = (config.n_layers, config.d_model, config.n_heads, config.d_ff)
    assert sizes == (12, 768, 12, 3072)
    options = config.attention
    assert (options.name, options.block_size, config.max_tokens) == ("bigbird", 64, 4096)
    assert (options.global_blocks, options.window_blocks, options.random_blocks) == (2, 3, 3)
    with torch.device("meta"):  # sizes only, no memory
        encoder = Encoder(config, TOKENIZER.vocab_size)
    # Per block: q/k/v/out 4 (768^2 + 768), MLP 2 (768 x 3072) + 3072 + 768, two LayerNorms.
    block = 4 * (768 * 768 + 768) + 2 * 768 * 3072 + 3072 + 768 + 2 * 2 * 768
    embeddings = (TOKENIZER.vocab_size + 4096) * 768
    assert sum(p.numel() for p in encoder.parameters()) == 12 * block + embeddings + 2 * 768


def test_keys_given_beside_a_preset_override_it() -> None:
    config = config_from_mapping(EncoderConfig, {"preset": "base", "n_layers": 4, "d_model": 384})
    sizes = (config.n_layers, config.d_model, config.n_heads, config.max_tokens)
    assert sizes == (4, 384, 12, 4096)
    assert config_from_mapping(EncoderConfig, {}) == EncoderConfig()
    args = build_parser().parse_args(
        ["pretrain", "t.npy", "-o", "m", "--preset", "tiny", "--positions", "rotary"]
    )
    config = config_from_arguments(EncoderConfig, args, "model")
    assert (config.d_model, config.d_ff, config.positions) == (64, 256, "rotary")
    huge = build_parser().parse_args(["pretrain", "t", "-o", "m", "--preset", "huge"])
    with pytest.raises(GenomixError, match="model.preset: 'huge' is not one of"):
        config_from_arguments(EncoderConfig, huge, "model")


@pytest.mark.parametrize("attention", ["bigbird", "adaptive_span"])
def test_activation_checkpointing_gives_the_same_gradients(attention: str) -> None:
    small = attention_options({"name": attention, **SMALL[attention]})
    base = dataclasses.replace(CONFIG, attention=small, dropout=0.2)
    recomputed = dataclasses.replace(base, activation_checkpointing=True)
    torch.manual_seed(0)
    plain_model = MaskedLanguageModel(base, TOKENIZER.vocab_size).train()
    model = MaskedLanguageModel(recomputed, TOKENIZER.vocab_size).train()
    model.load_state_dict(plain_model.state_dict())
    calls = []
    for block in model.encoder.blocks:
        block.attention_norm.register_forward_hook(lambda *_: calls.append(1))
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 70))
    padding = torch.ones(2, 70, dtype=torch.bool)
    padding[1, 50:] = False
    grads = []
    for m in (plain_model, model):
        torch.manual_seed(1)  # same dropout masks in both
        loss = m(tokens, padding).logsumexp(-1).mean() + m.encoder.aux_loss()
        loss.backward()
        grads.append({name: p.grad for name, p in m.named_parameters()})
    # Each block ran again in the backward pass: the activations were recomputed, not stored.
    assert len(calls) == 2 * base.n_layers
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_activation_checkpointing_refuses_resampled_blocks() -> None:
    resampled = BigBirdOptions(resample_random=True)
    with pytest.raises(GenomixError, match="resample_random would draw new random blocks"):
        EncoderConfig(activation_checkpointing=True, attention=resampled)


def test_tiny_preset_is_the_demo_promoter_encoder() -> None:
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    promoter = {**config["model"], **config["heads"]["promoter"]["model"]}
    tiny = config_from_mapping(EncoderConfig, {"preset": "tiny"})
    assert dataclasses.replace(tiny, preset="none") == config_from_mapping(EncoderConfig, promoter)
