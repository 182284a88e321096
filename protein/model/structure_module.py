"""The structure module (Jumper et al. 2021, Suppl. 1.8): from the single and pair representations to backbone
frames, torsion angles and atom coordinates.

One fold iteration (invariant point attention, transition, backbone update, side-chain torsions) is applied
`num_layer` times with shared weights (Suppl. Alg. 20). Inference only: no auxiliary losses, no dropout.

Backbone frames are tracked as unit quaternions plus translations, the published parameterisation of the
backbone update (Alg. 23), so the returned affines are the published [quaternion, translation] rows.
Translations inside the iteration are in units of `position_scale` Angstrom (nanometres for the released
models); outputs are in Angstrom.
"""

from __future__ import annotations

from collections.abc import Mapping

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from protein.model import all_atom, geometry
from protein.model.config import StructureModuleConfig
from protein.model.geometry import Rigid
from protein.model.primitives import Linear, layer_norm

# Subtracted from the attention logits between residue pairs that involve a padded residue.
_IPA_MASK_BIAS = 1e5
# Added under the square root of the norms of the attended points (keeps the gradient finite at zero).
_IPA_NORM_EPSILON = 1e-8
# Floor of the squared norm when normalising the predicted (sin, cos) pairs.
_ANGLE_NORM_EPSILON = 1e-12


def _numbered(name: str, index: int) -> str:
    """Haiku's name for the `index`-th module called `name` in one scope: name, name_1, name_2, ..."""
    return name if index == 0 else f"{name}_{index}"


class InvariantPointAttention(hk.Module):
    """Attention between residues that is invariant to global rotations and translations (Suppl. Alg. 22).

    Logits combine scalar query-key products, distances between query and key points placed by each residue's
    frame, and a bias from the pair representation, weighted equally in variance. Outputs are the attended
    scalars, attended points brought back into the query's frame (with their norms) and attended pair features.

    Parameters: `q_scalar`, `kv_scalar`, `q_point_local`, `kv_point_local`, `attention_2d`, `output_projection`
    (linear layers) and `trainable_point_weights` [num_head] (softplus-ed per-head weight of the point term).
    """

    def __init__(self, config: StructureModuleConfig, name: str = "invariant_point_attention"):
        super().__init__(name=name)
        self.config = config

    def __call__(
        self, single: jnp.ndarray, pair: jnp.ndarray, mask: jnp.ndarray, frames: Rigid
    ) -> jnp.ndarray:
        """single [N, c_s], pair [N, N, c_z], mask [N] (1 for real residues), frames Rigid [N] (local to
        global, translations in the units of the points) -> update [N, num_channel]."""
        c = self.config
        num_res = single.shape[0]
        num_head = c.num_head

        def scalars(name: str, num: int) -> jnp.ndarray:
            return Linear(num_head * num, name=name)(single).reshape(num_res, num_head, num)

        def global_points(name: str, num: int) -> jnp.ndarray:
            # The linear layer's outputs are [x of every (head, point), y of ..., z of ...].
            local = Linear(num_head * 3 * num, name=name)(single).reshape(num_res, 3, num_head * num)
            local = jnp.swapaxes(local, -1, -2)  # [N, h * p, 3]
            return frames[:, None].apply(local).reshape(num_res, num_head, num, 3)

        q_scalar = scalars("q_scalar", c.num_scalar_qk)  # [N, h, c]
        kv_scalar = scalars("kv_scalar", c.num_scalar_qk + c.num_scalar_v)
        k_scalar, v_scalar = jnp.split(kv_scalar, [c.num_scalar_qk], axis=-1)
        q_point = global_points("q_point_local", c.num_point_qk)  # [N, h, p, 3]
        kv_point = global_points("kv_point_local", c.num_point_qk + c.num_point_v)
        k_point, v_point = jnp.split(kv_point, [c.num_point_qk], axis=2)

        # Each of the three logit terms gets variance 1/3 for unit-variance inputs: a scalar q.k term has
        # variance num_scalar_qk, a point term 0.5 |q - k|^2 has variance 9/2 per point.
        scalar_weight = np.sqrt(1.0 / (3 * c.num_scalar_qk))
        point_weight_init = np.log(np.exp(1.0) - 1.0)  # softplus^-1(1)
        head_weights = jax.nn.softplus(
            hk.get_parameter(
                "trainable_point_weights", [num_head], single.dtype, hk.initializers.Constant(point_weight_init)
            )
        )
        point_weights = np.sqrt(1.0 / (3 * c.num_point_qk * 9.0 / 2)) * head_weights  # [h]
        pair_weight = np.sqrt(1.0 / 3)

        scalar_logits = jnp.einsum("qhc,khc->hqk", q_scalar * scalar_weight, k_scalar)
        squared_distances = jnp.sum(jnp.square(q_point[:, None] - k_point[None, :]), axis=-1)  # [N_q, N_k, h, p]
        point_logits = -0.5 * jnp.sum(point_weights[:, None] * squared_distances, axis=-1)  # [N_q, N_k, h]
        pair_logits = pair_weight * Linear(num_head, name="attention_2d")(pair)  # [N_q, N_k, h]
        mask_2d = mask[:, None] * mask[None, :]
        logits = scalar_logits + jnp.transpose(point_logits + pair_logits, [2, 0, 1])
        logits = logits - _IPA_MASK_BIAS * (1.0 - mask_2d)
        attention = jax.nn.softmax(logits, axis=-1)  # [h, N_q, N_k]

        result_scalar = jnp.einsum("hqk,khc->qhc", attention, v_scalar).reshape(num_res, -1)
        # Full float32 (no TF32 on GPUs): the attended points are global, far from the origin, and the query
        # frame's inverse keeps only their small local offsets.
        result_points = jnp.einsum(
            "hqk,khpx->qhpx", attention, v_point, precision=jax.lax.Precision.HIGHEST
        ).reshape(num_res, -1, 3)  # [N, h * p_v, 3]
        result_points = frames[:, None].invert_apply(result_points)
        result_norm = jnp.sqrt(_IPA_NORM_EPSILON + jnp.sum(jnp.square(result_points), axis=-1))
        result_pair = jnp.einsum("hqk,qkc->qhc", attention, pair).reshape(num_res, -1)

        features = jnp.concatenate(
            [
                result_scalar,
                result_points[..., 0],
                result_points[..., 1],
                result_points[..., 2],
                result_norm,
                result_pair,
            ],
            axis=-1,
        )
        return Linear(c.num_channel, name="output_projection")(features)


