"""Databases made from the shared real sequence sets, for the search tests (each module builds its own copy)."""

import pytest

from tests.search import seqdb


@pytest.fixture(scope="module")
def db400(tmp_path_factory):
    """The first 400 UniProt records of the shared 20k database, as a plain FASTA file."""
    return seqdb.first_records(seqdb.UNIPROT_DB, 400, tmp_path_factory.mktemp("db") / "db400.fasta")


@pytest.fixture(scope="module")
def pdb_seqres(tmp_path_factory):
    """The shared pdb_seqres sample, unpacked."""
    return seqdb.plain_copy(seqdb.PDB_SEQRES, tmp_path_factory.mktemp("pdb") / "pdb_seqres.txt")
