"""Token shards and masked-LM batches: round trips, chromosome bounds, span masking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import HUMAN, PROMOTERS

from genomix.cli import main
from genomix.config import FinetuneConfig
from genomix.data.genome_windows import GenomeWindows
from genomix.data.pretrain import (
    IGNORE_INDEX,
    MLMWindowSampler,
    Region,
    TokenShard,
    mask_span,
    mask_tokens,
    visible_base_loss,
    write_rows_shard,
    write_token_shard,
)
from genomix.data.rows import training_rows
from genomix.data.tables import read_labeled_table
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.seqio.genome import fetch_genome

COMPLEMENT = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def two_chromosomes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A fetched two-record genome and its sequences (upper-case)."""
    folder = tmp_path_factory.mktemp("genome")
    source = folder / "two.fa"
    rng = np.random.default_rng(0)
    first = "".join(rng.choice(list("ACGT"), 300))
    second = "".join(rng.choice(list("acgt"), 200))  # soft-masked: must be upper-cased
    source.write_text(f">one\n{first}\n>two\n{second}\n")
    return fetch_genome(str(source), folder / "genome.fa"), [first, second.upper()]


def test_shard_round_trip(two_chromosomes, tmp_path: Path) -> None:
    genome, sequences = two_chromosomes
    tokenizer = KmerTokenizer(4, 1)
    write_token_shard(genome, tmp_path / "t.npy", tokenizer)
    shard = TokenShard(tmp_path / "t.npy")
    assert [c["name"] for c in shard.chromosomes] == ["one", "two"]
    assert [c["length"] for c in shard.chromosomes] == [297, 197]
    for chrom, original in zip(shard.chromosomes, sequences, strict=True):
        tokens = shard.tokens[chrom["offset"] : chrom["offset"] + chrom["length"]]
        assert tokenizer.decode(tokens) == original


def test_rows_shard_joins_rows_by_one_n(tmp_path: Path) -> None:
    # ACGTA + N + GGCCT in 3-mers: ACG CGT GTA, then the three 3-mers holding the N ([UNK], so
    # no k-mer spans two rows and none is ever masked), then GGC GCC CCT.
    tokenizer = KmerTokenizer(3, 1)
    write_rows_shard(["ACGTA", "GGCCT"], tmp_path / "r.npy", tokenizer, where="t")
    shard = TokenShard(tmp_path / "r.npy")
    assert shard.chromosomes == [{"name": "train_rows_1", "offset": 0, "length": 9}]
    ids = shard.tokens[:]
    assert list(ids[3:6]) == [tokenizer.unk_id] * 3
    assert tokenizer.decode(ids[:3]) == "ACGTA" and tokenizer.decode(ids[6:]) == "GGCCT"


def test_rows_shard_blocks_of_streamed_windows_equal_the_rows_in_memory(
    two_chromosomes, tmp_path: Path
) -> None:
    # Five windows of a genome, streamed (cut one block at a time) or as strings: the same shard,
    # one chromosome per block of two rows (the last block holds one).
    genome, sequences = two_chromosomes
    windows = GenomeWindows(
        path=tmp_path / "table.tsv",
        genome=genome,
        chroms=("one", "two"),
        chrom=np.array([0, 0, 1, 1, 0], dtype=np.int32),
        start=np.array([0, 50, 10, 100, 250], dtype=np.uint32),
        end=np.array([40, 110, 70, 190, 300], dtype=np.uint32),
        reverse=np.array([False, True, False, False, True]),
        rows=np.arange(5, dtype=np.uint32),
    )
    tokenizer = KmerTokenizer(4, 1)
    write_rows_shard(windows, tmp_path / "s.npy", tokenizer, where="t", rows_per_chromosome=2)
    write_rows_shard(list(windows), tmp_path / "m.npy", tokenizer, where="t", rows_per_chromosome=2)
    streamed, in_memory = TokenShard(tmp_path / "s.npy"), TokenShard(tmp_path / "m.npy")
    assert [c["name"] for c in streamed.chromosomes] == [
        "train_rows_1",
        "train_rows_2",
        "train_rows_3",
    ]
    assert streamed.chromosomes == in_memory.chromosomes
    assert np.array_equal(streamed.tokens[:], in_memory.tokens[:])
    last = streamed.chromosomes[2]
    tail = streamed.tokens[last["offset"] : last["offset"] + last["length"]]
    assert tokenizer.decode(tail) == sequences[0][250:300].translate(COMPLEMENT)[::-1]


