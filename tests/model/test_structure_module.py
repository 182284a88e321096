"""Rigid geometry, all-atom construction and the structure module against the oracle (`alphafold.model.folding`,
`all_atom`, `r3`, `quat_affine`), with the same non-trivial random parameters and inputs."""

from __future__ import annotations

import os
from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from protein.model import all_atom, geometry
from protein.model.config import StructureModuleConfig, preset_config, replace
from protein.model.geometry import Rigid
from protein.model.structure_module import InvariantPointAttention, StructureModule, backbone_update
from protein.structure import residue_constants as rc
from tests.reference import (
    assert_params_equal_layout,
    random_params_for,
    reference_config_for,
    reference_global_config,
    relative_error,
)

TOLERANCE = 1e-5
NUM_RES, C_S, C_Z = 11, 32, 16
CONFIG = StructureModuleConfig(
    num_layer=2,
    num_channel=24,  # differs from C_S, so that a single/activation mix-up fails on shapes
    num_head=4,
    num_scalar_qk=8,
    num_scalar_v=6,
    num_point_qk=2,
    num_point_v=3,
    sidechain_channel=16,
)
SHARED = Path(os.environ.get("PROTEIN_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data"
STRUCTURES = SHARED / "structures" / "classic"


def _reference_config():
    preset = replace(preset_config("tiny"), {"model.structure_module": CONFIG})
    return reference_config_for(preset).model.heads.structure_module


def _random_rigids(rng, shape):
    """Random proper frames (quaternion, translation of tens of Angstrom) as ours and the oracle's r3.Rigids."""
    from alphafold.model import r3

    quaternion = rng.standard_normal(shape + (4,)).astype(np.float32)
    translation = (10.0 * rng.standard_normal(shape + (3,))).astype(np.float32)
    ours = Rigid.from_quaternion(quaternion, translation)
    return ours, r3.Rigids(r3.rots_from_tensor3x3(ours.rotation), r3.vecs_from_tensor(jnp.asarray(translation)))


def _rigids_to_4x4(rigids) -> np.ndarray:
    """The oracle's r3.Rigids [...] as homogeneous transforms [..., 4, 4]."""
    r, t = rigids.rot, rigids.trans
    rows = [[r.xx, r.xy, r.xz, t.x], [r.yx, r.yy, r.yz, t.y], [r.zx, r.zy, r.zz, t.z]]
    top = np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
    bottom = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0], np.float32), top.shape[:-2] + (1, 4))
    return np.concatenate([top, bottom], axis=-2)


def _assert_close(ours, reference, tolerance=TOLERANCE):
    error = relative_error(ours, reference)
    assert error <= tolerance, error


def _real_structure():
    """Atom37 coordinates of ubiquitin (1UBI, 76 residues and its waters, which read as unknown residues with
    no atoms) via the oracle's PDB reader."""
    path = STRUCTURES / "1ubi.pdb"
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    from alphafold.common import protein

    structure = protein.from_pdb_string(path.read_text())
    return (
        structure.aatype.astype(np.int32),
        structure.atom_positions.astype(np.float32),
        structure.atom_mask.astype(np.float32),
    )


# ----------------------------------------------------------------------------------------------------------------
# Rigid transforms.


def test_from_three_points_matches_oracle():
    from alphafold.model import r3

    rng = np.random.default_rng(0)
    points = (5.0 * rng.standard_normal((3, 4, 5, 3))).astype(np.float32)
    ours = Rigid.from_three_points(*points)
    reference = r3.rigids_from_3_points(*(r3.vecs_from_tensor(jnp.asarray(p)) for p in points))
    assert ours.shape == (4, 5)
    _assert_close(ours.to_tensor_4x4(), _rigids_to_4x4(reference))


def test_backbone_frame_matches_reference_transform():
    """quat_affine.make_transform_from_reference builds the frame with C on +x and N in the xy-plane by
    composing planar rotations; our Gram-Schmidt construction must give the same frame."""
    from alphafold.model import quat_affine

    rng = np.random.default_rng(1)
    n, ca, c = (10.0 * rng.standard_normal((3, 9, 3))).astype(np.float32)
    rotation, translation = quat_affine.make_transform_from_reference(n, ca, c)
    ours = Rigid.from_backbone(n, ca, c)
    _assert_close(ours.rotation, rotation)
    _assert_close(ours.translation, translation)


