"""The config schema, the stage dataclasses and the CLI flags agree with each other."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from genomix.config import (
    WORKFLOW_KEYS,
    ChromatinConfig,
    EncoderConfig,
    EvaluateConfig,
    ExplainConfig,
    FinetuneConfig,
    PredictConfig,
    PretrainConfig,
    PromotersConfig,
    ScanConfig,
    TokenizeConfig,
    VariantsConfig,
    load_config,
    load_schema,
    section_schema,
)
from genomix.errors import GenomixError

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {
    "tokenize": TokenizeConfig,
    "model": EncoderConfig,
    "pretrain": PretrainConfig,
    "finetune": FinetuneConfig,
    "multilabel": ChromatinConfig,
    "evaluate": EvaluateConfig,
    "scan": ScanConfig,
    "explain": ExplainConfig,
    "promoters": PromotersConfig,
    "predict": PredictConfig,
    "variants": VariantsConfig,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_schema_keys_match_dataclass_fields(section: str) -> None:
    schema_keys = set(section_schema(section)["properties"])
    fields = {field.name for field in dataclasses.fields(SECTIONS[section])}
    assert schema_keys - WORKFLOW_KEYS.get(section, frozenset()) == fields


def test_every_schema_key_is_described() -> None:
    schema = load_schema()
    for name, section in {**schema["properties"], **schema["$defs"]}.items():
        for key, spec in section.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{key} has no description"


def test_heads_are_checked_by_their_task_kind(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["heads"]["tata"] = {"task": "binary", "table": "t.tsv", "peaks": {"a": "a.bed"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(GenomixError, match="heads.tata: Additional properties are not allowed"):
        load_config(path)
    config["heads"]["tata"] = {"task": "multilabel", "genome": "dm3_segments"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(GenomixError, match="heads.tata: 'peaks' is a required property"):
        load_config(path)
    config["heads"]["tata"] = {"task": "regression"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(GenomixError, match="heads.tata.task: 'regression' is not one of"):
        load_config(path)


def test_default_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config["tokenize"]["k"] == 6


def _write_config(tmp_path: Path, change) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda c: c["tokenize"].update(k="six"))
    with pytest.raises(
        GenomixError, match=r"config.yaml: tokenize.k: 'six' is not of type 'integer'"
    ):
        load_config(path)


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda c: c["pretrain"].update(stepz=3))
    with pytest.raises(GenomixError, match=r"pretrain: Additional properties .*'stepz'"):
        load_config(path)


def test_out_of_range_k(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda c: c["tokenize"].update(k=9))
    with pytest.raises(GenomixError, match=r"tokenize.k: 9 is greater than the maximum of 8"):
        load_config(path)


def test_heads_must_divide_width() -> None:
    with pytest.raises(GenomixError, match="d_model=30 is not a multiple of model.n_heads=4"):
        EncoderConfig(d_model=30, n_heads=4)


def test_head_overrides_are_finetune_fields() -> None:
    from genomix.config import HEAD_OVERRIDES

    assert {field.name for field in dataclasses.fields(FinetuneConfig)} >= HEAD_OVERRIDES
    schema = load_schema()
    for kind in ("binary", "multilabel"):
        for key in HEAD_OVERRIDES:
            head_spec = dict(schema["$defs"][kind]["properties"][key])
            finetune_spec = dict(schema["properties"]["finetune"]["properties"][key])
            head_spec.pop("description"), finetune_spec.pop("description")
            assert head_spec.get("type") == finetune_spec.get("type")
            assert head_spec.get("enum") == finetune_spec.get("enum")
