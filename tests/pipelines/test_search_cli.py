"""`protein search` then `protein predict --msa-dir`: the demo end to end (msas/ per record, MSAs in the
features), template hits and the mmCIF folder flowing into the template features, bad records and broken
databases reported; and `--msa-dir` never taking template hits for an alignment."""

from __future__ import annotations

import shutil

import pytest

from pipelines import predict_cli
from pipelines.cli import main
from protein import predictor as predict_lib
from protein.features.store import load_features
from protein.io import read_fasta, read_stockholm
from protein.prediction import safe_name
from tests.search import demo_data

PREDICT = ["--models", "tiny", "--random-params", "0", "--num-recycle", "0"]


def _search(fasta, config, out, cache, *options) -> list[str]:
    return ["search", str(fasta), "--db-config", str(config), "-o", str(out), "--cache-dir", str(cache),
            "--cpus", "2", *options]


def test_search_then_predict_the_demo(tmp_path, capsys, caplog):
    config = demo_data.demo_copy(tmp_path / "dbs")
    out, cache = tmp_path / "out", tmp_path / "cache"
    records = read_fasta(demo_data.QUERIES)
    assert main(_search(demo_data.QUERIES, config, out, cache, "--preset", "demo")) == 0
    captured = capsys.readouterr().out.splitlines()
    assert captured[-1] == f"7 of 7 records searched into {out}"
    assert sorted(p.name for p in out.iterdir()) == sorted(safe_name(record.id) for record in records)
    for record in records:
        msas = out / safe_name(record.id) / "msas"
        assert sorted(p.name for p in msas.iterdir()) == ["mgnify_hits.sto", "uniref90_hits.sto"]
        assert read_stockholm(msas / "uniref90_hits.sto").sequences[0] == record.sequence
    assert "random_no_homologs: no hits in uniref90" in caplog.text

    # a second run: every search from the cache
    assert main(_search(demo_data.QUERIES, config, tmp_path / "again", cache, "--preset", "demo")) == 0
    assert capsys.readouterr().out.count("(cached)") == 2 * len(records)

    two = tmp_path / "two.fasta"  # two records of one length bucket: one compilation
    two.write_text("".join(f">{r.description}\n{r.sequence}\n" for r in records
                           if r.id in ("crambin", "villin_headpiece")))
    # template hits (hmmsearch's rows, no query row) beside the MSAs: not an alignment; unused without --mmcif-dir
    (out / "crambin/msas/pdb_hits.sto").write_text(
        "# STOCKHOLM 1.0\n\n1ejg_A/1-46 TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN\n//\n")
    assert main(["predict", str(two), "--msa-dir", str(out), "-o", str(out), *PREDICT]) == 0
    assert "template hits of 1 record(s) in --msa-dir" in capsys.readouterr().err
    for record_id in ("crambin", "villin_headpiece"):
        folder = out / record_id
        assert (folder / "ranked_0.pdb").is_file() and (folder / "msas/uniref90_hits.sto").is_file()
        features = load_features(folder / "features.npz")
        uniref90 = read_stockholm(folder / "msas/uniref90_hits.sto")
        assert features["msa"].shape[0] > len(uniref90.sequences) > 100  # UniRef90 and MGnify, deduplicated
        assert features["template_aatype"].shape[0] == 0


def test_template_hits_and_the_mmcif_folder_flow_into_predict(tmp_path, capsys):
    config = demo_data.template_copy(tmp_path / "dbs")
    fasta = tmp_path / "variant.fasta"
    fasta.write_text(f">lysozyme_variant\n{demo_data.LYSOZYME_VARIANT}\n")
    out = tmp_path / "out"
    assert main(_search(fasta, config, out, tmp_path / "cache", "--preset", "templates")) == 0
    mmcif_dir, obsolete = tmp_path / "dbs/pdb_mmcif/mmcif_files", tmp_path / "dbs/pdb_mmcif/obsolete.dat"
    assert capsys.readouterr().out.splitlines()[-1] == (f"template hits are in pdb_hits.sto: predict with --msa-dir "
                                                        f"{out} --mmcif-dir {mmcif_dir} --obsolete-pdbs {obsolete}")
    assert main(["predict", str(fasta), "--msa-dir", str(out), "--mmcif-dir", str(mmcif_dir), "--obsolete-pdbs",
                 str(obsolete), "--max-template-date", "2000-01-01", "-o", str(out), *PREDICT]) == 0
    features = load_features(out / "lysozyme_variant/features.npz")
    # the hit to the obsolete id became its replacement, released 1997-11-19, before the cutoff
    assert list(features["template_domain_names"]) == [b"1aki_A"]
    assert features["template_all_atom_masks"].sum() > 4 * 129  # the atoms of 1AKI, at the query's residues
    assert features["msa"].shape[0] > 100