def test_rigid_operations():
    rng = np.random.default_rng(2)
    frames, _ = _random_rigids(rng, (6,))
    others, _ = _random_rigids(rng, (6,))
    points = (10.0 * rng.standard_normal((1, 7, 3))).astype(np.float32)

    # frames [6, 1] on points [1, 7, 3] -> [6, 7, 3], and back.
    moved = frames[:, None].apply(points)
    assert moved.shape == (6, 7, 3)
    np.testing.assert_allclose(frames[:, None].invert_apply(moved), np.broadcast_to(points, (6, 7, 3)), atol=1e-4)
    np.testing.assert_allclose(frames.invert()[:, None].apply(moved), np.broadcast_to(points, (6, 7, 3)), atol=1e-4)
    # Rotations are orthonormal with determinant +1.
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", frames.rotation, frames.rotation), np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-6
    )
    np.testing.assert_allclose(np.linalg.det(np.asarray(frames.rotation)), 1.0, atol=1e-5)

    # Composition is the product of homogeneous matrices, applied right to left.
    composed = frames.compose(others)
    np.testing.assert_allclose(
        composed.to_tensor_4x4(), np.asarray(frames.to_tensor_4x4()) @ np.asarray(others.to_tensor_4x4()), atol=1e-4
    )
    np.testing.assert_allclose(
        composed[:, None].apply(points), frames[:, None].apply(others[:, None].apply(points)), atol=1e-4
    )
    round_trip = Rigid.from_tensor_4x4(frames.to_tensor_4x4())
    np.testing.assert_array_equal(round_trip.rotation, frames.rotation)
    np.testing.assert_array_equal(round_trip.translation, frames.translation)

    identity = Rigid.identity((2, 3))
    assert identity.shape == (2, 3)
    expected = np.broadcast_to(points[:, :2], (2, 3, 2, 3))
    np.testing.assert_array_equal(identity[..., None].apply(points[:, :2]), expected)
    assert frames[2:4].shape == (2,)
    np.testing.assert_allclose(frames.scale_translation(10.0).translation, 10.0 * np.asarray(frames.translation))
    # A Rigid passes through jit as a pytree.
    jitted = jax.jit(lambda f, p: f.apply(p))(frames[:, None], points)
    np.testing.assert_allclose(jitted, moved, atol=1e-5)


def test_quaternions_match_oracle():
    from alphafold.model import quat_affine

    rng = np.random.default_rng(3)
    quaternion = rng.standard_normal((8, 4)).astype(np.float32)
    quaternion /= np.linalg.norm(quaternion, axis=-1, keepdims=True)
    translation = rng.standard_normal((8, 3)).astype(np.float32)
    update = rng.standard_normal((8, 6)).astype(np.float32)

    reference = quat_affine.QuatAffine(quaternion, translation, unstack_inputs=True)
    _assert_close(geometry.quaternion_to_rotation(quaternion), quat_affine.rot_list_to_tensor(reference.rotation))
    other = rng.standard_normal((8, 4)).astype(np.float32)
    _assert_close(geometry.quaternion_multiply(quaternion, other), quat_affine.quat_multiply(quaternion, other))

    new_quaternion, new_translation = backbone_update(quaternion, translation, update)
    updated = reference.pre_compose(update)
    _assert_close(new_quaternion, updated.quaternion)
    _assert_close(new_translation, quat_affine.vec_list_to_tensor(updated.translation))


# ----------------------------------------------------------------------------------------------------------------
# All-atom construction.


def _torsion_inputs(seed=4):
    rng = np.random.default_rng(seed)
    aatype = np.arange(21, dtype=np.int32)  # every residue type and unknown
    angles = rng.standard_normal((21, 7, 2)).astype(np.float32)
    angles /= np.linalg.norm(angles, axis=-1, keepdims=True)
    ours, reference = _random_rigids(rng, (21,))
    return aatype, ours, reference, angles


def test_torsion_angles_to_frames_matches_oracle():
    from alphafold.model import all_atom as reference_all_atom

    aatype, backbone, reference_backbone, angles = _torsion_inputs()
    ours = all_atom.torsion_angles_to_frames(aatype, backbone, angles)
    reference = reference_all_atom.torsion_angles_to_frames(aatype, reference_backbone, angles)
    assert ours.shape == (21, 8)
    _assert_close(ours.to_tensor_4x4(), _rigids_to_4x4(reference))


