"""mmCIF reading for templates, compared with the oracle's `mmcif_parsing.parse` and the atom loop of its
template featuriser (`templates._get_atom_positions`), on the PDB entries in ../shared/data and on a small
hand-made entry with alternate locations, a modified residue, an insertion code, DNA, water and two models."""

from __future__ import annotations

import datetime
import gzip

import numpy as np
import pytest

from protein.errors import InputError
from protein.structure import mmcif
from protein.structure import residue_constants as rc
from tests.features import oracle_data

pytest.importorskip("alphafold.data.mmcif_parsing")


def _oracle_chain_atoms(oracle_object, chain_id):
    from alphafold.data import templates

    positions, mask = templates._get_atom_positions(oracle_object, chain_id, max_ca_ca_distance=float("inf"))
    return positions.astype(np.float32), mask.astype(np.float32)


def _assert_same_as_oracle(ours: mmcif.MmcifStructure, text: str, file_id: str):
    with oracle_data.upstream_seqres_table() as mmcif_parsing:
        result = mmcif_parsing.parse(file_id=file_id, mmcif_string=text)
        oracle = result.mmcif_object
        assert oracle is not None, result.errors
        assert list(ours.chain_to_seqres.items()) == list(oracle.chain_to_seqres.items())
        assert ours.release_date == datetime.date.fromisoformat(oracle.header["release_date"])
        assert ours.resolution == oracle.header["resolution"]
        assert ours.structure_method == oracle.header["structure_method"]
        for chain_id, chain in ours.chains.items():
            positions, mask = _oracle_chain_atoms(oracle, chain_id)
            assert chain.atom_positions.dtype == np.float32 and chain.atom_mask.dtype == np.float32
            np.testing.assert_array_equal(chain.atom_positions, positions, err_msg=f"{file_id}_{chain_id}")
            np.testing.assert_array_equal(chain.atom_mask, mask, err_msg=f"{file_id}_{chain_id}")
            missing = [oracle.seqres_to_structure[chain_id][i].is_missing for i in range(len(chain.sequence))]
            np.testing.assert_array_equal(chain.observed, ~np.array(missing))


@pytest.mark.parametrize("pdb_id", oracle_data.TARGETS)
def test_pdb_entries_equal_oracle(pdb_id):
    path = oracle_data.mmcif_dir() / f"{pdb_id}.cif.gz"
    ours = mmcif.read_mmcif(path)
    assert ours.file_id == pdb_id
    _assert_same_as_oracle(ours, oracle_data.read_text(path), pdb_id)


def test_selenomethionine_is_methionine_with_selenium_as_sd():
    path = oracle_data.mmcif_dir() / "4zey.cif.gz"
    structure = mmcif.read_mmcif(path)
    chain = structure.chains["A"]
    mse = [i for i, name in enumerate(chain.residue_names) if name == "MSE"]
    assert mse, "4ZEY chain A has selenomethionines"
    assert all(chain.sequence[i] == "M" for i in mse)
    observed = [i for i in mse if chain.observed[i]]
    assert observed and all(chain.atom_mask[i, rc.atom_order["SD"]] == 1.0 for i in observed)


# A small entry: entity 1 (MET ALA MSE ARG GLY) in chains A (author A) and D (author E), DNA in B, water in C.
_ENTRY = """data_TEST
_entry.id TEST
loop_
_pdbx_audit_revision_history.ordinal
_pdbx_audit_revision_history.revision_date
1 2001-02-03
2 1999-12-31
_exptl.method 'X-RAY DIFFRACTION'
_refine.ls_d_res_high 2.5
_reflns.d_resolution_high 2.4
loop_
_chem_comp.id
_chem_comp.type
ALA 'L-peptide linking'
ARG 'L-peptide linking'
GLY 'peptide linking'
MET 'L-peptide linking'
MSE 'L-peptide linking'
DA 'DNA linking'
HOH non-polymer
loop_
_entity_poly_seq.entity_id
_entity_poly_seq.num
_entity_poly_seq.mon_id
_entity_poly_seq.hetero
1 1 MET n
1 2 ALA n
1 3 MSE n
1 4 ARG n
1 5 GLY n
2 1 DA n
2 2 DA n
loop_
_struct_asym.id
_struct_asym.entity_id
A 1
B 2
C 3
D 1
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.label_entity_id
_atom_site.label_seq_id
_atom_site.pdbx_PDB_ins_code
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.occupancy
_atom_site.B_iso_or_equiv
_atom_site.auth_seq_id
_atom_site.auth_asym_id
_atom_site.pdbx_PDB_model_num
"""

