"""Sharding: the index counts what a FASTA reader counts and refuses corrupt or gzip files; shards cover the file
exactly; and a search of 4 shards, merged, equals pyhmmer's own search of the whole database held in memory (hit
list, scores, E-values, domains, and for jackhmmer the alignment), for jackhmmer with 1 and 3 rounds and for
hmmsearch with AlphaFold2's template settings."""

from __future__ import annotations

import dataclasses
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from pyhmmer import easel, plan7

from protein.errors import InputError, SearchError
from protein.io import read_fasta
from protein.search import stockholm
from protein.search.config import HmmsearchConfig, JackhmmerConfig
from protein.search.hmmer import digital_sequence, iterate, msa_text, template_profile
from protein.search.shards import (
    AMINO, ShardCache, index_fasta, index_path_for, load_index, merge, read_shard, search_shard, shard,
)
from tests.io.data import shared_file
from tests.search import seqdb

JACKHMMER = JackhmmerConfig()  # AlphaFold2's settings


def _in_memory(path) -> easel.DigitalSequenceBlock:
    with easel.SequenceFile(str(path), digital=True, alphabet=AMINO) as sequences:
        return sequences.read_block()


def _summary(hits: plan7.TopHits) -> list:
    """Everything a later step reads from a hit list, exactly (floats compared bit for bit)."""
    return [
        (hit.name, hit.score, hit.evalue, hit.included,
         [(d.env_from, d.env_to, d.score, d.c_evalue, d.i_evalue, d.reported, d.included) for d in hit.domains])
        for hit in hits.reported
    ]


