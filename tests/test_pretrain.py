"""Masked-LM pretraining end to end on the real human slice (a few steps of a tiny model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import HUMAN

from genomix.attention import AdaptiveSpanOptions, BigBirdOptions
from genomix.checkpoint import read_metadata, read_tokenizer
from genomix.config import FinetuneConfig, PretrainConfig
from genomix.data.pretrain import write_token_shard
from genomix.errors import GenomixError
from genomix.finetune import finetune
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel
from genomix.pretrain import pretrain
from genomix.report import write_report
from genomix.seqio.genome import fetch_genome
from genomix.train import unwrap_model

CHROMATIN_METRICS = Path(__file__).parent / "data" / "chromatin_metrics_example.tsv"
PROMOTER_METRICS = Path(__file__).parent / "data" / "promoter_metrics_example.tsv"
MODEL = EncoderConfig(
    d_model=32,
    n_layers=1,
    n_heads=2,
    d_ff=64,
    max_tokens=320,
    attention=BigBirdOptions(block_size=32),
)
CONFIG = PretrainConfig(
    steps=4, batch_size=2, warmup_steps=1, eval_every=2, eval_batches=1, device="cpu"
)


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pretrain")
    genome = fetch_genome(str(HUMAN), folder / "human.fa")
    return write_token_shard(genome, folder / "human.npy", KmerTokenizer(4, 1))


def test_pretrain_writes_a_model_directory(shard: Path, tmp_path: Path) -> None:
    out = pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=CONFIG, progress=False)
    metadata = read_metadata(out)
    assert metadata["kind"] == "mlm" and metadata["tokenizer"] == {"k": 4, "stride": 1}
    assert read_tokenizer(out).vocab_size == 4**4 + 5
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == [2, 4]
    assert metrics["valid_loss"].notna().all() and (metrics["valid_loss"] > 0).all()


def test_same_seed_same_weights(shard: Path, tmp_path: Path) -> None:
    first = pretrain([shard], tmp_path / "a", model_config=MODEL, config=CONFIG, progress=False)
    second = pretrain([shard], tmp_path / "b", model_config=MODEL, config=CONFIG, progress=False)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


def test_finetune_from_pretrained(shard: Path, tmp_path: Path, promoter_table) -> None:
    mlm = pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=CONFIG, progress=False)
    head = finetune(
        promoter_table,
        tmp_path / "head",
        task="promoter",
        config=FinetuneConfig(epochs=1, max_train_rows=16, max_eval_rows=16, device="cpu"),
        pretrained=mlm,
        progress=False,
    )
    assert read_metadata(head)["pretrained"] == str(mlm)
    with pytest.raises(GenomixError, match="not a pretrained masked-LM encoder"):
        finetune(
            promoter_table,
            tmp_path / "again",
            task="promoter",
            config=FinetuneConfig(epochs=1, max_train_rows=16, device="cpu"),
            pretrained=head,
            progress=False,
        )


def test_adaptive_span_spans_are_learned_clamped_and_reported(shard: Path, tmp_path: Path) -> None:
    config = EncoderConfig(
        attention=AdaptiveSpanOptions(max_span=64, init_span=64.0, ramp=8),
        d_model=32,
        n_layers=2,
        n_heads=2,
        d_ff=64,
        max_tokens=128,
    )
    out = pretrain([shard], tmp_path / "span", model_config=config, config=CONFIG, progress=False)
    spans = pd.read_csv(out / "spans.tsv", sep="\t")
    assert spans[["layer", "head"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert spans["span"].between(0, 64).all()  # started at max_span; clamped after each step
    report = write_report(
        tmp_path / "report.md",
        heads={"chromatin": "multilabel", "promoter": "binary"},
        metrics={"chromatin": CHROMATIN_METRICS, "promoter": PROMOTER_METRICS},
        pretrain_metrics=out / "metrics.csv",
    )
    assert "Learned attention spans" in report.read_text()


def test_bf16_needs_a_gpu(shard: Path, tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, precision="bf16")
    with pytest.raises(GenomixError, match="precision bf16 needs a CUDA GPU, but training runs on"):
        pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=config, progress=False)


def test_batch_must_split_into_equal_micro_batches(shard: Path, tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, batch_size=6, grad_accum_steps=4)
    with pytest.raises(GenomixError, match=r"batch_size=6 does not split into 1 process\(es\) x"):
        pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=config, progress=False)


def test_compiled_model_saves_plain_names() -> None:
    model = MaskedLanguageModel(MODEL, 261)
    compiled = torch.compile(model)  # compiles lazily, at the first forward: nothing runs here
    assert next(iter(compiled.state_dict())).startswith("_orig_mod.")
    assert unwrap_model(compiled) is model
    assert unwrap_model(compiled).state_dict().keys() == model.state_dict().keys()


def test_tensorboard_logs_beside_the_model(shard: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pretrain([shard], tmp_path / "mlm", model_config=MODEL, config=CONFIG, progress=False)
    events = EventAccumulator(str(tmp_path / "mlm.tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("pretrain/valid_loss")] == [2, 4]