# (record, atom, altloc, residue, label chain, entity, label seq, icode, x, y, z, occupancy, author seq, author
# chain); the ALA has CA in two equally occupied locations (the first wins) and CB in two (the fuller wins); the
# MSE is a HETATM; the ARG has NH1 farther from CD than NH2 (swapped on reading) and an insertion code; a water in
# chain A shares the ALA's number; GLY (5) has no atoms.
_ATOMS = [
    ("ATOM", "N", ".", "MET", "A", 1, "1", "?", 1.0, 2.0, 3.0, 1.0, 10, "A"),
    ("ATOM", "CA", ".", "MET", "A", 1, "1", "?", 2.0, 2.5, 3.25, 1.0, 10, "A"),
    ("ATOM", "SD", ".", "MET", "A", 1, "1", "?", 4.125, 1.5, 2.0, 1.0, 10, "A"),
    ("ATOM", "N", ".", "ALA", "A", 1, "2", "?", 5.0, 2.0, 3.0, 1.0, 11, "A"),
    ("ATOM", "CA", "A", "ALA", "A", 1, "2", "?", 6.0, 2.0, 3.0, 0.5, 11, "A"),
    ("ATOM", "CA", "B", "ALA", "A", 1, "2", "?", 6.5, 2.0, 3.0, 0.5, 11, "A"),
    ("ATOM", "CB", "A", "ALA", "A", 1, "2", "?", 7.0, 1.0, 3.0, 0.4, 11, "A"),
    ("ATOM", "CB", "B", "ALA", "A", 1, "2", "?", 7.0, 3.0, 3.0, 0.6, 11, "A"),
    ("HETATM", "N", ".", "MSE", "A", 1, "3", "?", 8.0, 2.0, 3.0, 1.0, 12, "A"),
    ("HETATM", "CA", ".", "MSE", "A", 1, "3", "?", 9.0, 2.0, 3.0, 1.0, 12, "A"),
    ("HETATM", "SE", ".", "MSE", "A", 1, "3", "?", 9.5, 4.0, 3.0, 1.0, 12, "A"),
    ("ATOM", "CA", ".", "ARG", "A", 1, "4", "A", 11.0, 2.0, 3.0, 1.0, 12, "A"),
    ("ATOM", "CD", ".", "ARG", "A", 1, "4", "A", 12.0, 2.0, 3.0, 1.0, 12, "A"),
    ("ATOM", "NH1", ".", "ARG", "A", 1, "4", "A", 15.0, 2.0, 3.0, 1.0, 12, "A"),
    ("ATOM", "NH2", ".", "ARG", "A", 1, "4", "A", 14.0, 2.0, 3.0, 1.0, 12, "A"),
    ("ATOM", "P", ".", "DA", "B", 2, "1", "?", 20.0, 2.0, 3.0, 1.0, 1, "B"),
    ("HETATM", "O", ".", "HOH", "C", 3, ".", "?", 30.0, 2.0, 3.0, 1.0, 11, "A"),
    ("ATOM", "N", ".", "ALA", "D", 1, "2", "?", -5.0, 2.0, 3.0, 1.0, 2, "E"),
    ("ATOM", "CA", ".", "ALA", "D", 1, "2", "?", -6.0, 2.0, 3.0, 1.0, 2, "E"),
]


