"""Rigid transforms (rotation then translation) as arrays, and the quaternions of the backbone update.

A `Rigid` maps points from a local frame to the global one: x_global = R x_local + t. Rotations are [..., 3, 3]
and translations [..., 3] arrays with any number of leading batch axes, which broadcast against each other and
against the points they act on (frames [N, 1] applied to points [1, M, 3] give [N, M, 3]).

Rotations act on points by element-wise products and sums rather than matrix products: on accelerators a
float32 matmul may run at reduced precision (TF32), and global coordinates of tens of Angstrom would lose
the digits that local coordinates need.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

# Added to squared norms before the square root in Gram-Schmidt (Suppl. Alg. 21), so that coincident points
# give a finite frame instead of NaN.
NORM_EPSILON = 1e-8


def rotate(rotation: jnp.ndarray, points: jnp.ndarray) -> jnp.ndarray:
    """R x: rotation [..., 3, 3], points [..., 3] (broadcast over the batch axes) -> [..., 3]."""
    return jnp.sum(rotation * points[..., None, :], axis=-1)


def rotate_inverse(rotation: jnp.ndarray, points: jnp.ndarray) -> jnp.ndarray:
    """R^T x: rotation [..., 3, 3], points [..., 3] -> [..., 3]."""
    return jnp.sum(rotation * points[..., :, None], axis=-2)


def rotation_multiply(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """A B for rotations [..., 3, 3] (broadcast)."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


