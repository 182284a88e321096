"""Our residue constants against the oracle's (`alphafold.common.residue_constants`), and sequence encoding."""

from __future__ import annotations

import numpy as np
import pytest

from protein.errors import InputError
from protein.structure import residue_constants as ours

oracle = pytest.importorskip("alphafold.common.residue_constants")

EXACT_TABLES = [
    "restypes",
    "restype_order",
    "restype_num",
    "unk_restype_index",
    "restypes_with_x",
    "restype_order_with_x",
    "restype_1to3",
    "restype_3to1",
    "resnames",
    "resname_to_idx",
    "atom_types",
    "atom_order",
    "atom_type_num",
    "restype_name_to_atom14_names",
    "chi_angles_atoms",
    "chi_angles_mask",
    "chi_pi_periodic",
    "rigid_group_atom_positions",
    "residue_atom_renaming_swaps",
    "van_der_waals_radius",
    "HHBLITS_AA_TO_ID",
    "ID_TO_HHBLITS_AA",
    "MAP_HHBLITS_AATYPE_TO_OUR_AATYPE",
    "restypes_with_x_and_gap",
    "ca_ca",
    "between_res_bond_length_c_n",
    "between_res_bond_length_stddev_c_n",
    "between_res_cos_angles_c_n_ca",
    "between_res_cos_angles_ca_c_n",
]

INTEGER_ARRAYS = [
    "restype_atom14_to_rigid_group",
    "restype_atom37_to_rigid_group",
    "chi_angles_atom_indices",
]

FLOAT_ARRAYS = [
    "restype_atom14_mask",
    "restype_atom37_mask",
    "restype_atom14_rigid_group_positions",
    "restype_atom37_rigid_group_positions",
    "restype_rigid_group_default_frame",
]


@pytest.mark.parametrize("name", EXACT_TABLES)
def test_table_equals_oracle(name):
    assert getattr(ours, name) == getattr(oracle, name)


def test_residue_atoms_are_the_oracles_sets():
    # The oracle lists each residue's atoms in an arbitrary order; only membership carries meaning.
    assert {k: sorted(v) for k, v in ours.residue_atoms.items()} == {
        k: sorted(v) for k, v in oracle.residue_atoms.items()
    }
    standard_mask = np.zeros_like(oracle.STANDARD_ATOM_MASK)
    for restype, letter in enumerate(ours.restypes):
        for atom in ours.residue_atoms[ours.restype_1to3[letter]]:
            standard_mask[restype, ours.atom_order[atom]] = 1
    np.testing.assert_array_equal(standard_mask, oracle.STANDARD_ATOM_MASK)


@pytest.mark.parametrize("name", INTEGER_ARRAYS)
def test_integer_array_equals_oracle(name):
    ours_array, oracle_array = getattr(ours, name), np.asarray(getattr(oracle, name))
    assert ours_array.shape == oracle_array.shape
    assert np.issubdtype(ours_array.dtype, np.integer)
    np.testing.assert_array_equal(ours_array, oracle_array)


@pytest.mark.parametrize("name", FLOAT_ARRAYS)
def test_float_array_equals_oracle(name):
    ours_array, oracle_array = getattr(ours, name), getattr(oracle, name)
    assert ours_array.shape == oracle_array.shape
    assert ours_array.dtype == np.float32
    np.testing.assert_allclose(ours_array, oracle_array, rtol=0, atol=1e-6)


def test_atom14_atom37_maps_equal_the_oracles():
    all_atom = pytest.importorskip("alphafold.model.all_atom_multimer")
    np.testing.assert_array_equal(ours.restype_atom14_to_atom37, all_atom._make_restype_atom14_to_atom37())
    np.testing.assert_array_equal(ours.restype_atom37_to_atom14, all_atom._make_restype_atom37_to_atom14())
    assert ours.restype_atom14_to_atom37.shape == (21, 14)
    assert ours.restype_atom37_to_atom14.shape == (21, 37)


def test_default_frames_are_rigid_transforms():
    frames = ours.restype_rigid_group_default_frame[:20].astype(np.float64)  # [20, 8, 4, 4]
    present = np.concatenate([np.ones([20, 4]), np.array(ours.chi_angles_mask)], axis=1).astype(bool)
    rotations = frames[present][:, :3, :3]
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rotations.shape),
                               atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-6)
    assert not frames[~present].any()


def test_sequence_to_aatype_matches_the_oracle_pipeline():
    sequence = "ARNDCQEGHILKMFPSTWYVXBZJUO"
    aatype, substituted = ours.sequence_to_aatype(sequence)
    one_hot = oracle.sequence_to_onehot(sequence, oracle.restype_order_with_x, map_unknown_to_x=True)
    assert aatype.dtype == np.int32
    np.testing.assert_array_equal(aatype, one_hot.argmax(-1))
    assert substituted == [(21, "B"), (22, "Z"), (23, "J"), (24, "U"), (25, "O")]


def test_sequence_to_aatype_hand_worked():
    aatype, substituted = ours.sequence_to_aatype("mkVxu")
    np.testing.assert_array_equal(aatype, [12, 11, 19, 20, 20])
    assert substituted == [(4, "u")]


@pytest.mark.parametrize("sequence", ["", "MK-V", "MK V", "MKV*", "MK1V", "MKÄV"])
def test_sequence_to_aatype_rejects_non_letters(sequence):
    with pytest.raises(InputError, match="query_7"):
        ours.sequence_to_aatype(sequence, record_id="query_7")
