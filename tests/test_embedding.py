"""k-mer embeddings: the factorized stem's known values, the vocabulary check, old model names."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from genomix.checkpoint import load_weights, write_model_dir
from genomix.embedding import KmerEmbedding, kmer_base_one_hot, kmer_length
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel

TOKENIZER = KmerTokenizer(2, 1)


def test_kmer_base_one_hot_by_hand() -> None:
    one_hot = kmer_base_one_hot(2)
    # k-mer 6 is "CG" (C=1 first, G=2 second): ones at 4*0+1 and 4*1+2
    assert one_hot[6].nonzero().flatten().tolist() == [1, 6]
    assert one_hot.sum(dim=1).eq(2).all()


def test_factorized_vector_is_the_sum_of_its_base_vectors() -> None:
    embedding = KmerEmbedding(TOKENIZER.vocab_size, 3, "factorized")
    with torch.no_grad():
        embedding.base_vectors.copy_(torch.arange(24.0).reshape(8, 3))
    (cg,) = TOKENIZER.encode("CG").tolist()
    # C at position 0: row 1 = [3, 4, 5]; G at position 1: row 4 + 2 = 6 -> [18, 19, 20]
    assert embedding(torch.tensor([[cg]]))[0, 0].tolist() == [21.0, 23.0, 25.0]
    specials = embedding(torch.arange(TOKENIZER.n_special)[None])[0]
    assert torch.equal(specials, embedding.special)


def test_both_adds_the_table_to_the_stem() -> None:
    torch.manual_seed(0)
    both = KmerEmbedding(TOKENIZER.vocab_size, 4, "both")
    stem = torch.cat((torch.zeros(TOKENIZER.n_special, 4), both.one_hot() @ both.base_vectors))
    assert torch.allclose(both.matrix(), both.weight + stem)


def test_a_vocabulary_that_is_not_kmers_is_refused() -> None:
    assert kmer_length(KmerTokenizer(6).vocab_size) == 6
    with pytest.raises(GenomixError, match="not 5 specials"):
        KmerEmbedding(100, 8, "factorized")
    with pytest.raises(GenomixError, match="model.embedding='onehot'"):
        EncoderConfig(embedding="onehot")


@pytest.mark.parametrize("mode", ["table", "factorized", "both"])
def test_mlm_round_trip_for_every_embedding(mode: str, tmp_path: Path) -> None:
    config = EncoderConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, embedding=mode)
    model = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    write_model_dir(tmp_path / "m", model, TOKENIZER, {"kind": "mlm"})
    loaded = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "m")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (2, 30))
    assert torch.equal(model(tokens), loaded(tokens))


def test_weights_saved_with_the_old_tied_decoder_still_load(tmp_path: Path) -> None:
    """Before genomix.embedding, the MLM decoder was an nn.Linear tied to the embedding: its
    file held `encoder.token_embedding.weight` once and the bias as `mlm_head.decoder.bias`."""
    config = EncoderConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32)
    model = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    tensors = {name: t.contiguous() for name, t in model.state_dict().items()}
    tensors["mlm_head.decoder.bias"] = tensors.pop("mlm_head.bias")
    (tmp_path / "old").mkdir()
    safetensors.torch.save_file(tensors, str(tmp_path / "old" / "model.safetensors"))
    loaded = MaskedLanguageModel(config, TOKENIZER.vocab_size).eval()
    load_weights(loaded, tmp_path / "old")
    tokens = torch.randint(5, TOKENIZER.vocab_size, (1, 20))
    assert torch.equal(model(tokens), loaded(tokens))
