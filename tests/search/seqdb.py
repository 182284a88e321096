"""Small real sequence databases for the search tests, cut from the shared data folder (skipped when absent):
the first records of the 20,000 UniProt sequences of MMseqs2's example database, its queries, the HMMER tutorial
globins, the AlphaFold3 test miniature pdb_seqres, and OpenFold's real jackhmmer UniRef90 alignments."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from protein.io import FastaRecord, read_fasta
from tests.io.data import shared_file

UNIPROT_DB = "seqdb/mmseqs2_examples_DB.fasta.gz"
UNIPROT_QUERIES = "seqdb/mmseqs2_examples_QUERY.fasta.gz"
GLOBINS = "seqdb/hmmer_tutorial/globins45.fa"
HBB_HUMAN = "seqdb/hmmer_tutorial/HBB_HUMAN"
PDB_SEQRES = "seqdb/af3_miniature/pdb_seqres_2022_09_28__subsampled_1000.fasta.gz"

# Queries with hits among the first 400 database sequences, chosen so that later jackhmmer rounds include more
# (the profile matters): included hits in rounds 1 and 3 (found with pyhmmer, confirmed with jackhmmer 3.3.2).
ITERATING_QUERIES = {
    "tr|Q6KEA5|Q6KEA5_HUMAN": (7, 14),
    "tr|A0A0D3E108|A0A0D3E108_BRAOL": (3, 12),
    "sp|Q9DC28|KC1D_MOUSE": (4, 12),
    "tr|A0A0K8VRH7|A0A0K8VRH7_BACLA": (10, 12),
}


def first_records(relative: str, count: int, out: Path) -> Path:
    """The first `count` records of a shared (gzip) FASTA file, written plain to `out`."""
    written, lines = 0, []
    with gzip.open(shared_file(relative), "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                written += 1
                if written > count:
                    break
            lines.append(line)
    out.write_text("".join(lines))
    return out


def plain_copy(relative: str, out: Path) -> Path:
    """A shared file (gzip or not) as a plain file at `out`."""
    source = shared_file(relative)
    with (gzip.open(source, "rb") if source.suffix == ".gz" else open(source, "rb")) as handle, \
            open(out, "wb") as target:
        shutil.copyfileobj(handle, target)
    return out


def uniprot_query(record_id: str) -> FastaRecord:
    records = {record.id: record for record in read_fasta(shared_file(UNIPROT_QUERIES))}
    if record_id not in records:
        pytest.fail(f"{record_id} is not in {UNIPROT_QUERIES}")
    return records[record_id]