def _entry_text(second_model: bool = True) -> str:
    rows = []
    models = [(1, 0.0), (2, 100.0)] if second_model else [(1, 0.0)]
    for model, shift in models:
        for atom in _ATOMS:
            record, name, alt, comp, asym, entity, seq, icode, x, y, z, occ, auth_seq, auth_asym = atom
            rows.append(
                f"{record} {len(rows) + 1} {name[0]} {name} {alt} {comp} {asym} {entity} {seq} {icode} "
                f"{x + shift:.3f} {y:.3f} {z:.3f} {occ} 20.0 {auth_seq} {auth_asym} {model}"
            )
    return _ENTRY + "\n".join(rows) + "\n"


def test_hand_made_entry_equals_oracle_and_hand_worked_values():
    text = _entry_text()
    ours = mmcif.parse_mmcif(text, "test")
    _assert_same_as_oracle(ours, text, "test")

    assert list(ours.chains) == ["A", "E"]  # DNA and water are not protein chains
    assert ours.release_date == datetime.date(1999, 12, 31)
    assert ours.resolution == 2.4  # AlphaFold2 keeps the last of the resolution items present
    chain = ours.chains["A"]
    assert chain.sequence == "MAMRG" and chain.residue_names == ("MET", "ALA", "MSE", "ARG", "GLY")
    np.testing.assert_array_equal(chain.observed, [True, True, True, True, False])
    slot = rc.atom_order
    np.testing.assert_array_equal(chain.atom_positions[1, slot["CA"]], [6.0, 2.0, 3.0])  # tie: first location
    np.testing.assert_array_equal(chain.atom_positions[1, slot["CB"]], [7.0, 3.0, 3.0])  # higher occupancy
    np.testing.assert_array_equal(chain.atom_positions[2, slot["SD"]], [9.5, 4.0, 3.0])  # MSE selenium
    np.testing.assert_array_equal(chain.atom_positions[3, slot["NH1"]], [14.0, 2.0, 3.0])  # swapped
    np.testing.assert_array_equal(chain.atom_positions[3, slot["NH2"]], [15.0, 2.0, 3.0])
    assert chain.atom_mask[1].sum() == 3 and chain.atom_mask[4].sum() == 0  # water O not added to ALA
    assert ours.chains["E"].observed.tolist() == [False, True, False, False, False]


def test_missing_or_unparsable_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nothere.cif"):
        mmcif.read_mmcif(tmp_path / "nothere.cif")
    bad = tmp_path / "1bad.cif"
    bad.write_text("this is not an mmCIF file\n")
    with pytest.raises(InputError, match="1bad.cif"):
        mmcif.read_mmcif(bad)
    broken_loop = tmp_path / "2bad.cif"
    broken_loop.write_text("data_X\nloop_\n_atom_site.id\n_atom_site.type_symbol\n1\n")
    with pytest.raises(InputError, match="2bad.cif"):
        mmcif.read_mmcif(broken_loop)
    truncated = tmp_path / "3bad.cif.gz"
    truncated.write_bytes(gzip.compress(_entry_text().encode())[:200])
    with pytest.raises(InputError, match="3bad.cif.gz"):
        mmcif.read_mmcif(truncated)


def test_protein_without_atom_site_or_with_bad_numbers_is_an_input_error(tmp_path):
    no_atoms = tmp_path / "4bad.cif"
    no_atoms.write_text(_ENTRY.split("loop_\n_atom_site.group_PDB")[0])
    with pytest.raises(InputError, match="4bad.cif.*_atom_site"):
        mmcif.read_mmcif(no_atoms)
    bad_coordinate = tmp_path / "5bad.cif"
    bad_coordinate.write_text(_entry_text(second_model=False).replace("2.500 3.250", "two 3.250"))
    with pytest.raises(InputError, match="5bad.cif"):
        mmcif.read_mmcif(bad_coordinate)


def test_entry_without_protein_has_no_chains():
    text = _entry_text().replace("'L-peptide linking'", "'L-saccharide'").replace("'peptide linking'", "other")
    structure = mmcif.parse_mmcif(text, "test")
    assert structure.chains == {}
