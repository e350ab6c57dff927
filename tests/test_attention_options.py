"""Attention options: one dataclass per family (defaults, checks), the registry as the one list of
names, the flat keys of older versions (nest_attention), the hooks, the CLI flags, and logits
pinned on main before the options moved."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from genomix.attention import (
    ATTENTION,
    DEFAULT_ATTENTION,
    AdaptiveSpanOptions,
    BigBirdOptions,
    DenseOptions,
    FixedOptions,
    StridedOptions,
    attention_options,
    build_attention,
    nest_attention,
    register_attention,
)
from genomix.attention.base import option_fields
from genomix.checkpoint import (
    build_masked_lm,
    encoder_config_from,
    load_training_state,
    load_weights,
    model_settings,
    read_metadata,
    read_tokenizer,
    save_training_state,
    write_model_dir,
)
from genomix.cli import build_parser
from genomix.config import config_from_arguments, config_from_mapping, load_schema
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel

PINNED = Path(__file__).parent / "data" / "attention_logits.pt"
SIZES = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "max_tokens": 128}
# The variants of tests/data/attention_logits.pt, computed on main with the flat options.
PINNED_VARIANTS = {
    "dense": DenseOptions(),
    "bigbird": BigBirdOptions(block_size=16),
    "strided": StridedOptions(sparse_stride=16),
    "fixed": FixedOptions(sparse_stride=16, sparse_summary=4),
    "adaptive_span": AdaptiveSpanOptions(),
    "adaptive_span_short": AdaptiveSpanOptions(max_span=64, init_span=8.0, ramp=4),
}
# A config.json `model` section as genomix wrote it before the options were nested.
OLD_FLAT = {
    "preset": "none", "attention": "fixed", "d_model": 32, "n_layers": 2, "n_heads": 2,
    "d_ff": 64, "dropout": 0.1, "max_tokens": 128, "positions": "learned", "embedding": "table",
    "activation_checkpointing": False, "block_size": 64, "global_blocks": 1, "window_blocks": 3,
    "random_blocks": 3, "resample_random": False, "sparse_stride": 16, "sparse_summary": 4,
    "recompute": False, "span_max": 1024, "span_ramp": 32, "span_init": 256.0, "span_loss": 2e-06,
    "span_dynamic": False, "attention_seed": 0,
}  # fmt: skip


def pinned_logits(options: object) -> torch.Tensor:
    """Logits (2, 100, 20) of the seeded model of tests/data/attention_logits.pt."""
    torch.manual_seed(0)
    model = MaskedLanguageModel(EncoderConfig(**SIZES, attention=options), 20).eval()
    tokens = torch.randint(0, 20, (2, 100), generator=torch.Generator().manual_seed(1))
    padding = torch.ones(2, 100, dtype=torch.bool)
    padding[1, 70:] = False
    with torch.no_grad():
        return model(tokens, padding)


@pytest.mark.parametrize("variant", list(PINNED_VARIANTS))
def test_logits_equal_those_pinned_before_the_options_moved(variant: str) -> None:
    expected = torch.load(PINNED, weights_only=True)[variant]
    # Equal up to float32 rounding, which differs between CPUs (1.2e-7 seen on an AMD EPYC);
    # a changed pattern or option moves logits of about 0.4 by far more.
    torch.testing.assert_close(pinned_logits(PINNED_VARIANTS[variant]), expected, rtol=0, atol=1e-6)


def test_defaults_are_the_ones_the_model_used() -> None:
    assert dataclasses.asdict(BigBirdOptions()) == {
        "name": "bigbird", "block_size": 64, "global_blocks": 1, "window_blocks": 3,
        "random_blocks": 3, "resample_random": False, "random_seed": 0,
    }  # fmt: skip
    assert dataclasses.asdict(StridedOptions()) == {
        "name": "strided",
        "sparse_stride": 128,
        "recompute": False,
    }
    assert dataclasses.asdict(FixedOptions()) == {
        "name": "fixed",
        "sparse_stride": 128,
        "sparse_summary": 8,
        "recompute": False,
    }
    # init_span 256: the value EncoderConfig passed (the class's own default used to be 64).
    assert dataclasses.asdict(AdaptiveSpanOptions()) == {
        "name": "adaptive_span", "max_span": 1024, "ramp": 32.0, "init_span": 256.0,
        "span_loss_coef": 2e-6, "dynamic": False, "block_size": 64,
    }  # fmt: skip
    assert dataclasses.asdict(DenseOptions()) == {"name": "dense"}
    assert EncoderConfig().attention == BigBirdOptions()
    assert EncoderConfig().attention.name == DEFAULT_ATTENTION


@pytest.mark.parametrize(
    ("options", "values", "match"),
    [
        (BigBirdOptions, {"block_size": 0}, "block_size=0 must be >= 1"),
        (BigBirdOptions, {"window_blocks": 4}, "window_blocks=4 must be odd"),
        (BigBirdOptions, {"window_blocks": 0}, "window_blocks=0 must be >= 1"),
        (BigBirdOptions, {"global_blocks": -1}, "global_blocks=-1 must be >= 0"),
        (BigBirdOptions, {"random_blocks": -1}, "random_blocks=-1 must be >= 0"),
        (BigBirdOptions, {"random_seed": -1}, "random_seed=-1 must be >= 0"),
        (StridedOptions, {"sparse_stride": 0}, "strided: sparse_stride=0 must be >= 1"),
        (FixedOptions, {"sparse_stride": 0}, "fixed: sparse_stride=0 must be >= 1"),
        (FixedOptions, {"sparse_stride": 4, "sparse_summary": 5}, r"in \[1, sparse_stride=4\]"),
        (FixedOptions, {"sparse_summary": 0}, "sparse_summary=0 must be in"),
        (AdaptiveSpanOptions, {"max_span": 0}, "max_span=0 must be >= 1"),
        (AdaptiveSpanOptions, {"block_size": 0}, "block_size=0 must be >= 1"),
        (AdaptiveSpanOptions, {"ramp": 0.0}, "ramp=0.0 must be > 0"),
        (AdaptiveSpanOptions, {"span_loss_coef": -1.0}, "span_loss_coef=-1.0 must be >= 0"),
        (AdaptiveSpanOptions, {"init_span": 2000.0}, r"init_span=2000.0 must be in \[0, max_sp"),
    ],
)
def test_each_check_raises_value_error_naming_the_option(options, values, match) -> None:
    with pytest.raises(ValueError, match=match):
        options(**values)
    name = options.__dataclass_fields__["name"].default
    with pytest.raises(GenomixError, match=match):  # the same check, reached from a config
        EncoderConfig(attention={"name": name, **values})


def test_zero_global_blocks_is_allowed() -> None:
    module = build_attention("bigbird", {"global_blocks": 0, "block_size": 8}, 32, 4)
    assert module.global_blocks == 0
    assert module(torch.randn(1, 40, 32)).shape == (1, 40, 32)


def test_options_of_another_family_are_refused() -> None:
    with pytest.raises(GenomixError, match="attention dense: unknown option.*block_size"):
        attention_options({"name": "dense", "block_size": 8})
    with pytest.raises(GenomixError, match="attention fixed: got the options of bigbird"):
        build_attention("fixed", BigBirdOptions(), 32, 4)


def test_registry_is_the_one_list_of_names() -> None:
    schema = load_schema()
    branches = schema["properties"]["model"]["properties"]["attention"]["oneOf"]
    assert [branch["properties"]["name"]["const"] for branch in branches] == list(ATTENTION)
    assert schema["$defs"]["attention_name"]["enum"] == list(ATTENTION)
    for branch, (_, options) in zip(branches, ATTENTION.values(), strict=True):
        fields = [field.name for field in option_fields(options)]
        assert list(branch["properties"]) == ["name", *fields]
    pretrain = build_parser()._subparsers._group_actions[0].choices["pretrain"]
    flag = next(a for a in pretrain._actions if "--attention" in a.option_strings)
    assert list(flag.choices) == list(ATTENTION)


def test_register_attention_refuses_a_name_twice() -> None:
    with pytest.raises(ValueError, match="'bigbird' is empty or registered already"):
        register_attention(*ATTENTION["bigbird"])


def test_each_layer_draws_its_own_random_blocks() -> None:
    options = BigBirdOptions(random_seed=5)
    assert options.for_layer(2) == BigBirdOptions(random_seed=7)
    assert FixedOptions().for_layer(3) == FixedOptions()


def test_nest_attention_maps_the_flat_keys_of_the_chosen_family() -> None:
    assert nest_attention(OLD_FLAT)["attention"] == {
        "name": "fixed",
        "sparse_stride": 16,
        "sparse_summary": 4,
        "recompute": False,
    }
    flat = {"attention": "bigbird", "d_model": 8, "block_size": 16, "attention_seed": 4}
    assert nest_attention(flat) == {
        "attention": {"name": "bigbird", "block_size": 16, "random_seed": 4},
        "d_model": 8,
    }
    span = {"attention": "adaptive_span", "span_max": 64, "span_ramp": 4, "span_init": 8.0}
    span |= {"span_loss": 0.1, "span_dynamic": True, "sparse_stride": 3}
    assert nest_attention(span)["attention"] == {
        "name": "adaptive_span", "max_span": 64, "ramp": 4, "init_span": 8.0,
        "span_loss_coef": 0.1, "dynamic": True,
    }  # fmt: skip
    assert nest_attention({"random_blocks": 1}) == {
        "attention": {"name": "bigbird", "random_blocks": 1}
    }
    nested = {"attention": {"name": "dense"}, "d_model": 8}
    assert nest_attention(nested) == nested
    assert nest_attention({"d_model": 8}) == {"d_model": 8}


def test_old_flat_config_json_loads_to_the_same_model(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(3, 1)
    torch.manual_seed(0)
    config = EncoderConfig(**{**SIZES, "dropout": 0.1}, attention=PINNED_VARIANTS["fixed"])
    model = MaskedLanguageModel(config, tokenizer.vocab_size).eval()
    metadata = {"kind": "mlm", "model": {}, "tokenizer": {"k": 3, "stride": 1}}
    directory = write_model_dir(tmp_path / "old", model, tokenizer, metadata)
    # Rewrite config.json's model section in the old flat form.
    path = directory / "config.json"
    written = json.loads(path.read_text())
    path.write_text(json.dumps({**written, "model": OLD_FLAT}))
    metadata = read_metadata(directory)
    assert encoder_config_from(metadata) == config
    loaded = build_masked_lm(metadata, read_tokenizer(directory)).eval()
    load_weights(loaded, directory)
    tokens = torch.randint(5, tokenizer.vocab_size, (2, 50))
    with torch.no_grad():
        assert torch.equal(loaded(tokens), model(tokens))


def test_training_state_saved_with_flat_options_resumes(tmp_path: Path) -> None:
    config = EncoderConfig(**{**SIZES, "dropout": 0.1}, attention=PINNED_VARIANTS["fixed"])
    flat = {key: value for key, value in OLD_FLAT.items() if key != "activation_checkpointing"}
    save_training_state(tmp_path, {"step": 3}, settings={"model": flat})
    state = load_training_state(tmp_path, settings={"model": model_settings(config)})
    assert state["step"] == 3
    other = dataclasses.replace(config, attention=FixedOptions(sparse_stride=32))
    with pytest.raises(GenomixError, match="model.attention.sparse_stride: 16 -> 32"):
        load_training_state(tmp_path, settings={"model": model_settings(other)})


def test_hooks_are_no_ops_but_for_adaptive_span() -> None:
    for name in ("dense", "bigbird", "strided", "fixed"):
        module = build_attention(name, {}, 32, 4)
        assert module.aux_loss().item() == 0.0
        assert module.after_step() is None
        assert module.learned_spans() == []
    span = build_attention("adaptive_span", {"init_span": 8.0, "span_loss_coef": 0.5}, 32, 4)
    assert span.aux_loss().item() == pytest.approx(0.5 * 4 * 8.0)
    with torch.no_grad():
        span.span.fill_(-3.0)
    span.after_step()
    assert span.learned_spans() == [0.0] * 4


def test_encoder_sums_and_reports_through_the_hooks() -> None:
    config = EncoderConfig(**SIZES, attention=AdaptiveSpanOptions(init_span=8.0))
    encoder = MaskedLanguageModel(config, 20).encoder
    assert encoder.aux_loss().item() == pytest.approx(2 * 2 * 8.0 * 2e-6)
    assert encoder.learned_spans()[3] == {"layer": 1, "head": 1, "span": 8.0}
    bigbird = MaskedLanguageModel(EncoderConfig(**SIZES), 20).encoder
    assert bigbird.aux_loss().item() == 0.0 and bigbird.learned_spans() == []


def _model_config(*flags: str) -> EncoderConfig:
    from genomix.attention.flags import given_attention_flags

    args = build_parser().parse_args(["pretrain", "t.npy", "-o", "m", *flags])
    return config_from_arguments(
        EncoderConfig, args, "model", nested={"attention": given_attention_flags(args)}
    )


def test_cli_flags_come_from_the_options_fields() -> None:
    config = _model_config("--attention", "fixed", "--sparse-stride", "16", "--sparse-summary", "4")
    assert config.attention == FixedOptions(sparse_stride=16, sparse_summary=4)
    span = _model_config("--attention", "adaptive_span", "--ramp", "4", "--dynamic")
    assert span.attention == AdaptiveSpanOptions(ramp=4.0, dynamic=True)
    assert _model_config("--random-blocks", "2").attention == BigBirdOptions(random_blocks=2)
    assert _model_config().attention == BigBirdOptions()
    with pytest.raises(GenomixError, match="model.attention: Additional properties.*block_size"):
        _model_config("--attention", "dense", "--block-size", "16")
    with pytest.raises(GenomixError, match="model.attention.sparse_summary: 0 is less than"):
        _model_config("--attention", "fixed", "--sparse-summary", "0")


def test_preset_attention_options_merge_with_those_given() -> None:
    base = _model_config("--preset", "base", "--random-blocks", "2")
    assert base.attention == BigBirdOptions(global_blocks=2, random_blocks=2)
    assert _model_config("--preset", "base", "--attention", "dense").attention == DenseOptions()
    mapping = {"preset": "base", "attention": {"name": "bigbird", "block_size": 32}}
    merged = config_from_mapping(EncoderConfig, mapping).attention
    assert merged == BigBirdOptions(block_size=32, global_blocks=2)
