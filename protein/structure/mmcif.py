"""PDB mmCIF entries read for template featurisation: each protein chain's SEQRES, its atoms in the atom37 layout,
and the entry's release date, resolution and method.

gemmi reads the CIF syntax; the interpretation is AlphaFold2's (its `mmcif_parsing` and the atom loop of its
template featuriser; Jumper et al. (2021) Suppl. 1.2.3):

* a protein chain is a `_struct_asym` of a polymer entity with at least one monomer whose `_chem_comp.type`
  contains "peptide"; chains are keyed by the author chain id of their atoms, in entity order;
* SEQRES comes from `_entity_poly_seq`, three-letter codes mapped by the PDB's extended table (modified residues
  to their parent, MSE -> M), anything else to X;
* atoms come from the first model; a SEQRES position is `label_seq_id` minus the entity's first number; the
  residue at that position gathers every atom of the same author chain, record type (ATOM / HETATM), author
  number and insertion code; of alternate locations the first with the highest occupancy is kept; selenium of
  MSE fills the SD slot; arginine NH1/NH2 are swapped when NH1 is the one farther from CD;
* the release date is the earliest `_pdbx_audit_revision_history.revision_date`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Mapping
from pathlib import Path

import gemmi
import numpy as np
from Bio.Data.PDBData import protein_letters_3to1_extended

from protein.errors import InputError
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)

# AlphaFold2 reads these in turn and keeps the last one present that parses as a number.
_RESOLUTION_ITEMS = ("_refine.ls_d_res_high", "_em_3d_reconstruction.resolution", "_reflns.d_resolution_high")
_REQUIRED_ATOM_SITE = (
    "group_PDB", "label_atom_id", "label_comp_id", "label_asym_id", "label_seq_id", "auth_asym_id", "auth_seq_id",
    "Cartn_x", "Cartn_y", "Cartn_z",
)
_CD, _NH1, _NH2, _SD = (rc.atom_order[name] for name in ("CD", "NH1", "NH2", "SD"))


@dataclasses.dataclass(frozen=True)
class MmcifChain:
    """One protein chain over its SEQRES positions.

    chain_id: the author chain id (auth_asym_id).
    sequence: one-letter SEQRES, length num_res.
    residue_names: three-letter SEQRES codes, length num_res.
    atom_positions: float32 [num_res, 37, 3], Angstrom, zeros where absent.
    atom_mask: float32 [num_res, 37], 1.0 where the atom has coordinates in the first model.
    observed: bool [num_res], True where the residue has any atom in the first model.
    """

    chain_id: str
    sequence: str
    residue_names: tuple[str, ...]
    atom_positions: np.ndarray
    atom_mask: np.ndarray
    observed: np.ndarray


@dataclasses.dataclass(frozen=True)
class MmcifStructure:
    """A parsed mmCIF entry. `chains` maps author chain id to chain, in AlphaFold2's order; `resolution` is 0.0
    when the file gives none; `structure_method` is the lower-case `_exptl.method` values joined by commas."""

    file_id: str
    source: str
    release_date: datetime.date | None
    resolution: float
    structure_method: str
    chains: Mapping[str, MmcifChain]

    @property
    def chain_to_seqres(self) -> dict[str, str]:
        return {chain_id: chain.sequence for chain_id, chain in self.chains.items()}


@dataclasses.dataclass
class _Residue:
    """Atoms of one residue id; a point mutation (two residue names at one id) keeps one atom table per name,
    and the name defined last is the one used, as in Biopython."""

    selected: str
    atoms: dict[str, dict[str, tuple[float, int]]]  # residue name -> atom name -> (occupancy, atom row)


def read_mmcif(path: str | Path, file_id: str | None = None) -> MmcifStructure:
    """Parses an mmCIF file (plain or gzip-compressed). `file_id` defaults to the file name before its first '.'.

    Raises:
      InputError: naming the file, if it is missing, not CIF, or lacks the items a structure needs.
    """
    path = Path(path)
    file_id = file_id or path.name.split(".")[0].lower()
    try:
        document = gemmi.cif.read(str(path))
    except FileNotFoundError as error:
        raise InputError(f"mmCIF file {path} does not exist") from error
    except (RuntimeError, ValueError, OSError) as error:
        raise InputError(f"mmCIF file {path} could not be read: {error}") from error
    return _structure(document, file_id, str(path))


def parse_mmcif(text: str, file_id: str, source: str = "<string>") -> MmcifStructure:
    """Parses mmCIF text; `source` names it in error messages."""
    try:
        document = gemmi.cif.read_string(text)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"mmCIF {source} could not be read: {error}") from error
    return _structure(document, file_id, source)


def _structure(document: gemmi.cif.Document, file_id: str, source: str) -> MmcifStructure:
    if len(document) == 0:
        raise InputError(f"mmCIF {source} holds no data block")
    block = document[0]
    try:
        chains = _protein_chains(block, source)
        return MmcifStructure(
            file_id=file_id,
            source=source,
            release_date=_release_date(block),
            resolution=_resolution(block),
            structure_method=",".join(str(method).lower() for method in _values(block, "_exptl.method")),
            chains=chains,
        )
    except ValueError as error:  # numbers or dates that do not parse
        raise InputError(f"mmCIF {source} is malformed: {error}") from error


def _values(block: gemmi.cif.Block, tag: str) -> list:
    """The values of one item (a loop column or a single pair); None for '?', False for '.'."""
    prefix, _, name = tag.rpartition(".")
    return block.get_mmcif_category(prefix + ".").get(name, [])


def _release_date(block: gemmi.cif.Block) -> datetime.date | None:
    dates = [value for value in _values(block, "_pdbx_audit_revision_history.revision_date") if value]
    return datetime.date.fromisoformat(min(dates)) if dates else None


def _resolution(block: gemmi.cif.Block) -> float:
    resolution = 0.0
    for item in _RESOLUTION_ITEMS:
        values = _values(block, item)
        if values and isinstance(values[0], str):
            try:
                resolution = float(values[0])
            except ValueError:
                logger.debug("unparsable %s %r", item, values[0])
    return resolution


def _one_letter(residue_name: str) -> str:
    code = protein_letters_3to1_extended.get(residue_name, "X")
    return code if len(code) == 1 else "X"


def _protein_seqres(block: gemmi.cif.Block) -> dict[str, list[tuple[str, int]]]:
    """label_asym_id -> SEQRES [(monomer, number)] of every protein chain, in entity order."""
    poly = block.get_mmcif_category("_entity_poly_seq.")
    monomers: dict[str, list[tuple[str, int]]] = {}
    for entity, number, monomer in zip(poly.get("entity_id", []), poly.get("num", []), poly.get("mon_id", [])):
        monomers.setdefault(entity, []).append((monomer, int(number)))
    chem = block.get_mmcif_category("_chem_comp.")
    chem_type = dict(zip(chem.get("id", []), chem.get("type", [])))
    asym = block.get_mmcif_category("_struct_asym.")
    asyms_of: dict[str, list[str]] = {}
    for asym_id, entity in zip(asym.get("id", []), asym.get("entity_id", [])):
        asyms_of.setdefault(entity, []).append(asym_id)
    chains = {}
    for entity, seq in monomers.items():
        if any("peptide" in str(chem_type.get(monomer) or "").lower() for monomer, _ in seq):
            for asym_id in asyms_of.get(entity, []):
                chains[asym_id] = seq
    return chains


def _protein_chains(block: gemmi.cif.Block, source: str) -> dict[str, MmcifChain]:
    seqres = _protein_seqres(block)
    if not seqres:
        return {}
    sites = block.get_mmcif_category("_atom_site.")
    missing = [tag for tag in _REQUIRED_ATOM_SITE if tag not in sites]
    if missing:
        raise InputError(f"mmCIF {source} has protein chains but no _atom_site.{missing[0]}")
    num_atoms = len(sites["label_atom_id"])
    coordinates = np.array([sites["Cartn_x"], sites["Cartn_y"], sites["Cartn_z"]], dtype=np.float64).T
    occupancy = sites.get("occupancy", [1.0] * num_atoms)
    absent = [None] * num_atoms
    models = sites.get("pdbx_PDB_model_num", absent)
    insertion = sites.get("pdbx_PDB_ins_code", absent)
    first_number = {chain: min(number for _, number in seq) for chain, seq in seqres.items()}

    label_to_author: dict[str, str] = {}
    residue_at: dict[str, dict[int, tuple]] = {}  # author chain -> SEQRES index -> residue id
    residues: dict[tuple, _Residue] = {}
    first_model = models[0] if num_atoms else None
    for row in range(num_atoms):
        if models[row] != first_model:
            continue
        author_chain, label_chain = sites["auth_asym_id"][row], sites["label_asym_id"][row]
        author_number = sites["auth_seq_id"][row]
        label_to_author[label_chain] = author_chain
        if not author_number:
            continue  # Biopython drops atoms without a residue number.
        name = sites["label_comp_id"][row]
        record = " "
        if sites["group_PDB"][row] == "HETATM":
            record = "W" if name in ("HOH", "WAT") else "H_" + name
        residue_id = (author_chain, record, int(author_number), insertion[row] or " ")
        residue = residues.get(residue_id)
        if residue is None:
            residue = residues[residue_id] = _Residue(selected=name, atoms={})
        residue.selected = name
        atoms = residue.atoms.setdefault(name, {})
        atom_name = sites["label_atom_id"][row]
        atom_occupancy = float(occupancy[row]) if occupancy[row] else 1.0
        if atom_name not in atoms or atom_occupancy > atoms[atom_name][0]:
            atoms[atom_name] = (atom_occupancy, row)
        if label_chain in seqres and sites["label_seq_id"][row]:
            index = int(sites["label_seq_id"][row]) - first_number[label_chain]
            residue_at.setdefault(author_chain, {})[index] = residue_id

    chains: dict[str, MmcifChain] = {}
    for label_chain, seq in seqres.items():
        author_chain = label_to_author.get(label_chain)
        if author_chain is None:
            logger.info("%s: protein chain %s has no atoms in the first model; skipped", source, label_chain)
            continue
        chains[author_chain] = _chain(author_chain, seq, residue_at.get(author_chain, {}), residues, coordinates,
                                      sites["label_atom_id"])
    return chains


def _chain(chain_id: str, seq: list[tuple[str, int]], residue_at: dict[int, tuple],
           residues: dict[tuple, _Residue], coordinates: np.ndarray, atom_names: list[str]) -> MmcifChain:
    num_res = len(seq)
    positions = np.zeros((num_res, rc.atom_type_num, 3), dtype=np.float32)
    mask = np.zeros((num_res, rc.atom_type_num), dtype=np.float32)
    observed = np.zeros((num_res,), dtype=bool)
    for index in range(num_res):
        residue_id = residue_at.get(index)
        if residue_id is None:
            continue
        observed[index] = True
        residue = residues[residue_id]
        for atom_name, (_, row) in residue.atoms[residue.selected].items():
            slot = rc.atom_order.get(atom_name)
            if slot is None and residue.selected == "MSE" and atom_name.upper() == "SE":
                slot = _SD
            if slot is not None:
                positions[index, slot] = coordinates[row]
                mask[index, slot] = 1.0
        if residue.selected == "ARG" and mask[index, [_CD, _NH1, _NH2]].all():
            cd, nh1, nh2 = positions[index, [_CD, _NH1, _NH2]]
            if np.linalg.norm(nh1 - cd) > np.linalg.norm(nh2 - cd):
                positions[index, [_NH1, _NH2]] = positions[index, [_NH2, _NH1]]
    return MmcifChain(
        chain_id=chain_id,
        sequence="".join(_one_letter(monomer) for monomer, _ in seq),
        residue_names=tuple(monomer for monomer, _ in seq),
        atom_positions=positions,
        atom_mask=mask,
        observed=observed,
    )
