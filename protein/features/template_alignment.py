"""Query-to-template residue correspondence for one template hit (Jumper et al. (2021) Suppl. 1.2.3): the hit's
own alignment turned into query index -> hit index, the hit located in the SEQRES of its mmCIF entry, and, when
the search database held another version of the chain, the hit realigned to the SEQRES with Kalign.

This follows AlphaFold2's template featuriser, except where it fails silently: a realigned hit residue with no
SEQRES partner is left out (AlphaFold2 reads it as index -1, the chain's last residue), and when the hit's chain
id is absent from a single-chain entry the chain actually used is the one named (AlphaFold2 keeps the absent id
and then finds no atoms).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from protein.errors import SearchError
from protein.features import kalign
from protein.io.types import TemplateHit

logger = logging.getLogger(__name__)

MIN_REALIGNED_IDENTITY = 0.9  # Identical residues over the shorter of hit and SEQRES, for a realignment to count.


class RealignmentError(Exception):
    """The hit could not be realigned to its SEQRES; reported in the template result's errors."""


class KalignMissingError(Exception):
    """The hit needs realigning but no Kalign executable was found; reported as a warning."""


def query_to_hit_mapping(hit: TemplateHit, query_sequence: str) -> dict[int, int]:
    """Query residue index -> index in the hit's gap-free sequence, for every column where both have a residue.

    The hit's query string may be a stretch of the query (HHsearch); its indices are shifted to where that
    stretch starts in `query_sequence`.
    """
    if not hit.query:
        return {}
    query_part = hit.query.replace("-", "")
    template_length = len(hit.hit_sequence.replace("-", ""))
    query_offset = query_sequence.find(query_part)
    hit_present = [index for index in hit.indices_hit if index > -1]
    query_present = [index for index in hit.indices_query if index > -1]
    if not hit_present or not query_present:
        return {}
    hit_start, query_start = min(hit_present), min(query_present)
    mapping = {}
    for query_index, hit_index in zip(hit.indices_query, hit.indices_hit):
        if query_index == -1 or hit_index == -1:
            continue
        query_position = query_index - query_start + query_offset
        hit_position = hit_index - hit_start
        if hit_position >= template_length or not 0 <= query_position < len(query_sequence):
            continue
        mapping[query_position] = hit_position
    return mapping


def locate_in_seqres(template_sequence: str, chain_id: str, chain_to_seqres: Mapping[str, str]) -> (
        tuple[str, int] | None):
    """(chain id, offset of the hit in its SEQRES), trying in turn: the hit's chain holding the hit sequence, any
    chain holding it, any chain matching it with X in either sequence as a wildcard. None if all fail."""
    seqres = chain_to_seqres.get(chain_id)
    if seqres and template_sequence in seqres:
        return chain_id, seqres.find(template_sequence)
    for other_id, seqres in chain_to_seqres.items():
        if seqres and template_sequence in seqres:
            return other_id, seqres.find(template_sequence)
    pattern = re.compile("".join("." if aa == "X" else f"(?:{re.escape(aa)}|X)" for aa in template_sequence))
    for other_id, seqres in chain_to_seqres.items():
        match = pattern.search(seqres)
        if match:
            return other_id, match.start()
    return None


def realign_to_seqres(
    template_sequence: str,
    chain_id: str,
    chain_to_seqres: Mapping[str, str],
    mapping: Mapping[int, int],
    kalign_binary: str | None,
    entry: str,
) -> tuple[str, str, dict[int, int]]:
    """Realigns the hit sequence to the SEQRES of its chain (or of the entry's only chain) with Kalign.

    Returns:
      (chain id, SEQRES, query index -> SEQRES index).

    Raises:
      KalignMissingError: if kalign_binary is None.
      RealignmentError: if there is no chain to align to, Kalign fails, or fewer than 90 % of the residues of the
        shorter sequence are identical in the alignment.
    """
    seqres = chain_to_seqres.get(chain_id, "")
    if not seqres:
        if len(chain_to_seqres) != 1:
            raise RealignmentError(
                f"{entry} has no protein chain {chain_id!r} (chains {sorted(chain_to_seqres)}) to realign to"
            )
        chain_id, seqres = next(iter(chain_to_seqres.items()))
        logger.info("%s: chain of the hit absent, realigning to the only chain %s", entry, chain_id)
    if kalign_binary is None:
        raise KalignMissingError(f"{entry}_{chain_id}: the hit must be realigned to the mmCIF SEQRES, but kalign "
                                 "is not installed")
    try:
        hit_row, seqres_row = kalign.align([template_sequence, seqres], kalign_binary)
    except (ValueError, SearchError) as error:
        raise RealignmentError(f"could not align {template_sequence} to {entry}_{chain_id} {seqres}: {error}") from (
            error)

    hit_to_seqres = {}
    hit_index = seqres_index = -1
    identical = 0
    for hit_residue, seqres_residue in zip(hit_row, seqres_row):
        hit_index += hit_residue != "-"
        seqres_index += seqres_residue != "-"
        if hit_residue != "-" and seqres_residue != "-":
            hit_to_seqres[hit_index] = seqres_index
            identical += hit_residue == seqres_residue
    identity = identical / min(len(template_sequence), len(seqres))
    if identity < MIN_REALIGNED_IDENTITY:
        raise RealignmentError(
            f"hit sequence {template_sequence} is {identity:.0%} identical to {entry}_{chain_id} {seqres}; at "
            f"least {MIN_REALIGNED_IDENTITY:.0%} is needed"
        )
    realigned = {query: hit_to_seqres[hit] for query, hit in mapping.items() if hit in hit_to_seqres}
    return chain_id, seqres, realigned
