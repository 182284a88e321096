"""PDB / mmCIF writers: re-read with Biopython and gemmi, and compared with the oracle's `protein.to_pdb`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict

from protein.errors import InputError
from protein.structure import files
from protein.structure import residue_constants as rc

gemmi = pytest.importorskip("gemmi")
oracle_protein = pytest.importorskip("alphafold.common.protein")

SHARED = Path(os.environ.get("PROTEIN_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data"
UBIQUITIN = SHARED / "structures" / "classic" / "1ubi.pdb"


@pytest.fixture(scope="module")
def ubiquitin():
    """1UBI chain A as the oracle parses it (waters dropped), with a made-up per-residue pLDDT."""
    if not UBIQUITIN.exists():
        pytest.skip(f"shared test data absent: {UBIQUITIN}")
    text = "".join(line for line in UBIQUITIN.read_text().splitlines(keepends=True) if line.startswith("ATOM"))
    prot = oracle_protein.from_pdb_string(text)
    plddt = np.round(np.random.default_rng(0).uniform(20.0, 99.0, size=prot.aatype.shape[0]), 2)
    return prot, plddt


def _arrays(prot, plddt, **overrides):
    arrays = dict(
        atom_positions=prot.atom_positions,
        atom_mask=prot.atom_mask,
        aatype=prot.aatype,
        residue_index=prot.residue_index,
        plddt=plddt,
    )
    arrays.update(overrides)
    return arrays


def _expected_atoms(prot, plddt):
    """(residue number, residue name, atom name, xyz, B) for every present atom, in atom37 order."""
    rows = []
    for i in range(prot.aatype.shape[0]):
        for j, name in enumerate(rc.atom_types):
            if prot.atom_mask[i, j] > 0.5:
                rows.append((int(prot.residue_index[i]), rc.resnames[prot.aatype[i]], name, prot.atom_positions[i, j],
                             float(plddt[i])))
    return rows


def _biopython_atoms(structure):
    model = next(iter(structure))
    return [
        (residue.id[1], residue.get_resname(), atom.get_name(), atom.get_coord(), atom.get_bfactor())
        for chain in model for residue in chain for atom in residue
    ]


def _gemmi_atoms(structure):
    return [
        (residue.seqid.num, residue.name, atom.name, np.array(atom.pos.tolist()), atom.b_iso)
        for chain in structure[0] for residue in chain for atom in residue
    ]


def _assert_same_atoms(found, expected):
    assert len(found) == len(expected)
    assert [row[:3] for row in found] == [row[:3] for row in expected]
    np.testing.assert_allclose(np.array([row[3] for row in found]), np.array([row[3] for row in expected]),
                               atol=1e-3, rtol=0)
    np.testing.assert_allclose([row[4] for row in found], [row[4] for row in expected], atol=5e-3, rtol=0)


def test_pdb_atom_records_match_the_oracle(ubiquitin):
    prot, plddt = ubiquitin
    aatype = prot.aatype.copy()
    aatype[4] = rc.unk_restype_index  # An unknown residue is written as UNK by both.
    ours = files.to_pdb(**_arrays(prot, plddt, aatype=aatype))
    reference = oracle_protein.to_pdb(
        oracle_protein.Protein(
            atom_positions=prot.atom_positions, atom_mask=prot.atom_mask, aatype=aatype,
            residue_index=prot.residue_index, chain_index=np.zeros_like(aatype),
            b_factors=np.repeat(plddt[:, None], rc.atom_type_num, axis=1),
        )
    )

    def records(text):
        return [line.rstrip() for line in text.splitlines() if line.startswith(("ATOM", "TER"))]

    assert len(records(ours)) == prot.atom_mask.sum() + 1
    assert records(ours) == records(reference)
    assert " UNK A   5 " in ours
    assert ours.splitlines()[-1].strip() == "END"


def test_pdb_reread_by_biopython_and_gemmi(ubiquitin):
    prot, plddt = ubiquitin
    text = files.to_pdb(**_arrays(prot, plddt), chain_id="B")
    expected = _expected_atoms(prot, plddt)

    bio = PDBParser(QUIET=True).get_structure("ours", io.StringIO(text))
    assert [chain.id for chain in next(iter(bio))] == ["B"]
    _assert_same_atoms(_biopython_atoms(bio), expected)
    assert {atom.element for atom in bio.get_atoms()} <= {"C", "N", "O", "S"}
    assert all(atom.get_occupancy() == 1.0 for atom in bio.get_atoms())

    structure = gemmi.read_pdb_string(text)
    assert [chain.name for chain in structure[0]] == ["B"]
    _assert_same_atoms(_gemmi_atoms(structure), expected)
    assert all(atom.element.name == atom.name[0] for residue in structure[0]["B"] for atom in residue)


def test_pdb_remarks_fit_the_line(ubiquitin):
    prot, plddt = ubiquitin
    note = "Parameters were random, so these coordinates carry no information about the real fold. " * 2
    text = files.to_pdb(**_arrays(prot, plddt), remarks=[note, "second"])
    remark_lines = [line for line in text.splitlines() if line.startswith("REMARK")]
    assert all(line.startswith("REMARK 250 ") and len(line) <= 80 for line in remark_lines)
    assert " ".join(line[11:] for line in remark_lines[:-1]) == note.strip()
    assert remark_lines[-1] == "REMARK 250 second"
    assert text.splitlines()[len(remark_lines)].startswith("ATOM")


def test_mmcif_read_by_gemmi(ubiquitin):
    prot, plddt = ubiquitin
    text = files.to_mmcif(**_arrays(prot, plddt), model_name="ubiquitin test")
    block = gemmi.cif.read_string(text).sole_block()
    assert block.name == "ubiquitin_test"

    structure = gemmi.make_structure_from_block(block)
    _assert_same_atoms(_gemmi_atoms(structure), _expected_atoms(prot, plddt))
    entity_seq = list(block.find_values("_entity_poly_seq.mon_id"))
    assert entity_seq == [rc.resnames[a] for a in prot.aatype]
    assert list(block.find_values("_struct_asym.id")) == ["A"]
    assert gemmi.cif.as_string(block.find_value("_entity_poly.type")) == "polypeptide(L)"
    label_seq = {residue.label_seq for residue in structure[0]["A"]}
    assert label_seq == set(range(1, prot.aatype.shape[0] + 1))

    metrics = block.find("_ma_qa_metric.", ["id", "name", "type", "mode"])
    assert sorted((row[1], row[2], row[3]) for row in metrics) == [("pLDDT", "pLDDT", "global"),
                                                                   ("pLDDT", "pLDDT", "local")]
    local_id = next(row[0] for row in metrics if row[3] == "local")
    global_id = next(row[0] for row in metrics if row[3] == "global")
    local = block.find("_ma_qa_metric_local.", ["label_seq_id", "label_comp_id", "metric_id", "metric_value"])
    assert [int(row[0]) for row in local] == list(range(1, prot.aatype.shape[0] + 1))
    assert [row[1] for row in local] == entity_seq
    assert {row[2] for row in local} == {local_id}
    np.testing.assert_allclose([float(row[3]) for row in local], plddt, atol=5e-3, rtol=0)
    assert block.find_value("_ma_qa_metric_global.metric_id") == global_id
    assert float(block.find_value("_ma_qa_metric_global.metric_value")) == pytest.approx(plddt.mean(), abs=5e-3)


def test_mmcif_read_by_biopython(ubiquitin, tmp_path):
    prot, plddt = ubiquitin
    path = files.write_atomic(tmp_path / "model.cif", files.to_mmcif(**_arrays(prot, plddt), remarks=["random"]))
    structure = MMCIFParser(QUIET=True).get_structure("ours", str(path))
    _assert_same_atoms(_biopython_atoms(structure), _expected_atoms(prot, plddt))
    fields = MMCIF2Dict(str(path))
    np.testing.assert_allclose(np.array(fields["_ma_qa_metric_local.metric_value"], dtype=float), plddt, atol=5e-3)
    assert fields["_pdbx_database_remark.text"] == ["random"]


def test_mmcif_per_residue_metric_from_per_atom_plddt(ubiquitin):
    prot, _ = ubiquitin
    per_atom = np.where(prot.atom_mask > 0, np.arange(rc.atom_type_num, dtype=float)[None, :], 1000.0)
    block = gemmi.cif.read_string(files.to_mmcif(**_arrays(prot, per_atom))).sole_block()
    expected = [np.mean(np.nonzero(row)[0]) for row in prot.atom_mask]  # Slot index averaged over present atoms.
    np.testing.assert_allclose(np.array(block.find_values("_ma_qa_metric_local.metric_value"), dtype=float),
                               expected, atol=5e-3)
    b_iso = [atom.b_iso for residue in gemmi.make_structure_from_block(block)[0]["A"] for atom in residue]
    np.testing.assert_allclose(b_iso, [j for row in prot.atom_mask for j in np.nonzero(row)[0]], atol=5e-3)


def test_read_structure_matches_the_oracle_and_round_trips(ubiquitin, tmp_path):
    prot, plddt = ubiquitin
    ours = files.read_structure(UBIQUITIN)
    np.testing.assert_array_equal(ours.aatype, prot.aatype)
    np.testing.assert_array_equal(ours.residue_index, prot.residue_index)
    np.testing.assert_array_equal(ours.atom_mask, prot.atom_mask)
    np.testing.assert_allclose(ours.atom_positions, prot.atom_positions, atol=1e-6)

    for name, writer in [("model.pdb", files.to_pdb), ("model.cif", files.to_mmcif)]:
        path = files.write_atomic(tmp_path / name, writer(**_arrays(prot, plddt), chain_id="C"))
        back = files.read_structure(path, chain_id="C")
        np.testing.assert_array_equal(back.atom_mask, prot.atom_mask)
        np.testing.assert_allclose(back.atom_positions, prot.atom_positions, atol=1e-3)
        np.testing.assert_allclose(back.b_factors, np.where(prot.atom_mask > 0, plddt[:, None], 0.0), atol=5e-3)
    with pytest.raises(InputError, match="no chain 'Z'"):
        files.read_structure(tmp_path / "model.pdb", chain_id="Z")


@pytest.mark.parametrize("name", ["1ubi.pdb", "1a8o.pdb", "1aki.pdb", "1bpi.pdb"])
def test_read_structure_keeps_modified_residues_and_drops_waters(name):
    path = SHARED / "structures" / "classic" / name
    if not path.exists():
        pytest.skip(f"shared test data absent: {path}")
    # The oracle keeps every residue with an atom37-named atom, waters included; give it the file without them.
    text = "".join(
        line for line in path.read_text().splitlines(keepends=True)
        if line.startswith(("ATOM", "HETATM")) and line[17:20] != "HOH"
    )
    reference = oracle_protein.from_pdb_string(text)
    ours = files.read_structure(path)
    np.testing.assert_array_equal(ours.aatype, reference.aatype)
    np.testing.assert_array_equal(ours.residue_index, reference.residue_index)
    np.testing.assert_array_equal(ours.atom_mask, reference.atom_mask)
    np.testing.assert_allclose(ours.atom_positions, reference.atom_positions, atol=1e-6)
    np.testing.assert_allclose(ours.b_factors, reference.b_factors, atol=1e-6)


def test_write_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.pdb"
    files.write_atomic(target, "first\n")
    files.write_atomic(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pdb"]

    def failing_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        files.write_atomic(target, "third\n")
    assert target.read_bytes() == b"second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pdb"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(atom_mask=np.ones([3, 36])), "atom_mask"),
        (dict(plddt=np.ones([4])), "plddt"),
        (dict(aatype=np.array([0, 21, 3])), "aatype"),
        (dict(residue_index=np.arange(2)), "residue_index"),
    ],
)
def test_bad_arrays_raise_input_error(overrides, message):
    arrays = dict(
        atom_positions=np.zeros([3, 37, 3]), atom_mask=np.ones([3, 37]), aatype=np.array([0, 1, 2]),
        residue_index=np.arange(1, 4), plddt=np.full([3], 50.0),
    )
    arrays.update(overrides)
    with pytest.raises(InputError, match=message):
        files.to_pdb(**arrays)
    with pytest.raises(InputError, match=message):
        files.to_mmcif(**arrays)
