"""Rotary positions: known angles, relative-position scores, every attention, models with RoPE."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from genomix.attention import BigBirdOptions, build_attention
from genomix.attention.masks import masked_attention
from genomix.attention.rotary import apply_rotary, rotary_angles
from genomix.checkpoint import (
    encoder_config_from,
    load_weights,
    read_metadata,
    write_model_dir,
)
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel

pytestmark = pytest.mark.usefixtures("one_thread")

TOKENIZER = KmerTokenizer(3, 1)
VOCAB = {"k": 3, "stride": 1}  # config.json's tokenizer section (model directories need it)
ROTARY = EncoderConfig(
    d_model=32,
    n_layers=2,
    n_heads=2,
    d_ff=64,
    max_tokens=128,
    attention=BigBirdOptions(block_size=16),
    positions="rotary",
)
STATIC = {
    "dense": {},
    "bigbird": {"block_size": 8, "random_blocks": 2, "random_seed": 3},
    "strided": {"sparse_stride": 8},
    "fixed": {"sparse_stride": 8, "sparse_summary": 3},
}


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x: (..., L, Dh) rotated by RoPE at `positions` (L,)."""
    return apply_rotary(x, *rotary_angles(positions, x.shape[-1]))


def test_two_channel_rotation_by_hand() -> None:
    # Dh = 2: one channel pair turning by 1 radian per position. Rotated unit vectors give
    # <R(m) e1, R(n) e1> = cos(m - n) and <R(m) e1, R(n) e2> = sin(m - n).
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    for m, n in [(0, 0), (3, 1), (1, 3), (7, 2)]:
        q = rotate(e1, torch.tensor([m]))
        assert torch.allclose(q, torch.tensor([[math.cos(m), math.sin(m)]]))
        assert torch.isclose(
            (q * rotate(e1, torch.tensor([n]))).sum(), torch.tensor(math.cos(m - n))
        )
        assert torch.isclose(
            (q * rotate(e2, torch.tensor([n]))).sum(), torch.tensor(math.sin(m - n))
        )


def test_frequencies_follow_the_base() -> None:
    cos, sin = rotary_angles(torch.tensor([2]), 4, base=100.0)
    # Pairs (0, 2) and (1, 3) turn by 1 and 100 ** (-2/4) = 0.1 radian per position.
    angles = torch.tensor([2.0, 0.2, 2.0, 0.2])
    assert torch.allclose(cos[0], angles.cos()) and torch.allclose(sin[0], angles.sin())


def test_scores_depend_only_on_relative_position() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 20, 16, generator=gen), torch.randn(2, 3, 20, 16, generator=gen)
    positions = torch.arange(20)
    scores = rotate(q, positions) @ rotate(k, positions).transpose(-1, -2)
    for shift in (1, 37, 500):
        shifted = rotate(q, positions + shift) @ rotate(k, positions + shift).transpose(-1, -2)
        # fp32 angles of positions near 500 carry ~1e-5 rad of rounding; scores are O(10).
        torch.testing.assert_close(shifted, scores, atol=5e-4, rtol=0)
    # ... and they do depend on it: without rotation the scores differ.
    assert not torch.allclose(q @ k.transpose(-1, -2), scores, atol=1e-2)


