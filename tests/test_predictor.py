"""`protein.predict` and the Predictor: ranked predictions from a sequence, MSAs and templates; padding to a length
bucket leaves the result unchanged; missing parameters say how to get them; the full-size path once in CI."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import protein
from protein import predictor as predict_lib
from protein.errors import InputError, ParamsError
from protein.features.processing import process_features
from protein.model import params as params_lib
from protein.model.runner import Runner
from protein.model.random_params import random_params
from protein.prediction import Prediction, rank, ranking_debug
from protein.predictor import Predictor
from tests.io.data import shared_file

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"


def test_predict_one_sequence_single_sequence_mode():
    predictions = protein.predict(SEQUENCE, models=["tiny"], random_params_seed=1, num_recycle=1)
    assert len(predictions) == 1
    best = predictions[0]
    assert best.rank == 0 and best.model_name == "tiny" and best.random_params and best.single_sequence
    num_res = len(SEQUENCE)
    assert best.atom_positions.shape == (num_res, 37, 3) and best.plddt.shape == (num_res,)
    assert best.pae.shape == (num_res, num_res) and 0.0 <= best.ptm <= 1.0
    assert np.all(np.isfinite(best.atom_positions)) and 0 < best.mean_plddt < 100
    assert "RANDOM WEIGHTS" in best.to_pdb() and "RANDOM WEIGHTS" in best.to_mmcif()


def test_predict_takes_one_record():
    with pytest.raises(InputError, match="predict takes one protein; the input holds 2 records"):
        protein.predict(">a\nMKV\n>b\nMKL\n", models=["tiny"], random_params_seed=0)
    with pytest.raises(InputError, match="characters other than letters"):
        protein.predict("MKV-1", models=["tiny"], random_params_seed=0)


def test_padding_to_a_length_bucket_leaves_the_result_unchanged():
    """Padded residues are masked everywhere: the real residues' outputs equal the unpadded run's."""
    from protein.features.msa import make_msa_features
    from protein.features.sequence import make_sequence_features
    from protein.features.templates import empty_template_features
    from protein.io import Msa

    rng = np.random.default_rng(0)
    rows = [SEQUENCE] + ["".join(c if rng.random() < 0.7 else "A" for c in SEQUENCE) for _ in range(20)]
    raw = {
        **make_sequence_features(SEQUENCE, "q", len(SEQUENCE)),
        **make_msa_features([Msa(rows, [[0] * len(SEQUENCE)] * len(rows), ["q"] * len(rows))]),
        **empty_template_features(len(SEQUENCE)),
    }
    runner = Runner("tiny", random_params("tiny", seed=3))
    num_res = len(SEQUENCE)
    exact = runner.run(process_features(raw, runner.preset, seed=5, num_recycle=1), num_recycle=1)
    padded_length = predict_lib.length_bucket(num_res)
    assert padded_length > num_res
    padded = runner.run(process_features(raw, runner.preset, seed=5, num_recycle=1, num_res_padded=padded_length),
                        num_recycle=1)
    assert padded.final_atom_positions.shape[0] == padded_length
    assert np.max(np.abs(padded.final_atom_positions[:num_res] - exact.final_atom_positions)) < 1e-3
    assert np.max(np.abs(padded.plddt[:num_res] - exact.plddt)) < 1e-3
    assert abs(padded.ptm - exact.ptm) < 1e-4


def test_length_buckets():
    assert predict_lib.length_bucket(1) == 64
    assert predict_lib.length_bucket(65) == 128
    assert predict_lib.length_bucket(53) == 64
    assert predict_lib.length_bucket(1536) == 1536
    assert predict_lib.length_bucket(1537) == 1792
    assert predict_lib.length_bucket(2049) == 2304


def _prediction(name, plddt, ptm):
    return Prediction("t", name, "MK", np.zeros((2, 37, 3)), np.ones((2, 37)), np.full(2, plddt), ptm=ptm)


def test_ranking_by_mean_plddt_as_alphafold2_ranks_monomers():
    """AlphaFold2's monomer config ranks by pLDDT (`rank_by: plddt`), the _ptm models too: here the model with
    the highest pTM is last."""
    ranked = rank([_prediction("a", 90, 0.5), _prediction("b", 70, 0.8), _prediction("c", 80, 0.6)])
    assert [p.model_name for p in ranked] == ["a", "c", "b"] and [p.rank for p in ranked] == [0, 1, 2]
    debug = ranking_debug(ranked)
    assert debug["order"] == ["a", "c", "b"] and debug["ranked_by"] == "plddt"
    assert debug["plddts"] == {"a": 90, "b": 70, "c": 80} and debug["ptm"] == {"a": 0.5, "b": 0.8, "c": 0.6}
    ranked = rank([_prediction("a", 90, 0.5), _prediction("b", 70, None), _prediction("c", 80, 0.6)])
    assert [p.model_name for p in ranked] == ["a", "c", "b"] and ranking_debug(ranked)["ptm"] == {"a": 0.5, "c": 0.6}


def test_missing_parameters_without_network_say_how_to_supply_them(tmp_path, monkeypatch):
    monkeypatch.setenv(params_lib.PARAMS_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(params_lib.PARAMS_URL_ENV, "http://127.0.0.1:9/alphafold_params.tar")  # nothing listens
    monkeypatch.setattr(params_lib, "_RETRY_DELAYS", (0.0,))
    with pytest.raises(ParamsError) as info:
        protein.predict(SEQUENCE, models=["model_1_ptm"])
    message = str(info.value)
    assert "params_model_1_ptm.npz is not in" in message and "downloading it failed" in message
    assert "--params-dir" in message and "--random-params" in message
    # With a folder given, nothing is downloaded: the error names the file and the download command.
    with pytest.raises(ParamsError, match="protein params download"):
        protein.predict(SEQUENCE, models=["model_1_ptm"], params_dir=tmp_path / "empty")


def test_workers_lacking_the_parameters_download_them_once(tmp_path, monkeypatch):
    """Processes (a batch's workers) that all lack the parameters: the first downloads, the others wait for it
    and then find the files (a lock file in the parameter folder), instead of fetching 3.5 GB each."""
    import threading

    monkeypatch.setenv(params_lib.PARAMS_DIR_ENV, str(tmp_path / "cache"))
    downloads = []

    def fake_download():
        downloads.append(threading.get_ident())
        time.sleep(0.5)
        (tmp_path / "cache" / "params_model_1_ptm.npz").write_bytes(b"")
        return tmp_path / "cache"

    monkeypatch.setattr(predict_lib, "download", fake_download)
    found = []
    workers = [threading.Thread(target=lambda: found.append(Predictor(["model_1_ptm"])._params_path("model_1_ptm")))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(downloads) == 1 and found == [tmp_path / "cache" / "params_model_1_ptm.npz"] * 3


def test_predict_with_real_alignments_and_templates():
    """2CRB with its real HHblits MSA and hmmsearch template hits resolved in the mmCIF mirror."""
    sto = shared_file("msas/openfold/2crb_A/hmm_output.sto.gz")
    a3m = shared_file("msas/openfold/2crb_A/bfd_uniclust_hits.a3m.gz")
    mmcif_dir = shared_file("structures/openfold_mmcif")
    query = predict_lib.msa_query(a3m)
    target = predict_lib.Target("2crb_A", query)
    target.msas.append(predict_lib.read_msa(a3m, query))
    target.template_hits = predict_lib.read_template_hits(sto, query)
    featurizer = predict_lib.template_featurizer(mmcif_dir, "2100-01-01", "hmmsearch")
    predictor = predict_lib.Predictor(["tiny"], random_params_seed=0)
    predictions, features, _, notes = predictor.predict(target, featurizer, num_recycle=0)
    assert features["template_aatype"].shape[0] >= 1 and features["msa"].shape[0] > 1
    assert any(note.endswith("templates") for note in notes)
    assert not predictions[0].single_sequence
    assert np.all(np.isfinite(predictions[0].atom_positions))


@pytest.mark.slow
@pytest.mark.ci
def test_full_size_path_with_random_parameters(tmp_path):
    """One ~60-residue protein through `predict` with full-size random parameters of model_1_ptm."""
    sequence = (SEQUENCE + "GSHMLEDPVD")[:60]
    predictions = protein.predict(sequence, models=["model_1_ptm"], random_params_seed=0, num_recycle=1)
    best = predictions[0]
    assert best.atom_positions.shape == (60, 37, 3) and np.all(np.isfinite(best.atom_positions))
    assert np.all(np.isfinite(best.plddt)) and best.ptm is not None and best.pae.shape == (60, 60)
    best.save(tmp_path)
    assert json.loads((tmp_path / "confidence_model_1_ptm.json").read_text())["residueNumber"][-1] == 60


@pytest.mark.parametrize(
    "record_id", ["sp|P69905|HBA_HUMAN", "../../etc/passwd", "a/b", "..", ".hidden", "tab\there", "bell\x07", "x" * 300]
)
def test_record_ids_become_safe_distinct_folder_names(record_id):
    from protein.prediction import safe_name

    name = safe_name(record_id)
    assert name and len(name) <= 100 and not name.startswith(".") and ".." not in name
    assert all(c.isalnum() or c in "._-" for c in name)
    assert safe_name(record_id + "_") != name  # distinct ids stay distinct
    if record_id.replace("_", "").isalnum() and len(record_id) <= 80:
        assert name == record_id  # a safe id is kept as it is