class MultiRigidSidechain(hk.Module):
    """Torsion angles from the single representation, and from them all-atom coordinates (Suppl. Alg. 20
    lines 11-14 and Alg. 24)."""

    def __init__(self, config: StructureModuleConfig, name: str = "rigid_sidechain"):
        super().__init__(name=name)
        self.config = config

    def __call__(
        self, single: jnp.ndarray, initial_single: jnp.ndarray, backbone_frames: Rigid, aatype: jnp.ndarray
    ) -> dict[str, jnp.ndarray]:
        """single, initial_single [N, c_s]; backbone_frames Rigid [N] in Angstrom; aatype [N] -> dict of
        `angles_sin_cos` and `unnormalized_angles_sin_cos` [N, 7, 2], `atom_pos` [N, 14, 3] (Angstrom) and
        `frames` [N, 8, 4, 4] (rigid group to global)."""
        c = self.config
        act = Linear(c.sidechain_channel, name="input_projection")(jax.nn.relu(single)) + Linear(
            c.sidechain_channel, name="input_projection_1"
        )(jax.nn.relu(initial_single))
        for i in range(c.sidechain_num_residual_block):
            update = Linear(c.sidechain_channel, name=_numbered("resblock1", i))(jax.nn.relu(act))
            act = act + Linear(c.sidechain_channel, name=_numbered("resblock2", i))(jax.nn.relu(update))
        unnormalized = Linear(2 * all_atom.NUM_TORSIONS, name="unnormalized_angles")(jax.nn.relu(act))
        unnormalized = unnormalized.reshape(-1, all_atom.NUM_TORSIONS, 2)
        norm = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(unnormalized), axis=-1, keepdims=True), _ANGLE_NORM_EPSILON))
        angles = unnormalized / norm

        frames = all_atom.torsion_angles_to_frames(aatype, backbone_frames, angles)
        return {
            "angles_sin_cos": angles,
            "unnormalized_angles_sin_cos": unnormalized,
            "atom_pos": all_atom.frames_and_literature_positions_to_atom14_pos(aatype, frames),
            "frames": frames.to_tensor_4x4(),
        }


