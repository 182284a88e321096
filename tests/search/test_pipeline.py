"""`search_query` on the demo databases: AlphaFold2's msas/ files with the query first and the family's homologs;
the cache reused and invalidated; shards that do not change a byte; no hits, missing and broken databases and a
crashing program; template hits from the UniRef90 profile; and the plans of AlphaFold2's presets."""

from __future__ import annotations

import collections
import os
import shutil
import threading

import pytest

from protein.errors import InputError, SearchError
from protein.io import read_fasta, read_hmmsearch_sto, read_stockholm
from protein.search import pipeline
from protein.search.cache import SearchCache
from protein.search.databases import load_config
from protein.search.shards import FastaIndex, index_path_for
from protein.search.tools import find_binary
from tests.search import demo_data

QUERIES = {record.id: record for record in read_fasta(demo_data.QUERIES)}
MSA_FILES = ["mgnify_hits.sto", "uniref90_hits.sto"]


@pytest.fixture
def demo(tmp_path):
    return load_config(demo_data.demo_copy(tmp_path / "dbs"))


def _families(path) -> dict[str, str]:
    """The family of every record of a demo database (the truth in its headers), by id."""
    return {record.id: record.description.split("FAM=")[1].split()[0] for record in read_fasta(path)}


def _row_ids(path) -> list[str]:
    """The target ids of a Stockholm file's rows ('<id>/<from>-<to>'), the query's row left out."""
    return [name.rsplit("/", 1)[0] for name in read_stockholm(path).descriptions[1:]]


def _contents(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_the_plans_of_alphafold2_presets(tmp_path):
    config = load_config(demo_data.DATA / "databases.example.toml", root=tmp_path)
    full = pipeline.plan(config, "full_dbs")
    assert [(step.tool, step.name, step.file_name) for step in full.searches] == [
        ("jackhmmer", "uniref90", "uniref90_hits.sto"),
        ("jackhmmer", "mgnify", "mgnify_hits.sto"),
        ("hhblits", "bfd+uniref30", "bfd_uniref_hits.a3m"),  # one run over both, as AlphaFold2 runs it
        ("hmmsearch", "pdb_seqres", "pdb_hits.sto"),
    ]
    assert full.profile_file == "uniref90_hits.sto"
    assert full.structures.path == tmp_path / "pdb_mmcif/mmcif_files"
    reduced = pipeline.plan(config, "reduced_dbs")
    assert [step.file_name for step in reduced.searches] == [
        "uniref90_hits.sto", "mgnify_hits.sto", "small_bfd_hits.sto", "pdb_hits.sto"]
    colabfold = pipeline.plan(config, "colabfold")
    assert [(step.tool, step.file_name) for step in colabfold.searches] == [
        ("mmseqs", "colabfold_uniref30_hits.a3m"), ("mmseqs", "colabfold_envdb_hits.a3m")]
    assert colabfold.template_search is None and colabfold.structures is None
    # AlphaFold2's row caps: UniRef90 10,000, MGnify 501, small BFD all
    assert [pipeline.jackhmmer_config(name).max_hits for name in ("uniref90", "mgnify", "small_bfd")] == [
        10_000, 501, None]


@pytest.mark.parametrize(("databases", "preset", "message"), [
    ('[databases.a]\ntool = "phmmer"\npath = "a.fasta"\n', '["a"]', "no search backend for a"),
    ('[databases.p]\ntool = "hmmsearch"\npath = "p.fasta"\n[databases.q]\ntool = "hmmsearch"\npath = "q.fasta"\n'
     '[databases.u]\ntool = "jackhmmer"\npath = "u.fasta"\n', '["u", "p", "q"]', "more than one hmmsearch database"),
    ('[databases.p]\ntool = "hmmsearch"\npath = "p.fasta"\n', '["p"]', "has no jackhmmer database"),
])
def test_a_preset_that_cannot_be_searched_is_refused(tmp_path, databases, preset, message):
    path = tmp_path / "dbs.toml"
    path.write_text(f'root = "."\n{databases}[presets]\nx = {preset}\n')
    with pytest.raises(InputError, match=message):
        pipeline.plan(load_config(path), "x")


def test_search_writes_alphafold2_msas_with_the_family(demo, tmp_path):
    query = QUERIES["ubiquitin"]
    result = pipeline.search_query(query, demo, "demo", tmp_path / "out", cpus=2)
    msa_dir = tmp_path / "out/msas"
    assert result.msa_dir == msa_dir and sorted(p.name for p in msa_dir.iterdir()) == MSA_FILES
    assert result.files == {name: msa_dir / name for name in ["uniref90_hits.sto", "mgnify_hits.sto"]}
    assert result.warnings == () and not [p for p in (tmp_path / "out").iterdir() if p.name != "msas"]
    for search in result.searches:
        families = _families(demo.databases[search.databases[0]].path)
        msa = read_stockholm(search.path, query_sequence=query.sequence)  # raises unless row 0 is the query
        assert msa.sequences[0] == query.sequence
        ids = set(_row_ids(search.path))
        assert search.num_hits == len(ids) > 0 and not search.cached
        assert {families[name] for name in ids} == {"ubiquitin"}, "a row outside the family"
        # one jackhmmer round (AlphaFold2's -N 1) finds most of the family: 163 of 179 in UniRef90, 60 of 61 in MGnify
        assert len(ids) >= 0.85 * collections.Counter(families.values())["ubiquitin"]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("jackhmmer")]