def _without_author(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#=GF AU"))


# -- the index ------------------------------------------------------------------------------------------------


def test_index_counts_records_and_residues_as_a_fasta_reader_does(db400):
    records = read_fasta(db400)
    index = index_fasta(db400)
    assert index.num_records == len(records) == 400
    assert index.num_residues == sum(len(record.sequence) for record in records)
    assert index.offsets[0] == 0 and index.offsets[-1] == os.path.getsize(db400) == index.file_size
    assert np.all(np.diff(index.offsets) > 0)
    data = db400.read_bytes()
    assert all(data[offset:offset + 1] == b">" for offset in index.offsets[:-1])


def test_index_of_a_large_file_with_wrapped_lines(tmp_path):
    # 20,000 UniProt sequences, 60 residues a line; blocks cut at record starts whatever the chunking.
    path = seqdb.plain_copy(seqdb.UNIPROT_DB, tmp_path / "db20k.fasta")
    index = index_fasta(path, block_bytes=100_000)
    assert index.num_records == 20_000 and index.num_residues == 9_055_569  # the data README: 9.06 M residues
    assert index.num_blocks == pytest.approx(path.stat().st_size / 100_000, abs=2)
    shards = shard(index, 7)
    sizes = [s.num_residues for s in shards]
    assert sum(sizes) == index.num_residues
    assert max(abs(size - index.num_residues / 7) for size in sizes) <= index.residues.max()  # a block at most


def test_shards_cover_the_file_and_read_back_every_record_in_order(db400):
    index = index_fasta(db400)
    shards = shard(index, 4)
    assert [s.start for s in shards[1:]] == [s.end for s in shards[:-1]]
    assert (shards[0].start, shards[-1].end) == (0, index.file_size)
    assert sum(s.num_records for s in shards) == 400
    names = [sequence.name for s in shards for block in read_shard(s, max_residues=5000) for sequence in block]
    assert names == [record.id for record in read_fasta(db400)]
    assert len(shard(index, 400)) == 400
    with pytest.raises(ValueError, match="400 blocks, too few for 401 shards"):
        shard(index, 401)


def test_index_saved_and_loaded_and_a_changed_file_refused(db400, tmp_path):
    copy = tmp_path / "db.fasta"
    copy.write_bytes(db400.read_bytes())
    index = index_fasta(copy)
    saved = index.save(index_path_for(copy))
    assert saved.name == "db.fasta.shards.npz"
    loaded = load_index(saved)
    assert (loaded.path, loaded.num_records, loaded.num_residues) == (index.path, 400, index.num_residues)
    assert np.array_equal(loaded.offsets, index.offsets)
    piece = shard(loaded, 2)[1]
    with open(copy, "a") as handle:
        handle.write(">extra\nMKV\n")
    with pytest.raises(SearchError, match="has changed since the shard .* was made"):
        list(read_shard(piece))
    with pytest.raises(SearchError, match="has changed since the index"):
        load_index(saved)


@pytest.mark.parametrize(("text", "message"), [
    (">a\nMKV\n>b desc\nMK1V\n>c\nAA\n", r"record 'b', line 4 \(byte 17\): character '1' in a sequence line"),
    (">a\nMKV\n> \nMKV\n", r"record '', line 3 \(byte 7\): the '>' header has no name"),
    ("MKV\n>a\nMKV\n", r"line 1 \(byte 0\): text before the first '>' header"),
    (">a\nMKV\n>b\n\n>c\nMKV\n", r"record 'b' \(byte 7\): the record has no sequence"),
    (">a\nMKV\n>b\nMK-V\n", r"record 'b', line 4 .* character '-'"),
    ("\n\n", "no FASTA records"),
])
def test_a_corrupt_database_names_the_record_and_line(tmp_path, text, message):
    path = tmp_path / "corrupt.fasta"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        index_fasta(path)


def test_a_corrupt_record_deep_in_a_large_file_is_found(db400, tmp_path):
    data = db400.read_bytes()
    position = data.index(b">", len(data) // 2)
    end_of_header = data.index(b"\n", position)
    name = data[position + 1:end_of_header].split()[0].decode()
    path = tmp_path / "corrupt.fasta"
    path.write_bytes(data[:end_of_header + 5] + b"#" + data[end_of_header + 6:])
    with pytest.raises(InputError, match=rf"record '{name}', line \d+ \(byte {end_of_header + 5}\): character '#'"):
        index_fasta(path, block_bytes=1000)


def test_gzip_and_missing_databases_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"gzip-compressed database cannot be sharded .*\(gunzip -k"):
        index_fasta(shared_file(seqdb.UNIPROT_QUERIES))
    with pytest.raises(InputError, match="cannot read the database"):
        index_fasta(tmp_path / "absent.fasta")


# -- the shard cache ------------------------------------------------------------------------------------------


def _names(blocks) -> list[str]:
    return [sequence.name for block in blocks for sequence in block]


def test_a_shard_is_read_once_then_served_from_memory(db400):
    pieces = shard(index_fasta(db400), 4)
    cache = ShardCache(max_bytes=10 * ShardCache.size_of(pieces[0]))
    first = list(read_shard(pieces[0], cache=cache))
    again = list(read_shard(pieces[0], cache=cache))
    assert len(cache) == 1
    assert len(first) == len(again) and all(a is b for a, b in zip(first, again))  # not read again
    uncached = list(read_shard(pieces[0], cache=None))
    assert _names(again) == _names(uncached)
    assert [bytes(sequence.sequence) for block in again for sequence in block] == \
        [bytes(sequence.sequence) for block in uncached for sequence in block]


def test_the_cache_drops_the_least_recently_used_shard_and_streams_one_too_large(db400):
    pieces = shard(index_fasta(db400), 4)
    sizes = [ShardCache.size_of(piece) for piece in pieces]
    assert 3 * min(sizes) > 2 * max(sizes)  # so that two shards fit in the budget below, three do not
    cache = ShardCache(max_bytes=2 * max(sizes))
    zero, one = (list(read_shard(piece, cache=cache)) for piece in pieces[:2])
    list(read_shard(pieces[0], cache=cache))  # 0 is now the most recently used
    list(read_shard(pieces[2], cache=cache))  # drops 1
    assert len(cache) == 2
    assert list(read_shard(pieces[0], cache=cache))[0] is zero[0]
    assert list(read_shard(pieces[1], cache=cache))[0] is not one[0]
    tiny = ShardCache(max_bytes=sizes[3] - 1)
    assert _names(read_shard(pieces[3], cache=tiny)) == _names(read_shard(pieces[3], cache=None))
    assert len(tiny) == 0


def test_a_cached_shard_of_a_changed_file_is_refused(db400, tmp_path):
    copy = tmp_path / "db.fasta"
    copy.write_bytes(db400.read_bytes())
    piece = shard(index_fasta(copy), 2)[0]
    cache = ShardCache(max_bytes=1 << 30)
    list(read_shard(piece, cache=cache))
    with open(copy, "a") as handle:
        handle.write(">extra\nMKV\n")
    with pytest.raises(SearchError, match="has changed since the shard"):
        list(read_shard(piece, cache=cache))


# -- sharded == unsharded -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [1, 3])
def test_jackhmmer_on_4_shards_equals_one_search_of_the_whole_database(db400, rounds):
    database = _in_memory(db400)
    index = index_fasta(db400)
    config = dataclasses.replace(JACKHMMER, iterations=rounds)
    for query_id, (first_round, last_round) in seqdb.ITERATING_QUERIES.items():
        query = seqdb.uniprot_query(query_id)
        sequence = digital_sequence(query)
        pipeline = plan7.Pipeline(AMINO, **config.thresholds.pipeline_options())  # Z: counted, 400
        for whole in pipeline.iterate_seq(sequence, database):
            if whole.converged or whole.iteration == rounds:
                break
        sharded = iterate(query, shard(index, 4), index.num_records, config)
        assert (sharded.iterations, sharded.converged) == (whole.iteration, whole.converged)
        assert len(sharded.hits.included) == (first_round if rounds == 1 else last_round), query_id
        assert _summary(sharded.hits) == _summary(whole.hits), query_id
        assert _without_author(msa_text(sharded.msa)) == _without_author(msa_text(whole.msa)), query_id


def test_hmmsearch_on_4_shards_equals_one_search_of_the_whole_database(pdb_seqres):
    # AlphaFold2's template search: the profile of OpenFold's real UniRef90 alignment for 2crb_A, against 1,000
    # PDB chains; E <= 100 reports dozens of weak hits, so domZ and every threshold are exercised.
    profile = template_profile(shared_file("msas/openfold/2crb_A/uniref90_hits.sto.gz"), 10_000)
    thresholds = HmmsearchConfig().thresholds
    whole = plan7.Pipeline(AMINO, **thresholds.pipeline_options()).search_hmm(profile, _in_memory(pdb_seqres))
    whole.sort(by="key")
    index = index_fasta(pdb_seqres)
    parts = [search_shard(profile, piece, thresholds, index.num_records) for piece in shard(index, 4)]
    merged = merge(parts)
    assert len(merged.reported) > 50
    assert _summary(merged) == _summary(whole)
    assert (merged.Z, merged.domZ) == (whole.Z, whole.domZ) == (1000, len(whole.reported))
    assert msa_text(merged.to_msa(AMINO)) == msa_text(whole.to_msa(AMINO))
    # Without the whole database's Z, a shard's E-values would be too small by the shard's share of it.
    first = shard(index, 4)[0]
    alone = plan7.Pipeline(AMINO, **thresholds.pipeline_options()).search_hmm(profile, next(read_shard(first)))
    best = next(iter(alone.reported))
    right = next(hit.evalue for hit in merged.reported if hit.name == best.name)
    assert best.evalue == pytest.approx(right * first.num_records / 1000, rel=1e-9)


def test_tasks_take_and_return_picklable_values(db400):
    # As a scheduler would run them: arguments and results through pickle, merged afterwards.
    index = index_fasta(db400)
    profile, _, _ = plan7.Builder(AMINO).build(digital_sequence(seqdb.uniprot_query("sp|Q9DC28|KC1D_MOUSE")),
                                               plan7.Background(AMINO))
    tasks = [pickle.loads(pickle.dumps((profile, piece, JACKHMMER.thresholds, index.num_records)))
             for piece in shard(index, 3)]
    results = [pickle.loads(pickle.dumps(search_shard(*task))) for task in tasks]
    direct = merge([search_shard(profile, piece, JACKHMMER.thresholds, index.num_records)
                    for piece in shard(index, 3)])
    assert _summary(merge(results)) == _summary(direct)
    assert stockholm.count_targets([hit.name for hit in direct.included], query_rows=0) == 4


def test_a_failing_shard_task_is_raised_in_the_caller_and_no_thread_is_left(db400, tmp_path):
    copy = tmp_path / "db.fasta"
    copy.write_bytes(db400.read_bytes())
    index = index_fasta(copy)
    shards = shard(index, 4)
    copy.write_bytes(db400.read_bytes().replace(b">", b"> ", 1))  # changed after indexing
    query = seqdb.uniprot_query("sp|Q9DC28|KC1D_MOUSE")
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="shard-test") as pool:
        with pytest.raises(SearchError, match="has changed since the shard"):
            iterate(query, shards, index.num_records, JACKHMMER, pool.map)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("shard-test")]
