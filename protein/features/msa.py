"""MSA features: the alignments of one query merged into AlphaFold2's raw `msa`, `deletion_matrix_int`,
`num_alignments` and `msa_species_identifiers` (Jumper et al. (2021) Suppl. 1.2.2 - 1.2.3, Table 1).

Rows are taken alignment by alignment, in AlphaFold2's database order (UniRef90, then BFD + UniRef30 / small
BFD, then MGnify); a row whose aligned sequence already appeared earlier is dropped, so the query (row 0 of
every alignment) is kept once, first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np

from protein.errors import InputError
from protein.io.types import Msa
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)

# Order of the monomer MSAs in AlphaFold2's DataPipeline; names on one rank are alternatives (the full BFD +
# UniRef30 search by HHblits, or jackhmmer against small BFD) and keep the order they are given in.
DATABASE_ORDER: dict[str, int] = {
    "uniref90": 0,
    "bfd": 1,
    "bfd_uniref30": 1,
    "bfd_uniclust": 1,
    "uniref30": 1,
    "small_bfd": 1,
    "mgnify": 2,
}

# A UniProtKB sequence identifier `db|Accession|EntryName`: db is sp (Swiss-Prot) or tr (TrEMBL); the accession
# has 6-10 letters or digits, sometimes with an isoform suffix _N; the entry name is `<mnemonic>_<species code>`,
# the species code 1-5 letters or digits, with a trailing _N in small BFD.
_UNIPROT_IDENTIFIER = re.compile(
    r"^(?:sp|tr)\|[A-Za-z0-9]{6,10}(?:_\d)?\|[A-Za-z0-9]+_(?P<species>[A-Za-z0-9]{1,5})(?:_\d+)?$"
)

# Byte -> HHblits id, -1 for characters an aligned row may not hold.
_HHBLITS_LOOKUP = np.full(256, -1, dtype=np.int32)
for _letter, _index in rc.HHBLITS_AA_TO_ID.items():
    _HHBLITS_LOOKUP[ord(_letter)] = _index


def species_identifier(description: str) -> str:
    """The UniProt species mnemonic (e.g. 'HUMAN') of an MSA row, or '' when its identifier is not UniProtKB's.

    The identifier is the first word of the description, cut at the first '/' (jackhmmer appends the aligned
    range, 'tr|A0A1|A0A1_HUMAN/3-120').
    """
    words = description.split()
    if not words:
        return ""
    match = _UNIPROT_IDENTIFIER.match(words[0].partition("/")[0])
    return match.group("species") if match else ""


def _encode_rows(sequences: Sequence[str], where: str) -> np.ndarray:
    """Aligned rows -> HHblits ids, int32 [num_rows, num_res]."""
    try:
        raw = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as error:
        raise InputError(f"{where}: a row holds a non-ASCII character") from error
    ids = _HHBLITS_LOOKUP[raw].reshape(len(sequences), -1)
    if (ids < 0).any():
        row, column = map(int, np.argwhere(ids < 0)[0])
        raise InputError(
            f"{where}: row {row} has {sequences[row][column]!r} at column {column + 1}; aligned rows may hold "
            "only upper-case residue letters and '-'"
        )
    return ids


def make_msa_features(msas: Sequence[Msa]) -> dict[str, np.ndarray]:
    """Merges alignments of one query into AlphaFold2's MSA features (its `make_msa_features`).

    Args:
      msas: alignments in the order their rows should appear; row 0 of the first is the query.

    Returns:
      msa: int32 [num_alignments, num_res], residues in the HHblits alphabet (`HHBLITS_AA_TO_ID`, gap 21).
      deletion_matrix_int: int32 [num_alignments, num_res], residues deleted before each column.
      num_alignments: int32 [num_res], the number of rows in every entry.
      msa_species_identifiers: object [num_alignments], UniProt species codes as bytes (b'' when unknown).

    Raises:
      InputError: if no alignment is given, one is empty, or a row does not fit the query's columns.
    """
    if not msas:
        raise InputError("no MSA given: at least one alignment (the query alone will do) is needed")
    for index, msa in enumerate(msas):
        if len(msa) == 0:
            raise InputError(f"MSA {index} is empty: every alignment must hold at least its query row")
    num_res = len(msas[0].sequences[0])

    seen: set[str] = set()
    encoded, deletions, species = [], [], []
    for index, msa in enumerate(msas):
        keep = []
        for row, sequence in enumerate(msa.sequences):
            if sequence not in seen:
                seen.add(sequence)
                keep.append(row)
        rows = [msa.sequences[row] for row in keep]
        matrix = msa.deletion_matrix
        deletion_rows = matrix[keep] if isinstance(matrix, np.ndarray) else [matrix[row] for row in keep]
        for row, sequence, deletion_row in zip(keep, rows, deletion_rows):
            if len(sequence) != num_res or len(deletion_row) != num_res:
                raise InputError(
                    f"MSA {index} row {row} ({msa.descriptions[row]!r}) has {len(sequence)} columns and "
                    f"{len(deletion_row)} deletion counts; the query has {num_res}"
                )
        if not keep:
            continue
        encoded.append(_encode_rows(rows, f"MSA {index}"))
        deletions.append(np.asarray(deletion_rows, dtype=np.int32).reshape(len(keep), num_res))
        species.extend(species_identifier(msa.descriptions[row]).encode("utf-8") for row in keep)

    msa_ids = np.concatenate(encoded, axis=0)
    logger.info("MSA features: %d rows (%d before removing duplicates), %d columns",
                msa_ids.shape[0], sum(len(msa) for msa in msas), num_res)
    return {
        "deletion_matrix_int": np.concatenate(deletions, axis=0),
        "msa": msa_ids,
        "num_alignments": np.full((num_res,), msa_ids.shape[0], dtype=np.int32),
        "msa_species_identifiers": np.array(species, dtype=np.object_),
    }


def build_msa_features(query: str, msas_by_database: Mapping[str, Msa]) -> dict[str, np.ndarray]:
    """MSA features of one query from its per-database alignments, in AlphaFold2's DataPipeline order.

    Args:
      query: the query sequence; row 0 of every alignment must be exactly this.
      msas_by_database: alignment per database name, names from `DATABASE_ORDER` (uniref90; bfd, bfd_uniref30,
        bfd_uniclust, uniref30 or small_bfd; mgnify). The per-database depth caps (UniRef90 10,000 rows, MGnify
        501) are the parsers' job. With no alignment at all the MSA is the query alone (single-sequence mode).

    Returns:
      The features of `make_msa_features`.

    Raises:
      InputError: for an unknown database name or an alignment whose query row is not `query`.
    """
    unknown = sorted(set(msas_by_database) - set(DATABASE_ORDER))
    if unknown:
        raise InputError(f"unknown MSA database name(s) {unknown}; expected some of {sorted(DATABASE_ORDER)}")
    query = query.upper()
    for name, msa in msas_by_database.items():
        if len(msa) and msa.sequences[0] != query:
            raise InputError(
                f"the {name} alignment's first row is not the query ({len(msa.sequences[0])} vs {len(query)} "
                "residues, or different letters)"
            )
    ordered = sorted(msas_by_database, key=DATABASE_ORDER.__getitem__)  # stable: ties keep the given order
    if not ordered:
        logger.warning("no MSA for the query: single-sequence mode")
        return make_msa_features([Msa([query], [[0] * len(query)], ["query"])])
    return make_msa_features([msas_by_database[name] for name in ordered])