def test_a_repeated_search_comes_from_the_cache_and_a_touched_database_is_searched_again(
        demo, tmp_path, monkeypatch):
    cache = SearchCache(tmp_path / "cache")
    query = QUERIES["bpti"]
    first = pipeline.search_query(query, demo, "demo", tmp_path / "first", cache=cache, cpus=2)
    assert [search.cached for search in first.searches] == [False, False]

    searched = []
    original = pipeline.PyhmmerJackhmmer.search

    def counting(self, query, database, out_path):
        searched.append(database.name)
        return original(self, query, database, out_path)

    monkeypatch.setattr(pipeline.PyhmmerJackhmmer, "search", counting)
    again = pipeline.search_query(query, demo, "demo", tmp_path / "again", cache=cache, cpus=2)
    assert searched == [] and [search.cached for search in again.searches] == [True, True]
    assert [search.num_hits for search in again.searches] == [search.num_hits for search in first.searches]
    assert _contents(tmp_path / "again/msas") == _contents(tmp_path / "first/msas")

    uniref = demo.databases["uniref90"].path
    stat = uniref.stat()
    os.utime(uniref, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same bytes, a new time
    touched = pipeline.search_query(query, demo, "demo", tmp_path / "touched", cache=cache, cpus=2)
    assert searched == ["uniref90"] and [search.cached for search in touched.searches] == [False, True]
    assert _contents(tmp_path / "touched/msas") == _contents(tmp_path / "first/msas")


def test_shards_do_not_change_the_files(demo, tmp_path):
    query = QUERIES["hemoglobin_beta"]
    pipeline.search_query(query, demo, "demo", tmp_path / "one", shards=1, cpus=1)
    for database in demo.databases.values():  # kept beside the database for the next search
        assert index_path_for(database.path).is_file()
    pipeline.search_query(query, demo, "demo", tmp_path / "four", shards=4, cpus=2)
    assert _contents(tmp_path / "four/msas") == _contents(tmp_path / "one/msas")
    assert len(_row_ids(tmp_path / "one/msas/uniref90_hits.sto")) > 100


def test_the_index_goes_to_the_cache_when_the_database_folder_is_read_only(demo, tmp_path, monkeypatch):
    folder = demo.databases["uniref90"].path.parent
    save = FastaIndex.save

    def read_only_folder(self, path):
        if os.path.dirname(os.path.abspath(path)) == str(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return save(self, path)

    monkeypatch.setattr(FastaIndex, "save", read_only_folder)
    cache = SearchCache(tmp_path / "cache")
    pipeline.search_query(QUERIES["crambin"], demo, "demo", tmp_path / "out", cache=cache, cpus=2)
    assert not list(folder.glob("*.shards.npz"))
    kept = sorted(path.name.split(".")[0] for path in (tmp_path / "cache/indexes").iterdir())
    assert kept == ["demo_mgnify", "demo_uniref"]


def test_an_index_copied_with_its_database_is_not_used(demo, tmp_path):
    """A copied folder's index records the original file: searching the copy must read the copy."""
    pipeline.search_query(QUERIES["crambin"], demo, "demo", tmp_path / "original", cpus=2)
    copy = tmp_path / "copy"
    shutil.copytree(demo.source.parent, copy)
    (copy / "demo_db/demo_mgnify.fasta").write_text(">unrelated\nMKV\n")  # nothing in the copy's MGnify
    result = pipeline.search_query(QUERIES["crambin"], load_config(copy / "demo_databases.toml"), "demo",
                                   tmp_path / "out", cpus=2)
    assert [search.num_hits for search in result.searches][1] == 0


def test_a_query_without_hits_gives_the_query_alone_and_a_warning(demo, tmp_path, caplog):
    query = QUERIES["random_no_homologs"]
    cache = SearchCache(tmp_path / "cache")
    for attempt in ("first", "cached"):
        result = pipeline.search_query(query, demo, "demo", tmp_path / attempt, cache=cache, cpus=2)
        for search in result.searches:
            msa = read_stockholm(search.path)
            assert list(msa.sequences) == [query.sequence] and search.num_hits == 0
        assert result.warnings == tuple(
            f"random_no_homologs: no hits in {name}; the alignment holds the query alone (a single-sequence MSA)"
            for name in ("uniref90", "mgnify"))
    assert [search.cached for search in result.searches] == [True, True]
    assert "random_no_homologs: no hits in mgnify" in caplog.text


def test_a_missing_database_fails_the_query_naming_it(demo, tmp_path):
    mgnify = demo.databases["mgnify"].path
    mgnify.unlink()
    with pytest.raises(SearchError) as error:
        pipeline.search_query(QUERIES["lysozyme"], demo, "demo", tmp_path / "out", cpus=2)
    assert str(error.value) == f"lysozyme: cannot search preset 'demo': mgnify: {mgnify}: missing"
    assert not (tmp_path / "out/msas").exists()
    assert pipeline.check(demo, "demo")[0].database == "mgnify"


def test_a_failed_search_leaves_the_msas_as_they_were(demo, tmp_path):
    query = QUERIES["lysozyme"]
    pipeline.search_query(query, demo, "demo", tmp_path / "out", cpus=2)
    before = _contents(tmp_path / "out/msas")
    mgnify = demo.databases["mgnify"].path
    with open(mgnify, "a") as handle:  # corrupt past the first 4 KB that the database check reads
        handle.write(">broken\nMKV1T\n")
    with pytest.raises(SearchError, match=r"lysozyme: mgnify \(jackhmmer\): .*record 'broken'.*character '1'"):
        pipeline.search_query(query, demo, "demo", tmp_path / "out", cpus=2)
    assert _contents(tmp_path / "out/msas") == before  # the new UniRef90 search did not replace the old file
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["msas"]  # no scratch folder left


@pytest.mark.skipif(find_binary("hhblits") is None, reason="HH-suite not installed (Debian package 'hhsuite')")
def test_a_crashing_program_fails_the_query(tmp_path):
    """hhblits on an HH-suite database whose files look right (so that the check passes) but hold no HMMs."""
    config = demo_data.demo_copy(tmp_path)
    for suffix in ("_a3m", "_cs219", "_hhm"):
        (tmp_path / f"demo_db/bfd{suffix}.ffdata").write_bytes(b"x\0")
        (tmp_path / f"demo_db/bfd{suffix}.ffindex").write_text("x\t0\t2\n")
    config.write_text(config.read_text().replace(
        "[presets]\ndemo = [", '[databases.bfd]\ntool = "hhblits"\npath = "bfd"\n\n[presets]\ndemo = ["bfd", '))
    with pytest.raises(SearchError, match=r"ubiquitin: bfd \(hhblits\): .*hhblits .* exited with code 1; stderr ends"):
        pipeline.search_query(QUERIES["ubiquitin"], load_config(config), "demo", tmp_path / "out", cpus=1)
    assert not (tmp_path / "out/msas").exists()


def test_template_hits_from_the_uniref90_profile(tmp_path):
    config = load_config(demo_data.template_copy(tmp_path / "dbs"))
    cache = SearchCache(tmp_path / "cache")
    result = pipeline.search_query(demo_data.LYSOZYME_VARIANT, config, "templates", tmp_path / "out", cache=cache,
                                   cpus=2)
    assert list(result.files) == ["uniref90_hits.sto", "pdb_hits.sto"]
    assert result.mmcif_dir == tmp_path / "dbs/pdb_mmcif/mmcif_files"
    hits = read_hmmsearch_sto(demo_data.LYSOZYME_VARIANT, result.files["pdb_hits.sto"])
    assert [hit.name for hit in hits] == [f"{demo_data.OBSOLETE_ID}_A"]  # 1AKI's chain; not crambin
    assert hits[0].aligned_cols == 129 and result.searches[1].num_hits == 1
    again = pipeline.search_query(demo_data.LYSOZYME_VARIANT, config, "templates", tmp_path / "again", cache=cache,
                                  cpus=2)
    assert [search.cached for search in again.searches] == [True, True]
    assert _contents(tmp_path / "again/msas") == _contents(tmp_path / "out/msas")
