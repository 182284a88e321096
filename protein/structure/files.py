"""Structure files: predicted atom37 coordinates to PDB and ModelCIF-flavoured mmCIF, and back.

Biopython does the formatting: `PDBIO` writes the fixed-column ATOM/TER/END records and `MMCIFIO` serialises
(and quotes) the mmCIF categories built here. The mmCIF carries the per-residue pLDDT as ModelCIF quality
metrics (`_ma_qa_metric`, `_ma_qa_metric_local`, `_ma_qa_metric_global`; Jumper et al. (2021) Suppl. 1.9.6)
besides the B-factor column, so model viewers and the PDB's ModelArchive tools read it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from Bio.PDB import MMCIFIO, PDBIO, MMCIFParser, PDBParser
from Bio.PDB.PDBExceptions import PDBConstructionException
from Bio.PDB.StructureBuilder import StructureBuilder

from protein.atomic import write_atomic  # noqa: F401  (part of this module's API: files.write_atomic)
from protein.errors import InputError
from protein.structure import residue_constants as rc

logger = logging.getLogger(__name__)

# Chemical-component names and types (PDB Chemical Component Dictionary) for `_chem_comp`.
_CHEM_COMP_NAMES = {
    "ALA": "ALANINE", "ARG": "ARGININE", "ASN": "ASPARAGINE", "ASP": "ASPARTIC ACID", "CYS": "CYSTEINE",
    "GLN": "GLUTAMINE", "GLU": "GLUTAMIC ACID", "GLY": "GLYCINE", "HIS": "HISTIDINE", "ILE": "ISOLEUCINE",
    "LEU": "LEUCINE", "LYS": "LYSINE", "MET": "METHIONINE", "PHE": "PHENYLALANINE", "PRO": "PROLINE",
    "SER": "SERINE", "THR": "THREONINE", "TRP": "TRYPTOPHAN", "TYR": "TYROSINE", "VAL": "VALINE",
    "UNK": "UNKNOWN",
}
_PDB_REMARK_NUMBER = 250  # "Other experimental details": the place for free-text notes about how a model was made.
_PDB_LINE_WIDTH = 80


@dataclasses.dataclass(frozen=True)
class AtomArrays:
    """One protein chain in the atom37 layout.

    atom_positions: float32 [num_res, 37, 3], Angstrom.
    atom_mask: float32 [num_res, 37], 1.0 where the atom is present.
    aatype: int32 [num_res], residue types in `residue_constants.restypes_with_x` order.
    residue_index: int32 [num_res], residue numbers as written in the file.
    b_factors: float32 [num_res, 37].
    chain_id: the chain's author identifier.
    """

    atom_positions: np.ndarray
    atom_mask: np.ndarray
    aatype: np.ndarray
    residue_index: np.ndarray
    b_factors: np.ndarray
    chain_id: str


@dataclasses.dataclass(frozen=True)
class _Atom:
    residue: int  # Position in the chain, 0-based.
    name: str
    element: str
    xyz: np.ndarray
    b_factor: float


def _checked_arrays(
    atom_positions: np.ndarray,
    atom_mask: np.ndarray,
    aatype: np.ndarray,
    residue_index: np.ndarray,
    plddt: np.ndarray,
    chain_id: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validates shapes and values; returns the arrays as numpy with per-atom B-factors [num_res, 37]."""
    atom_positions, atom_mask = np.asarray(atom_positions), np.asarray(atom_mask)
    aatype, residue_index, plddt = np.asarray(aatype), np.asarray(residue_index), np.asarray(plddt)
    num_res = aatype.shape[0] if aatype.ndim == 1 else -1
    expected = {
        "aatype": (aatype, (num_res,)),
        "atom_positions": (atom_positions, (num_res, rc.atom_type_num, 3)),
        "atom_mask": (atom_mask, (num_res, rc.atom_type_num)),
        "residue_index": (residue_index, (num_res,)),
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape or num_res < 1:
            raise InputError(f"{name} has shape {array.shape}, expected {shape} with num_res >= 1")
    if plddt.shape == (num_res,):
        plddt = np.broadcast_to(plddt[:, None], (num_res, rc.atom_type_num))
    elif plddt.shape != (num_res, rc.atom_type_num):
        raise InputError(f"plddt has shape {plddt.shape}, expected ({num_res},) or ({num_res}, {rc.atom_type_num})")
    if aatype.min() < 0 or aatype.max() > rc.unk_restype_index:
        raise InputError(f"aatype has values outside 0..{rc.unk_restype_index}")
    if not np.isfinite(atom_positions[atom_mask > 0.5]).all():
        raise InputError("atom_positions has non-finite coordinates for present atoms")
    if len(chain_id) != 1:
        raise InputError(f"chain_id {chain_id!r} must be one character to fit the PDB format")
    return atom_positions, atom_mask, aatype, residue_index.astype(np.int64), plddt


def _present_atoms(atom_positions: np.ndarray, atom_mask: np.ndarray, b_factors: np.ndarray) -> list[_Atom]:
    """Atoms where mask > 0.5, residue by residue, in atom37 order within a residue."""
    residues, slots = np.nonzero(atom_mask > 0.5)  # Row-major: residue order, then atom37 slot order.
    return [
        _Atom(int(i), rc.atom_types[j], rc.atom_types[j][0], atom_positions[i, j], float(b_factors[i, j]))
        for i, j in zip(residues, slots)
    ]


def _per_residue_plddt(plddt: np.ndarray, atom_mask: np.ndarray) -> np.ndarray:
    """[num_res] mean over each residue's present atoms; residues without atoms get their slot-0 value."""
    weights = (atom_mask > 0.5).astype(np.float64)
    counts = weights.sum(-1)
    mean = (plddt * weights).sum(-1) / np.maximum(counts, 1.0)
    return np.where(counts > 0, mean, plddt[:, 0])


def to_pdb(
    atom_positions: np.ndarray,
    atom_mask: np.ndarray,
    aatype: np.ndarray,
    residue_index: np.ndarray,
    plddt: np.ndarray,
    chain_id: str = "A",
    remarks: Sequence[str] = (),
) -> str:
    """Writes one chain as PDB text: REMARK 250 lines, ATOM records, TER and END.

    Args:
      atom_positions: float [num_res, 37, 3] in Angstrom, atom37 layout.
      atom_mask: float [num_res, 37]; atoms with mask > 0.5 are written, in atom37 order within each residue.
      aatype: int [num_res] in 0..20; 20 is written as UNK.
      residue_index: int [num_res], written as the residue numbers. The model's 0-based `residue_index`
        feature needs + 1 to follow the PDB's 1-based convention.
      plddt: float [num_res] per-residue pLDDT (0-100), or [num_res, 37] per atom; goes into the B-factor column.
      chain_id: one-character chain identifier.
      remarks: free-text notes, e.g. that the weights were random; wrapped to the 80-column line.

    Returns:
      The PDB file's text, ending with a newline.

    Raises:
      InputError: if shapes, residue types or the chain id do not fit.
    """
    atom_positions, atom_mask, aatype, residue_index, b_factors = _checked_arrays(
        atom_positions, atom_mask, aatype, residue_index, plddt, chain_id
    )
    builder = StructureBuilder()
    builder.init_structure("model")
    builder.init_model(0)
    builder.init_chain(chain_id)
    builder.init_seg("    ")
    current_residue = -1
    for serial, atom in enumerate(_present_atoms(atom_positions, atom_mask, b_factors), start=1):
        if atom.residue != current_residue:
            current_residue = atom.residue
            builder.init_residue(rc.resnames[aatype[atom.residue]], " ", int(residue_index[atom.residue]), " ")
        builder.init_atom(
            atom.name, atom.xyz.astype(np.float64), atom.b_factor, 1.0, " ", f" {atom.name:<3}", serial, atom.element
        )
    writer = PDBIO()
    writer.set_structure(builder.get_structure())
    text = io.StringIO()
    text_width = _PDB_LINE_WIDTH - len(f"REMARK {_PDB_REMARK_NUMBER} ")
    for remark in remarks:
        for line in textwrap.wrap(remark, text_width) or [""]:
            text.write(f"REMARK {_PDB_REMARK_NUMBER} {line}\n")
    writer.save(text)
    return text.getvalue()


def to_mmcif(
    atom_positions: np.ndarray,
    atom_mask: np.ndarray,
    aatype: np.ndarray,
    residue_index: np.ndarray,
    plddt: np.ndarray,
    chain_id: str = "A",
    remarks: Sequence[str] = (),
    model_name: str = "model",
) -> str:
    """Writes one chain as an mmCIF data block with ModelCIF pLDDT tables.

    The chain is one polymer entity whose `_entity_poly_seq` lists the given residues in order:
    `label_seq_id` counts them from 1, `auth_seq_id` carries `residue_index`. pLDDT appears three times:
    per atom in `_atom_site.B_iso_or_equiv`, per residue in `_ma_qa_metric_local` (metric 2, mean over the
    residue's atoms when given per atom) and as the mean over residues in `_ma_qa_metric_global` (metric 1).

    Args:
      atom_positions, atom_mask, aatype, residue_index, plddt, chain_id: as for `to_pdb`.
      remarks: free-text notes, written to `_pdbx_database_remark`.
      model_name: names the data block (spaces become underscores), the entry and the model.

    Returns:
      The mmCIF file's text.

    Raises:
      InputError: if shapes, residue types or the chain id do not fit.
    """
    atom_positions, atom_mask, aatype, residue_index, b_factors = _checked_arrays(
        atom_positions, atom_mask, aatype, residue_index, plddt, chain_id
    )
    num_res = aatype.shape[0]
    block_name = "_".join(model_name.split()) or "model"
    resnames = [rc.resnames[a] for a in aatype]
    seq_ids = [str(i + 1) for i in range(num_res)]
    residue_plddt = _per_residue_plddt(b_factors, atom_mask)
    entity, asym = "1", chain_id

    cif: dict[str, object] = {"data_": block_name, "_entry.id": block_name}
    cif["_audit_conform.dict_name"] = "mmcif_ma.dic"
    cif["_audit_conform.dict_version"] = "1.4.5"
    if remarks:
        cif["_pdbx_database_remark.id"] = [str(i) for i in range(1, len(remarks) + 1)]
        cif["_pdbx_database_remark.text"] = [" ".join(remark.split()) or "." for remark in remarks]
    present_names = sorted(set(resnames))
    cif["_chem_comp.id"] = present_names
    cif["_chem_comp.type"] = ["peptide linking" if n == "GLY" else "L-peptide linking" for n in present_names]
    cif["_chem_comp.name"] = [_CHEM_COMP_NAMES[n] for n in present_names]
    cif["_entity.id"] = [entity]
    cif["_entity.type"] = ["polymer"]
    cif["_entity.src_method"] = ["man"]
    cif["_entity.pdbx_description"] = [model_name or "."]
    cif["_entity_poly.entity_id"] = [entity]
    cif["_entity_poly.type"] = ["polypeptide(L)"]
    cif["_entity_poly.nstd_linkage"] = ["no"]
    cif["_entity_poly.pdbx_strand_id"] = [chain_id]
    cif["_entity_poly.pdbx_seq_one_letter_code"] = ["".join(rc.restypes_with_x[a] for a in aatype)]
    cif["_entity_poly_seq.entity_id"] = [entity] * num_res
    cif["_entity_poly_seq.num"] = seq_ids
    cif["_entity_poly_seq.mon_id"] = resnames
    cif["_entity_poly_seq.hetero"] = ["n"] * num_res
    cif["_struct_asym.id"] = [asym]
    cif["_struct_asym.entity_id"] = [entity]

    atoms = _present_atoms(atom_positions, atom_mask, b_factors)
    columns: dict[str, list[str]] = {
        "group_PDB": ["ATOM"] * len(atoms),
        "id": [str(i) for i in range(1, len(atoms) + 1)],
        "type_symbol": [a.element for a in atoms],
        "label_atom_id": [a.name for a in atoms],
        "label_alt_id": ["."] * len(atoms),
        "label_comp_id": [resnames[a.residue] for a in atoms],
        "label_asym_id": [asym] * len(atoms),
        "label_entity_id": [entity] * len(atoms),
        "label_seq_id": [seq_ids[a.residue] for a in atoms],
        "pdbx_PDB_ins_code": ["?"] * len(atoms),
        "Cartn_x": [f"{a.xyz[0]:.3f}" for a in atoms],
        "Cartn_y": [f"{a.xyz[1]:.3f}" for a in atoms],
        "Cartn_z": [f"{a.xyz[2]:.3f}" for a in atoms],
        "occupancy": ["1.00"] * len(atoms),
        "B_iso_or_equiv": [f"{a.b_factor:.2f}" for a in atoms],
        "auth_seq_id": [str(residue_index[a.residue]) for a in atoms],
        "auth_comp_id": [resnames[a.residue] for a in atoms],
        "auth_asym_id": [chain_id] * len(atoms),
        "auth_atom_id": [a.name for a in atoms],
        "pdbx_PDB_model_num": ["1"] * len(atoms),
    }
    cif.update({f"_atom_site.{key}": values for key, values in columns.items()})

    # ModelCIF: one model, whose coordinates are data item 1, with a global and a local pLDDT metric.
    cif["_ma_data.id"] = ["1"]
    cif["_ma_data.name"] = [model_name or "model"]
    cif["_ma_data.content_type"] = ["model coordinates"]
    cif["_ma_model_list.ordinal_id"] = ["1"]
    cif["_ma_model_list.model_id"] = ["1"]
    cif["_ma_model_list.model_group_id"] = ["1"]
    cif["_ma_model_list.model_name"] = [model_name or "model"]
    cif["_ma_model_list.model_group_name"] = [model_name or "model"]
    cif["_ma_model_list.data_id"] = ["1"]
    cif["_ma_model_list.model_type"] = ["Ab initio model"]
    cif["_ma_qa_metric.id"] = ["1", "2"]
    cif["_ma_qa_metric.name"] = ["pLDDT", "pLDDT"]
    cif["_ma_qa_metric.description"] = [
        "Predicted lDDT-Ca, mean over residues",
        "Predicted lDDT-Ca per residue",
    ]
    cif["_ma_qa_metric.type"] = ["pLDDT", "pLDDT"]
    cif["_ma_qa_metric.mode"] = ["global", "local"]
    cif["_ma_qa_metric_global.ordinal_id"] = ["1"]
    cif["_ma_qa_metric_global.model_id"] = ["1"]
    cif["_ma_qa_metric_global.metric_id"] = ["1"]
    cif["_ma_qa_metric_global.metric_value"] = [f"{residue_plddt.mean():.2f}"]
    cif["_ma_qa_metric_local.ordinal_id"] = seq_ids
    cif["_ma_qa_metric_local.model_id"] = ["1"] * num_res
    cif["_ma_qa_metric_local.label_asym_id"] = [asym] * num_res
    cif["_ma_qa_metric_local.label_seq_id"] = seq_ids
    cif["_ma_qa_metric_local.label_comp_id"] = resnames
    cif["_ma_qa_metric_local.metric_id"] = ["2"] * num_res
    cif["_ma_qa_metric_local.metric_value"] = [f"{value:.2f}" for value in residue_plddt]

    writer = MMCIFIO()
    writer.set_dict(cif)
    text = io.StringIO()
    writer.save(text)
    return text.getvalue()


def read_structure(path: str | os.PathLike, chain_id: str | None = None) -> AtomArrays:
    """Reads one chain of the first model of a PDB or mmCIF file (chosen by suffix) into atom37 arrays.

    Parsing is Biopython's (`PDBParser` / `MMCIFParser`, author numbering). HETATM residues without a
    backbone N, CA, C (waters, ligands) are skipped; residues outside the twenty (e.g. MSE) get aatype 20 and
    keep only atoms with atom37 names; atoms outside atom37 (hydrogens, SE) are dropped; of alternate
    locations, Biopython's choice is kept.

    Args:
      path: a `.pdb`/`.ent` or `.cif`/`.mmcif` file.
      chain_id: the author chain id; the first chain when None.

    Raises:
      InputError: if the file has no such chain, no protein atoms or residues with insertion codes.
    """
    path = Path(path)
    is_mmcif = path.suffix.lower() in {".cif", ".mmcif"}
    parser = MMCIFParser(QUIET=True) if is_mmcif else PDBParser(QUIET=True)
    try:
        model = next(iter(parser.get_structure(path.stem, str(path))))
    except (PDBConstructionException, ValueError, KeyError, StopIteration) as error:
        raise InputError(f"{path}: not a readable {'mmCIF' if is_mmcif else 'PDB'} structure ({error})") from error
    chains = {chain.id: chain for chain in model}
    if chain_id is None and chains:
        chain_id = next(iter(chains))
    if chain_id not in chains:
        raise InputError(f"{path}: no chain {chain_id!r}; chains are {sorted(chains)}")

    positions, masks, aatypes, numbers, b_factors = [], [], [], [], []
    for residue in chains[chain_id]:
        hetero, number, insertion = residue.id
        if hetero.strip() and not all(name in residue for name in ("N", "CA", "C")):
            continue  # Water or ligand; modified amino acids (MSE, ...) have a backbone and stay.
        if insertion.strip():
            raise InputError(f"{path}: residue {chain_id}{number}{insertion} has an insertion code")
        xyz = np.zeros([rc.atom_type_num, 3], dtype=np.float32)
        mask = np.zeros([rc.atom_type_num], dtype=np.float32)
        b = np.zeros([rc.atom_type_num], dtype=np.float32)
        for atom in residue:
            slot = rc.atom_order.get(atom.get_name())
            if slot is not None:
                xyz[slot], mask[slot], b[slot] = atom.get_coord(), 1.0, atom.get_bfactor()
        if not mask.any():
            continue
        letter = rc.restype_3to1.get(residue.get_resname(), "X")
        positions.append(xyz)
        masks.append(mask)
        aatypes.append(rc.restype_order_with_x[letter])
        numbers.append(number)
        b_factors.append(b)
    if not aatypes:
        raise InputError(f"{path}: chain {chain_id!r} has no protein atoms")
    return AtomArrays(
        atom_positions=np.stack(positions),
        atom_mask=np.stack(masks),
        aatype=np.array(aatypes, dtype=np.int32),
        residue_index=np.array(numbers, dtype=np.int32),
        b_factors=np.stack(b_factors),
        chain_id=chain_id,
    )
