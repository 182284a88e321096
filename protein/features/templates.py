"""Template features from template search hits (Jumper et al. (2021) Suppl. 1.2.3, the `template_*` rows of Suppl.
Table 1), as AlphaFold2's HhsearchHitFeaturizer / HmmsearchHitFeaturizer make them.

Hits are taken best first (by sum_probs when every hit has one, else in the order given). Each hit is
prefiltered without opening its structure (released after the cutoff; aligned to at most 10 % of the query; an
exact subsequence of the query longer than 95 % of it; shorter than 10 residues), then located in the SEQRES of
its mmCIF entry (realigned with Kalign if the search database held another version), and its atoms placed at
the query residues they align to. Up to `max_hits` templates are kept (the network later uses the first
`max_templates`, 4); after hmmsearch, a template whose aligned sequence repeats an earlier one is skipped.

A hit that cannot be used never stops the target: it is skipped, with a warning (structure missing, unreadable,
without atoms, or needing Kalign when none is installed) or an error (alignment failures; in strict mode also
those warnings but a missing file or Kalign, and hits after the date cutoff or duplicating the query).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from protein.errors import InputError
from protein.features import pdb_metadata
from protein.features.kalign import find_kalign
from protein.features.template_alignment import (
    KalignMissingError, RealignmentError, locate_in_seqres, query_to_hit_mapping, realign_to_seqres,
)
from protein.io.types import TemplateHit
from protein.structure import mmcif
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)

MAX_SUBSEQUENCE_RATIO = 0.95  # A hit that is an exact subsequence of the query and longer than this is a duplicate.
MIN_ALIGN_RATIO = 0.1  # Aligned columns over query length must exceed this.
MIN_TEMPLATE_LENGTH = 10
MAX_CA_CA_DISTANCE = 150.0  # Angstrom between consecutive observed CAs: only really broken entries are rejected.
MIN_ATOMS = 5  # Fewer atoms (alanine has 5) over the aligned residues means no usable coordinates.
SEARCHERS = ("hhsearch", "hmmsearch")
_NUM_TEMPLATE_AATYPES = len(rc.restypes_with_x_and_gap)  # 22, HHblits alphabet with gap
_HIT_NAME = re.compile(r"^([A-Za-z0-9]{4})_([A-Za-z0-9.]+)")


@dataclasses.dataclass(frozen=True)
class TemplateResult:
    """Template features and what went wrong on the way.

    features: template_aatype float32 [T, N_res, 22] (one-hot, HHblits alphabet, gap 21),
      template_all_atom_masks float32 [T, N_res, 37], template_all_atom_positions float32 [T, N_res, 37, 3],
      template_domain_names object [T] (b'<pdb_id>_<chain>'), template_sequence object [T] (bytes, '-' where
      the query residue has no template partner), template_sum_probs float32 [T, 1]; T may be 0.
    errors / warnings: one message per hit that raised one, naming the hit.
    """

    features: dict[str, np.ndarray]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _NoStructure:
    reason: str
    missing: bool  # no file at all (always a warning), rather than a file that could not be used


@dataclasses.dataclass(frozen=True)
class _HitOutcome:
    features: dict[str, np.ndarray] | None = None
    error: str | None = None
    warning: str | None = None


def empty_template_features(num_res: int) -> dict[str, np.ndarray]:
    """Template features with no template: AlphaFold2's dtypes and per-template shapes, T = 0."""
    return {
        "template_aatype": np.zeros((0, num_res, _NUM_TEMPLATE_AATYPES), np.float32),
        "template_all_atom_masks": np.zeros((0, num_res, rc.atom_type_num), np.float32),
        "template_all_atom_positions": np.zeros((0, num_res, rc.atom_type_num, 3), np.float32),
        "template_domain_names": np.zeros((0,), np.object_),
        "template_sequence": np.zeros((0,), np.object_),
        "template_sum_probs": np.zeros((0, 1), np.float32),
    }


def prefilter_failure(hit: TemplateHit, query_sequence: str, release_date: datetime.date | None,
                      max_template_date: datetime.date) -> tuple[str, str] | None:
    """(kind, reason) if the hit fails AlphaFold2's prefilter, else None; kind is 'date', 'align_ratio',
    'duplicate' or 'length'. `release_date` is the entry's date from a release-dates file, if known."""
    template_sequence = hit.hit_sequence.replace("-", "")
    align_ratio = hit.aligned_cols / len(query_sequence)
    length_ratio = len(template_sequence) / len(query_sequence)
    if release_date is not None and release_date > max_template_date:
        return "date", f"released {release_date} > max template date {max_template_date}"
    if align_ratio <= MIN_ALIGN_RATIO:
        return "align_ratio", f"aligned to {align_ratio:.3f} of the query (<= {MIN_ALIGN_RATIO})"
    if template_sequence in query_sequence and length_ratio > MAX_SUBSEQUENCE_RATIO:
        return "duplicate", f"an exact subsequence of the query covering {length_ratio:.3f} of it"
    if len(template_sequence) < MIN_TEMPLATE_LENGTH:
        return "length", f"only {len(template_sequence)} residues"
    return None


