"""From backbone frames and torsion angles to atom coordinates, and back (Jumper et al. 2021, Suppl. 1.8, 1.9.1).

Each residue is eight rigid groups (Suppl. Table 2): backbone, pre-omega, phi, psi, chi1-chi4. A torsion
angle rotates its group about the x axis of the group's default frame; the atoms sit at idealised literature
positions inside their group. Atom layouts: "atom14" (dense, per residue type) and "atom37" (one slot per atom
name); `protein.structure.residue_constants` holds the tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from protein.model.geometry import Rigid
from protein.structure import residue_constants as rc

NUM_TORSIONS = 7  # pre-omega, phi, psi, chi1-chi4
UNKNOWN_RESTYPE = rc.restype_num  # 20

# Per residue type, with a last all-zero row for unknown residues: the atom37 slots of the four atoms of each
# chi angle [21, 4, 4] (absent angles point at slot 0 and are masked), which chi angles exist [21, 4], and
# which are pi-periodic [21, 4].
_CHI_ATOM_INDICES = np.concatenate([rc.chi_angles_atom_indices, np.zeros([1, 4, 4], np.int64)]).astype(np.int32)
_CHI_ANGLES_MASK = np.array(list(rc.chi_angles_mask) + [[0.0] * 4], np.float32)
_CHI_PI_PERIODIC = np.array(rc.chi_pi_periodic, np.float32)

_N, _CA, _C, _CB, _O = (rc.atom_order[name] for name in ("N", "CA", "C", "CB", "O"))


def _rotation_about_x(sin: jnp.ndarray, cos: jnp.ndarray) -> jnp.ndarray:
    """[...] sines and cosines -> rotations [..., 3, 3] about the x axis (Suppl. Alg. 25 "makeRotX")."""
    zeros, ones = jnp.zeros_like(sin), jnp.ones_like(sin)
    rows = [[ones, zeros, zeros], [zeros, cos, -sin], [zeros, sin, cos]]
    return jnp.stack([jnp.stack(row, axis=-1) for row in rows], axis=-2)


def torsion_angles_to_frames(aatype: jnp.ndarray, backbone_frames: Rigid, angles_sin_cos: jnp.ndarray) -> Rigid:
    """The frames of the eight rigid groups of each residue (Suppl. Alg. 24 lines 2-10).

    aatype [..., N] int, backbone_frames Rigid [..., N] (backbone to global), angles_sin_cos [..., N, 7, 2]
    (sin, cos of pre-omega, phi, psi, chi1-4) -> Rigid [..., N, 8] (group to global).
    """
    default_frames = Rigid.from_tensor_4x4(jnp.asarray(rc.restype_rigid_group_default_frame)[aatype])
    # The backbone group has no torsion of its own: angle zero.
    sin = jnp.concatenate([jnp.zeros_like(angles_sin_cos[..., :1, 0]), angles_sin_cos[..., 0]], axis=-1)
    cos = jnp.concatenate([jnp.ones_like(angles_sin_cos[..., :1, 1]), angles_sin_cos[..., 1]], axis=-1)
    group_to_parent = default_frames.compose_rotation(_rotation_about_x(sin, cos))  # [..., N, 8]

    # Groups up to chi1 hang off the backbone frame; chi2-chi4 each off the previous chi group.
    chi_to_backbone = [group_to_parent[..., 4]]
    for group in (5, 6, 7):
        chi_to_backbone.append(chi_to_backbone[-1].compose(group_to_parent[..., group]))
    group_to_backbone = Rigid(
        jnp.concatenate(
            [group_to_parent.rotation[..., :5, :, :]] + [f.rotation[..., None, :, :] for f in chi_to_backbone[1:]],
            axis=-3,
        ),
        jnp.concatenate(
            [group_to_parent.translation[..., :5, :]] + [f.translation[..., None, :] for f in chi_to_backbone[1:]],
            axis=-2,
        ),
    )
    return backbone_frames[..., None].compose(group_to_backbone)


def frames_and_literature_positions_to_atom14_pos(aatype: jnp.ndarray, frames: Rigid) -> jnp.ndarray:
    """Literature atom positions placed by their rigid group's frame (Suppl. Alg. 24 line 11).

    aatype [..., N] int, frames Rigid [..., N, 8] (group to global) -> atom14 positions [..., N, 14, 3], zero
    at atom slots the residue type does not have.
    """
    group = jnp.asarray(rc.restype_atom14_to_rigid_group, jnp.int32)[aatype]  # [..., N, 14]
    atom_frames = Rigid(
        jnp.take_along_axis(frames.rotation, group[..., None, None], axis=-3),
        jnp.take_along_axis(frames.translation, group[..., None], axis=-2),
    )
    literature_positions = jnp.asarray(rc.restype_atom14_rigid_group_positions)[aatype]  # [..., N, 14, 3]
    mask = jnp.asarray(rc.restype_atom14_mask)[aatype]  # [..., N, 14]
    return atom_frames.apply(literature_positions) * mask[..., None]


def atom14_to_atom37(atom14: jnp.ndarray, batch: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
    """Per-atom data from the atom14 to the atom37 layout.

    atom14 [N, 14] or [N, 14, C]; batch holds `residx_atom37_to_atom14` [N, 37] int and `atom37_atom_exists`
    [N, 37] -> [N, 37] or [N, 37, C], zero at slots the residue does not have.
    """
    index = batch["residx_atom37_to_atom14"].astype(jnp.int32)
    exists = batch["atom37_atom_exists"].astype(atom14.dtype)
    trailing = atom14.ndim - 2
    index = index.reshape(index.shape + (1,) * trailing)
    exists = exists.reshape(exists.shape + (1,) * trailing)
    return jnp.take_along_axis(atom14, index, axis=1) * exists


def pseudo_beta(
    aatype: jnp.ndarray, all_atom_positions: jnp.ndarray, all_atom_masks: jnp.ndarray | None = None
) -> tuple[jnp.ndarray, jnp.ndarray | None]:
    """The CB position of each residue, CA for glycine (Suppl. 1.7.1 and Alg. 32).

    aatype [..., N] int, all_atom_positions [..., N, 37, 3], all_atom_masks [..., N, 37] or None -> positions
    [..., N, 3] and their mask [..., N] float32 (None when no masks were given).
    """
    is_glycine = aatype == rc.restype_order["G"]
    positions = jnp.where(is_glycine[..., None], all_atom_positions[..., _CA, :], all_atom_positions[..., _CB, :])
    if all_atom_masks is None:
        return positions, None
    mask = jnp.where(is_glycine, all_atom_masks[..., _CA], all_atom_masks[..., _CB])
    return positions, mask.astype(jnp.float32)


def atom37_to_torsion_angles(
    aatype: jnp.ndarray,
    all_atom_pos: jnp.ndarray,
    all_atom_mask: jnp.ndarray,
    placeholder_for_undefined: bool = False,
) -> dict[str, jnp.ndarray]:
    """The seven torsion angles of each residue from its atoms, as sin and cos (Suppl. 1.9.1 and Alg. 25).

    aatype [..., N] int, all_atom_pos [..., N, 37, 3], all_atom_mask [..., N, 37] -> dict with
    `torsion_angles_sin_cos` [..., N, 7, 2], `alt_torsion_angles_sin_cos` [..., N, 7, 2] (the pi-periodic chi
    angles shifted by pi) and `torsion_angles_mask` [..., N, 7]. Angles are in the order pre-omega (between
    the previous residue and this one), phi, psi, chi1-4, each measured in the convention of its rigid group.
    Angles whose atoms are missing are masked; their values are arbitrary (degenerate frames) unless
    `placeholder_for_undefined` sets them to (sin, cos) = (1, 0), as the template features want.
    """
    aatype = jnp.minimum(aatype, UNKNOWN_RESTYPE)
    positions = all_atom_pos.astype(jnp.float32)
    mask = all_atom_mask.astype(jnp.float32)
    # The previous residue's atoms, zero (and masked) before the first residue.
    prev_positions = jnp.concatenate([jnp.zeros_like(positions[..., :1, :, :]), positions[..., :-1, :, :]], axis=-3)
    prev_mask = jnp.concatenate([jnp.zeros_like(mask[..., :1, :]), mask[..., :-1, :]], axis=-2)

    # Four atoms per torsion [..., N, 7, 4, 3] and whether all four exist [..., N, 7].
    backbone_atoms = [
        (prev_positions[..., _CA, :], prev_positions[..., _C, :], positions[..., _N, :], positions[..., _CA, :]),
        (prev_positions[..., _C, :], positions[..., _N, :], positions[..., _CA, :], positions[..., _C, :]),
        (positions[..., _N, :], positions[..., _CA, :], positions[..., _C, :], positions[..., _O, :]),
    ]
    backbone_atoms = jnp.stack([jnp.stack(atoms, axis=-2) for atoms in backbone_atoms], axis=-3)
    backbone_mask = jnp.stack(
        [
            prev_mask[..., _CA] * prev_mask[..., _C] * mask[..., _N] * mask[..., _CA],
            prev_mask[..., _C] * mask[..., _N] * mask[..., _CA] * mask[..., _C],
            mask[..., _N] * mask[..., _CA] * mask[..., _C] * mask[..., _O],
        ],
        axis=-1,
    )
    chi_atoms_index = jnp.asarray(_CHI_ATOM_INDICES)[aatype]  # [..., N, 4, 4]
    flat_index = chi_atoms_index.reshape(chi_atoms_index.shape[:-2] + (16,))
    chi_atoms = jnp.take_along_axis(positions, flat_index[..., None], axis=-2)
    chi_atoms = chi_atoms.reshape(chi_atoms_index.shape + (3,))
    chi_atoms_present = jnp.take_along_axis(mask, flat_index, axis=-1).reshape(chi_atoms_index.shape)
    chi_mask = jnp.asarray(_CHI_ANGLES_MASK)[aatype] * jnp.prod(chi_atoms_present, axis=-1)

    torsion_atoms = jnp.concatenate([backbone_atoms, chi_atoms], axis=-3)  # [..., N, 7, 4, 3]
    torsion_mask = jnp.concatenate([backbone_mask, chi_mask], axis=-1)  # [..., N, 7]

    # The torsion about the bond atom1 -> atom2: in the frame with x along that bond and atom0 in the xy-plane,
    # the last atom sits at angle atan2(z, y).
    frames = Rigid.from_three_points(torsion_atoms[..., 1, :], torsion_atoms[..., 2, :], torsion_atoms[..., 0, :])
    last_atom = frames.invert_apply(torsion_atoms[..., 3, :])
    sin_cos = jnp.stack([last_atom[..., 2], last_atom[..., 1]], axis=-1)
    sin_cos = sin_cos / jnp.sqrt(jnp.sum(jnp.square(sin_cos), axis=-1, keepdims=True) + 1e-8)
    # The psi group's default frame has N on its negative y side, the measuring frame on its positive side: the
    # group's angle is the measured one plus pi, i.e. sin and cos change sign.
    sin_cos = sin_cos * jnp.array([1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0], jnp.float32)[:, None]

    chi_is_pi_periodic = jnp.asarray(_CHI_PI_PERIODIC)[aatype]  # [..., N, 4]
    mirror = jnp.concatenate([jnp.ones_like(chi_is_pi_periodic[..., :3]), 1.0 - 2.0 * chi_is_pi_periodic], axis=-1)
    alt_sin_cos = sin_cos * mirror[..., None]

    if placeholder_for_undefined:
        placeholder = jnp.array([1.0, 0.0], jnp.float32)
        defined = torsion_mask[..., None]
        sin_cos = sin_cos * defined + placeholder * (1.0 - defined)
        alt_sin_cos = alt_sin_cos * defined + placeholder * (1.0 - defined)

    return {
        "torsion_angles_sin_cos": sin_cos,
        "alt_torsion_angles_sin_cos": alt_sin_cos,
        "torsion_angles_mask": torsion_mask,
    }
