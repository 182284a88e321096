"""The batch platform (`pipelines.batch`) on a local Dask cluster: the demo database, the tiny preset with random
parameters. A 12-record batch (2 bad records, 2 identical sequences) end to end and resumed; a worker killed
mid-batch; the client killed mid-batch and the command rerun."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream

import pipelines
from pipelines import batch as batch_lib
from pipelines import manifest, tasks
from protein.errors import InputError

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "data" / "demo_databases.toml"
QUERIES = {record.split("\n", 1)[0].split()[0]: "".join(record.split("\n")[1:])
           for record in (REPO / "data" / "demo_queries.fasta").read_text().split(">")[1:]}
# Fragments of the demo queries, all in one length bucket (<= 64), so each worker compiles the tiny model a few
# times (per MSA depth bucket) instead of once per target.
GOOD = {
    "ubiquitin": QUERIES["ubiquitin"][:46],
    "hemoglobin_beta": QUERIES["hemoglobin_beta"][:48],
    "lysozyme": QUERIES["lysozyme"][:45],
    "bpti": QUERIES["bpti"][:48],
    "crambin": QUERIES["crambin"],
    "villin_headpiece": QUERIES["villin_headpiece"],
    "random_no_homologs": QUERIES["random_no_homologs"][:44],
    "ubiquitin_middle": QUERIES["ubiquitin"][20:66],
    "lysozyme_middle": QUERIES["lysozyme"][50:98],
    "ubiquitin_copy": QUERIES["ubiquitin"][:46],  # the same sequence as 'ubiquitin': searched and predicted once
}
SETTINGS = dict(models=["tiny"], random_params_seed=0, num_recycle=0)


def batch_fasta(path: Path) -> Path:
    records = [f">{name} demo fragment\n{sequence}\n" for name, sequence in GOOD.items()]
    records.insert(3, ">bad_digits a sequence with digits\nMKTAYIAK12QRQISFVK\n")
    records.insert(8, ">empty_record no sequence at all\n")
    path.write_text("".join(records))
    return path


def leftovers(folder: Path) -> list[Path]:
    """Temporary, staged or half-written files anywhere under `folder`."""
    return [path for path in folder.rglob("*")
            if path.name.endswith((".tmp", ".partial")) or path.name.startswith((".staging", ".work", ".old."))]


def worker_stats(client: Client) -> dict[str, int]:
    stats = client.run(tasks.model_stats)
    return {key: sum(each[key] for each in stats.values()) for key in ("runs", "compiled")}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def demo_batch(client, tmp_path_factory):
    """The 12-record batch, run once for the tests below."""
    folder = tmp_path_factory.mktemp("batch")
    fasta = batch_fasta(folder / "input.fasta")
    out = folder / "results"
    batch = pipelines.submit(fasta, out, client=client, db_config=DEMO_CONFIG, db_preset="demo",
                             cache_dir=folder / "cache", **SETTINGS)
    assert batch.wait(600), "the batch did not finish in 10 minutes"
    return batch, out


def test_batch_writes_ten_targets_and_records_two_errors(demo_batch):
    batch, out = demo_batch
    targets = batch.result()
    assert [t.id for t in targets][:4] == ["ubiquitin", "hemoglobin_beta", "lysozyme", "bad_digits"]
    by_id = {target.id: target for target in targets}
    assert {t.id for t in targets if t.status == "done"} == set(GOOD)
    errors = {t.id: t.error for t in targets if t.status == "error"}
    assert len(errors) == 2
    assert "'bad_digits'" in errors["bad_digits"] and "not an amino-acid letter" in errors["bad_digits"]
    assert "'empty_record'" in errors["empty_record"] and "no sequence" in errors["empty_record"]
    content, recorded = manifest.read(out)
    assert content["counts"] == {"done": 10, "error": 2} and content["finished"] is True
    assert [t.id for t in recorded] == [t.id for t in targets]
    rows = list(csv.DictReader((out / manifest.SUMMARY_FILE).open()))
    assert len(rows) == 12 and {row["status"] for row in rows} == {"done", "error"}
    for name in GOOD:
        folder = out / name
        result = json.loads((folder / "result.json").read_text())
        assert result["target_id"] == name and result["sequence"] == GOOD[name]
        assert (folder / "ranked_0.pdb").read_text().count(" CA ") == len(GOOD[name])
        assert {path.name for path in (folder / "msas").iterdir()} == {"uniref90_hits.sto", "mgnify_hits.sto"}
        assert by_id[name].best_model == "tiny" and 0 < by_id[name].mean_plddt < 100
    assert not leftovers(out)


def test_identical_sequences_are_searched_and_predicted_once(demo_batch, client):
    batch, out = demo_batch
    unique = len(set(GOOD.values()))
    assert unique == 9
    assert batch.submitted["search"] == 2 * unique  # uniref90 and mgnify per distinct sequence
    assert batch.submitted["model"] == unique and batch.submitted["copy"] == 1
    copy = json.loads((out / "ubiquitin_copy" / "result.json").read_text())
    assert copy["target_id"] == "ubiquitin_copy" and copy["duplicate_of"] == "ubiquitin"
    assert (out / "ubiquitin_copy" / "ranked_0.pdb").read_text() == (out / "ubiquitin" / "ranked_0.pdb").read_text()
    assert worker_stats(client)["runs"] == unique


def test_batch_prediction_equals_the_predictor_on_the_same_alignments(demo_batch):
    """The batch's wiring (alignments, padding, seeds) gives what `protein.predict` gives one target."""
    import protein

    _, out = demo_batch
    folder = out / "lysozyme_middle"
    msas = [folder / "msas" / "uniref90_hits.sto", folder / "msas" / "mgnify_hits.sto"]  # AlphaFold2's order
    predictions = protein.predict(GOOD["lysozyme_middle"], msas=msas, **{
        "models": ["tiny"], "random_params_seed": 0, "num_recycle": 0})
    plddt = json.loads((folder / "confidence_tiny.json").read_text())["confidenceScore"]
    np.testing.assert_allclose(plddt, predictions[0].plddt, atol=0.02)
    result = json.loads((folder / "result.json").read_text())
    assert result["models"][0]["ptm"] == pytest.approx(predictions[0].ptm, abs=1e-4)


