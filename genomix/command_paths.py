"""Which files each `genomix` command reads and writes, from its parsed arguments: no output
may be, lie inside or hold an input, and a failed run removes the indexes it built for them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from genomix.seqio.atomic import refuse_overlaps


def _local(source: str | None) -> list[Path]:
    from genomix.seqio.download import local_path  # numba: imported only for fetch

    path = local_path(source) if source else None
    return [] if path is None else [path]


def _after_equals(items: Sequence[str]) -> list[Path]:
    return [Path(item.partition("=")[2]) for item in items if "=" in item]


def _paths(value: object) -> list[Path]:
    if value is None:
        return []
    return [Path(item) for item in value] if isinstance(value, (list, tuple)) else [Path(value)]


# command -> argparse dest of each input -> the paths its value names
_READS: dict[str, dict[str, Callable[[object], list[Path]]]] = {
    "fetch": {"source": _local, "checksum_url": _local},
    "tokenize": {"genome": _paths},
    "tokenize-rows": {"table": _paths, "genome": _paths, "deepsea_features": _paths},
    "labels": {"genome": _paths, "peaks": _after_equals},
    "promoters": {"genome": _paths, "tss": _paths},
    "pretrain": {"shards": _paths},
    "finetune": {
        "table": _paths,
        "genome": _paths,
        "deepsea_features": _paths,
        "pretrained": _paths,
    },
    "evaluate": {
        "model": _paths,
        "table": _paths,
        "genome": _paths,
        "deepsea_features": _paths,
        "compare": _after_equals,
    },
    "predict": {"model": _paths, "fasta": _paths, "bed": _paths, "genome": _paths},
    "predict-variants": {"vcf": _paths, "genome": _paths, "model": _paths},
    "scan": {"model": _paths, "genome": _paths},
    "gather": {"parts": _paths},
    "explain": {
        "model": _paths,
        "fasta": _paths,
        "bed": _paths,
        "vcf": _paths,
        "genome": _paths,
        "table": _paths,
        "predictions": _paths,
    },
    "report": {
        "metrics": _after_equals,
        "pretrain_metrics": _paths,
        "benchmarks": _paths,
        "predictions": _after_equals,
        "finetune_metrics": _after_equals,
        "explain": _after_equals,
    },
    "sweep-table": {"variants": _paths, "benchmarks": _paths},
}
# command -> dests of its output files, when not just `out`
_WRITES: dict[str, tuple[str, ...]] = {
    "evaluate": ("out", "predictions"),
    "sweep-table": ("tsv", "markdown", "plot"),
}
# command -> dests of the folders it writes files into (a folder may hold an input; it may not
# be one or lie inside one)
_FOLDERS: dict[str, tuple[str, ...]] = {
    "predict": ("bigwig", "bedgraph"),
    "explain": ("logo_dir", "tracks"),
}


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(flag, path) of every file the command writes, side files (.fai, .json, .state) included."""
    outputs = [
        (f"--{dest}", Path(getattr(args, dest)))
        for dest in _WRITES.get(args.command, ("out",))
        if getattr(args, dest) is not None
    ]
    out = getattr(args, "out", None)
    if args.command == "fetch" and not args.as_is:
        outputs.append(("--out", Path(f"{out}.fai")))
    elif args.command in ("tokenize", "tokenize-rows") and out.name:
        outputs.append(("--out", out.with_suffix(".json")))
    elif args.command in ("pretrain", "finetune"):
        outputs.append(("--out", Path(f"{out}.state")))
    return outputs


def _folders(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(flag, path) of every folder the command writes files into."""
    folders = [
        (f"--{dest.replace('_', '-')}", Path(getattr(args, dest)))
        for dest in _FOLDERS.get(args.command, ())
        if getattr(args, dest) is not None
    ]
    if args.command == "explain" and args.logo and args.logo_dir is None:
        from genomix.explain import logo_folder

        folders.append(("--logo-dir", logo_folder(args.out)))
    return folders


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(argument, path) of every file the command reads."""
    return [
        (f"{dest.replace('_', '-')}", path)
        for dest, paths_of in _READS[args.command].items()
        for path in paths_of(getattr(args, dest))
    ]


def check_paths(args: argparse.Namespace) -> None:
    """Refuse, before any work, outputs that would replace an input or another output."""
    refuse_overlaps(_outputs(args), _inputs(args), folders=_folders(args))


def missing_indexes(args: argparse.Namespace) -> list[Path]:
    """The .fai/.gzi an input FASTA lacks now: a failed run removes those it built."""
    return [
        index
        for _, path in _inputs(args)
        for index in (Path(f"{path}.fai"), Path(f"{path}.gzi"))
        if path.is_file() and not index.exists()
    ]
