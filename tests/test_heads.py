"""Sequence heads: reverse-complement averaging is exact, stored with the model, overridable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from genomix import cli
from genomix.attention import BigBirdOptions
from genomix.checkpoint import load_classifier, read_classifier_metadata
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.errors import GenomixError
from genomix.finetune import finetune
from genomix.heads import SequenceClassifier, SequenceHead
from genomix.kmers import KmerTokenizer
from genomix.model import Encoder, EncoderConfig
from genomix.scoring import encode_sequences

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = EncoderConfig(
    d_model=32,
    n_layers=2,
    n_heads=2,
    d_ff=64,
    max_tokens=64,
    attention=BigBirdOptions(block_size=8),
)
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def random_sequences(lengths: list[int], seed: int) -> list[str]:
    gen = torch.Generator().manual_seed(seed)
    return ["".join("ACGTN"[i] for i in torch.randint(0, 5, (n,), generator=gen)) for n in lengths]


def classifier(
    tokenizer: KmerTokenizer, *, rc_average: bool, kmer_bag: bool = False, **options
) -> SequenceClassifier:
    torch.manual_seed(0)
    encoder = Encoder(dataclasses.replace(CONFIG, **options), tokenizer.vocab_size)
    return SequenceClassifier(
        encoder, 3, pooling="mean", rc_average=rc_average, tokenizer=tokenizer, kmer_bag=kmer_bag
    ).eval()


def logits(model: SequenceClassifier, tokenizer: KmerTokenizer, sequences: list[str]):
    tokens, padding = encode_sequences(tokenizer, sequences, max_tokens=64, pad_to=64)
    with torch.no_grad():
        return model(tokens, padding)


@pytest.mark.parametrize(
    ("positions", "kmer_bag"), [("learned", False), ("rotary", False), ("rotary", True)]
)
def test_both_strands_score_the_same(positions: str, kmer_bag: bool) -> None:
    tokenizer = KmerTokenizer(3, 1)
    model = classifier(tokenizer, rc_average=True, kmer_bag=kmer_bag, positions=positions)
    # Different lengths in one batch, so rows carry padding; N bases give [UNK] tokens.
    sequences = random_sequences([40, 25, 61], seed=1)
    forward = logits(model, tokenizer, sequences)
    reverse = logits(model, tokenizer, [reverse_complement(s) for s in sequences])
    torch.testing.assert_close(reverse, forward, atol=1e-6, rtol=0)
    # Without averaging the strands differ, so the check above has something to catch.
    model.set_rc_average(False)
    single = logits(model, tokenizer, sequences)
    rc_single = logits(model, tokenizer, [reverse_complement(s) for s in sequences])
    assert not torch.allclose(rc_single, single, atol=1e-3)
    # The average is of the two single-strand outputs.
    torch.testing.assert_close(forward, (single + rc_single) / 2, atol=1e-6, rtol=0)


def test_stride_above_one_averages_the_covered_bases() -> None:
    tokenizer = KmerTokenizer(3, 2)
    model = classifier(tokenizer, rc_average=True)
    # 41 bases: (41 - 3) % 2 == 0, every base is in a token; both strands score the same.
    (fits,) = random_sequences([41], seed=2)
    torch.testing.assert_close(
        logits(model, tokenizer, [reverse_complement(fits)]),
        logits(model, tokenizer, [fits]),
        atol=1e-6,
        rtol=0,
    )
    # 42 bases: the last base is in no token, on the forward strand and so in the average; the
    # result is that of the 41 covered bases, on either strand.
    longer = fits + "G"
    torch.testing.assert_close(
        logits(model, tokenizer, [longer]), logits(model, tokenizer, [fits]), atol=1e-6, rtol=0
    )


def test_rc_average_needs_the_models_tokenizer() -> None:
    encoder = Encoder(CONFIG, KmerTokenizer(3, 1).vocab_size)
    with pytest.raises(GenomixError, match="rc_average needs the model's k-mer tokenizer"):
        SequenceClassifier(encoder, 1, rc_average=True)
    with pytest.raises(GenomixError, match="pass the model's own tokenizer"):
        SequenceClassifier(encoder, 1, rc_average=True, tokenizer=KmerTokenizer(4, 1))


def finetune_tiny(promoter_table, out: Path, **options) -> Path:
    """A 1-epoch promoter head on 32 rows, 3-mers, with FinetuneConfig `options`."""
    return finetune(
        promoter_table,
        out,
        task="promoter",
        config=FinetuneConfig(
            epochs=1, max_train_rows=32, max_eval_rows=32, device="cpu", **options
        ),
        model_config=dataclasses.replace(
            CONFIG, max_tokens=320, attention=BigBirdOptions(block_size=32)
        ),
        tokenize_config=TokenizeConfig(k=3, stride=1),
        progress=False,
    )


def test_rc_average_is_stored_and_predict_can_override_it(tmp_path: Path, promoter_table) -> None:
    model_dir = finetune_tiny(promoter_table, tmp_path / "model", rc_average=True)
    assert read_classifier_metadata(model_dir)["finetune"]["rc_average"] is True
    (sequence,) = random_sequences([300], seed=3)
    fasta = tmp_path / "both.fa"
    fasta.write_text(f">plus\n{sequence}\n>minus\n{reverse_complement(sequence)}\n")

    def predict(*flags: str) -> list[list[str]]:
        out = tmp_path / "out.tsv"
        assert cli.main(["predict", str(model_dir), str(fasta), "-o", str(out), *flags]) == 0
        return [line.split("\t") for line in out.read_text().splitlines()[1:]]

    plus, minus = predict()
    assert plus[4:] == minus[4:]  # the stored setting: strand-averaged, identical to 6 decimals
    plus, minus = predict("--no-rc-average")
    assert plus[4:] != minus[4:]
    assert predict("--rc-average")[0] == predict()[0]


def test_poolings_by_hand() -> None:
    """Two real tokens (0 and 1) and one padded: mean, max and both over the real ones only."""
    from genomix.heads import POOLINGS

    hidden = torch.tensor([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]]])
    weights = torch.tensor([[[1.0], [1.0], [0.0]]])
    expected = {
        "cls": [1.0, -2.0],
        "mean": [2.0, -3.0],
        "max": [3.0, -2.0],
        "mean_max": [2.0, -3.0, 3.0, -2.0],
    }
    for name, values in expected.items():
        pool, width = POOLINGS[name]
        assert pool(hidden, weights)[0].tolist() == values
        assert width * 2 == len(values)


def test_kmer_bag_by_hand() -> None:
    """The bag is the mean of the LayerNorm-ed table rows of the real k-mer tokens ([CLS] and
    padding excluded), concatenated after the pooled encoder state."""
    head = SequenceHead(2, 1, pooling="mean", dropout=0.0, kmer_bag_vocab=4)
    with torch.no_grad():
        head.kmer_bag.table.weight.copy_(
            torch.tensor([[9.0, -9.0], [1.0, 3.0], [5.0, 1.0], [0, 0]])
        )
        head.linear.weight.copy_(torch.tensor([[1.0, 10.0, 100.0, 1000.0]]))
        head.linear.bias.zero_()
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [50.0, 60.0]]])
    tokens = torch.tensor([[0, 1, 2, 0]])  # [CLS]-like id 0 first, then two k-mers, then padding
    padding = torch.tensor([[True, True, True, False]])
    # encoder mean over rows 0-2: (3, 4); normed rows 1 and 2: (-1, 1) and (1, -1) (LayerNorm of
    # two values, eps aside), so the bag is (0, 0)
    assert head.linear.in_features == 4
    logit = head(hidden, padding, tokens)
    assert logit.item() == pytest.approx(3 + 40, abs=1e-2)
    # Only token 1 real beside [CLS]: the bag is row 1 normed, (-1, 1).
    logit = head(hidden, torch.tensor([[True, True, False, False]]), tokens)
    assert logit.item() == pytest.approx(2 + 30 - 100 + 1000, abs=1e-2)


def test_kmer_bag_is_stored_with_the_model(tmp_path: Path, promoter_table) -> None:
    model_dir = finetune_tiny(promoter_table, tmp_path / "model", kmer_bag=True)
    assert read_classifier_metadata(model_dir)["finetune"]["kmer_bag"] is True
    model, tokenizer, _ = load_classifier(model_dir)
    assert model.head.kmer_bag.table.weight.shape == (tokenizer.vocab_size, CONFIG.d_model)
    assert model.head.linear.in_features == 2 * CONFIG.d_model