def backbone_update(
    quaternion: jnp.ndarray, translation: jnp.ndarray, update: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Composes each frame with a predicted local update (Suppl. Alg. 23).

    quaternion [N, 4] (unit), translation [N, 3], update [N, 6] = (b, c, d, t_x, t_y, t_z) -> the frame
    T o (R(1, b, c, d), t): quaternion [N, 4] (unit) and translation [N, 3].
    """
    rotation = geometry.quaternion_to_rotation(quaternion)
    vector_part, local_translation = update[..., :3], update[..., 3:]
    # q (1, b, c, d) = q + q (0, b, c, d), normalised afterwards.
    new_quaternion = quaternion + geometry.quaternion_multiply(
        quaternion, jnp.concatenate([jnp.zeros_like(vector_part[..., :1]), vector_part], axis=-1)
    )
    new_quaternion = new_quaternion / jnp.linalg.norm(new_quaternion, axis=-1, keepdims=True)
    return new_quaternion, translation + geometry.rotate(rotation, local_translation)


class FoldIteration(hk.Module):
    """One layer of the structure module (Suppl. Alg. 20 lines 6-21)."""

    def __init__(self, config: StructureModuleConfig, name: str = "fold_iteration"):
        super().__init__(name=name)
        self.config = config

    def __call__(
        self,
        single: jnp.ndarray,
        quaternion: jnp.ndarray,
        translation: jnp.ndarray,
        initial_single: jnp.ndarray,
        pair: jnp.ndarray,
        seq_mask: jnp.ndarray,
        aatype: jnp.ndarray,
    ) -> tuple[tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray], dict]:
        """single [N, c_s]; backbone quaternion [N, 4] and translation [N, 3] (units of position_scale);
        initial_single [N, c_s]; pair [N, N, c_z]; seq_mask [N]; aatype [N] -> the updated
        (single, quaternion, translation) and this layer's outputs (affine [N, 7], side chains)."""
        c = self.config
        frames = Rigid.from_quaternion(quaternion, translation, normalize=False)
        single = single + InvariantPointAttention(c)(single, pair, seq_mask, frames)
        single = layer_norm("attention_layer_norm")(single)

        act = single
        for i in range(c.num_layer_in_transition):
            act = Linear(c.num_channel, name=_numbered("transition", i))(act)
            if i < c.num_layer_in_transition - 1:
                act = jax.nn.relu(act)
        single = layer_norm("transition_layer_norm")(single + act)

        quaternion, translation = backbone_update(quaternion, translation, Linear(6, name="affine_update")(single))
        backbone_frames = Rigid.from_quaternion(quaternion, translation * c.position_scale, normalize=False)
        sidechains = MultiRigidSidechain(c)(single, initial_single, backbone_frames, aatype)
        outputs = {"affine": jnp.concatenate([quaternion, translation], axis=-1), "sidechains": sidechains}
        # Alg. 20 line 20: no gradient flows into the next layer through the rotations.
        return (single, jax.lax.stop_gradient(quaternion), translation), outputs


class StructureModule(hk.Module):
    """Suppl. Alg. 20: `num_layer` shared-weight fold iterations from identity frames, then atom coordinates."""

    def __init__(self, config: StructureModuleConfig, name: str = "structure_module"):
        super().__init__(name=name)
        self.config = config

    def __call__(
        self, single: jnp.ndarray, pair: jnp.ndarray, batch: Mapping[str, jnp.ndarray]
    ) -> dict:
        """single [N, c_s], pair [N, N, c_z]; batch holds seq_mask [N], aatype [N] int, atom14_atom_exists
        [N, 14], residx_atom37_to_atom14 [N, 37] int and atom37_atom_exists [N, 37].

        Returns (lengths in Angstrom):
          act [N, num_channel]: the final single representation (input of the pLDDT head);
          traj [num_layer, N, 7]: each layer's backbone frames as (quaternion, translation);
          final_affines [N, 7]: the last row of traj;
          sidechains: angles_sin_cos, unnormalized_angles_sin_cos [num_layer, N, 7, 2], atom_pos
            [num_layer, N, 14, 3], frames [num_layer, N, 8, 4, 4];
          final_atom14_positions [N, 14, 3], final_atom14_mask [N, 14];
          final_atom_positions [N, 37, 3], final_atom_mask [N, 37] (atom37 layout).
        """
        c = self.config
        num_res = single.shape[0]
        seq_mask = batch["seq_mask"].astype(single.dtype)
        aatype = batch["aatype"]

        initial_single = layer_norm("single_layer_norm")(single)
        act = Linear(c.num_channel, name="initial_projection")(initial_single)
        pair = layer_norm("pair_layer_norm")(pair)
        quaternion = geometry.identity_quaternion([num_res], single.dtype)
        translation = jnp.zeros([num_res, 3], single.dtype)

        fold_iteration = FoldIteration(c)

        def layer(state, _):
            return fold_iteration(*state, initial_single, pair, seq_mask, aatype)

        (act, _, _), outputs = hk.scan(layer, (act, quaternion, translation), None, length=c.num_layer)

        affine_scale = jnp.array([1.0] * 4 + [c.position_scale] * 3, single.dtype)
        traj = outputs["affine"] * affine_scale
        sidechains = outputs["sidechains"]
        atom14_positions = sidechains["atom_pos"][-1]
        atom37_positions = all_atom.atom14_to_atom37(atom14_positions, batch)
        atom37_exists = batch["atom37_atom_exists"]
        return {
            "act": act,
            "traj": traj,
            "final_affines": traj[-1],
            "sidechains": sidechains,
            "final_atom14_positions": atom14_positions,
            "final_atom14_mask": batch["atom14_atom_exists"],
            "final_atom_positions": atom37_positions * atom37_exists[..., None].astype(atom37_positions.dtype),
            "final_atom_mask": atom37_exists,
        }
