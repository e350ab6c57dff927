"""The Snakemake workflow: lint, dry runs, config validation, and one tiny end-to-end run."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from genomix.cli import main

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake")


def _snakemake(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--cores", "2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_lint_is_clean() -> None:
    result = _snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_dry_run_plans_every_stage(tmp_path: Path) -> None:
    result = _snakemake("-n", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for rule in (
        "fetch",
        "tokenize",
        "pretrain",
        "multilabel_labels",
        "finetune",
        "evaluate",
        "explain",
        "report",
    ):
        assert rule in result.stdout
    for head in ("promoter", "chromatin"):
        for stage in ("finetune", "evaluate", "explain"):
            assert f"logs/demo/{stage}_{head}.log" in result.stdout


def test_a_head_is_added_from_config_alone(tmp_path: Path) -> None:
    """tests/smoke.yaml's third head (a binary head on the promoter table) gets every stage, its
    own outputs and a place in the report, with no rule of its own."""
    result = _dry_run_commands(tmp_path, ROOT / "tests" / "smoke.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    for rule in ("finetune", "finetune_scratch", "evaluate", "explain"):
        assert stats[rule] == "3", rule
    assert "--task binary --table" in out and "--out results/smoke/promoter_shared " in out
    assert "--pretrained results/smoke/pretrain --out results/smoke/promoter_shared" in out
    assert "-o results/smoke/explain/promoter_shared.parquet" in out
    assert (
        "--heads promoter=binary chromatin=multilabel promoter_shared=binary" in out
        and "promoter_shared=results/smoke/promoter_shared_metrics.tsv" in out
    )


def test_token_shards_are_keyed_by_their_tokenizer(tmp_path: Path) -> None:
    # Two runs with another k: each pretrains on its own shard, so neither replaces the other's.
    shards = {}
    for k in (6, 4):
        config = tmp_path / f"k{k}.yaml"
        config.write_text(yaml.safe_dump({"run": f"k{k}", "tokenize": {"k": k, "stride": 1}}))
        result = _dry_run_commands(tmp_path, ROOT / "tests" / "smoke.yaml", config)
        assert result.returncode == 0, result.stderr
        shards[k] = set(re.findall(r"results/tokens/\S+\.npy", result.stdout))
        assert f"--k {k} --stride 1" in result.stdout
    assert shards[6] == {
        "results/tokens/dm3_segments.k6s1.npy",
        "results/tokens/human_chr20.k6s1.npy",
    }
    assert shards[4] == {
        "results/tokens/dm3_segments.k4s1.npy",
        "results/tokens/human_chr20.k4s1.npy",
    }


def test_head_rows_pretrain_an_encoder_on_its_heads_training_rows(tmp_path: Path) -> None:
    # config.yaml: the promoter encoder has pretrain.head_rows, the shared (chromatin) one not.
    result = _dry_run_commands(tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("Shell command:")]
    rows = next(line for line in commands if "genomix tokenize-rows" in line)
    assert "--task binary --table " in rows and "epdnew_promoters_demo.tsv.gz" in rows
    assert "-o results/demo/rows/promoter.k6s1.npy --max-train-rows 0 --seed 0 --k 6" in rows
    pretrain = {
        line.split(" -o ")[1].split()[0]: line for line in commands if "genomix pretrain" in line
    }
    assert (
        "pretrain results/tokens/human_chr20.k6s1.npy results/demo/rows/promoter.k6s1.npy -o"
        in pretrain["results/demo/pretrain_promoter"]
    )
    assert "rows/" not in pretrain["results/demo/pretrain"]
    # A shared encoder with head_rows takes the rows of every head on it, under each's own cap.
    shared = tmp_path / "shared.yaml"
    shared.write_text(yaml.safe_dump({"pretrain": {"head_rows": True}}))
    result = _dry_run_commands(tmp_path, ROOT / "tests" / "smoke.yaml", shared)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "-o results/smoke/pretrain " in line)
    assert "rows/chromatin.k6s1.npy rows/promoter_shared.k6s1.npy" in line.replace(
        "results/smoke/", ""
    )
    chromatin_rows = next(
        line for line in result.stdout.splitlines() if "-o results/smoke/rows/chromatin." in line
    )  # under the chromatin head's own cap, from its genome
    assert (
        "--max-train-rows 40 " in chromatin_rows
        and "--genome results/genomes/dm3" in chromatin_rows
    )


def test_the_workflow_validates_against_the_package_schema() -> None:
    # One schema, shipped in the package (importlib.resources), no copy or link in workflows/.
    assert not (ROOT / "workflows" / "schemas").exists()
    assert 'files("genomix") / "config.schema.yaml"' in (ROOT / "Snakefile").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokenize": {"k": "six"}}, "'six' is not of type 'integer'"),
        ({"pretrain": {"stepz": 10}}, "'stepz' was unexpected"),
        ({"model": {"attention": "linformer"}}, "'linformer'} is not valid under any of"),
        ({"sweep": {"attention": ["dense", "linformer"]}}, "'linformer' is not one of"),
        ({"sweep": {"flanks": [100]}}, "'attention' is a required property"),
    ],
)
def test_bad_config_fails_naming_the_key(tmp_path: Path, change: dict, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(change))
    result = _snakemake("-n", "--configfile", str(config), "--directory", str(tmp_path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("model", "flags"),
    [
        # Configs written before model.attention was nested: flat keys, read by nest_attention.
        (
            {"attention": "fixed", "sparse_stride": 16, "sparse_summary": 4, "span_max": 8},
            "--attention fixed --sparse-stride 16 --sparse-summary 4 --",
        ),
        # Naming another family replaces config.yaml's BigBird options instead of merging.
        ({"attention": {"name": "strided", "sparse_stride": 32}}, "--attention strided --sparse-"),
    ],
)
def test_attention_options_reach_the_pretrain_command(
    tmp_path: Path, model: dict, flags: str
) -> None:
    config = tmp_path / "attention.yaml"
    config.write_text(yaml.safe_dump({"model": model}))
    result = _snakemake("-n", "-p", "--configfile", str(config), "--directory", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pretrain = next(line for line in result.stdout.splitlines() if "genomix pretrain" in line)
    assert flags in pretrain and "--block-size" not in pretrain


@pytest.mark.slow
def test_smoke_run_end_to_end_then_nothing_to_do(tmp_path: Path) -> None:
    smoke = str(ROOT / "tests" / "smoke.yaml")
    result = _snakemake("--configfile", smoke, "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    chromatin = pd.read_csv(tmp_path / "results/smoke/chromatin_metrics.tsv", sep="\t")
    assert chromatin["profile"].tolist()[:8] == [
        "BEAF_Kc",
        "BEAF_Mbn2",
        "CTCF_Kc",
        "CTCF_Mbn2",
        "Cp190_Kc",
        "Cp190_Mbn2",
        "SuHw_Kc",
        "SuHw_Mbn2",
    ]
    assert chromatin["profile"].tolist()[8:] == ["mean", "median"]
    promoter = pd.read_csv(tmp_path / "results/smoke/promoter_metrics.tsv", sep="\t")
    assert {"auroc", "auprc", "f1", "mcc", "accuracy"} <= set(promoter.columns)
    report = (tmp_path / "results/smoke/report.md").read_text()
    assert "chromatin profiles" in report and "report_chromatin_auroc.png" in report
    shared = pd.read_csv(tmp_path / "results/smoke/promoter_shared_metrics.tsv", sep="\t")
    assert shared["profile"].tolist() == ["promoter", "mean", "median"]
    assert "## promoter_shared (test split)" in report
    assert (tmp_path / "results/smoke/report_chromatin_auroc.png").stat().st_size > 1000
    assert "## Which bases drive the calls" in report
    assert "](explain/chromatin.logos/CTCF_Kc.png)" in report
    logo = tmp_path / "results/smoke/explain/promoter.logos/promoter.png"
    assert logo.read_bytes()[:4] == b"\x89PNG"
    explained = pd.read_parquet(tmp_path / "results/smoke/explain/chromatin.parquet")
    assert explained["output"].nunique() == 8 and (explained["ref"] != explained["alt"]).all()
    again = _snakemake("--configfile", smoke, "--directory", str(tmp_path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    html = tmp_path / "report.html"
    rendered = _snakemake(
        "--configfile", smoke, "--directory", str(tmp_path), "--report", str(html)
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert html.stat().st_size > 10_000


def _dry_run_commands(tmp_path: Path, *configfiles: Path) -> subprocess.CompletedProcess[str]:
    args = ["--configfile", *map(str, configfiles)] if configfiles else []
    return _snakemake("-n", "-p", *args, "--directory", str(tmp_path))


def test_predict_genome_scatters_the_scan_and_gathers_it(tmp_path: Path) -> None:
    """`snakemake predict_genome`: one `genomix scan` job per part, then one gather, in order."""
    scan = tmp_path / "scan.yaml"
    scan.write_text("scan:\n  parts: 3\n  tile: 500\n")
    result = _snakemake(
        "-n", "-p", "predict_genome", "--configfile", str(scan), "--directory", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    assert stats["scan_part"] == "3" and stats["predict_genome"] == "1"
    for part in (1, 2, 3):
        assert re.search(
            rf"genomix scan results/demo/chromatin results/genomes/dm3_segments\.fa "
            rf"--part {part}/3 -o results/demo/scan/chromatin_dm3_segments\.parts/{part}\.parquet "
            r"--tile 500",
            out,
        ), part
    parts = " ".join(
        f"results/demo/scan/chromatin_dm3_segments.parts/{i}.parquet" for i in (1, 2, 3)
    )
    assert f"genomix gather {parts} -o results/demo/scan/chromatin_dm3_segments.parquet" in out
    hg38 = _snakemake(
        "-n", "predict_genome", "--configfile", str(ROOT / "config" / "hg38.yaml"),
        "--directory", str(tmp_path),
    )  # fmt: skip
    assert hg38.returncode == 0, hg38.stdout[-3000:] + hg38.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", hg38.stdout.split("Job stats:")[1], flags=re.M))
    assert stats["scan_part"] == "32"  # config/hg38.yaml: scan.parts


def test_hg38_dry_run_plans_the_full_run(tmp_path: Path) -> None:
    """config/hg38.yaml plans every stage on real sources, none of the demo's inputs leaking in."""
    result = _dry_run_commands(tmp_path, ROOT / "config" / "hg38.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    config = yaml.safe_load((ROOT / "config" / "hg38.yaml").read_text())
    peaks = config["heads"]["chromatin"]["peaks"]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    assert stats["fetch"] == "1" and stats["fetch_file"] == str(len(peaks) + 1)  # + EPDnew BED
    for rule in ("binary_labels", "multilabel_labels", "tokenize", "pretrain", "report"):
        assert stats[rule] == "1", rule
    assert "hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/md5sum.txt" in out
    assert "--preset base" in out and "dm3" not in out and "human_chr20" not in out
    assert "--valid-chroms chr7 --test-chroms chr8 chr9" in out
    assert "--bed-upstream 49" in out and "--task binary --table results/hg38/labels" in out
    for name, url in peaks.items():
        assert f"{name}=results/downloads/{url.rsplit('/', 1)[1]}" in out
        assert name.split("_", 1)[0] in {"TF", "DNase", "ATAC", "HM"}


def test_sweep_dry_run_plans_every_variant(tmp_path: Path) -> None:
    """config/sweep-attention.yaml: five kinds with both heads at flank 400, BigBird at two
    more flanks with the chromatin head only, every variant's stages under its own run, and one
    table; nothing of the plain demo run. The promoter head keeps its own encoder (config.yaml's
    `promoter.pretrain`, head_rows included): a second pretraining for the variants with both
    heads, on chr20 and the variant's own promoter training rows."""
    result = _dry_run_commands(tmp_path, ROOT / "config" / "sweep-attention.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    kinds = ["dense", "bigbird", "strided", "fixed", "adaptive_span"]
    both_heads = [f"{kind}_flank400" for kind in kinds]
    chromatin_only = ["bigbird_flank100", "bigbird_flank800"]
    expected = {"fetch": 2, "tokenize": 2, "sweep_table": 1, "sweep": 1}
    for variant in both_heads + chromatin_only:
        for rule in ("multilabel_labels", "pretrain", "finetune", "evaluate"):
            expected[f"sweep_{variant}_{rule}"] = 1
    for variant in both_heads:
        for rule in ("pretrain", "finetune", "evaluate"):
            expected[f"sweep_{variant}_{rule}"] = 2
        expected[f"sweep_{variant}_tokenize_rows"] = 1  # the promoter encoder's head_rows
    assert {rule: int(count) for rule, count in stats.items() if rule != "total"} == expected
    # what each variant varies, and the equal budget of all of them
    run = "results/sweep-attention"
    assert f"-o {run}/dense_flank400/pretrain --attention dense" in out
    assert f"-o {run}/bigbird_flank800/pretrain --attention bigbird" in out
    for variant, tokens, flank in (("flank100", 396, 100), ("flank400", 996, 400)):
        assert f"{run}/bigbird_{variant}/pretrain --attention bigbird" in out
        assert re.search(rf"bigbird_{variant}/pretrain .*--max-tokens {tokens} ", out)
        assert re.search(rf"bigbird_{variant}/labels/\S+ .*--flank {flank} .*--margin 800", out)
    assert out.count("--steps 100 ") == 12
    folders = " ".join(f"{run}/{variant}" for variant in both_heads + chromatin_only)
    assert f"genomix sweep-table {folders} --benchmarks benchmarks/sweep-attention/" in out
    lint = _snakemake("--lint", "--configfile", str(ROOT / "config" / "sweep-attention.yaml"))
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr


@pytest.mark.slow
def test_smoke_sweep_end_to_end(tmp_path: Path) -> None:
    """A tiny sweep (smoke.yaml's model and budget): dense and BigBird at flank 400, BigBird
    at flank 100; one table whose longer context is compared with the shorter on the same bins."""
    configs = [str(ROOT / "tests" / name) for name in ("smoke.yaml", "smoke-sweep.yaml")]
    result = _snakemake("--configfile", *configs, "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "results" / "smoke-sweep"
    table = pd.read_csv(run / "sweep.tsv", sep="\t").set_index("variant")
    assert table.index.tolist() == ["dense_flank400", "bigbird_flank400", "bigbird_flank100"]
    assert table["max_tokens"].tolist() == [996, 996, 396]
    assert table["context_bp"].tolist() == [1000, 1000, 400]
    assert table["promoter_auroc"].notna().tolist() == [True, True, False]
    assert (table["mlm_unigram_loss"] > 0).all() and (table["pretrain_max_rss_mb"] > 0).all()
    gain = table.loc["bigbird_flank400"]
    assert gain["context_reference"] == "bigbird_flank100"
    assert gain["context_rows"] == 48  # smoke.yaml's 48 test rows, the same bins at both flanks
    assert "bigbird, 1000 bp against 400 bp" in (run / "sweep.md").read_text()
    assert (run / "sweep.png").stat().st_size > 10_000
    again = _snakemake("--configfile", *configs, "--directory", str(tmp_path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_hg38_panel_lists_encode_narrowpeak_files_by_accession() -> None:
    config = yaml.safe_load((ROOT / "config" / "hg38.yaml").read_text())
    groups = [name.split("_", 1)[0] for name in config["heads"]["chromatin"]["peaks"]]
    assert len(groups) >= 20 and {"TF", "DNase", "HM"} <= set(groups)
    assert min(groups.count(group) for group in ("TF", "DNase", "HM")) >= 4  # several per group
    for name, url in config["heads"]["chromatin"]["peaks"].items():
        accession = name.rsplit("_", 1)[1]
        assert re.fullmatch(r"ENCFF\d{3}[A-Z]{3}", accession), name
        files = "https://www.encodeproject.org/files"
        suffixes = ("bed.gz", "bigBed")
        assert url in {f"{files}/{accession}/@@download/{accession}.{s}" for s in suffixes}


def test_more_than_one_gpu_pretrains_with_torchrun(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.yaml"
    gpus.write_text("pretrain:\n  gpus: 4\n")
    result = _dry_run_commands(tmp_path, ROOT / "config" / "hg38.yaml", gpus)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule pretrain_ddp:" in result.stdout and "rule pretrain:" not in result.stdout
    assert "torchrun --standalone --nproc_per_node 4 -m genomix.cli pretrain" in result.stdout
    assert "--gpus" not in result.stdout  # a workflow key, not a flag of genomix pretrain
    single = _dry_run_commands(tmp_path, ROOT / "config" / "hg38.yaml")
    assert "rule pretrain:" in single.stdout and "torchrun" not in single.stdout


def _rules() -> set[str]:
    text = "".join(path.read_text() for path in (ROOT / "workflows").glob("*.smk"))
    return set(re.findall(r"^\s*rule (\w+):", text, flags=re.M))


def test_cluster_profiles_parse_and_name_real_rules() -> None:
    rules = _rules()
    local = yaml.safe_load((ROOT / "profiles" / "local-gpu" / "config.yaml").read_text())
    assert local["resources"]["gpu"] >= 1 and local["keep-going"] is True
    assert set(local["set-resources"]) | set(local["set-threads"]) <= rules
    slurm = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["keep-going"] is True
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(slurm["default-resources"])
    assert set(slurm["set-resources"]) <= rules
    for rule, resources in slurm["set-resources"].items():
        assert set(resources) <= {"slurm_partition", "runtime", "mem_mb", "cpus_per_task", "gpu"}
        assert all(isinstance(value, (int, str)) for value in resources.values()), rule
    # every rule that declares a GPU runs on the GPU partition
    gpu_rules = {"pretrain", "pretrain_ddp", "finetune", "evaluate"}
    assert all(slurm["set-resources"][rule]["slurm_partition"] == "gpu" for rule in gpu_rules)


def test_local_gpu_profile_plans_the_hg38_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "-n"]
        + ["--workflow-profile", str(ROOT / "profiles" / "local-gpu")]
        + ["--configfile", str(ROOT / "config" / "hg38.yaml"), "--directory", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "threads: 8" in result.stdout


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_url_fails_its_job_only(tmp_path: Path) -> None:
    """--keep-going: the reachable genome and peak file are fetched, each in its own job; the
    two unreachable ones fail with their URL in the log."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "data" / "demo" / "dm3_peaks")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    closed = _closed_port()
    bad_genome, bad_peaks = f"http://127.0.0.1:{closed}/x.fa", f"http://127.0.0.1:{closed}/y.bed"
    config = {
        "genomes": {
            "good": {"url": "file:data/demo/human_grch37_chr20_1mb.fa.gz"},
            "gone": {"url": bad_genome},
        },
        "heads": {
            "chromatin": {
                "peaks": {
                    "ok": f"http://127.0.0.1:{server.server_port}/CTCF_Kc.bed.gz",
                    "missing": bad_peaks,
                }
            }
        },
    }
    (tmp_path / "net.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/genomes/good.fa", "results/genomes/gone.fa"]
    targets += ["results/downloads/CTCF_Kc.bed.gz", "results/downloads/y.bed"]
    try:
        result = _snakemake(
            "--configfile", str(tmp_path / "net.yaml"), "--directory", str(tmp_path),
            "--keep-going", *targets,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert result.returncode != 0
    assert (tmp_path / "results/genomes/good.fa.fai").is_file()
    fetched = (tmp_path / "results/downloads/CTCF_Kc.bed.gz").read_bytes()
    assert fetched == (ROOT / "data/demo/dm3_peaks/CTCF_Kc.bed.gz").read_bytes()
    assert not (tmp_path / "results/genomes/gone.fa").exists()
    assert not (tmp_path / "results/downloads/y.bed").exists()
    genome_log = (tmp_path / "logs/fetch/gone.log").read_text()
    assert f"genomix: error: {bad_genome}: unreachable" in genome_log
    peak_log = (tmp_path / "logs/fetch/downloads/y.bed.log").read_text()
    assert f"genomix: error: {bad_peaks}: unreachable" in peak_log
    assert "Error in rule fetch:" in result.stderr and "Error in rule fetch_file:" in result.stderr


def test_fetch_as_is_verifies_and_copies_bytes(tmp_path: Path) -> None:
    source = ROOT / "data" / "demo" / "dm3_peaks" / "CTCF_Kc.bed.gz"
    out = tmp_path / "peaks" / "ctcf.bed.gz"
    wrong = "0" * 32
    assert main(["fetch", "--as-is", str(source), "-o", str(out), "--md5", wrong]) == 1
    assert not out.exists() and not out.with_name("ctcf.bed.gz.part").exists()
    right = hashlib.md5(source.read_bytes()).hexdigest()
    assert main(["fetch", "--as-is", str(source), "-o", str(out), "--md5", right]) == 0
    assert out.read_bytes() == source.read_bytes()
    assert main(["fetch", "--as-is", str(source), "-o", str(out), "--chroms", "chr1"]) == 1


def test_fetch_as_is_names_the_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = ROOT / "data" / "demo" / "dm3_peaks" / "CTCF_Kc.bed.gz"
    main(["fetch", "--as-is", str(source), "-o", str(tmp_path / "x.bed.gz"), "--md5", "0" * 32])
    assert f"genomix: error: {source}: md5 mismatch: expected {'0' * 32}" in capsys.readouterr().err
