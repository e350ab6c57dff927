"""Hostile inputs: one catalogue of bad files, tampered model directories and dangerous output
paths, run against every command.

Every case must end the same way (the README's bad-input guarantees): exit status 1, exactly
one line on stderr, starting ``genomix: error:``, no traceback, and nothing in the working folder
changed or left behind: the inputs, a sentinel file at ``-o``, no temporaries (hidden ones
included). Commands run in-process through ``genomix.cli.main``; signals and concurrent runs in
subprocesses.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from genomix.cli import main
from genomix.errors import GenomixError
from genomix.seqio.atomic import atomic_path, output_lock, remove_leftovers
from genomix.seqio.genome import open_genome

SENTINEL = b"sentinel: must survive a failed run\n"


# ---------------------------------------------------------------------------------------------
# The working folder: good inputs of every kind, each run's outputs point into it.


@pytest.fixture
def work(tmp_path: Path, promoter_model: Path, human_genome: Path) -> Path:
    """A folder with a genome (indexed), FASTA, BED, VCF, table, model, and a sentinel output."""
    folder = tmp_path / "work"
    folder.mkdir()
    genome = open_genome(human_genome)
    bases = genome["z"][100_000:120_000].seq.upper()
    lines = [bases[i : i + 60] for i in range(0, len(bases), 60)]
    (folder / "g.fa").write_text(">z\n" + "\n".join(lines) + "\n")
    open_genome(folder / "g.fa").close()  # its .fai, as `genomix fetch` leaves it
    (folder / "x.fa").write_text(f">a\n{bases[:600]}\n>b\n{bases[5000:5400]}\n")
    (folder / "p.bed").write_text("z\t1000\t1400\tpeak1\nz\t3000\t3500\tpeak2\n")
    (folder / "v.vcf").write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
        f"z\t2001\trs1\t{bases[2000]}\t{'A' if bases[2000] != 'A' else 'C'}\n"
    )
    rows = [f"{bases[i * 300 : i * 300 + 300]}\t{i % 2}\t{'test'}" for i in range(8)]
    (folder / "t.tsv").write_text("sequence\tlabel\tsplit\n" + "\n".join(rows) + "\n")
    shutil.copytree(promoter_model, folder / "M")
    (folder / "out.tsv").write_bytes(SENTINEL)
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` (hidden ones too) -> its kind and content digest."""
    state = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISREG(mode):
            state[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[str(path.relative_to(folder))] = stat.filemode(mode)
    return state


def assert_refused(
    argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str], match: str = ""
) -> str:
    """Run `genomix argv`; check the contract; return the error line."""
    before = snapshot(folder)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("genomix: error: "), err
    assert "Traceback" not in err
    assert snapshot(folder) == before
    assert match in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------------