def test_rows_shard_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GenomixError, match="^t.tsv: no rows to tokenize$"):
        write_rows_shard([], tmp_path / "r.npy", KmerTokenizer(3, 1), where="t.tsv")
    assert not list(tmp_path.iterdir())


def test_tokenize_rows_holds_exactly_the_fine_tuning_sample(tmp_path: Path) -> None:
    # The demo's promoter table, capped and seeded as a head would be: the shard decodes to those
    # training rows, in order, and to no validation or test row.
    out = tmp_path / "rows.npy"
    assert (
        main(
            ["-q", "tokenize-rows", "--task", "binary", "--table", str(PROMOTERS)]
            + ["--max-train-rows", "30", "--seed", "3", "--k", "6", "-o", str(out)]
        )
        == 0
    )
    rows = KmerTokenizer(6, 1).decode(TokenShard(out).tokens[:]).split("N")
    table = read_labeled_table(PROMOTERS, task="binary", seed=3)
    split_of = dict(zip(table.sequences, table.split, strict=True))
    assert len(rows) == 30 and {split_of[row] for row in rows} == {"train"}
    train, _ = training_rows(
        table,
        task="binary",
        max_train_rows=30,
        max_eval_rows=FinetuneConfig.max_eval_rows,
        generator=torch.Generator().manual_seed(3),
    )
    assert rows == list(train.sequences)