def test_atom14_positions_match_oracle():
    from alphafold.model import all_atom as reference_all_atom
    from alphafold.model import r3

    aatype, backbone, reference_backbone, angles = _torsion_inputs(seed=5)
    frames = all_atom.torsion_angles_to_frames(aatype, backbone, angles)
    ours = all_atom.frames_and_literature_positions_to_atom14_pos(aatype, frames)
    reference = reference_all_atom.frames_and_literature_positions_to_atom14_pos(
        aatype, reference_all_atom.torsion_angles_to_frames(aatype, reference_backbone, angles)
    )
    _assert_close(ours, r3.vecs_to_tensor(reference))

    batch = {
        "residx_atom37_to_atom14": rc.restype_atom37_to_atom14[aatype],
        "atom37_atom_exists": rc.restype_atom37_mask[aatype],
    }
    _assert_close(all_atom.atom14_to_atom37(ours, batch), reference_all_atom.atom14_to_atom37(ours, batch))
    mask14 = rc.restype_atom14_mask[aatype]
    np.testing.assert_array_equal(
        all_atom.atom14_to_atom37(mask14, batch), reference_all_atom.atom14_to_atom37(jnp.asarray(mask14), batch)
    )


@pytest.mark.parametrize("placeholder_for_undefined", [False, True])
def test_atom37_to_torsion_angles_matches_oracle_on_random_atoms(placeholder_for_undefined):
    from alphafold.model import all_atom as reference_all_atom

    rng = np.random.default_rng(6)
    aatype = rng.integers(0, 22, (2, 30)).astype(np.int32)  # 21 (gap) is clipped to unknown
    positions = (3.0 * rng.standard_normal((2, 30, 37, 3))).astype(np.float32)
    mask = (rng.random((2, 30, 37)) > 0.1).astype(np.float32)
    ours = all_atom.atom37_to_torsion_angles(aatype, positions, mask, placeholder_for_undefined)
    reference = reference_all_atom.atom37_to_torsion_angles(aatype, positions, mask, placeholder_for_undefined)
    assert set(ours) == set(reference)
    torsion_mask = np.asarray(ours["torsion_angles_mask"])
    np.testing.assert_array_equal(torsion_mask, reference["torsion_angles_mask"])
    assert 0.2 < np.mean(torsion_mask) < 0.8
    # Without placeholders an undefined angle is whatever rounding makes of a degenerate frame (e.g. the
    # pre-omega of the first residue, measured against zero-padded atoms): only defined angles are compared.
    defined = 1.0 if placeholder_for_undefined else torsion_mask[..., None]
    for key in ("torsion_angles_sin_cos", "alt_torsion_angles_sin_cos"):
        difference = np.abs(np.asarray(ours[key]) - np.asarray(reference[key])) * defined
        # Random points are now and then nearly collinear (a 1 degree angle in this sample), and Gram-Schmidt
        # then scales float32 rounding up by 1 / sin(angle) in both implementations: a looser bound on the
        # worst angle, float32 noise on the typical one. A wrong convention would be off by O(1).
        assert np.max(difference) <= 1e-4, np.max(difference)
        assert np.median(difference[np.broadcast_to(defined, difference.shape) > 0]) <= 1e-6


@pytest.mark.parametrize("placeholder_for_undefined", [False, True])
def test_atom37_to_torsion_angles_matches_oracle_on_real_structure(placeholder_for_undefined):
    from alphafold.model import all_atom as reference_all_atom

    aatype, positions, mask = _real_structure()
    args = (aatype[None], positions[None], mask[None], placeholder_for_undefined)
    ours = all_atom.atom37_to_torsion_angles(*args)
    reference = reference_all_atom.atom37_to_torsion_angles(*args)
    np.testing.assert_array_equal(ours["torsion_angles_mask"], reference["torsion_angles_mask"])
    for key in ("torsion_angles_sin_cos", "alt_torsion_angles_sin_cos"):
        _assert_close(ours[key], reference[key])


