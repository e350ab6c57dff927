"""Model directories load in Hugging Face `transformers` (custom code) and give genomix's numbers.

Skipped without the `hf` extra (`pip install 'genomix-dna[hf]'`); CI installs it with `dev`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genomix.attention import BigBirdOptions
from genomix.checkpoint import (
    LEGACY_TOKENIZER_FILE,
    TOKENIZER_FILE,
    load_classifier,
    load_weights,
    read_tokenizer,
    write_model_dir,
)
from genomix.cli import main
from genomix.hub import CODE_FILES
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel
from genomix.scoring import score_logits

transformers = pytest.importorskip("transformers")

CONFIG = EncoderConfig(
    d_model=32, n_layers=1, n_heads=2, d_ff=64, max_tokens=320,
    attention=BigBirdOptions(block_size=32, random_blocks=1), embedding="both",
)  # fmt: skip
TOKENIZER = KmerTokenizer(3, 1)
SEQUENCES = ["ACGTNacgtAAGGCTTAGC", "GGGCCCATATNNNNACGTTTAGCCA" * 4]


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pretrained (masked-LM) model directory written by genomix."""
    torch.manual_seed(0)
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size).eval()
    metadata = {
        "kind": "mlm",
        "model": dataclasses.asdict(CONFIG),
        "tokenizer": {"k": TOKENIZER.k, "stride": TOKENIZER.stride},
        "shards": ["tokens/hg38.npy"],
        "final": {"step": 10, "valid_loss": 4.1, "valid_accuracy": 0.02},
    }
    return write_model_dir(tmp_path_factory.mktemp("hub") / "mlm", model, TOKENIZER, metadata)


def _genomix_mlm(directory: Path) -> MaskedLanguageModel:
    model = MaskedLanguageModel(CONFIG, TOKENIZER.vocab_size)
    load_weights(model, directory)
    return model.eval()


def test_directory_has_the_hub_layout(mlm_dir: Path) -> None:
    config = json.loads((mlm_dir / "config.json").read_text())
    assert config["model_type"] == "genomix" and config["kind"] == "mlm"
    assert config["auto_map"]["AutoModelForMaskedLM"] == "modeling_genomix.GenomixForMaskedLM"
    assert config["architectures"] == ["GenomixForMaskedLM"]
    assert config["genomix_version"] and config["license"] == "mit"
    assert all((mlm_dir / name).is_file() for name in CODE_FILES)
    assert not (mlm_dir / LEGACY_TOKENIZER_FILE).exists()
    card = (mlm_dir / "README.md").read_text()
    assert "license: mit" in card and "tokens/hg38.npy" in card and "valid_loss 4.1" in card


def test_auto_tokenizer_gives_genomix_ids(mlm_dir: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(mlm_dir, trust_remote_code=True)
    for sequence in SEQUENCES:
        expected = [TOKENIZER.cls_id, *TOKENIZER.encode(sequence).tolist()]
        assert tokenizer(sequence)["input_ids"] == expected
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], torch.from_numpy(
        TOKENIZER.encode_batch(SEQUENCES, add_cls=True)
    ))  # fmt: skip
    assert torch.equal(batch["attention_mask"].bool(), batch["input_ids"] != TOKENIZER.pad_id)
    assert tokenizer.mask_token_id == TOKENIZER.mask_id and tokenizer.vocab_size == 69
    assert tokenizer.decode(tokenizer("ACGTTG")["input_ids"], skip_special_tokens=True) == "ACGTTG"