def test_shard_of_real_human_slice(tmp_path: Path) -> None:
    genome = fetch_genome(str(HUMAN), tmp_path / "human.fa")
    write_token_shard(genome, tmp_path / "human.npy", KmerTokenizer(6, 6))
    shard = TokenShard(tmp_path / "human.npy")
    assert shard.tokens.shape == ((1_000_000 - 6) // 6 + 1,)
    assert shard.tokens.dtype == np.int32


def test_windows_stay_inside_one_chromosome(two_chromosomes, tmp_path: Path) -> None:
    genome, chromosomes = two_chromosomes
    tokenizer = KmerTokenizer(1, 1)
    write_token_shard(genome, tmp_path / "t.npy", tokenizer)
    shard = TokenShard(tmp_path / "t.npy")
    sampler = MLMWindowSampler(
        [shard], window=150, split="train", valid_fraction=0.1, max_unknown=0.5
    )
    batch = sampler.sample(64, torch.Generator().manual_seed(0))
    strands = set()
    for row in batch:
        text = tokenizer.decode(row.numpy())
        reverse = text.translate(COMPLEMENT)[::-1]
        assert any(text in c[: int(len(c) * 0.9)] or reverse in c for c in chromosomes)
        strands.add(any(text in c for c in chromosomes))
    assert strands == {True, False}  # both strands are drawn


def test_window_longer_than_every_region_is_refused(two_chromosomes, tmp_path: Path) -> None:
    write_token_shard(two_chromosomes[0], tmp_path / "t.npy", KmerTokenizer(1, 1))
    with pytest.raises(GenomixError, match="holds a window of 400 tokens"):
        MLMWindowSampler(
            [TokenShard(tmp_path / "t.npy")],
            window=400,
            split="train",
            valid_fraction=0.1,
            max_unknown=0.5,
        )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


@pytest.mark.parametrize(("k", "stride"), [(6, 1), (3, 1), (6, 3), (6, 6)])
def test_masked_bases_cannot_be_read_off_true_tokens(k: int, stride: int) -> None:
    tokenizer = KmerTokenizer(k, stride)
    tokens = torch.randint(tokenizer.n_special, tokenizer.vocab_size, (8, 512))
    inputs, labels = mask_tokens(
        tokens, tokenizer, mask_prob=0.15, generator=torch.Generator().manual_seed(1)
    )
    n_bases = (512 - 1) * stride + k
    for row_inputs, row_tokens in zip(inputs.numpy(), tokens.numpy(), strict=True):
        # Bases revealed by any token the model sees with its true value (unmasked or kept).
        visible = np.zeros(n_bases, dtype=bool)
        for t in np.flatnonzero(row_inputs == row_tokens):
            visible[t * stride : t * stride + k] = True
        for start, end in _runs(row_inputs == tokenizer.mask_id):
            if start == 0 or end == 512:
                continue  # runs clipped by the window edge
            assert end - start >= mask_span(tokenizer)
            hidden = ~visible[start * stride : (end - 1) * stride + k]
            assert hidden.sum() >= k  # at least one whole k-mer is unreadable


def test_mask_rate_and_replacement_mix() -> None:
    tokenizer = KmerTokenizer(6, 1)
    tokens = torch.randint(tokenizer.n_special, tokenizer.vocab_size, (64, 1024))
    inputs, labels = mask_tokens(
        tokens, tokenizer, mask_prob=0.15, generator=torch.Generator().manual_seed(2)
    )
    masked = labels != IGNORE_INDEX
    assert masked.float().mean().item() == pytest.approx(0.15, abs=0.01)
    assert torch.equal(labels[masked], tokens[masked])
    replaced_by_mask = (inputs[masked] == tokenizer.mask_id).float().mean().item()
    unchanged = (inputs[masked] == tokens[masked]).float().mean().item()
    # Chosen per span (~900 spans here, so +-0.013 noise); [MASK] wins where spans overlap.
    assert 0.77 <= replaced_by_mask <= 0.87
    assert 0.05 <= unchanged <= 0.12


def test_special_and_unknown_tokens_are_never_masked() -> None:
    tokenizer = KmerTokenizer(2, 1)
    tokens = torch.full((4, 200), tokenizer.unk_id)
    tokens[:, 0] = tokenizer.cls_id
    tokens[:, 100:] = 7
    _, labels = mask_tokens(
        tokens, tokenizer, mask_prob=0.3, generator=torch.Generator().manual_seed(3)
    )
    assert (labels[:, :100] == IGNORE_INDEX).all()
    assert (labels[:, 100:] != IGNORE_INDEX).any()


def test_valid_chroms_are_held_out_whole(two_chromosomes, tmp_path: Path) -> None:
    genome, (first, second) = two_chromosomes
    tokenizer = KmerTokenizer(1, 1)
    write_token_shard(genome, tmp_path / "t.npy", tokenizer)
    shard = TokenShard(tmp_path / "t.npy")
    train, valid = shard.regions(valid_fraction=0.1, valid_chroms=("two",))
    assert (train, valid) == ([Region(0, 300)], [Region(300, 500)])
    options = {"window": 150, "valid_fraction": 0.1, "max_unknown": 0.5, "valid_chroms": ["two"]}
    generator = torch.Generator().manual_seed(0)
    for split, (inside, outside) in {"train": (first, second), "valid": (second, first)}.items():
        batch = MLMWindowSampler([shard], split=split, **options).sample(32, generator)
        for row in batch:
            text = tokenizer.decode(row.numpy())
            reverse = text.translate(COMPLEMENT)[::-1]
            assert text in inside or reverse in inside
            assert text not in outside and reverse not in outside


def test_unknown_valid_chrom_names_the_shard_and_its_chromosomes(
    two_chromosomes, tmp_path: Path
) -> None:
    write_token_shard(two_chromosomes[0], tmp_path / "t.npy", KmerTokenizer(1, 1))
    with pytest.raises(
        GenomixError, match=r"pretrain.valid_chroms: chrZ not in .*t.npy \(chromosomes: one, two\)"
    ):
        MLMWindowSampler(
            [TokenShard(tmp_path / "t.npy")],
            window=100,
            split="valid",
            valid_fraction=0.1,
            max_unknown=0.5,
            valid_chroms=("two", "chrZ"),
        )


def test_holding_out_every_chromosome_leaves_nothing_to_train_on(
    two_chromosomes, tmp_path: Path
) -> None:
    write_token_shard(two_chromosomes[0], tmp_path / "t.npy", KmerTokenizer(1, 1))
    with pytest.raises(GenomixError, match="no train region .* hold out fewer pretrain.valid_chr"):
        MLMWindowSampler(
            [TokenShard(tmp_path / "t.npy")],
            window=100,
            split="train",
            valid_fraction=0.1,
            max_unknown=0.5,
            valid_chroms=("one", "two"),
        )


def test_valid_chroms_hold_out_every_segment_of_an_arm(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    records = {"chr2L:0-300": 300, "chr2L:500-800": 300, "chrX:100-400": 300}
    source = tmp_path / "segments.fa"
    source.write_text(
        "".join(f">{name}\n{''.join(rng.choice(list('ACGT'), n))}\n" for name, n in records.items())
    )
    genome = fetch_genome(str(source), tmp_path / "genome.fa")
    write_token_shard(genome, tmp_path / "t.npy", KmerTokenizer(1, 1))
    train, valid = TokenShard(tmp_path / "t.npy").regions(
        valid_fraction=0.1, valid_chroms=("chrX",)
    )
    assert (train, valid) == ([Region(0, 300), Region(300, 600)], [Region(600, 900)])


def test_kmer_log_frequencies_count_both_strands(tmp_path: Path) -> None:
    source = tmp_path / "g.fa"
    source.write_text(">one\nAAAC\n")  # 2-mers AA, AA, AC; their reverse complements TT, TT, GT
    genome = fetch_genome(str(source), tmp_path / "genome.fa")
    tokenizer = KmerTokenizer(2, 1)
    write_token_shard(genome, tmp_path / "t.npy", tokenizer)
    sampler = MLMWindowSampler(
        [TokenShard(tmp_path / "t.npy")], window=2, split="train", valid_fraction=0, max_unknown=1
    )
    log_frequencies = sampler.kmer_log_frequencies().numpy()
    assert np.isneginf(log_frequencies[: tokenizer.n_special]).all()
    # add-one smoothing over 16 2-mers: AA and TT 3/22, AC and GT 2/22, the 12 others 1/22
    counts = {"AA": 3, "TT": 3, "AC": 2, "GT": 2}
    for token_id, kmer in enumerate(tokenizer.tokens):
        if token_id >= tokenizer.n_special:
            assert log_frequencies[token_id] == pytest.approx(np.log(counts.get(kmer, 1) / 22))


def test_visible_base_reference_by_hand() -> None:
    """ACGTA in 2-mers is AC CG GT TA. With CG alone masked, AC and GT show both its bases; with
    CG and GT masked, only CG's C is shown (by AC): 4 of 16 2-mers agree, -log(1/4) under
    uniform frequencies. GT then shows T (by TA): also -log(1/4)."""
    tokenizer = KmerTokenizer(2, 1)
    tokens = torch.from_numpy(tokenizer.encode("ACGTA").astype(np.int64))[None]
    uniform = torch.full((tokenizer.vocab_size,), -np.log(16.0))
    labels = torch.full_like(tokens, IGNORE_INDEX)
    labels[0, 1] = tokens[0, 1]
    inputs = tokens.masked_fill(labels != IGNORE_INDEX, tokenizer.mask_id)
    loss = visible_base_loss(inputs, labels, tokenizer, uniform, offset=0)
    assert loss.tolist() == [0.0]
    labels[0, 2] = tokens[0, 2]
    inputs = tokens.masked_fill(labels != IGNORE_INDEX, tokenizer.mask_id)
    loss = visible_base_loss(inputs, labels, tokenizer, uniform, offset=0)
    assert loss.numpy() == pytest.approx([np.log(4.0), np.log(4.0)])
