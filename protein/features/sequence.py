"""Sequence features: the query's residue types, numbering and name (Jumper et al. (2021) Suppl. 1.2.9, the
`aatype`, `residue_index`, `domain_name` rows of Suppl. Table 1), with AlphaFold2's keys, dtypes and shapes."""

from __future__ import annotations

import logging

import numpy as np

from protein.errors import InputError
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)


def make_sequence_features(sequence: str, description: str, num_res: int | None = None) -> dict[str, np.ndarray]:
    """Features of one query chain, as AlphaFold2's `make_sequence_features` writes them into features.pkl.

    Every letter outside the twenty standard residues (B, J, O, U, Z and any other) is read as X (index 20),
    as AlphaFold2 does for the query; such letters are logged as a warning naming the record. Lower-case letters
    are read as upper case (AlphaFold2 rejects them) and `sequence` is stored upper-cased.

    Args:
      sequence: one-letter amino-acid codes of the query.
      description: the FASTA header of the record (stored as `domain_name`, named in messages).
      num_res: the number of residues, if the caller knows it; must equal len(sequence).

    Returns:
      aatype: int32 [num_res, 21], one-hot over `restypes_with_x`.
      between_segment_residues: int32 [num_res], zeros.
      domain_name: object [1], the description as UTF-8 bytes.
      residue_index: int32 [num_res], 0 .. num_res - 1.
      seq_length: int32 [num_res], num_res in every entry.
      sequence: object [1], the sequence as UTF-8 bytes.

    Raises:
      InputError: if the sequence is empty, holds a character that is not a letter, or num_res disagrees.
    """
    aatype, substituted = rc.sequence_to_aatype(sequence, record_id=description)
    if num_res is not None and num_res != len(sequence):
        raise InputError(f"record {description!r}: num_res={num_res} but the sequence has {len(sequence)} residues")
    if substituted:
        shown = ", ".join(f"{letter}{position + 1}" for position, letter in substituted[:10])
        more = f" and {len(substituted) - 10} more" if len(substituted) > 10 else ""
        logger.warning(
            "record %r: %d residue(s) read as unknown (X): %s%s", description, len(substituted), shown, more
        )
    length = len(sequence)
    one_hot = np.zeros((length, len(rc.restypes_with_x)), dtype=np.int32)
    one_hot[np.arange(length), aatype] = 1
    return {
        "aatype": one_hot,
        "between_segment_residues": np.zeros((length,), dtype=np.int32),
        "domain_name": np.array([description.encode("utf-8")], dtype=np.object_),
        "residue_index": np.arange(length, dtype=np.int32),
        "seq_length": np.full((length,), length, dtype=np.int32),
        "sequence": np.array([sequence.upper().encode("utf-8")], dtype=np.object_),
    }
