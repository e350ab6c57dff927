"""Streamed coordinate tables: the same rows, caps, splits, digests, batches and fine-tuned model
as the table read into memory; errors name the file and line; Parquet and chunked reading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from conftest import TINY_MODEL

from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.genome_windows import GenomeWindows
from genomix.data.rows import rows_digest, training_rows
from genomix.data.streaming import batch_loader, check_token_budget
from genomix.data.tables import read_labeled_table
from genomix.data.window_table import read_window_table
from genomix.errors import GenomixError
from genomix.finetune import finetune
from genomix.kmers import KmerTokenizer
from genomix.scoring import encode_sequences

N_ROWS = 240


@pytest.fixture(scope="module")
def coordinates(tmp_path_factory: pytest.TempPathFactory, human_genome: Path) -> Path:
    """240 windows of 150-300 bp on the human slice, both strands, 3 rare-ish profiles."""
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 900_000, N_ROWS)
    frame = pd.DataFrame(
        {
            "chrom": "z",
            "start": starts,
            "end": starts + rng.integers(150, 301, N_ROWS),
            "strand": rng.choice(["+", "-"], N_ROWS),
            **{f"p{j}": (rng.random(N_ROWS) < 0.2 + 0.1 * j).astype(int) for j in range(3)},
        }
    )
    path = tmp_path_factory.mktemp("streaming") / "windows.tsv.gz"
    frame.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def both(coordinates: Path, human_genome: Path):
    """(in memory, streamed in chunks of 7 rows) of the same table."""
    old = read_labeled_table(coordinates, task="chromatin", genome=human_genome, seed=4)
    new = read_window_table(
        coordinates, task="chromatin", genome=human_genome, seed=4, chunk_rows=7
    )
    return old, new


def test_streamed_rows_equal_in_memory(both) -> None:
    old, new = both
    assert isinstance(new.sequences, GenomeWindows) and len(new) == len(old) == N_ROWS
    assert list(new.sequences) == old.sequences
    assert new.sequences[5] == old.sequences[5] and new.sequences[-3:] == old.sequences[-3:]
    assert new.labels.dtype == np.uint8 and np.array_equal(new.labels, old.labels)
    assert np.array_equal(new.split, old.split) and new.profiles == old.profiles
    assert list(new.ids) == old.ids
    test = new.subset("test")
    assert list(test.sequences) == old.subset("test").sequences
    assert list(test.ids) == old.subset("test").ids


def test_read_labeled_table_streams_only_when_asked(coordinates: Path, human_genome: Path) -> None:
    streamed = read_labeled_table(coordinates, task="chromatin", genome=human_genome, stream=True)
    assert isinstance(streamed.sequences, GenomeWindows)
    promoter = Path(__file__).resolve().parents[1] / "data/demo/epdnew_promoters_demo.tsv.gz"
    sequences = read_labeled_table(promoter, task="promoter", genome=human_genome, stream=True)
    assert isinstance(sequences.sequences, list) and len(sequences) == 6000


@pytest.mark.parametrize("task", ["chromatin", "promoter"])
def test_caps_split_and_digest_on_coordinates(both, task: str) -> None:
    old, new = both
    picked = []
    for table in (old, new):
        generator = torch.Generator().manual_seed(11)
        picked.append(
            training_rows(table, task=task, max_train_rows=50, max_eval_rows=9, generator=generator)
        )
    (old_train, old_valid), (new_train, new_valid) = picked
    assert list(new_train.ids) == old_train.ids and list(new_valid.ids) == old_valid.ids
    assert list(new_train.sequences) == old_train.sequences
    assert rows_digest(new_train, new_valid) == rows_digest(old_train, old_valid)
    assert rows_digest(new.subset("train")) == rows_digest(old.subset("train"))


def test_batches_equal_in_memory_tokens_with_workers(both) -> None:
    old, new = both
    tokenizer = KmerTokenizer(3, 1)
    pad_to = tokenizer.tokens_for_length(300) + 1
    tokens, padding = encode_sequences(tokenizer, old.sequences, max_tokens=400, pad_to=pad_to)
    labels = torch.from_numpy(old.labels)
    batches = list(torch.randperm(N_ROWS, generator=torch.Generator().manual_seed(1)).split(16))
    for workers in (0, 2):
        loader = batch_loader(
            new.sequences, labels, batches, tokenizer=tokenizer, pad_to=pad_to, num_workers=workers
        )
        rng = torch.get_rng_state()
        got = list(loader)
        # dropout draws from the global RNG: building batches must leave it as it was
        assert torch.equal(torch.get_rng_state(), rng)
        assert len(got) == len(batches)
        for (t, p, y), batch in zip(got, batches, strict=True):
            assert torch.equal(t, tokens[batch]) and torch.equal(p, padding[batch])
            assert torch.equal(y, labels[batch])


def test_finetune_streamed_equals_in_memory(both, tmp_path: Path) -> None:
    old, new = both
    config = FinetuneConfig(
        epochs=2, batch_size=16, max_train_rows=64, max_eval_rows=24, seed=2, device="cpu"
    )
    weights, metrics = [], []
    for name, table, cfg in (
        ("old", old, config),
        ("new", new, config),
        ("workers", new, dataclasses.replace(config, num_workers=2)),
    ):
        out = finetune(
            table,
            tmp_path / name,
            task="chromatin",
            config=cfg,
            model_config=TINY_MODEL,
            tokenize_config=TokenizeConfig(k=3, stride=1),
            progress=False,
        )
        weights.append(safetensors.torch.load_file(out / "model.safetensors"))
        metrics.append((out / "metrics.csv").read_text())
    for other in weights[1:]:
        assert all(torch.equal(weights[0][key], other[key]) for key in weights[0])
    assert metrics[0] == metrics[1] == metrics[2]


def _table(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "w.tsv"
    path.write_text("chrom\tstart\tend\tA\n" + "".join(f"{row}\t1\n" for row in rows))
    return path


def test_errors_name_file_and_line(tmp_path: Path, human_genome: Path) -> None:
    ok = ["z\t0\t100"] * 4
    path = _table(tmp_path, [*ok, "chrZ\t0\t10"])
    with pytest.raises(GenomixError, match=r"w.tsv: line 6: chromosome 'chrZ' not in .*z.fa"):
        read_window_table(path, task="chromatin", genome=human_genome, seed=0, chunk_rows=2)
    path = _table(tmp_path, [*ok, "z\t999990\t1000010"])
    with pytest.raises(GenomixError, match=r"w.tsv: line 6: z:999990-1000010 is outside"):
        read_window_table(path, task="chromatin", genome=human_genome, seed=0, chunk_rows=2)
    path = _table(tmp_path, [*ok, "z\tx\t10"])
    with pytest.raises(GenomixError, match="w.tsv: start/end must be integers"):
        read_window_table(path, task="chromatin", genome=human_genome, seed=0, chunk_rows=2)


def test_invalid_base_names_line_when_cut(tmp_path: Path) -> None:
    genome = tmp_path / "g.fa"
    genome.write_text(">c\nACGTACGTZZACGT\n")
    path = _table(tmp_path, ["c\t0\t4", "c\t6\t12"])
    table = read_window_table(path, task="chromatin", genome=genome, seed=0)
    assert table.sequences[0] == "ACGT"
    with pytest.raises(GenomixError, match=r"w.tsv: line 3: invalid base 'Z' at position 3"):
        table.sequences[1]


def test_parquet_table(coordinates: Path, human_genome: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "windows.parquet"
    pd.read_csv(coordinates, sep="\t").to_parquet(parquet)
    old = read_labeled_table(coordinates, task="chromatin", genome=human_genome, seed=4)
    new = read_window_table(parquet, task="chromatin", genome=human_genome, seed=4, chunk_rows=50)
    assert list(new.sequences) == old.sequences and np.array_equal(new.labels, old.labels)
    whole = read_labeled_table(parquet, task="chromatin", genome=human_genome, seed=4)
    assert whole.sequences == old.sequences and np.array_equal(whole.split, old.split)


def test_split_column_and_ids_in_chunks(tmp_path: Path, human_genome: Path) -> None:
    path = tmp_path / "s.csv"
    rows = [
        f"r{i},z,{i * 10},{i * 10 + 50},{('train', 'valid', 'test')[i % 3]},{i % 2}"
        for i in range(9)
    ]
    path.write_text("id,chrom,start,end,split,A\n" + "\n".join(rows) + "\n")
    old = read_labeled_table(path, task="chromatin", genome=human_genome)
    new = read_window_table(path, task="chromatin", genome=human_genome, seed=0, chunk_rows=4)
    assert new.split.tolist() == old.split.tolist() == ["train", "valid", "test"] * 3
    assert new.ids == old.ids == [f"r{i}" for i in range(9)]
    path.write_text("chrom,start,end,split,A\nz,0,10,train,1\nz,0,10,dev,0\n")
    with pytest.raises(GenomixError, match="s.csv: line 3: split 'dev'"):
        read_window_table(path, task="chromatin", genome=human_genome, seed=0, chunk_rows=1)


def test_token_budget_names_the_longest_window() -> None:
    tokenizer = KmerTokenizer(3, 1)
    check_token_budget(tokenizer, 319, max_tokens=320)  # 317 k-mers + [CLS]: fits
    with pytest.raises(GenomixError, match=r"a 400 bp sequence is 399 tokens with \[CLS\]"):
        check_token_budget(tokenizer, 400, max_tokens=320)