@jax.tree_util.register_pytree_node_class
class Rigid:
    """Rigid transforms with batch shape `shape`: rotation [*shape, 3, 3] and translation [*shape, 3]."""

    def __init__(self, rotation: jnp.ndarray, translation: jnp.ndarray):
        self.rotation = rotation
        self.translation = translation

    # Pytree protocol: a Rigid goes through jit, vmap and scan like a pair of arrays.
    def tree_flatten(self):
        return (self.rotation, self.translation), None

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        del aux_data
        return cls(*children)

    def __repr__(self) -> str:
        return f"Rigid(shape={self.shape})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(jnp.broadcast_shapes(self.rotation.shape[:-2], self.translation.shape[:-1]))

    @property
    def dtype(self):
        return self.translation.dtype

    # ----------------------------------------------------------------------------------------------------------
    # Construction.

    @classmethod
    def identity(cls, shape: Sequence[int], dtype=jnp.float32) -> Rigid:
        """Identity transforms of batch shape `shape`."""
        shape = tuple(shape)
        rotation = jnp.broadcast_to(jnp.eye(3, dtype=dtype), shape + (3, 3))
        return cls(rotation, jnp.zeros(shape + (3,), dtype))

    @classmethod
    def from_three_points(
        cls, point_on_neg_x_axis: jnp.ndarray, origin: jnp.ndarray, point_on_xy_plane: jnp.ndarray
    ) -> Rigid:
        """The frame with origin `origin`, x axis pointing away from `point_on_neg_x_axis`, and
        `point_on_xy_plane` in its xy-plane at y > 0, by Gram-Schmidt (Jumper et al. 2021, Suppl. Alg. 21).

        Points [..., 3] -> Rigid [...]. For a backbone frame: (N, CA, C).
        """
        e0 = origin - point_on_neg_x_axis
        e1 = point_on_xy_plane - origin
        e0 = e0 / jnp.sqrt(jnp.sum(jnp.square(e0), axis=-1, keepdims=True) + NORM_EPSILON)
        e1 = e1 - jnp.sum(e1 * e0, axis=-1, keepdims=True) * e0
        e1 = e1 / jnp.sqrt(jnp.sum(jnp.square(e1), axis=-1, keepdims=True) + NORM_EPSILON)
        e2 = jnp.cross(e0, e1)
        return cls(jnp.stack([e0, e1, e2], axis=-1), origin)

    @classmethod
    def from_backbone(cls, n: jnp.ndarray, ca: jnp.ndarray, c: jnp.ndarray) -> Rigid:
        """The backbone frame of the idealised residue (Suppl. 1.8, Table 2): origin CA, x axis towards C, N in
        the xy-plane at y > 0. Atom positions [..., 3] -> Rigid [...]."""
        return cls.from_three_points(2.0 * ca - c, ca, n)

    @classmethod
    def from_quaternion(cls, quaternion: jnp.ndarray, translation: jnp.ndarray, normalize: bool = True) -> Rigid:
        """quaternion [..., 4] (w, x, y, z), translation [..., 3] -> Rigid [...]. With `normalize=False` the
        quaternion must already have unit norm."""
        if normalize:
            quaternion = quaternion / jnp.linalg.norm(quaternion, axis=-1, keepdims=True)
        return cls(quaternion_to_rotation(quaternion), translation)

    @classmethod
    def from_tensor_4x4(cls, matrix: jnp.ndarray) -> Rigid:
        """Homogeneous transforms [..., 4, 4] -> Rigid [...]."""
        return cls(matrix[..., :3, :3], matrix[..., :3, 3])

    def to_tensor_4x4(self) -> jnp.ndarray:
        """Rigid [...] -> homogeneous transforms [..., 4, 4]."""
        shape = self.shape
        rotation = jnp.broadcast_to(self.rotation, shape + (3, 3))
        translation = jnp.broadcast_to(self.translation, shape + (3,))
        top = jnp.concatenate([rotation, translation[..., None]], axis=-1)
        bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], self.dtype), shape + (1, 4))
        return jnp.concatenate([top, bottom], axis=-2)

    # ----------------------------------------------------------------------------------------------------------
    # Batch axes.

    def __getitem__(self, index) -> Rigid:
        """Indexes the batch axes only: `frames[:, None]`, `frames[..., 4]`."""
        if not isinstance(index, tuple):
            index = (index,)
        # After an Ellipsis, explicit slices keep the rotation's and translation's own trailing axes whole.
        has_ellipsis = any(i is Ellipsis for i in index)
        rotation_index = index + (slice(None),) * 2 if has_ellipsis else index
        translation_index = index + (slice(None),) if has_ellipsis else index
        return Rigid(self.rotation[rotation_index], self.translation[translation_index])

    # ----------------------------------------------------------------------------------------------------------
    # Group operations.

    def compose(self, other: Rigid) -> Rigid:
        """self o other: applies `other` first. Batch axes broadcast."""
        return Rigid(
            rotation_multiply(self.rotation, other.rotation),
            rotate(self.rotation, other.translation) + self.translation,
        )

    def compose_rotation(self, rotation: jnp.ndarray) -> Rigid:
        """self o (rotation, 0): rotation [..., 3, 3] applied first, the translation kept."""
        return Rigid(rotation_multiply(self.rotation, rotation), self.translation)

    def apply(self, points: jnp.ndarray) -> jnp.ndarray:
        """R x + t: points [..., 3] broadcast against the batch shape -> [..., 3]."""
        return rotate(self.rotation, points) + self.translation

    def invert(self) -> Rigid:
        """The inverse transform (R^T, -R^T t)."""
        rotation = jnp.swapaxes(self.rotation, -1, -2)
        return Rigid(rotation, -rotate(rotation, self.translation))

    def invert_apply(self, points: jnp.ndarray) -> jnp.ndarray:
        """R^T (x - t): global points [..., 3] into the local frames -> [..., 3]."""
        return rotate_inverse(self.rotation, points - self.translation)

    def scale_translation(self, factor: float) -> Rigid:
        """The same rotation with the translation multiplied by `factor` (a change of length unit)."""
        return Rigid(self.rotation, self.translation * factor)

    def stop_gradient_rotation(self) -> Rigid:
        """No gradient through the rotation (Suppl. Alg. 20 line 20); the translation keeps its gradient."""
        return Rigid(jax.lax.stop_gradient(self.rotation), self.translation)


# --------------------------------------------------------------------------------------------------------------
# Quaternions (w, x, y, z), as the backbone update of the structure module uses them (Suppl. Alg. 23).


def quaternion_to_rotation(quaternion: jnp.ndarray) -> jnp.ndarray:
    """Unit quaternions [..., 4] -> rotation matrices [..., 3, 3]."""
    w, x, y, z = jnp.moveaxis(quaternion, -1, 0)
    rows = [
        [w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z],
    ]
    return jnp.stack([jnp.stack(row, axis=-1) for row in rows], axis=-2)


def quaternion_multiply(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """Hamilton product a b of quaternions [..., 4] (broadcast) -> [..., 4]."""
    aw, ax, ay, az = jnp.moveaxis(a, -1, 0)
    bw, bx, by, bz = jnp.moveaxis(b, -1, 0)
    return jnp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def identity_quaternion(shape: Sequence[int], dtype=jnp.float32) -> jnp.ndarray:
    """(1, 0, 0, 0) of batch shape `shape` -> [*shape, 4]."""
    return jnp.broadcast_to(jnp.array([1.0, 0.0, 0.0, 0.0], dtype), tuple(shape) + (4,))