def test_auto_model_for_masked_lm_matches_genomix(mlm_dir: Path) -> None:
    model = transformers.AutoModelForMaskedLM.from_pretrained(mlm_dir, trust_remote_code=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(mlm_dir, trust_remote_code=True)
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    logits = model.eval()(**batch).logits
    expected = _genomix_mlm(mlm_dir)(batch["input_ids"], batch["attention_mask"].bool())
    assert logits.shape == (2, batch["input_ids"].shape[1], TOKENIZER.vocab_size)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    hidden = transformers.AutoModel.from_pretrained(mlm_dir, trust_remote_code=True).eval()
    torch.testing.assert_close(
        hidden(**batch).last_hidden_state,
        _genomix_mlm(mlm_dir).encoder(batch["input_ids"], batch["attention_mask"].bool()),
        atol=1e-5,
        rtol=0,
    )


def test_save_pretrained_round_trip_loads_in_both(mlm_dir: Path, tmp_path: Path) -> None:
    model = transformers.AutoModelForMaskedLM.from_pretrained(mlm_dir, trust_remote_code=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(mlm_dir, trust_remote_code=True)
    model.save_pretrained(tmp_path / "again")
    tokenizer.save_pretrained(tmp_path / "again")
    again = transformers.AutoModelForMaskedLM.from_pretrained(
        tmp_path / "again", trust_remote_code=True
    )
    tokens = torch.tensor([tokenizer(SEQUENCES[1])["input_ids"]])
    torch.testing.assert_close(again.eval()(tokens).logits, model.eval()(tokens).logits)
    # genomix reads what transformers wrote: same weights, same vocabulary.
    torch.testing.assert_close(
        _genomix_mlm(tmp_path / "again")(tokens, None), model(tokens).logits, atol=0, rtol=0
    )
    assert (read_tokenizer(tmp_path / "again").k, TOKENIZER_FILE) == (3, "kmer_vocab.json")


def test_new_head_on_a_pretrained_encoder(mlm_dir: Path) -> None:
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        mlm_dir, trust_remote_code=True, num_labels=3
    ).eval()
    tokens = torch.tensor([[TOKENIZER.cls_id, *TOKENIZER.encode(SEQUENCES[1]).tolist()]])
    assert model(tokens).logits.shape == (1, 3)
    head = model.head.linear  # genomix's initialisation: N(0, 0.02) weights, zero bias
    assert 0.01 < head.weight.std() < 0.03 and not head.bias.any()
    pretrained = _genomix_mlm(mlm_dir).encoder
    assert torch.equal(model.encoder(tokens, None), pretrained(tokens, None))


def test_classifier_matches_genomix_predict(promoter_model: Path, promoter_table, tmp_path):
    sequences = list(promoter_table.sequences[:3])  # 300 bp: one window each
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    assert main(["predict", str(promoter_model), str(fasta), "-o", str(tmp_path / "p.parquet"),
                 "--device", "cpu"]) == 0  # fmt: skip
    predicted = pd.read_parquet(tmp_path / "p.parquet")["promoter"].to_numpy()

    tokenizer = transformers.AutoTokenizer.from_pretrained(promoter_model, trust_remote_code=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        promoter_model, trust_remote_code=True
    ).eval()
    assert model.config.id2label == {0: "promoter"}
    with torch.no_grad():
        logits = model(**tokenizer(sequences, padding=True, return_tensors="pt")).logits
    genomix_model, genomix_tokenizer, _ = load_classifier(promoter_model)
    expected = score_logits(
        genomix_model, genomix_tokenizer, sequences, batch_size=8, device=torch.device("cpu")
    )
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(torch.sigmoid(logits)[:, 0].numpy(), predicted, atol=1e-5, rtol=0)


def test_directory_in_the_old_layout_still_loads(promoter_model: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(promoter_model, old)
    (old / TOKENIZER_FILE).rename(old / LEGACY_TOKENIZER_FILE)
    for name in [*CODE_FILES, "tokenizer_config.json", "README.md"]:
        (old / name).unlink()
    config = json.loads((old / "config.json").read_text())
    for key in ("model_type", "auto_map", "architectures", "genomix_version", "id2label"):
        del config[key]
    (old / "config.json").write_text(json.dumps(config))
    model, tokenizer, metadata = load_classifier(old)
    new_model, _, _ = load_classifier(promoter_model)
    tokens = torch.from_numpy(tokenizer.encode_batch(["ACGTACGTAAGGCC"], add_cls=True))
    mask = tokens != tokenizer.pad_id
    assert torch.equal(model(tokens, mask), new_model(tokens, mask))