def _ca_gap(chain: mmcif.MmcifChain) -> str | None:
    """A message if two consecutive observed CAs lie more than MAX_CA_CA_DISTANCE apart."""
    ca = rc.atom_order["CA"]
    both = (chain.atom_mask[1:, ca] > 0) & (chain.atom_mask[:-1, ca] > 0)
    distance = np.linalg.norm(chain.atom_positions[1:, ca] - chain.atom_positions[:-1, ca], axis=-1)
    far = np.flatnonzero(both & (distance > MAX_CA_CA_DISTANCE))
    if far.size:
        i = int(far[0])
        return f"CA of residues {i + 1} and {i + 2} are {distance[i]:.1f} A apart (> {MAX_CA_CA_DISTANCE})"
    return None


class TemplateFeaturizer:
    """Turns template search hits for a query into template features.

    Args:
      mmcif_dir: folder of PDB entries as <pdb_id>.cif or <pdb_id>.cif.gz (ids lower case).
      max_template_date: 'YYYY-MM-DD' (or a date); entries released later are not used.
      max_hits: the most templates returned.
      release_dates_path: optional '<pdb_id>: YYYY-MM-DD' file, to prefilter by date without opening mmCIFs.
      obsolete_pdbs_path: optional PDB obsolete.dat; obsolete hits are replaced or (if removed) skipped.
      strict_error_check: report as errors what is otherwise a warning or silent skip (see module doc).
      searcher: 'hmmsearch' (AlphaFold2's HmmsearchHitFeaturizer: repeated template sequences skipped) or
        'hhsearch' (HhsearchHitFeaturizer).
      kalign_binary: Kalign executable (path or name on PATH) for realigning hits.
    """

    def __init__(
        self,
        mmcif_dir: str | Path,
        max_template_date: str | datetime.date,
        max_hits: int = 20,
        release_dates_path: str | Path | None = None,
        obsolete_pdbs_path: str | Path | None = None,
        strict_error_check: bool = False,
        *,
        searcher: str = "hmmsearch",
        kalign_binary: str = "kalign",
    ):
        self.mmcif_dir = Path(mmcif_dir)
        if not self.mmcif_dir.is_dir():
            raise InputError(f"mmCIF folder {self.mmcif_dir} does not exist")
        if isinstance(max_template_date, str):
            try:
                max_template_date = datetime.date.fromisoformat(max_template_date)
            except ValueError as error:
                raise InputError(f"max_template_date {max_template_date!r} is not YYYY-MM-DD") from error
        if searcher not in SEARCHERS:
            raise ValueError(f"searcher must be one of {SEARCHERS}, got {searcher!r}")
        self.max_template_date = max_template_date
        self.max_hits = max_hits
        self.strict_error_check = strict_error_check
        self.searcher = searcher
        self.kalign_binary = find_kalign(kalign_binary)
        self.release_dates = pdb_metadata.read_release_dates(release_dates_path) if release_dates_path else {}
        self.obsolete = pdb_metadata.read_obsolete(obsolete_pdbs_path) if obsolete_pdbs_path else {}

    def get_templates(self, query_sequence: str, hits: Sequence[TemplateHit]) -> TemplateResult:
        """Template features for `query_sequence` from its hits (see the module doc for the rules)."""
        query_sequence = query_sequence.upper()
        if all(hit.sum_probs is not None for hit in hits):
            hits = sorted(hits, key=lambda hit: hit.sum_probs, reverse=True)
        structures: dict[str, mmcif.MmcifStructure | _NoStructure] = {}
        templates, seen, errors, warnings = [], set(), [], []
        for hit in hits:
            if len(templates) >= self.max_hits:
                break
            outcome = self._featurize_hit(query_sequence, hit, structures)
            if outcome.error:
                errors.append(outcome.error)
            if outcome.warning:
                warnings.append(outcome.warning)
            if outcome.features is None:
                continue
            if self.searcher == "hmmsearch":
                if outcome.features["template_sequence"] in seen:
                    continue
                seen.add(outcome.features["template_sequence"])
            templates.append(outcome.features)
        logger.info("%d templates from %d hits (%d errors, %d warnings)", len(templates), len(hits), len(errors),
                    len(warnings))
        features = empty_template_features(len(query_sequence))
        if templates:
            features = {
                name: (np.array([template[name] for template in templates], dtype=np.object_)
                       if empty.dtype == np.object_ else np.stack([template[name] for template in templates]))
                for name, empty in features.items()
            }
        return TemplateResult(features, tuple(errors), tuple(warnings))

    def _structure(self, pdb_id: str, structures: dict) -> mmcif.MmcifStructure | _NoStructure:
        """The parsed entry, or why there is none; each entry is parsed once per get_templates call."""
        if pdb_id not in structures:
            paths = [self.mmcif_dir / f"{pdb_id}.cif", self.mmcif_dir / f"{pdb_id}.cif.gz"]
            path = next((path for path in paths if path.exists()), None)
            if path is None:
                structures[pdb_id] = _NoStructure(f"no mmCIF file {paths[0]} (or .gz)", missing=True)
            else:
                try:
                    structures[pdb_id] = mmcif.read_mmcif(path, file_id=pdb_id)
                except InputError as error:
                    structures[pdb_id] = _NoStructure(str(error), missing=False)
        return structures[pdb_id]

    def _featurize_hit(self, query: str, hit: TemplateHit, structures: dict) -> _HitOutcome:
        strict = self.strict_error_check
        name_match = _HIT_NAME.match(hit.name)
        if not name_match:
            return _HitOutcome(error=f"hit {hit.index} {hit.name!r}: name does not start with <pdb_id>_<chain>")
        pdb_id, chain_id = name_match.group(1).lower(), name_match.group(2)
        label = f"hit {hit.index} {pdb_id}_{chain_id} (sum_probs {hit.sum_probs})"
        if pdb_id in self.obsolete and self.obsolete[pdb_id] is None:
            return _HitOutcome(warning=f"{label}: the entry is obsolete and has no replacement")
        if pdb_id not in self.release_dates and pdb_id in self.obsolete:
            pdb_id = self.obsolete[pdb_id]

        failure = prefilter_failure(hit, query, self.release_dates.get(pdb_id), self.max_template_date)
        if failure:
            kind, reason = failure
            message = f"{label} did not pass the prefilter: {reason}"
            logger.info(message)
            return _HitOutcome(error=message if strict and kind in ("date", "duplicate") else None)

        mapping = query_to_hit_mapping(hit, query)
        template_sequence = hit.hit_sequence.replace("-", "")
        structure = self._structure(pdb_id, structures)
        if isinstance(structure, _NoStructure):
            message = f"{label}: {structure.reason}"
            return _HitOutcome(error=message) if strict and not structure.missing else _HitOutcome(warning=message)
        if structure.release_date is None:
            return _HitOutcome(warning=f"{label}: {structure.source} has no release date to check")
        if structure.release_date > self.max_template_date:
            message = f"{label}: released {structure.release_date} > max template date {self.max_template_date}"
            logger.debug(message)
            return _HitOutcome(error=message if strict else None)
        if not structure.chains:
            message = f"{label}: {structure.source} has no protein chain"
            return _HitOutcome(error=message) if strict else _HitOutcome(warning=message)

        realign_warning = None
        located = locate_in_seqres(template_sequence, chain_id, structure.chain_to_seqres)
        if located is not None:
            chain_id, offset = located
        else:
            realign_warning = (f"{label}: the exact sequence {template_sequence} was not found in the SEQRES of "
                               f"{pdb_id}_{chain_id}; realigned the hit to it")
            try:
                chain_id, template_sequence, mapping = realign_to_seqres(
                    template_sequence, chain_id, structure.chain_to_seqres, mapping, self.kalign_binary, pdb_id
                )
            except KalignMissingError as error:
                return _HitOutcome(warning=f"{label}: skipped: {error}")
            except RealignmentError as error:
                return _HitOutcome(error=f"{label}: {error}")
            offset = 0
        return self._template_features(query, hit, pdb_id, structure.chains[chain_id], template_sequence, mapping,
                                       offset, label, realign_warning)

    def _template_features(self, query: str, hit: TemplateHit, pdb_id: str, chain: mmcif.MmcifChain,
                           template_sequence: str, mapping: Mapping[int, int], offset: int, label: str,
                           realign_warning: str | None) -> _HitOutcome:
        """The atoms of the chain's SEQRES residues offset + mapping[i] placed at query residues i."""
        num_res = len(query)
        problem = _ca_gap(chain)
        if problem is None:
            query_index = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
            chain_index = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping)) + offset
            positions = np.zeros((num_res, rc.atom_type_num, 3), np.float32)
            masks = np.zeros((num_res, rc.atom_type_num), np.float32)
            positions[query_index] = chain.atom_positions[chain_index]
            masks[query_index] = chain.atom_mask[chain_index]
            if masks.sum() < MIN_ATOMS:
                problem = f"fewer than {MIN_ATOMS} atoms over the aligned residues of {pdb_id}_{chain.chain_id}"
        if problem is not None:
            message = f"{label}: no usable atoms: {problem}"
            return _HitOutcome(error=message) if self.strict_error_check else _HitOutcome(warning=message)

        letters = ["-"] * num_res
        for query_position, template_position in mapping.items():
            letters[query_position] = template_sequence[template_position]
        sequence = "".join(letters)
        unknown = rc.HHBLITS_AA_TO_ID["X"]
        aatype = np.zeros((num_res, _NUM_TEMPLATE_AATYPES), np.float32)
        aatype[np.arange(num_res), [rc.HHBLITS_AA_TO_ID.get(letter, unknown) for letter in letters]] = 1.0
        features = {
            "template_aatype": aatype,
            "template_all_atom_masks": masks,
            "template_all_atom_positions": positions,
            "template_domain_names": f"{pdb_id}_{chain.chain_id}".encode(),
            "template_sequence": sequence.encode(),
            "template_sum_probs": np.array([hit.sum_probs or 0.0], np.float32),
        }
        return _HitOutcome(features=features, warning=realign_warning)