def test_rerun_resumes_without_recomputing(demo_batch, client):
    batch, out = demo_batch
    fasta = out.parent / "input.fasta"
    runs_before = worker_stats(client)["runs"]
    written = {name: (out / name / "result.json").stat().st_mtime_ns for name in GOOD}
    start = time.perf_counter()
    again = pipelines.submit(fasta, out, client=client, db_config=DEMO_CONFIG, db_preset="demo",
                             cache_dir=out.parent / "cache", **SETTINGS)
    targets = again.result(timeout=120)
    assert {t.id for t in targets if t.status == "resumed"} == set(GOOD)
    assert sum(again.submitted.values()) == 0 and worker_stats(client)["runs"] == runs_before
    assert {name: (out / name / "result.json").stat().st_mtime_ns for name in GOOD} == written
    assert time.perf_counter() - start < 30
    by_id = {t.id: t for t in targets}
    assert by_id["ubiquitin_copy"].duplicate_of == "ubiquitin" and by_id["ubiquitin"].best_model == "tiny"

    # other settings redo the targets; a removed folder is redone alone
    (out / "crambin" / "result.json").unlink()
    again = pipelines.submit(fasta, out, client=client, db_config=DEMO_CONFIG, db_preset="demo",
                             cache_dir=out.parent / "cache", **SETTINGS)
    targets = again.result(timeout=300)
    assert [t.id for t in targets if t.status == "done"] == ["crambin"]
    assert again.submitted["model"] == 1 and worker_stats(client)["runs"] == runs_before + 1