def test_bad_records_are_reported_and_the_rest_goes_on(tmp_path, capsys):
    config = demo_data.demo_copy(tmp_path / "dbs")
    fasta = tmp_path / "mixed.fasta"
    fasta.write_text(">bpti\nRPDFCLEPPYTGPCKARIIRYFYNAKAGLCQTFVYGGCRAKRNNFKSAEDCMRTCGGA\n>digits\nMKT4AY\n"
                     ">bpti\nMKV\n>sp|odd/1 villin\nMLSDEDFKAVFGMTRSAFANLPLWKQQNLKKEKGLF\n")
    out = tmp_path / "out"
    assert main(_search(fasta, config, out, tmp_path / "cache", "--preset", "demo")) == 1
    captured = capsys.readouterr()
    assert "record 'digits', line 4" in captured.err
    assert "record 'bpti': duplicate record id" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(["bpti", safe_name("sp|odd/1")])
    assert "2 of 4 records searched" in captured.out


def test_a_missing_database_stops_before_searching(tmp_path, capsys):
    config = demo_data.demo_copy(tmp_path / "dbs")
    missing = tmp_path / "dbs/demo_db/demo_mgnify.fasta"
    missing.unlink()
    out = tmp_path / "out"
    assert main(_search(demo_data.QUERIES, config, out, tmp_path / "cache", "--preset", "demo")) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"error: mgnify: {missing}: missing"
    assert err[1].startswith(f"{config} (preset demo, root ") and "1 problems; nothing searched" in err[1]
    assert not out.exists()


def test_an_unknown_preset_and_bad_options_end_with_status_1(tmp_path, capsys):
    config = demo_data.demo_copy(tmp_path / "dbs")
    assert main(_search(demo_data.QUERIES, config, tmp_path / "out", tmp_path / "cache")) == 1  # full_dbs
    assert "no preset 'full_dbs' (presets: demo)" in capsys.readouterr().err
    assert main(_search(demo_data.QUERIES, config, tmp_path / "out", tmp_path / "cache", "--preset", "demo",
                        "--shards", "0")) == 1
    assert "--shards must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --cache-dir and --no-cache exclude each other
        main(_search(demo_data.QUERIES, config, tmp_path / "out", tmp_path / "cache", "--no-cache"))


def test_msa_dir_never_takes_template_hits_for_an_alignment(tmp_path):
    query = "MKTAYIAKQR"
    folder = tmp_path / "msas_root/a/msas"
    folder.mkdir(parents=True)
    (folder / "uniref90_hits.sto").write_text(
        "# STOCKHOLM 1.0\n\na   MKTAYIAKQR\nhit MKTAYIAKQL\n#=GC RF xxxxxxxxxx\n//\n")
    (folder / "pdb_hits.sto").write_text("# STOCKHOLM 1.0\n\n1abc_A/1-10 MKTAYIAKQL\n//\n")  # no query row
    (tmp_path / "msas_root/a/mgnify_hits.a3m").write_text(">a\nMKTAYIAKQR\n")  # beside msas/: also read
    target = predict_lib.Target("a", query)
    hits = predict_cli._attach_msa_dir(target, tmp_path / "msas_root", "a")
    assert hits == folder / "pdb_hits.sto"
    assert [len(msa) for msa in target.msas] == [2, 1]  # UniRef90 first (AlphaFold2's order), then MGnify
    shutil.copy(hits, folder / "pdb_hits.hhr")
    with pytest.raises(predict_cli.InputError, match="more than one template hit file"):
        predict_cli._attach_msa_dir(predict_lib.Target("a", query), tmp_path / "msas_root", "a")
