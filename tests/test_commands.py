"""The command table: every `genomix` subcommand is one COMMANDS entry, whose options are all
config fields of a schema section (or shared options declared once)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import yaml

from genomix import cli
from genomix.attention import ATTENTION
from genomix.attention.base import option_fields
from genomix.commands import COMMANDS
from genomix.config import (
    WORKFLOW_KEYS,
    PredictConfig,
    PromotersConfig,
    VariantsConfig,
    config_from_arguments,
    load_config,
    load_schema,
    section_schema,
)
from genomix.errors import GenomixError

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = sorted(
    {(section.name, section.cls) for command in COMMANDS.values() for section in command.sections},
    key=lambda pair: pair[0],
)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_every_command_has_a_parser_and_a_run() -> None:
    parsers = _subparsers()
    assert list(parsers) == list(COMMANDS)
    for name, command in COMMANDS.items():
        assert command.name == name and callable(command.run)
        assert parsers[name].description == command.help
        assert "example:" in parsers[name].epilog


def test_help_lists_exactly_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    listed = text.split("  <stage>\n", 1)[1].split("\n\n")[0]
    # a name is indented 4 spaces; a wrapped help line more
    names = [line.split()[0] for line in listed.splitlines() if not line.startswith(" " * 5)]
    assert names == list(COMMANDS)


@pytest.mark.parametrize(("section", "cls"), SECTIONS, ids=[name for name, _ in SECTIONS])
def test_section_fields_match_the_schema(section: str, cls: type) -> None:
    keys = set(section_schema(section)["properties"])
    fields = {field.name for field in dataclasses.fields(cls)}
    assert keys - WORKFLOW_KEYS.get(section, frozenset()) == fields


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_config_field_is_a_flag(name: str) -> None:
    parser = _subparsers()[name]
    for section in COMMANDS[name].sections:
        for field in dataclasses.fields(section.cls):
            flag = "--" + field.name.replace("_", "-")
            action = _option(parser, flag)
            if field.name == "attention":  # nested: the family's name and each family's options
                assert action is not None and action.dest == "attention.name", flag
                for _, options in ATTENTION.values():
                    for option in option_fields(options):
                        assert _option(parser, "--" + option.name.replace("_", "-")), option.name
                continue
            assert action is not None and action.dest == field.name, flag
            assert action.default is argparse.SUPPRESS, flag  # the dataclass holds the default


@pytest.mark.parametrize("flag", ["--device", "--format", "--progress", "-v", "-q"])
def test_shared_options_are_declared_once(flag: str) -> None:
    """Each subcommand that takes `flag` takes it alike: one declaration, not one per command."""
    actions = [_option(p, flag) for p in _subparsers().values()]
    actions = [a for a in actions if a is not None]
    assert len(actions) >= 3
    first = actions[0]
    for action in actions[1:]:
        assert type(action) is type(first)
        assert action.default == first.default
        assert action.help.split(";")[0] == first.help.split(";")[0]
        assert action.type == first.type
        assert action.metavar == first.metavar


def test_device_and_batch_size_come_from_the_sections() -> None:
    """--device and --batch-size are stage config: the schema validates them for every stage."""
    schema = load_schema()["properties"]
    for name, command in COMMANDS.items():
        for section in command.sections:
            keys = section_schema(section.name)["properties"]
            if "device" in keys:
                assert keys["device"] == schema["pretrain"]["properties"]["device"], name
            if "batch_size" in keys:
                assert keys["batch_size"]["minimum"] == 1, name
    runs = ["evaluate", "predict", "predict-variants", "scan", "explain", "pretrain", "finetune"]
    for name in runs:
        sections = {
            field.name for s in COMMANDS[name].sections for field in dataclasses.fields(s.cls)
        }
        assert {"device", "batch_size"} <= sections, name


def test_enum_fields_show_their_choices() -> None:
    action = _option(_subparsers()["predict"], "--aggregate")
    assert action.metavar == "{max,mean}" and action.choices is None  # the schema checks values


def test_predict_flags_build_its_config() -> None:
    args = cli.build_parser().parse_args(
        ["predict", "m", "x.fa", "--stride", "5", "--no-rc-average", "--skip-invalid"]
    )
    config = config_from_arguments(PredictConfig, args, "predict")
    assert config == PredictConfig(stride=5, rc_average=False, skip_invalid=True)
    assert config_from_arguments(
        PredictConfig, cli.build_parser().parse_args(["predict", "m", "x.fa"]), "predict"
    ) == PredictConfig(stride=None, rc_average=None)


def test_variant_and_promoter_flags_build_their_configs() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["predict-variants", "v.vcf", "--genome", "g", "--model", "m", "-o",
                              "o.tsv", "--region", "chr1:1-9", "--allow-ref-mismatch"])  # fmt: skip
    assert config_from_arguments(VariantsConfig, args, "variants") == VariantsConfig(
        region="chr1:1-9", allow_ref_mismatch=True
    )
    args = parser.parse_args(["promoters", "g.fa", "--tss", "t.bed", "-o", "p.tsv",
                              "--upstream", "99", "--test-chroms", "chr8", "chr9"])  # fmt: skip
    assert config_from_arguments(PromotersConfig, args, "promoters") == PromotersConfig(
        upstream=99, test_chroms=("chr8", "chr9")
    )


def test_out_of_range_flag_names_the_section_key() -> None:
    args = cli.build_parser().parse_args(["predict", "m", "x.fa", "--stride", "0"])
    with pytest.raises(GenomixError, match=r"command line: predict\.stride: 0 is less than"):
        config_from_arguments(PredictConfig, args, "predict")


def test_promoters_needs_test_chromosomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g.fa").write_text(">chr1\nACGT\n")
    (tmp_path / "t.bed").write_text("chr1\t1\t2\n")
    argv = ["promoters", str(tmp_path / "g.fa"), "--tss", str(tmp_path / "t.bed"),
            "-o", str(tmp_path / "p.tsv")]  # fmt: skip
    assert cli.main(argv) == 1
    assert "--test-chroms" in capsys.readouterr().err
    assert not (tmp_path / "p.tsv").exists()


def test_new_sections_are_settable_in_config_yaml(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["predict"] = {"stride": None, "rc_average": True, "device": "cpu"}
    config["variants"] = {"region": "chr1:1-100", "allow_ref_mismatch": True}
    config["promoters"] = {"upstream": 499, "test_chroms": ["chr8"]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert load_config(path)["predict"]["rc_average"] is True
    config["predict"] = {"aggregate": "median"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(GenomixError, match=r"predict\.aggregate: 'median' is not one of"):
        load_config(path)


def test_run_dispatches_to_the_named_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[argparse.Namespace] = []
    gather = dataclasses.replace(COMMANDS["gather"], run=seen.append)
    monkeypatch.setitem(COMMANDS, "gather", gather)
    assert cli.main(["gather", str(tmp_path / "a.tsv"), "-o", str(tmp_path / "b.tsv")]) == 0
    assert [args.command for args in seen] == ["gather"]