# The catalogue of bad files; each is made at a path in the working folder.


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _truncated_gzip(path: Path) -> None:
    whole = gzip.compress(b">a\n" + b"ACGTTGCA" * 20_000 + b"\n")
    path.write_bytes(whole[: len(whole) // 2])


BAD_FILES: dict[str, Callable[[Path], None]] = {
    "missing": lambda path: None,
    "empty": _write(b""),
    "binary": _write(bytes(range(256)) * 16),
    "truncated_gzip": _truncated_gzip,
    "folder": lambda path: path.mkdir(),
    "only_spaces": _write(b"   \n\n\t\n"),
    "utf16": _write("sequence\tlabel\n".encode("utf-16")),
}
# Bad for what reads DNA: a protein FASTA, a non-UTF-8 record name, a header-only record.
BAD_FASTA: dict[str, Callable[[Path], None]] = {
    "protein": _write(b">p1\nMKVLAAGIVGLLLAHHHHHHWWYYQQEERRKK\n"),
    "non_utf8_name": _write(b">seq\x93\n" + b"ACGT" * 100 + b"\n"),
    "header_only_record": _write(b">empty\n>b\n" + b"ACGT" * 100 + b"\n"),
    "no_header": _write(b"ACGTACGTACGT\n"),
}
BAD_BED: dict[str, Callable[[Path], None]] = {
    "comments_only": _write(b"track name=x\n# nothing\n"),
    "duplicate_names": _write(b"z\t100\t500\tsame\nz\t900\t1300\tsame\n"),
    "negative": _write(b"z\t-5\t100\tn\n"),
    "past_the_end": _write(b"z\t0\t999999999\tn\n"),
    "unknown_chrom": _write(b"chrUn_x\t0\t400\tn\n"),
}
BAD_VCF: dict[str, Callable[[Path], None]] = {
    "header_only": _write(b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"),
    "no_chrom_line": _write(b"z\t100\t.\tA\tC\n"),
    "bad_pos": _write(b"#CHROM\tPOS\tID\tREF\tALT\nz\t-3\t.\tA\tC\n"),
    "bcf": _write(b"BCF\x02\x02" + bytes(64)),
    "non_utf8_id": _write(b"#CHROM\tPOS\tID\tREF\tALT\nz\t100\trs\x93\tA\tC\n"),
}
BAD_TABLES: dict[str, Callable[[Path], None]] = {
    "duplicate_columns": _write(b"sequence\tlabel\tlabel\nACGTACGT\t1\t0\n"),
    "header_only": _write(b"sequence\tlabel\n"),
    "labels_not_01": _write(b"sequence\tlabel\nACGTACGT\t7\n"),
    "protein_rows": _write(b"sequence\tlabel\nMKVLAAGIVG\t1\n"),
}

# Each command with one slot `{}` for a bad file, and which catalogues fill it.
SLOTS: dict[str, tuple[list[str], list[dict[str, Callable[[Path], None]]]]] = {
    "predict FASTA": (["predict", "M", "{}", "-o", "out.tsv"], [BAD_FILES, BAD_FASTA]),
    "predict --bed": (
        ["predict", "M", "--bed", "{}", "--genome", "g.fa", "-o", "out.tsv"],
        [BAD_FILES, BAD_BED],
    ),
    "predict --genome": (
        ["predict", "M", "--bed", "p.bed", "--genome", "{}", "-o", "out.tsv"],
        [BAD_FILES],
    ),
    "predict-variants VCF": (
        ["predict-variants", "{}", "--genome", "g.fa", "--model", "M", "-o", "out.tsv"],
        [BAD_FILES, BAD_VCF],
    ),
    "tokenize": (["tokenize", "{}", "-o", "out.tsv"], [BAD_FILES, BAD_FASTA]),
    "tokenize-rows --table": (
        ["tokenize-rows", "--task", "binary", "--table", "{}", "-o", "out.tsv"],
        [BAD_FILES, BAD_TABLES],
    ),
    "fetch": (["fetch", "{}", "-o", "out.tsv"], [BAD_FILES, BAD_FASTA]),
    "labels genome": (
        ["labels", "{}", "--peaks", "A=p.bed", "--test-chroms", "z", "-o", "out.tsv"],
        [BAD_FILES, BAD_FASTA],
    ),
    "labels --peaks": (
        ["labels", "g.fa", "--peaks", "A={}", "--test-chroms", "z", "-o", "out.tsv"],
        [BAD_FILES, {k: BAD_BED[k] for k in ("comments_only", "negative")}],
    ),
    "promoters --tss": (
        ["promoters", "g.fa", "--tss", "{}", "--test-chroms", "z", "-o", "out.tsv"],
        [BAD_FILES, {k: BAD_BED[k] for k in ("comments_only", "negative")}],
    ),
    "evaluate --table": (
        ["evaluate", "--model", "M", "--table", "{}", "--out", "out.tsv"],
        [BAD_FILES, BAD_TABLES],
    ),
    "finetune --table": (
        ["finetune", "--task", "promoter", "--table", "{}", "--out", "new_model"],
        [BAD_FILES, BAD_TABLES],
    ),
    "report --metrics": (
        ["report", "--heads", "chromatin=multilabel", "promoter=binary", "--metrics"]
        + ["chromatin={}", "promoter=t.tsv", "--pretrain-metrics", "t.tsv", "-o", "out.tsv"],
        [BAD_FILES],
    ),
}
CASES = [
    pytest.param(slot, kind, id=f"{slot}-{kind}")
    for slot, (_, catalogues) in SLOTS.items()
    for catalogue in catalogues
    for kind in catalogue
]


def _all_bad() -> dict[str, Callable[[Path], None]]:
    merged: dict[str, Callable[[Path], None]] = {}
    for catalogue in (BAD_FILES, BAD_FASTA, BAD_BED, BAD_VCF, BAD_TABLES):
        merged.update(catalogue)
    return merged


@pytest.mark.parametrize(("slot", "kind"), CASES)
def test_bad_file_in_every_command(
    slot: str, kind: str, work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(work)
    argv, _ = SLOTS[slot]
    suffix = {"predict-variants VCF": ".vcf", "evaluate --table": ".tsv"}.get(slot, ".fa")
    if "bed" in slot or "peaks" in slot or "tss" in slot:
        suffix = ".bed"
    if slot in ("finetune --table", "report --metrics"):
        suffix = ".tsv"
    bad = work / f"bad{suffix}"
    _all_bad()[kind](bad)
    assert_refused([arg.replace("{}", bad.name) for arg in argv], work, capsys)


# ---------------------------------------------------------------------------------------------
# Tampered model directories: every command that loads a model refuses them by name.


def _edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def tamper(model: Path) -> None:
        config = json.loads((model / "config.json").read_text())
        change(config)
        (model / "config.json").write_text(json.dumps(config))

    return tamper


def _weights(data: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def tamper(model: Path) -> None:
        path = model / "model.safetensors"
        path.write_bytes(data(path.read_bytes()))

    return tamper


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x40])


def _without_checksums(tamper: Callable[[Path], None]) -> Callable[[Path], None]:
    """A tampering of a model written before checksums existed: only the loader can notice."""

    def both(model: Path) -> None:
        (model / "checksums.sha256").unlink()
        tamper(model)

    return both


TAMPERED: dict[str, tuple[Callable[[Path], None], str]] = {
    "weights_half": (_weights(lambda d: d[: len(d) // 2]), "model.safetensors"),
    "weights_empty": (_weights(lambda d: b""), "model.safetensors"),
    "weights_5_bytes": (_weights(lambda d: d[:5]), "model.safetensors"),
    "weights_pickle": (_weights(lambda d: pickle.dumps({"a": 1})), "model.safetensors"),
    "weights_text": (_weights(lambda d: b"not weights\n"), "model.safetensors"),
    "weights_flipped_byte": (_weights(_flip_last_byte), "sha256 mismatch"),
    "old_dir_weights_half": (
        _without_checksums(_weights(lambda d: d[: len(d) // 2])),
        "not a readable safetensors file",
    ),
    "old_dir_weights_pickle": (
        _without_checksums(_weights(lambda d: pickle.dumps({"a": 1}))),
        "not a readable safetensors file",
    ),
    "checksums_garbage": (
        lambda m: (m / "checksums.sha256").write_bytes(b"\x00\xff junk"),
        "checksums.sha256: line 1",
    ),
    "d_model_changed": (
        _edit_config(lambda c: c["model"].update(d_model=64)),
        "weights do not fit the model",
    ),
    "profiles_changed": (
        _edit_config(lambda c: c.update(profiles=["a", "b"])),
        "weights do not fit the model",
    ),
    "max_tokens_100": (
        _edit_config(lambda c: c["model"].update(max_tokens=100)),
        "config.json: window_bases",
    ),
    "unknown_attention": (
        _edit_config(lambda c: c["model"].update(attention="magic")),
        "config.json: model.attention",
    ),
    "n_heads_not_dividing": (
        _edit_config(lambda c: c["model"].update(n_heads=3)),
        "config.json: model:",
    ),
    "no_profiles": (_edit_config(lambda c: c.pop("profiles")), "'profiles' is a required"),
    "no_window_bases": (
        _edit_config(lambda c: c.pop("window_bases")),
        "'window_bases' is a required",
    ),
    "no_finetune": (_edit_config(lambda c: c.pop("finetune")), "'finetune' is a required"),
    "window_bases_text": (
        _edit_config(lambda c: c.update(window_bases="abc")),
        "config.json: window_bases: 'abc' is not of type 'integer'",
    ),
    "window_bases_negative": (
        _edit_config(lambda c: c.update(window_bases=-5)),
        "config.json: window_bases: -5 is less than the minimum of 1",
    ),
    "model_is_a_string": (
        _edit_config(lambda c: c.update(model="x")),
        "config.json: model: 'x' is not of type 'object'",
    ),
    "kind_unknown": (_edit_config(lambda c: c.update(kind="gpt")), "config.json: kind: 'gpt'"),
    "kind_mlm": (_edit_config(lambda c: c.update(kind="mlm")), "holds a 'mlm' model"),
    "config_binary": (
        lambda m: (m / "config.json").write_bytes(bytes(range(256))),
        "config.json: not UTF-8 text",
    ),
    "config_a_list": (lambda m: (m / "config.json").write_text("[1, 2]"), "expected a JSON object"),
    "tokenizer_binary": (
        lambda m: (m / "kmer_vocab.json").write_bytes(b"\x93\x00\xff"),
        "kmer_vocab.json: sha256 mismatch",
    ),
    "tokenizer_binary_unchecked": (
        _without_checksums(lambda m: (m / "kmer_vocab.json").write_bytes(b"\x93\x00\xff")),
        "kmer_vocab.json: not a k-mer vocabulary",
    ),
    "tokenizer_other_k": (
        _edit_config(lambda c: c.update(tokenizer={"k": 4, "stride": 1})),
        "config.json: tokenizer: k=4",
    ),
    "no_weights": (lambda m: (m / "model.safetensors").unlink(), "no model.safetensors"),
}
MODEL_COMMANDS = {
    "predict": ["predict", "M", "x.fa", "-o", "out.tsv"],
    "predict-variants": [
        "predict-variants",
        "v.vcf",
        "--genome",
        "g.fa",
        "--model",
        "M",
        "-o",
        "out.tsv",
    ],
    "evaluate": ["evaluate", "--model", "M", "--table", "t.tsv", "--out", "out.tsv"],
    "explain": ["explain", "M", "x.fa", "-o", "out.tsv"],
    "scan": ["scan", "M", "g.fa", "-o", "out.tsv"],
}


@pytest.mark.parametrize("command", MODEL_COMMANDS)
@pytest.mark.parametrize("damage", TAMPERED)
def test_tampered_model_directory(
    damage: str, command: str, work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(work)
    tamper, expected = TAMPERED[damage]
    tamper(work / "M")
    assert_refused(MODEL_COMMANDS[command], work, capsys, match=expected)


# ---------------------------------------------------------------------------------------------
# Outputs that would destroy an input (issue 12, data loss 1 and 2).


OVERLAPS = {
    "predict -o its FASTA": ["predict", "M", "x.fa", "-o", "x.fa"],
    "predict -o its FASTA, gz": ["predict", "M", "x.fa.gz", "-o", "x.fa.gz"],
    "predict -o a hard link of its FASTA": ["predict", "M", "x.fa", "-o", "link.fa"],
    "predict -o a symlink to its FASTA": ["predict", "M", "x.fa", "-o", "sym.fa"],
    "predict -o by another spelling": ["predict", "M", "x.fa", "-o", "./sub/../x.fa"],
    "predict -o inside the model": ["predict", "M", "x.fa", "-o", "M/model.safetensors"],
    "predict --bed -o its BED": [
        "predict",
        "M",
        "--bed",
        "p.bed",
        "--genome",
        "g.fa",
        "-o",
        "p.bed",
    ],
    "predict --bed -o its genome": [
        "predict",
        "M",
        "--bed",
        "p.bed",
        "--genome",
        "g.fa",
        "-o",
        "g.fa",
    ],
    "tokenize -o its genome": ["tokenize", "g.fa", "-o", "g.fa"],
    "labels -o a peaks file": [
        "labels",
        "g.fa",
        "--peaks",
        "A=p.bed",
        "--test-chroms",
        "z",
        "-o",
        "p.bed",
    ],
    "promoters -o its TSS": [
        "promoters",
        "g.fa",
        "--tss",
        "p.bed",
        "--test-chroms",
        "z",
        "-o",
        "p.bed",
    ],
    "evaluate --out its table": ["evaluate", "--model", "M", "--table", "t.tsv", "--out", "t.tsv"],
    "evaluate --out = --predictions": [
        "evaluate",
        "--model",
        "M",
        "--table",
        "t.tsv",
        "--out",
        "out.tsv",
        "--predictions",
        "out.tsv",
    ],
    "predict-variants -o its VCF": [
        "predict-variants",
        "v.vcf",
        "--genome",
        "g.fa",
        "--model",
        "M",
        "-o",
        "v.vcf",
    ],
    "fetch -o its source": ["fetch", "g.fa", "-o", "g.fa"],
    "finetune --out its table": [
        "finetune",
        "--task",
        "promoter",
        "--table",
        "t.tsv",
        "--out",
        "t.tsv",
    ],
    "finetune --out the folder of its table": [
        "finetune",
        "--task",
        "promoter",
        "--table",
        "t.tsv",
        "--out",
        ".",
    ],
    "finetune --out = --pretrained": [
        "finetune",
        "--task",
        "promoter",
        "--table",
        "t.tsv",
        "--pretrained",
        "M",
        "--out",
        "M",
    ],
    "report -o an input": [
        "report",
        "--heads",
        "chromatin=multilabel",
        "--metrics",
        "chromatin=t.tsv",
        "--pretrain-metrics",
        "t.tsv",
        "-o",
        "t.tsv",
    ],
    "predict --bigwig its genome": (
        ["predict", "M", "--bed", "p.bed", "--genome", "g.fa", "--bigwig", "g.fa"]
    ),
    "predict --bedgraph inside the model": (
        ["predict", "M", "--bed", "p.bed", "--genome", "g.fa", "--bedgraph", "M/tracks"]
    ),
    "predict --bigwig = -o": (
        ["predict", "M", "--bed", "p.bed", "--genome", "g.fa", "-o", "out.tsv"]
        + ["--bigwig", "out.tsv"]
    ),
    "explain -o its FASTA": ["explain", "M", "x.fa", "-o", "x.fa"],
    "explain --tracks its BED": (
        ["explain", "M", "--bed", "p.bed", "--genome", "g.fa", "-o", "out.tsv", "--tracks", "p.bed"]
    ),
    "explain --logo-dir inside the model": (
        ["explain", "M", "x.fa", "-o", "out.tsv", "--logo", "1", "--logo-dir", "M/logos"]
    ),
    "scan -o its genome": ["scan", "M", "g.fa", "-o", "g.fa"],
    "gather -o a part": ["gather", "t.tsv", "-o", "t.tsv"],
    "tokenize-rows -o its table": (
        ["tokenize-rows", "--task", "binary", "--table", "t.tsv", "-o", "t.tsv"]
    ),
    "sweep-table --tsv its benchmarks": (
        ["sweep-table", "M", "--benchmarks", "t.tsv", "--tsv", "t.tsv", "--markdown", "s.md"]
        + ["--plot", "s.png"]
    ),
}


@pytest.mark.parametrize("case", OVERLAPS)
def test_output_that_is_an_input_is_refused(
    case: str, work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(work)
    (work / "x.fa.gz").write_bytes(gzip.compress((work / "x.fa").read_bytes()))
    os.link(work / "x.fa", work / "link.fa")
    (work / "sym.fa").symlink_to("x.fa")
    (work / "sub").mkdir()
    line = assert_refused(OVERLAPS[case], work, capsys)
    assert "same output" in line or "the input" in line or "the output" in line


def test_finetune_out_must_be_new_empty_or_its_own_kind(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Issue 12: `finetune --out R` emptied R (notes, subfolders); refused before training."""
    monkeypatch.chdir(work)
    results = work / "R"
    (results / "sub").mkdir(parents=True)
    (results / "notes.txt").write_text("my notes\n")
    argv = ["finetune", "--task", "promoter", "--table", "t.tsv", "--out", "R"]
    assert_refused(argv, work, capsys, match="R: not empty and not a genomix 'classifier' model")
    (work / "M" / "notes.txt").write_text("kept\n")  # a model directory the user added to
    argv = ["finetune", "--task", "promoter", "--table", "t.tsv", "--out", "M"]
    assert_refused(argv, work, capsys, match="holds 'notes.txt', which replacing the model")
    argv = ["finetune", "--task", "promoter", "--table", "t.tsv", "--out", "x.fa"]
    assert_refused(argv, work, capsys, match="x.fa: exists and is not a folder")
    argv = ["pretrain", "g.fa", "--out", "M"]
    assert_refused(argv, work, capsys, match="not a genomix 'mlm' model")


def test_finetune_checks_its_output_folder_before_training(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Issue 12: an unwritable --out failed only after training; now it fails first."""
    monkeypatch.chdir(work)
    argv = ["finetune", "--task", "promoter", "--table", "t.tsv", "--out", "x.fa/model"]
    started = time.perf_counter()
    assert_refused(argv, work, capsys, match="x.fa/model: cannot create its folder (x.fa is not")
    assert time.perf_counter() - started < 10


# ---------------------------------------------------------------------------------------------
# Devices, FIFOs and stdout are written through, never replaced (data loss 3).


def test_output_to_a_fifo_is_written_through(work: Path, monkeypatch) -> None:
    monkeypatch.chdir(work)
    fifo = work / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(["predict", "M", "x.fa", "-o", "pipe"]) == 0
    reader.join(timeout=60)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received[0].decode().splitlines()[0] == "id\tlength\tstart\tend\tn_fraction\tpromoter"
    assert [p.name for p in work.iterdir() if p.name.startswith(".pipe")] == []


def test_output_to_a_character_device_is_written_through(work: Path, monkeypatch) -> None:
    """As root, `-o /dev/null` replaced the device node; tested on a node made here."""
    monkeypatch.chdir(work)
    null = work / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot make a device node here (needs CAP_MKNOD)")
    assert main(["predict", "M", "x.fa", "-o", "null"]) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert main(["evaluate", "--model", "M", "--table", "t.tsv", "--out", "null"]) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)


def test_output_to_stdout(work: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "genomix.cli", "predict", "M", "x.fa", "-o", "-"],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["id", "a", "b"]
    assert not (work / "-").exists()


# ---------------------------------------------------------------------------------------------
# Temporaries: unique, hidden, named after the output; errors name the output; leftovers of
# dead runs removed (data loss 4, interrupts).


def test_temporaries_are_hidden_unique_and_errors_name_the_output(tmp_path: Path) -> None:
    out = tmp_path / "out.tsv"
    with atomic_path(out) as first, atomic_path(out) as second:
        assert first != second
        for temporary in (first, second):
            assert temporary.name.startswith(f".out.tsv.{os.getpid()}.")
            assert temporary.name.endswith(".partial")
        denied = f"^{out}: cannot write \\(Permission denied\\)$"
        with pytest.raises(GenomixError, match=denied), atomic_path(out) as third:
            raise PermissionError(13, "Permission denied", str(third))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_leftovers_of_dead_runs_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead_pid = int(dead.stdout)
    out = tmp_path / "out.tsv"
    killed = tmp_path / f".out.tsv.{dead_pid}.abcd1234.partial"
    killed.write_bytes(b"half a table")
    staging = tmp_path / f".out.tsv.{dead_pid}.zz.partial.fa"
    staging.write_bytes(b">half\n")
    other_pid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        running = tmp_path / f".out.tsv.{other_pid.pid}.efgh5678.partial"
        running.write_bytes(b"a concurrent run's table")
        unrelated = tmp_path / ".other.tsv.1.x.partial"
        unrelated.write_bytes(b"")
        assert sorted(remove_leftovers(out)) == sorted([killed, staging])
        assert running.exists() and unrelated.exists()
    finally:
        other_pid.kill()
        other_pid.wait()


def test_a_second_fetch_to_the_same_output_is_refused(work: Path, capsys, monkeypatch) -> None:
    """Issue 12: two fetches shared `<stem>.tmp<suffix>`: the first said 'wrote g.fa' over the
    second's chromosomes. Now a run holds the output, and a second one fails at once."""
    monkeypatch.chdir(work)
    with output_lock(work / "new.fa"):
        assert_refused(
            ["fetch", "x.fa", "-o", "new.fa"], work, capsys, match="another genomix run is writing"
        )
    assert main(["fetch", "x.fa", "-o", "new.fa"]) == 0
    assert sorted(p.name for p in work.glob("*new.fa*")) == ["new.fa", "new.fa.fai"]
    assert not list(work.glob(".new.fa*"))


def test_sigterm_on_predict_is_one_line_and_leaves_nothing(work: Path, human_genome: Path) -> None:
    """Issue 12: SIGTERM exited 143 without a word and left a hidden .partial."""
    genome = open_genome(human_genome)
    (work / "long.fa").write_text(f">long\n{genome['z'][:].seq}\n")  # 1 Mb
    before = snapshot(work)
    process = subprocess.Popen(
        [sys.executable, "-m", "genomix.cli", "predict", "M", "long.fa", "-o", "out.tsv"]
        + ["--stride", "30"],  # about 33,000 windows: minutes
        cwd=work,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.monotonic() + 120
    while not list(work.glob(".out.tsv.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(work.glob(".out.tsv.*.partial")), "predict never started writing"
    time.sleep(1)  # into the scoring loop
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    errors = [line for line in err.splitlines() if line.startswith("genomix: error:")]
    assert errors == ["genomix: error: stopped by SIGTERM"] and err.splitlines()[-1] == errors[0]
    assert "Traceback" not in err
    assert snapshot(work) == before


# ---------------------------------------------------------------------------------------------
# Silent wrong results, made loud.


def test_wrong_alphabet_is_refused_by_labels_tokenize_fetch(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Issue 12: a protein FASTA passed fetch, tokenize (all [UNK]) and labels with exit 0."""
    monkeypatch.chdir(work)
    (work / "protein.fa").write_text(">z\n" + "MKVLAAGIVGLLLAHHHHHHWWYYQQ" * 100 + "\n")
    (work / "zp.bed").write_text("z\t100\t400\n")
    invalid = "protein.fa: record 'z' position 4: invalid character 'L'"  # M K V: IUPAC
    argv = ["labels", "protein.fa", "--peaks", "A=zp.bed", "--test-chroms", "z", "-o", "out.tsv"]
    assert_refused(argv, work, capsys, match=invalid)
    assert_refused(["tokenize", "protein.fa", "-o", "out.tsv"], work, capsys, match=invalid)
    assert_refused(["fetch", "protein.fa", "-o", "out.tsv"], work, capsys, match=invalid)


def test_non_utf8_record_name_is_refused_or_skipped(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Issue 12: `>seq\\x93` crashed predict with UnicodeEncodeError, even with --skip-invalid."""
    monkeypatch.chdir(work)
    good = (work / "x.fa").read_bytes()
    (work / "names.fa").write_bytes(b">seq\x93\n" + b"ACGT" * 100 + b"\n" + good)
    for out in ("out.tsv", "out.parquet"):
        argv = ["predict", "M", "names.fa", "-o", out]
        assert_refused(argv, work, capsys, match="record name b'seq\\x93' has byte 0x93")
        assert main([*argv, "--skip-invalid"]) == 0
    import pandas as pd

    assert pd.read_parquet(work / "out.parquet")["id"].tolist() == ["a", "b"]


def test_model_directories_carry_weight_checksums_and_old_ones_still_load(
    work: Path, monkeypatch
) -> None:
    monkeypatch.chdir(work)
    listing = (work / "M" / "checksums.sha256").read_text()
    files = sorted(p.name for p in (work / "M").iterdir() if p.name != "checksums.sha256")
    assert {"model.safetensors", "kmer_vocab.json", "README.md", "config.json"} <= set(files)
    digests = [hashlib.sha256((work / "M" / name).read_bytes()).hexdigest() for name in files]
    assert listing == "".join(f"{d}  {name}\n" for d, name in zip(digests, files, strict=True))
    (work / "M" / "checksums.sha256").unlink()  # a directory from before checksums
    assert main(["predict", "M", "x.fa", "-o", "old.tsv"]) == 0


def test_model_out_may_be_new_empty_or_a_model_of_the_same_kind(work: Path) -> None:
    from genomix.checkpoint import MODEL_DIR_FILES
    from genomix.model_files import check_model_out

    (work / "empty").mkdir()
    for allowed in ("new/model", "empty", "M"):
        check_model_out(work / allowed, "classifier", MODEL_DIR_FILES)
    assert not (work / "new").exists()  # the probe made no folder
    with pytest.raises(GenomixError, match="M: not empty and not a genomix 'mlm' model"):
        check_model_out(work / "M", "mlm", MODEL_DIR_FILES)


@pytest.mark.parametrize(
    ("npy", "index", "message"),
    [
        (bytes(range(256)), bytes(range(256)), "shard.json: not a token shard index"),
        (pickle.dumps([1, 2]), b'{"k": 3, "stride": 1, "chromosomes": []}', "shard.npy: not a"),
        (bytes(range(256)), b'{"k": 3, "stride": 1}', "shard.json: not a token shard index"),
        (b"", None, "shard.npy: token shard not found"),
    ],
)
def test_pretrain_refuses_broken_token_shards(
    npy: bytes,
    index: bytes | None,
    message: str,
    work: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch,
) -> None:
    monkeypatch.chdir(work)
    (work / "shard.npy").write_bytes(npy)
    if index is not None:
        (work / "shard.json").write_bytes(index)
    argv = ["pretrain", "shard.npy", "-o", "new_model", "--steps", "1"]
    assert_refused(argv, work, capsys, match=message)


def test_the_next_run_removes_what_a_killed_run_left(work: Path, monkeypatch) -> None:
    """Issue 12: kill -9 left a 0-byte `.partial` (predict) and a visible `g.tmp.fa` (fetch)."""
    monkeypatch.chdir(work)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)
    left = [work / f".out.tsv.{pid}.k9k9k9.partial", work / f".new.fa.{pid}.k9k9k9.partial.fa"]
    for path in left:
        path.write_bytes(b"")
    assert main(["predict", "M", "x.fa", "-o", "out.tsv"]) == 0
    assert main(["fetch", "x.fa", "-o", "new.fa"]) == 0
    assert not any(path.exists() for path in left)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []


def test_two_concurrent_fetches_never_mix(work: Path, human_genome: Path) -> None:
    """Two `fetch` runs of different genomes to one -o at once: g.fa is one of them, whole,
    with its own index; a run that did not write it says so (exit 1), none claims it falsely."""
    sequence = open_genome(human_genome)["z"][:].seq
    for name in ("A", "B"):
        (work / f"{name}.fa").write_text(f">{name}\n{sequence}\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "genomix.cli", "fetch", f"{name}.fa", "-o", "g.fa"],
            cwd=work,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("A", "B")
    }
    results = {name: (run.wait(timeout=300), run.stderr.read()) for name, run in runs.items()}
    fasta = open_genome(work / "g.fa")
    written = list(fasta.keys())
    assert len(written) == 1 and fasta[written[0]][:].seq == sequence
    assert results[written[0]][0] == 0
    for code, err in results.values():
        assert code == 0 or err.splitlines()[-1].endswith(
            "another genomix run is writing it now; wait for it to finish"
        )
    assert sorted(p.name for p in work.glob("*g.fa*")) == ["g.fa", "g.fa.fai"]
    assert not list(work.glob(".g.fa*"))  # no temporaries, no lock file