def test_msa_only_then_precomputed_msas(client, tmp_path):
    fasta = tmp_path / "two.fasta"
    fasta.write_text(f">ubiquitin\n{GOOD['ubiquitin']}\n>crambin\n{GOOD['crambin']}\n")
    out = tmp_path / "results"
    searched = pipelines.submit(fasta, out, client=client, db_config=DEMO_CONFIG, db_preset="demo", msa_only=True,
                                no_cache=True, **SETTINGS).result(timeout=300)
    assert [t.status for t in searched] == ["msas", "msas"]
    assert not (out / "ubiquitin" / "result.json").exists()
    record = json.loads((out / "ubiquitin" / "msas" / tasks.SEARCH_RECORD).read_text())
    assert record["searches"][0]["num_hits"] > 0

    batch = pipelines.submit(fasta, out, client=client, use_precomputed_msas=True, **SETTINGS)
    assert [t.status for t in batch.result(timeout=300)] == ["done", "done"]
    assert batch.submitted["search"] == 0 and batch.submitted["model"] == 2
    result = json.loads((out / "ubiquitin" / "result.json").read_text())
    assert not result["models"][0]["single_sequence"]
    assert (out / "ubiquitin" / "msas" / "uniref90_hits.sto").is_file()


def test_shards_spread_one_search_over_the_workers_with_the_same_alignments(client, tmp_path):
    """shards=4: each database search of a record runs as 4 shard tasks, on both workers, and writes the files
    that the search of the whole database writes."""
    fasta = tmp_path / "two.fasta"
    fasta.write_text(f">ubiquitin\n{GOOD['ubiquitin']}\n>lysozyme\n{GOOD['lysozyme']}\n")
    whole = pipelines.submit(fasta, tmp_path / "whole", client=client, db_config=DEMO_CONFIG, db_preset="demo",
                             msa_only=True, no_cache=True, **SETTINGS).result(timeout=300)
    with get_task_stream(client) as stream:
        sharded = pipelines.submit(fasta, tmp_path / "sharded", client=client, db_config=DEMO_CONFIG,
                                   db_preset="demo", msa_only=True, no_cache=True, shards=4,
                                   **SETTINGS).result(timeout=300)
    assert [t.status for t in whole] == [t.status for t in sharded] == ["msas", "msas"]
    shard_tasks = [task for task in stream.data if str(task["key"]).startswith("shard-")]
    searches = 2 * len(batch_lib._search_setup(batch_lib.BatchSettings(
        db_config=str(DEMO_CONFIG), db_preset="demo"))[0].searches)
    assert len(shard_tasks) >= 4 * searches  # every round of every search, 4 shards each
    assert {task["worker"] for task in shard_tasks} == set(client.scheduler_info()["workers"])
    for name in ("ubiquitin", "lysozyme"):
        files = sorted(path.name for path in (tmp_path / "whole" / name / "msas").iterdir())
        assert files == sorted(path.name for path in (tmp_path / "sharded" / name / "msas").iterdir())
        for file in files:
            if file != tasks.SEARCH_RECORD:
                assert (tmp_path / "whole" / name / "msas" / file).read_bytes() == \
                    (tmp_path / "sharded" / name / "msas" / file).read_bytes(), (name, file)


def test_bad_settings_and_output_folder_fail_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(InputError, match="not writable"):
        pipelines.submit(["MKTAYIAK"], blocker / "results", **SETTINGS)
    with pytest.raises(InputError, match="unknown model"):
        pipelines.submit(["MKTAYIAK"], tmp_path / "out", models=["model_9"])
    with pytest.raises(InputError, match="exclude each other"):
        pipelines.submit(["MKTAYIAK"], tmp_path / "out", msa_only=True, use_precomputed_msas=True,
                         db_config=DEMO_CONFIG)
    with pytest.raises(InputError, match="shapes must be one of buckets, exact, alphafold2"):
        pipelines.submit(["MKTAYIAK"], tmp_path / "out", shapes="padded", **SETTINGS)
    with pytest.raises(InputError, match="no such FASTA"):
        pipelines.submit(tmp_path / "missing.fasta", tmp_path / "out", **SETTINGS)


def test_a_second_batch_into_the_same_folder_is_refused_while_the_first_runs(client, tmp_path):
    """Two batches writing into one folder would remove each other's staged targets: the second is refused, naming
    the folder and the process that holds it, until the first has ended."""
    import threading

    release = threading.Event()

    def held_input():  # the first batch is still reading its input until `release`
        release.wait(60)
        yield from ()

    out = tmp_path / "results"
    first = pipelines.submit(held_input(), out, client=client, **SETTINGS)
    try:
        with pytest.raises(InputError, match=rf"another batch is writing into this folder \(pid {os.getpid()} "):
            pipelines.submit(["MKTAYIAK"], out, client=client, **SETTINGS)
    finally:
        release.set()
    assert first.result(timeout=60) == []
    second = pipelines.submit((), out, client=client, **SETTINGS)  # the lock went with the first batch
    assert second.result(timeout=60) == []


