"""Encoder, MLM head and heads: shapes, tied weights, padding, save/load round trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genomix.checkpoint import (
    load_classifier,
    load_pretrained_encoder,
    load_weights,
    read_metadata,
    write_model_dir,
)
from genomix.errors import GenomixError
from genomix.heads import SequenceClassifier
from genomix.kmers import KmerTokenizer
from genomix.model import Encoder, EncoderConfig, MaskedLanguageModel

CONFIG = EncoderConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, max_tokens=256, block_size=16)
TOKENIZER = KmerTokenizer(3, 1)


@pytest.mark.parametrize("attention", ["dense", "bigbird", "strided", "fixed", "adaptive_span"])
def test_mlm_shapes_for_every_attention(attention: str, device: str) -> None:
    config = EncoderConfig(**{**CONFIG.__dict__, "attention": attention, "sparse_stride": 16})
    model = MaskedLanguageModel(config, TOKENIZER.vocab_size).to(device).eval()
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 100), device=device)
    assert model(tokens).shape == (2, 100, TOKENIZER.vocab_size)
    predict = torch.zeros(2, 100, dtype=torch.bool, device=device)
    predict[0, 3] = predict[1, 50] = True
    selected = model(tokens, predict=predict)
    assert torch.allclose(selected, model(tokens)[predict], atol=1e-5)


def test_mlm_decoder_is_tied_to_embedding() -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    assert model.mlm_head.decoder.weight is model.encoder.token_embedding.weight


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
    write_model_dir(tmp_path / "mlm", model, TOKENIZER, {"kind": "mlm", "model": CONFIG.__dict__})
    loaded = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "mlm")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 64))
    assert torch.equal(model(tokens), loaded(tokens))
    assert loaded.mlm_head.decoder.weight is loaded.encoder.token_embedding.weight
    encoder = Encoder(CONFIG, TOKENIZER.vocab_size)
    load_pretrained_encoder(encoder, tmp_path / "mlm")
    assert torch.equal(encoder.token_embedding.weight, model.encoder.token_embedding.weight)


def test_rewriting_a_model_dir_replaces_it_whole(tmp_path: Path) -> None:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    write_model_dir(tmp_path / "m", model, TOKENIZER, {"kind": "mlm", "round": 1})
    write_model_dir(tmp_path / "m", model, TOKENIZER, {"kind": "mlm", "round": 2})
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
    assert metadata["task"] == "promoter" and metadata["profiles"] == ["promoter"]
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