@pytest.mark.parametrize("name", [*STATIC, "adaptive_span"])
def test_every_attention_rotates_q_and_k_by_position(name: str) -> None:
    span = {"max_span": 64, "init_span": 64.0, "block_size": 8}
    options = span if name == "adaptive_span" else STATIC[name]
    plain = build_attention(name, options, 32, 4)
    rotary = build_attention(name, options, 32, 4, rotary=True)
    rotary.load_state_dict(plain.state_dict())
    x = torch.randn(2, 21, 32, generator=torch.Generator().manual_seed(1))
    q, k, v = plain.split_heads(x)
    rq, rk, rv = rotary.split_heads(x)
    positions = torch.arange(21)
    torch.testing.assert_close(rq, rotate(q, positions), atol=1e-6, rtol=0)
    torch.testing.assert_close(rk, rotate(k, positions), atol=1e-6, rtol=0)
    assert torch.equal(rv, v)
    # A prefix of 5 inputs shifts every position by 5 and leaves the scores among x unchanged.
    prefixed = torch.cat((torch.randn(2, 5, 32), x), dim=1)
    pq, pk, _ = rotary.split_heads(prefixed)
    torch.testing.assert_close(
        pq[:, :, 5:] @ pk[:, :, 5:].transpose(-1, -2), rq @ rk.transpose(-1, -2), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("name", STATIC)
def test_rotary_forward_equals_masked_dense_on_rotated_q_k(name: str) -> None:
    module = build_attention(name, STATIC[name], 32, 4, rotary=True).eval()
    x = torch.randn(1, 37, 32, generator=torch.Generator().manual_seed(2))
    padding = torch.ones(1, 37, dtype=torch.bool)
    padding[0, 30:] = False
    qkv = module.qkv(x).view(1, 37, 3, 4, 8).permute(2, 0, 3, 1, 4)
    positions = torch.arange(37)
    q, k, v = rotate(qkv[0], positions), rotate(qkv[1], positions), qkv[2]
    attended = masked_attention(q, k, v, mask=module.dense_mask(37), padding_mask=padding)
    reference = module.out(attended.transpose(1, 2).reshape(1, 37, 32))
    torch.testing.assert_close(module(x, padding), reference, atol=1e-5, rtol=0)


def test_adaptive_span_longer_than_input_equals_dense_with_rotary() -> None:
    dense = build_attention("dense", {}, 32, 4, rotary=True)
    span = build_attention("adaptive_span", {"max_span": 64, "init_span": 64.0}, 32, 4, rotary=True)
    span.load_state_dict(dense.state_dict(), strict=False)
    x = torch.randn(2, 30, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(span(x), dense(x), atol=1e-5, rtol=0)


def test_odd_head_width_is_refused() -> None:
    with pytest.raises(
        GenomixError, match="rotary positions need an even head width, got dim/heads=5"
    ):
        build_attention("dense", {}, 10, 2, rotary=True)
    with pytest.raises(GenomixError, match="model.positions=rotary needs an even head width"):
        EncoderConfig(d_model=30, n_heads=2, positions="rotary")
    with pytest.raises(GenomixError, match="model.positions='sinusoidal' is not one of"):
        EncoderConfig(positions="sinusoidal")


def test_rotary_model_has_no_position_table_and_learns() -> None:
    torch.manual_seed(0)
    model = MaskedLanguageModel(ROTARY, TOKENIZER.vocab_size)
    assert model.encoder.position_embedding is None
    assert not any("position" in name for name, _ in model.named_parameters())
    tokens = torch.randint(5, TOKENIZER.vocab_size, (4, 64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):  # memorise one batch: the loss must fall
        loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0]


def test_rotary_config_and_weights_round_trip(tmp_path: Path) -> None:
    model = MaskedLanguageModel(ROTARY, TOKENIZER.vocab_size).eval()
    metadata = {"kind": "mlm", "model": dataclasses.asdict(ROTARY), "tokenizer": VOCAB}
    write_model_dir(tmp_path / "m", model, TOKENIZER, metadata)
    config = encoder_config_from(read_metadata(tmp_path / "m"))
    assert config == ROTARY
    loaded = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "m")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 50))
    assert torch.equal(loaded(tokens), model(tokens))


def test_checkpoint_without_positions_field_loads_as_learned(tmp_path: Path) -> None:
    learned = dataclasses.replace(ROTARY, positions="learned")
    model = MaskedLanguageModel(learned, TOKENIZER.vocab_size).eval()
    old = dataclasses.asdict(learned)
    for new_key in ("positions", "preset", "activation_checkpointing"):
        del old[new_key]  # as written before these options existed
    write_model_dir(
        tmp_path / "old", model, TOKENIZER, {"kind": "mlm", "model": old, "tokenizer": VOCAB}
    )
    config = encoder_config_from(read_metadata(tmp_path / "old"))
    assert config.positions == "learned" and config == learned
    loaded = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "old")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 50))
    assert torch.equal(loaded(tokens), model(tokens))