def test_measured_torsions_rebuild_the_structure():
    """Torsions measured on a real structure, put back through the rigid groups, rebuild its atoms up to the
    difference between real and idealised bond geometry (a check of conventions, e.g. the psi frame's pi)."""
    aatype, positions, mask = _real_structure()
    torsions = all_atom.atom37_to_torsion_angles(aatype[None], positions[None], mask[None])
    n, ca, c = (positions[:, rc.atom_order[name]] for name in ("N", "CA", "C"))
    backbone = Rigid.from_backbone(n, ca, c)
    frames = all_atom.torsion_angles_to_frames(aatype, backbone, torsions["torsion_angles_sin_cos"][0])
    atom14 = all_atom.frames_and_literature_positions_to_atom14_pos(aatype, frames)
    batch = {
        "residx_atom37_to_atom14": rc.restype_atom37_to_atom14[aatype],
        "atom37_atom_exists": rc.restype_atom37_mask[aatype],
    }
    rebuilt = np.asarray(all_atom.atom14_to_atom37(atom14, batch))
    present = mask * rc.restype_atom37_mask[aatype]
    deviation = np.linalg.norm(rebuilt - positions, axis=-1)[present > 0]
    assert present.sum() > 500
    assert np.mean(deviation) < 0.2, np.mean(deviation)
    assert np.max(np.linalg.norm(rebuilt - positions, axis=-1)[:, rc.atom_order["O"]] * present[:, 4]) < 0.2


def test_pseudo_beta_matches_oracle():
    from alphafold.model import modules

    rng = np.random.default_rng(7)
    aatype = rng.integers(0, 21, (3, 12)).astype(np.int32)
    aatype[:, :3] = rc.restype_order["G"]
    positions = rng.standard_normal((3, 12, 37, 3)).astype(np.float32)
    masks = (rng.random((3, 12, 37)) > 0.3).astype(np.float32)
    ours, ours_mask = all_atom.pseudo_beta(aatype, positions, masks)
    reference, reference_mask = modules.pseudo_beta_fn(aatype, positions, masks)
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(ours_mask, reference_mask)
    np.testing.assert_array_equal(ours[:, :3], positions[:, :3, rc.atom_order["CA"]])
    without_mask, none = all_atom.pseudo_beta(aatype[0], positions[0])
    assert none is None
    np.testing.assert_array_equal(without_mask, reference[0])


# ----------------------------------------------------------------------------------------------------------------
# Invariant point attention and the whole structure module.


def _module_inputs(seed=8):
    rng = np.random.default_rng(seed)
    single = rng.standard_normal((NUM_RES, C_S)).astype(np.float32)
    pair = rng.standard_normal((NUM_RES, NUM_RES, C_Z)).astype(np.float32)
    # Glycine, proline, the four-chi ARG and LYS, aromatics, unknown; two padded residues at the end.
    aatype = np.array([7, 14, 1, 11, 18, 17, 3, 20, 9, 0, 0], np.int32)
    seq_mask = np.ones(NUM_RES, np.float32)
    seq_mask[-2:] = 0.0
    batch = {
        "seq_mask": seq_mask,
        "aatype": aatype,
        "atom14_atom_exists": rc.restype_atom14_mask[aatype] * seq_mask[:, None],
        "residx_atom14_to_atom37": rc.restype_atom14_to_atom37[aatype],
        "residx_atom37_to_atom14": rc.restype_atom37_to_atom14[aatype],
        "atom37_atom_exists": rc.restype_atom37_mask[aatype] * seq_mask[:, None],
    }
    return single, pair, batch


def test_invariant_point_attention_matches_oracle():
    from alphafold.model import folding, quat_affine

    cfg, gc = _reference_config(), reference_global_config()
    rng = np.random.default_rng(9)
    single = rng.standard_normal((NUM_RES, CONFIG.num_channel)).astype(np.float32)
    pair = rng.standard_normal((NUM_RES, NUM_RES, C_Z)).astype(np.float32)
    mask = np.ones(NUM_RES, np.float32)
    mask[-2:] = 0.0
    quaternion = rng.standard_normal((NUM_RES, 4)).astype(np.float32)
    quaternion /= np.linalg.norm(quaternion, axis=-1, keepdims=True)
    translation = (3.0 * rng.standard_normal((NUM_RES, 3))).astype(np.float32)

    def reference_fn(s, z, m, q, t):
        affine = quat_affine.QuatAffine(q, t, unstack_inputs=True)
        return folding.InvariantPointAttention(cfg, gc)(s, z, m[:, None], affine)

    def ours_fn(s, z, m, q, t):
        return InvariantPointAttention(CONFIG)(s, z, m, Rigid.from_quaternion(q, t))

    args = (single, pair, mask, quaternion, translation)
    reference = hk.transform(reference_fn)
    ours = hk.transform(ours_fn)
    params = random_params_for(reference, *args)
    assert_params_equal_layout(jax.eval_shape(ours.init, jax.random.PRNGKey(0), *args), params)
    out_ours = ours.apply(params, None, *args)
    out_reference = reference.apply(params, None, *args)
    assert np.std(np.asarray(out_reference)) > 1e-3
    _assert_close(out_ours, out_reference)


