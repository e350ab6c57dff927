"""Trust in a model directory: its `config.json` checked against a schema, a SHA-256 of each
weight file written beside it and verified on load, and the rule for what `--out` may replace.

The schema reuses the sections of `config.schema.yaml` (model, tokenize, finetune), opened to
extra keys so that directories written by other genomix versions still load; what a key means
is checked, not which keys exist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from genomix.config import load_schema
from genomix.errors import GenomixError
from genomix.seqio.atomic import check_writable, is_stream
from genomix.tasks import LEGACY_NAMES, TASKS

CHECKSUM_FILE = "checksums.sha256"
_CHUNK = 1 << 20


def _open(section: str) -> dict[str, Any]:
    """A section of config.schema.yaml that also accepts keys it does not list."""
    return {**load_schema()["properties"][section], "additionalProperties": True}


@cache
def model_dir_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of `config.json`, by model kind (``classifier``, ``mlm``)."""
    tokenizer = {
        "type": "object",
        "required": ["k", "stride"],
        "properties": _open("tokenize")["properties"],
    }
    common = {"model": {**_open("model"), "required": ["d_model", "max_tokens"]}}
    return {
        "classifier": {
            "type": "object",
            "required": [
                "kind",
                "task",
                "profiles",
                "pooling",
                "window_bases",
                "model",
                "tokenizer",
                "finetune",
            ],
            "properties": {
                **common,
                "tokenizer": tokenizer,
                "task": {"enum": [*TASKS, *LEGACY_NAMES]},
                "profiles": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "pooling": load_schema()["properties"]["finetune"]["properties"]["pooling"],
                "window_bases": {"type": "integer", "minimum": 1},
                "thresholds": {"type": ["array", "null"], "items": {"type": "number"}},
                "finetune": _open("finetune"),
            },
        },
        "mlm": {
            "type": "object",
            "required": ["kind", "model", "tokenizer"],
            "properties": {**common, "tokenizer": tokenizer},
        },
    }


def validate_model_config(metadata: Any, path: Path) -> None:
    """Check a parsed `config.json` against the schema of its kind; errors name file and key."""
    if not isinstance(metadata, dict):
        raise GenomixError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
    kind = metadata.get("kind")
    schemas = model_dir_schemas()
    if kind not in schemas:
        raise GenomixError(f"{path}: kind: {kind!r} is not one of {', '.join(schemas)}")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schemas[kind]).iter_errors(metadata)
    )
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise GenomixError(f"{path}: {key}: {error.message}")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(directory: Path, names: Iterable[str]) -> None:
    """Write `checksums.sha256` (``sha256sum`` format) for the files `names` of `directory`."""
    lines = [f"{sha256_of(directory / name)}  {name}\n" for name in sorted(names)]
    (directory / CHECKSUM_FILE).write_text("".join(lines))


def verify_checksum(directory: Path, name: str, *, required: bool = True) -> None:
    """Check file `name` against the directory's `checksums.sha256`.

    Directories written before checksums existed have no such file and are not checked; a file
    the listing lacks is an error when `required` (the weights), else not checked (the
    vocabulary, which listings before the hub files did not name).
    """
    listing = directory / CHECKSUM_FILE
    if not listing.is_file():
        return
    expected = _read_listing(listing).get(name)
    if expected is None and not required:
        return
    if expected is None:
        raise GenomixError(f"{listing}: no checksum listed for {name}")
    actual = sha256_of(directory / name)
    if actual != expected:
        raise GenomixError(
            f"{directory / name}: sha256 mismatch (expected {expected[:12]}..., got "
            f"{actual[:12]}...); the file is damaged or was replaced"
        )


def _read_listing(listing: Path) -> Mapping[str, str]:
    listed = {}
    for number, line in enumerate(listing.read_bytes().decode("utf-8", "replace").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise GenomixError(f"{listing}: line {number}: expected '<sha256>  <file name>'")
        listed[name] = digest.lower()
    return listed


def check_model_out(out: str | Path, kind: str, own_files: Iterable[str]) -> None:
    """Refuse an `--out` a model directory of `kind` must not replace, before any training.

    `out` may be absent, an empty folder, or a genomix model directory of the same kind holding
    only `own_files` (which writing it replaces); its folder must be writable. Anything else, a
    file (an input table), a folder with other files, another kind of model, is refused.
    """
    out = Path(out)
    if is_stream(out) or (out.exists() and not out.is_dir()):
        raise GenomixError(f"{out}: exists and is not a folder; a model directory needs a new path")
    if out.is_dir():
        entries = sorted(entry.name for entry in out.iterdir())
        if entries:
            config = out / "config.json"
            try:
                found = json.loads(config.read_text()).get("kind") if config.is_file() else None
            except (OSError, ValueError, AttributeError):
                found = None
            if found != kind:
                raise GenomixError(
                    f"{out}: not empty and not a genomix '{kind}' model directory (it holds "
                    f"{entries[0]!r}); give a new or empty folder"
                )
            others = [name for name in entries if name not in set(own_files)]
            if others:
                raise GenomixError(
                    f"{out}: holds {others[0]!r}, which replacing the model would delete; move it "
                    "or give another folder"
                )
    check_writable(out)
