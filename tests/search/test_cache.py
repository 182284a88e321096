"""Search cache: keys from a hand-written canonical JSON; a hit in a later session; a miss after the database
or the settings change; concurrent writers of one key (threads and processes) leave one whole file and no temp."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import shutil
import threading
from pathlib import Path

import pytest

from protein.errors import InputError, SearchError
from protein.search import cache as cache_lib
from protein.search.cache import SearchCache, database_fingerprint

QUERY = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
SETTINGS = {"tool": "jackhmmer", "n_iter": 1, "e_value": 0.0001, "max_hits": 10000}


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "dbs/uniref90.fasta"
    path.parent.mkdir()
    path.write_text(">a\nMKV\n")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return path


def _alignment(folder: Path, text: str = "# STOCKHOLM 1.0\nquery MKV\n//\n", name: str = "hits.sto") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _entries(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_key_is_sha256_of_canonical_json():
    canonical = b'{"database":"f00d","query":"MKV","settings":{"e":0.001,"n_iter":1,"paths":["/db/a"]},"version":1}'
    expected = hashlib.sha256(canonical).hexdigest()
    assert SearchCache.key("MKV", "f00d", {"n_iter": 1, "e": 1e-3, "paths": [Path("/db/a")]}) == expected
    # settings order, the query's case and whitespace do not matter
    assert SearchCache.key(" mk\nv ", "f00d", {"paths": ["/db/a"], "e": 0.001, "n_iter": 1}) == expected


def test_key_changes_with_each_input():
    keys = {
        SearchCache.key(QUERY, "f1", SETTINGS),
        SearchCache.key(QUERY[:-1], "f1", SETTINGS),
        SearchCache.key(QUERY, "f2", SETTINGS),
        SearchCache.key(QUERY, "f1", {**SETTINGS, "n_iter": 3}),
        SearchCache.key(QUERY, "f1", {**SETTINGS, "e_value": 0.001}),
        SearchCache.key(QUERY, "f1", {**SETTINGS, "extra": None}),
    }
    assert len(keys) == 6


def test_key_refuses_settings_that_are_not_json():
    with pytest.raises(InputError, match=r"search settings cannot key the cache: .*object.* is not a JSON value"):
        SearchCache.key(QUERY, "f1", {"callback": object()})
    with pytest.raises(InputError, match="search settings cannot key the cache"):
        SearchCache.key(QUERY, "f1", {"e_value": float("nan")})


def test_fingerprint_follows_size_and_mtime_not_folder(database, tmp_path):
    before = database_fingerprint([database])
    stat = database.stat()
    expected = hashlib.sha256(f"uniref90.fasta\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()).hexdigest()
    assert before == expected

    copy = tmp_path / "other_mount/uniref90.fasta"  # the same database mounted elsewhere
    copy.parent.mkdir()
    shutil.copy2(database, copy)
    assert database_fingerprint([copy]) == before

    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # touched
    assert database_fingerprint([database]) != before
    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert database_fingerprint([database]) == before
    database.write_text(">a\nMKVL\n")  # same mtime, other size
    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert database_fingerprint([database]) != before

    with pytest.raises(SearchError, match=r"absent.fasta: cannot fingerprint the database file"):
        database_fingerprint([database, tmp_path / "absent.fasta"])


def test_hit_in_a_later_session(tmp_path, database):
    root = tmp_path / "cache"
    key = SearchCache.key(QUERY, database_fingerprint([database]), SETTINGS)
    assert SearchCache(root).get(key) is None
    produced = _alignment(tmp_path)
    stored = SearchCache(root).put(key, produced, produced_by={"tool": "jackhmmer", "database": "uniref90"})

    assert stored == root / key[:2] / f"{key}.sto"
    assert _entries(root) == [f"{key[:2]}/{key}.meta.json", f"{key[:2]}/{key}.sto"]
    meta = json.loads((root / key[:2] / f"{key}.meta.json").read_text())
    assert meta["produced_by"] == {"tool": "jackhmmer", "database": "uniref90"}
    assert (meta["key"], meta["file"], meta["size"], meta["source"]) == (key, f"{key}.sto", 29, str(produced))

    later = SearchCache(root)  # another batch, another process: same root, same inputs
    again = later.key(QUERY.lower(), database_fingerprint([database]), dict(reversed(SETTINGS.items())))
    assert later.get(again) == stored
    assert stored.read_text() == produced.read_text()


def test_miss_after_database_change(tmp_path, database):
    cache = SearchCache(tmp_path / "cache")
    key = cache.key(QUERY, database_fingerprint([database]), SETTINGS)
    cache.put(key, _alignment(tmp_path))
    stat = database.stat()
    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    assert cache.get(cache.key(QUERY, database_fingerprint([database]), SETTINGS)) is None
    assert cache.get(key) is not None


def test_miss_after_settings_change(tmp_path, database):
    cache = SearchCache(tmp_path / "cache")
    fingerprint = database_fingerprint([database])
    cache.put(cache.key(QUERY, fingerprint, SETTINGS), _alignment(tmp_path))
    assert cache.get(cache.key(QUERY, fingerprint, {**SETTINGS, "n_iter": 3})) is None
    assert cache.get(cache.key(QUERY, fingerprint, SETTINGS)) is not None


def test_compressed_extension_and_replaced_entry(tmp_path):
    cache = SearchCache(tmp_path / "cache")
    key = cache.key(QUERY, "f1", SETTINGS)
    stored = cache.put(key, _alignment(tmp_path, "x", name="bfd.hits.a3m.gz"))
    assert stored.name == f"{key}.a3m.gz"
    stored = cache.put(key, _alignment(tmp_path, ">q\nMKV\n", name="bfd_hits.a3m"))
    assert cache.get(key) == stored and stored.read_text() == ">q\nMKV\n"


def test_damaged_entries_are_misses(tmp_path):
    cache = SearchCache(tmp_path / "cache")
    key = cache.key(QUERY, "f1", SETTINGS)
    stored = cache.put(key, _alignment(tmp_path))
    stored.write_text("# STOCKHOLM 1.0\n")  # truncated by hand
    assert cache.get(key) is None
    stored.unlink()
    assert cache.get(key) is None
    (stored.parent / f"{key}.meta.json").write_text("{not json")
    assert cache.get(key) is None


def test_failed_put_leaves_nothing(tmp_path, monkeypatch):
    cache = SearchCache(tmp_path / "cache")
    key = cache.key(QUERY, "f1", SETTINGS)
    with pytest.raises(SearchError, match=r"cannot store .*absent.sto in the search cache"):
        cache.put(key, tmp_path / "absent.sto")

    def broken_copy(reader, writer):
        writer.write(b"half an alignm")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_lib.shutil, "copyfileobj", broken_copy)
    with pytest.raises(SearchError, match="No space left on device"):
        cache.put(key, _alignment(tmp_path))
    assert _entries(tmp_path / "cache") == []
    assert cache.get(key) is None


def test_bad_key_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a search cache key"):
        SearchCache(tmp_path).put("../../etc/passwd", _alignment(tmp_path))


def test_default_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache_lib.CACHE_DIR_ENV, str(tmp_path / "c"))
    assert SearchCache().root == tmp_path / "c"


# -- concurrent writers ---------------------------------------------------------------------------------------

_SIZE = 1 << 20  # big enough that the copies overlap in time


def _content(writer: int) -> bytes:
    return bytes([65 + writer]) * _SIZE


def _put_from_process(root: str, key: str, source: str) -> str:
    return str(SearchCache(root).put(key, source, produced_by={"pid": os.getpid()}))


def _check_one_whole_entry(root: Path, key: str, contents: list[bytes]) -> None:
    assert _entries(root) == [f"{key[:2]}/{key}.meta.json", f"{key[:2]}/{key}.sto"]  # no temp file left
    stored = SearchCache(root).get(key)
    assert stored is not None and stored.read_bytes() in contents


def test_concurrent_threads_leave_one_whole_file(tmp_path):
    root, key, num_writers = tmp_path / "cache", SearchCache.key(QUERY, "f1", SETTINGS), 8
    sources = []
    for writer in range(num_writers):
        (tmp_path / f"w{writer}").mkdir()
        sources.append(tmp_path / f"w{writer}/hits.sto")
        sources[-1].write_bytes(_content(writer))
    barrier = threading.Barrier(num_writers)

    def put(source: Path) -> Path:
        barrier.wait()
        return SearchCache(root).put(key, source)

    before = threading.active_count()
    with concurrent.futures.ThreadPoolExecutor(num_writers) as pool:
        results = list(pool.map(put, sources))
    assert threading.active_count() == before
    assert set(results) == {root / key[:2] / f"{key}.sto"}
    _check_one_whole_entry(root, key, [_content(writer) for writer in range(num_writers)])


def test_concurrent_processes_leave_one_whole_file(tmp_path):
    root, key, num_writers = tmp_path / "cache", SearchCache.key(QUERY, "f1", SETTINGS), 3
    sources = []
    for writer in range(num_writers):
        sources.append(tmp_path / f"hits_{writer}.sto")
        sources[-1].write_bytes(_content(writer))
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold JAX's threads
    with concurrent.futures.ProcessPoolExecutor(num_writers, mp_context=context) as pool:
        futures = [pool.submit(_put_from_process, str(root), key, str(source)) for source in sources]
        results = [future.result(timeout=60) for future in futures]
    assert set(results) == {str(root / key[:2] / f"{key}.sto")}
    _check_one_whole_entry(root, key, [_content(writer) for writer in range(num_writers)])
    assert multiprocessing.active_children() == []