@pytest.fixture(scope="module")
def structure_outputs():
    from alphafold.model import folding

    cfg, gc = _reference_config(), reference_global_config()
    single, pair, batch = _module_inputs()
    # compute_loss=True only makes the oracle return every output; no loss is computed here.
    reference = hk.transform(
        lambda s, z, b: folding.StructureModule(cfg, gc, compute_loss=True)(
            {"single": s, "pair": z}, b, is_training=False
        )
    )
    ours = hk.transform(lambda s, z, b: StructureModule(CONFIG)(single=s, pair=z, batch=b))
    params = random_params_for(reference, single, pair, batch)
    layout = jax.eval_shape(ours.init, jax.random.PRNGKey(0), single, pair, batch)
    out_ours = jax.device_get(ours.apply(params, None, single, pair, batch))
    out_reference = jax.device_get(reference.apply(params, jax.random.PRNGKey(1), single, pair, batch))
    return params, layout, out_ours, out_reference


def test_structure_module_parameters_have_official_layout(structure_outputs):
    params, layout, _, _ = structure_outputs
    assert_params_equal_layout(layout, params)
    assert "structure_module/fold_iteration/rigid_sidechain/resblock2_1" in layout
    assert "structure_module/fold_iteration/transition_2" in layout
    # One set of fold-iteration weights, shared by all layers (no stacked leading axis).
    assert layout["structure_module/fold_iteration/affine_update"]["weights"].shape == (CONFIG.num_channel, 6)


def test_structure_module_matches_oracle(structure_outputs):
    from alphafold.model import r3

    _, _, ours, reference = structure_outputs
    sidechains, reference_sidechains = ours["sidechains"], reference["sidechains"]
    pairs = {
        "act": (ours["act"], reference["representations"]["structure_module"]),
        "traj": (ours["traj"], reference["traj"]),
        "final_affines": (ours["final_affines"], reference["final_affines"]),
        "final_atom14_positions": (ours["final_atom14_positions"], reference["final_atom14_positions"]),
        "final_atom_positions": (ours["final_atom_positions"], reference["final_atom_positions"]),
        "unnormalized_angles_sin_cos": (
            sidechains["unnormalized_angles_sin_cos"],
            reference_sidechains["unnormalized_angles_sin_cos"],
        ),
        # Normalising a (sin, cos) pair of small norm scales its float32 noise up by 1 / norm: with random
        # weights a few pairs have norms ~0.05, so this error is the largest (about 5e-6).
        "angles_sin_cos": (sidechains["angles_sin_cos"], reference_sidechains["angles_sin_cos"]),
        "atom_pos": (sidechains["atom_pos"], r3.vecs_to_tensor(reference_sidechains["atom_pos"])),
        "frames": (sidechains["frames"], _rigids_to_4x4(reference_sidechains["frames"])),
    }
    errors = {name: relative_error(a, b) for name, a, b in ((n, *p) for n, p in pairs.items())}
    assert all(error <= TOLERANCE for error in errors.values()), errors
    for name, (_, b) in pairs.items():
        assert np.std(np.asarray(b)) > 1e-3, name  # the compared output is not trivially constant
    np.testing.assert_array_equal(ours["final_atom_mask"], reference["final_atom_mask"])
    np.testing.assert_array_equal(ours["final_atom14_mask"], reference["final_atom14_mask"])

    assert ours["traj"].shape == (CONFIG.num_layer, NUM_RES, 7)
    assert sidechains["frames"].shape == (CONFIG.num_layer, NUM_RES, 8, 4, 4)
    # Atoms a residue does not have stay at zero.
    absent = np.asarray(ours["final_atom_mask"]) == 0
    assert np.all(np.asarray(ours["final_atom_positions"])[absent] == 0.0)
