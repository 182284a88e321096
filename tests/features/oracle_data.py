"""Real inputs for the feature tests and the oracle set up to read them.

Alignments and template hits come from ../shared/data/msas/openfold (or $PROTEIN_SHARED/data): our side reads
them with `protein.io`'s parsers, the oracle with its own; the mmCIF mirror is
../shared/data/structures/openfold_mmcif (gzip'd). Tests skip with a reason when the data is absent.

Differences of the oracle (alphafold-colabfold 2.3.27 with Biopython >= 1.80) that the tests undo:
- `mmcif_parsing` maps SEQRES with `PDBData.protein_letters_3to1`, which since Biopython 1.80 holds only the
  twenty standard residues (MSE -> X); AlphaFold2 was written against the extended table (MSE -> M), which is
  now `protein_letters_3to1_extended`: `upstream_seqres_table` restores it.
- `make_msa_features` has its de-duplication commented out: `first_occurrences` selects AlphaFold2's rows.
- `_assess_hhsearch_hit` keeps only the date check (and the caller passes max_subsequence_ratio=1.0):
  `upstream_prefilter` restores AlphaFold2's align-ratio, duplicate and length checks.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import types
from pathlib import Path

import pytest

from protein.io.types import Msa, TemplateHit

TARGETS = ("1psm", "2crb", "2q2k", "3u8v", "3zee", "4i6p", "4zey", "5kc1")


def shared_data() -> Path | None:
    default = Path(__file__).parents[3] / "shared"
    root = Path(os.environ["PROTEIN_SHARED"]) if "PROTEIN_SHARED" in os.environ else default
    data = root / "data"
    return data if data.is_dir() else None


def require(relative: str) -> Path:
    """A path under the shared data, or skip the test."""
    data = shared_data()
    if data is None or not (data / relative).exists():
        pytest.skip(f"shared test data absent: {relative} (set PROTEIN_SHARED or check out ../shared)")
    return data / relative


def read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return handle.read()


def mmcif_dir() -> Path:
    return require("structures/openfold_mmcif")


def alignment_dir(target: str) -> Path:
    return require(f"msas/openfold/{target}_A")


def to_msa(oracle_msa) -> Msa:
    return Msa(list(oracle_msa.sequences), [list(row) for row in oracle_msa.deletion_matrix],
               list(oracle_msa.descriptions))


def to_hit(oracle_hit) -> TemplateHit:
    return TemplateHit(
        index=oracle_hit.index, name=oracle_hit.name, aligned_cols=oracle_hit.aligned_cols,
        sum_probs=oracle_hit.sum_probs, query=oracle_hit.query, hit_sequence=oracle_hit.hit_sequence,
        indices_query=list(oracle_hit.indices_query), indices_hit=list(oracle_hit.indices_hit),
    )


def oracle_msas(target: str) -> dict[str, object]:
    """The oracle's Msa per database (uniref90, bfd_uniclust, mgnify) that the target's folder holds."""
    from alphafold.data import parsers

    folder = alignment_dir(target)
    found = {}
    for name, file, parse in (
        ("uniref90", "uniref90_hits.sto.gz", parsers.parse_stockholm),
        ("bfd_uniclust", "bfd_uniclust_hits.a3m.gz", parsers.parse_a3m),
        ("mgnify", "mgnify_hits.sto.gz", parsers.parse_stockholm),
    ):
        if (folder / file).exists():
            found[name] = parse(read_text(folder / file))
    return found


def our_msas(target: str) -> dict[str, Msa]:
    """Our parsers' Msa per database, for the files `oracle_msas` reads."""
    from protein.io import alignments

    folder = alignment_dir(target)
    found = {}
    for name, file, read in (
        ("uniref90", "uniref90_hits.sto.gz", alignments.read_stockholm),
        ("bfd_uniclust", "bfd_uniclust_hits.a3m.gz", alignments.read_a3m),
        ("mgnify", "mgnify_hits.sto.gz", alignments.read_stockholm),
    ):
        if (folder / file).exists():
            found[name] = read(folder / file)
    return found


def our_hmmsearch_hits(target: str, query: str) -> list[TemplateHit]:
    from protein.io import hits

    return hits.read_hmmsearch_sto(query, alignment_dir(target) / "hmm_output.sto.gz")


def query_sequence(target: str) -> str:
    from alphafold.data import parsers

    return parsers.parse_a3m(read_text(alignment_dir(target) / "bfd_uniclust_hits.a3m.gz")).sequences[0]


def oracle_hmmsearch_hits(target: str, query: str) -> list:
    """The oracle's TemplateHits of the target's hmmsearch output, as its Hmmsearch.get_template_hits makes them."""
    from alphafold.data import parsers

    sto = read_text(alignment_dir(target) / "hmm_output.sto.gz")
    a3m = parsers.convert_stockholm_to_a3m(sto, remove_first_row_gaps=False)
    return list(parsers.parse_hmmsearch_a3m(query_sequence=query, a3m_string=a3m, skip_first=False))


def plain_mirror(destination: Path, pdb_ids=None) -> Path:
    """The gzip'd mmCIFs decompressed to <destination>/<id>.cif, the layout the oracle reads."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted(mmcif_dir().glob("*.cif.gz")):
        pdb_id = path.name.split(".")[0]
        if pdb_ids is None or pdb_id in pdb_ids:
            with gzip.open(path, "rb") as source, open(destination / f"{pdb_id}.cif", "wb") as target:
                shutil.copyfileobj(source, target)
    return destination


@contextlib.contextmanager
def upstream_seqres_table():
    """The oracle's mmcif_parsing with AlphaFold2's SEQRES table (modified residues -> parent)."""
    from alphafold.data import mmcif_parsing
    from Bio.Data import PDBData

    saved = mmcif_parsing.PDBData
    mmcif_parsing.PDBData = types.SimpleNamespace(protein_letters_3to1=PDBData.protein_letters_3to1_extended)
    mmcif_parsing.parse.cache_clear()
    try:
        yield mmcif_parsing
    finally:
        mmcif_parsing.PDBData = saved
        mmcif_parsing.parse.cache_clear()


def first_occurrences(sequences) -> list[int]:
    """Indices of the rows AlphaFold2 keeps: the first of each distinct aligned sequence."""
    seen, keep = set(), []
    for index, sequence in enumerate(sequences):
        if sequence not in seen:
            seen.add(sequence)
            keep.append(index)
    return keep


@contextlib.contextmanager
def upstream_prefilter():
    """The oracle's template prefilter with AlphaFold2's checks after its date check: align ratio <= 0.1, an
    exact subsequence of the query longer than 0.95 of it, fewer than 10 residues."""
    from alphafold.data import templates

    fork_check = templates._assess_hhsearch_hit

    def assess(hit, hit_pdb_code, query_sequence, release_dates, release_date_cutoff, **_):
        fork_check(hit=hit, hit_pdb_code=hit_pdb_code, query_sequence=query_sequence,
                   release_dates=release_dates, release_date_cutoff=release_date_cutoff)
        template = hit.hit_sequence.replace("-", "")
        if hit.aligned_cols / len(query_sequence) <= 0.1:
            raise templates.AlignRatioError("align ratio")
        if template in query_sequence and len(template) / len(query_sequence) > 0.95:
            raise templates.DuplicateError("duplicate")
        if len(template) < 10:
            raise templates.LengthError("length")
        return True

    templates._assess_hhsearch_hit = assess
    try:
        yield templates
    finally:
        templates._assess_hhsearch_hit = fork_check