def test_killed_worker_mid_batch_every_target_correct(tmp_path):
    """A worker process killed while it runs a model: Dask reruns its tasks elsewhere, every target is written
    once and whole. The input streams through a bounded window, and an over-long record is skipped."""
    sequences = {f"target_{i}": QUERIES["ubiquitin"][i:i + 40] for i in range(8)}
    sequences["too_long"] = QUERIES["hemoglobin_beta"]
    pulled = []
    state = {}

    def records():
        for item in sequences.items():
            if "batch" in state:  # never more than max_in_flight jobs ahead of the finished ones
                progress = state["batch"].progress
                assert len(pulled) - (progress["total"] - progress["pending"]) <= 3
            pulled.append(item[0])
            yield item

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as client:
        out = tmp_path / "results"
        batch = pipelines.submit(records(), out, client=client, max_in_flight=3, max_length=60, **SETTINGS)
        state["batch"] = batch
        deadline = time.monotonic() + 300
        while batch.progress["done"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        busy = [address for address, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        os.kill(pids[busy[0] if busy else next(iter(pids))], signal.SIGKILL)
        targets = batch.result(timeout=600)
    assert {t.id: t.status for t in targets} == {**{name: "done" for name in sequences if name != "too_long"},
                                                 "too_long": "skipped"}
    for name, sequence in sequences.items():
        if name == "too_long":
            assert not (out / name).exists()
            continue
        result = json.loads((out / name / "result.json").read_text())
        assert result["sequence"] == sequence
        assert (out / name / "ranked_0.pdb").read_text().count(" CA ") == len(sequence)
    assert not leftovers(out)
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [name for name in sequences if name != "too_long"] + [manifest.MANIFEST_FILE, manifest.SUMMARY_FILE,
                                                            batch_lib.LOCK_FILE])


def test_killed_client_rerun_finishes_the_rest(tmp_path):
    """`protein batch` killed (client and its local cluster) after some targets: the same command again
    resumes them (untouched) and does the rest."""
    fasta = tmp_path / "input.fasta"
    fasta.write_text("".join(f">part_{i}\n{QUERIES['lysozyme'][3 * i:3 * i + 44]}\n" for i in range(10)))
    out = tmp_path / "results"
    command = [sys.executable, "-m", "pipelines.cli", "-q", "batch", str(fasta), "-o", str(out), "--models", "tiny",
               "--random-params", "0", "--num-recycle", "0", "--workers", "1", "--no-plots",
               "--compile-cache", str(tmp_path / "xla")]  # the rerun's fresh workers load what the first compiled
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            finished = [path for path in out.glob("*/result.json")]
            if len(finished) >= 2:
                break
            time.sleep(0.2)
        assert process.poll() is None, process.communicate()[0]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first = {path.parent.name: path.stat().st_mtime_ns for path in out.glob("*/result.json")}
    assert 2 <= len(first) < 10

    rerun = _run_or_dump_stacks(command, timeout=240)  # it takes about 10 s
    assert rerun.returncode == 0, rerun.stdout
    content, targets = manifest.read(out)
    statuses = {t.id: t.status for t in targets}
    assert {name for name, status in statuses.items() if status == "resumed"} >= set(first)
    assert set(statuses.values()) <= {"done", "resumed"} and len(statuses) == 10
    assert {name: (out / name / "result.json").stat().st_mtime_ns for name in first} == first
    assert not leftovers(out)
    assert any((tmp_path / "xla").iterdir())
    status = subprocess.run([sys.executable, "-m", "pipelines.cli", "status", str(out)], capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0 and "10 records" in status.stdout and "finished" in status.stdout


def _run_or_dump_stacks(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Runs `command` (its own process group); past `timeout`, asks every process of the group (the client and
    its workers, `pipelines.tasks.dump_stacks_on_signal`) for its threads' stacks, then fails with them."""
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGUSR1)
        time.sleep(5)
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} still ran after {timeout} s; its threads' stacks:\n{output[-20000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")
