"""The output heads of the network (Jumper et al. 2021, Suppl. 1.9): each a small projection of one
representation to the logits of a binned prediction.

Every head returns a dict of arrays; the bin boundaries a head's logits refer to travel with them, so that
`protein.confidence` can turn logits into pLDDT, PAE and pTM without knowing the config. Module and parameter
names are those of the official parameter files (`.../alphafold_iteration/<head name>/<layer>//weights`).
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from protein.model.config import HeadsConfig
from protein.model.primitives import Linear, layer_norm

# Atom slots of the atom37 representation, one logit each in the experimentally-resolved head.
NUM_ATOM_TYPES = 37


class DistogramHead(hk.Module):
    """Suppl. 1.9.8: distribution of the C-beta distance of every residue pair over distance bins.

    The pair representation is not symmetric, but distance is: the logits are the projection of z_ij plus that
    of z_ji.
    """

    def __init__(self, config: HeadsConfig, name: str = "distogram_head"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, pair: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """pair [N_res, N_res, c_z] -> logits [N_res, N_res, num_bins], bin_edges [num_bins - 1] (Angstrom)."""
        c = self.config
        half_logits = Linear(c.distogram_num_bins, name="half_logits")(pair)
        logits = half_logits + jnp.swapaxes(half_logits, 0, 1)
        bin_edges = jnp.linspace(c.distogram_first_break, c.distogram_last_break, c.distogram_num_bins - 1)
        return {"logits": logits, "bin_edges": bin_edges}


class MaskedMsaHead(hk.Module):
    """Suppl. 1.9.9: the amino acid (20 types, unknown, gap, mask) at every MSA position, from the MSA
    representation."""

    def __init__(self, config: HeadsConfig, name: str = "masked_msa_head"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, msa: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """msa [N_seq, N_res, c_m] -> logits [N_seq, N_res, masked_msa_num_output]."""
        return {"logits": Linear(self.config.masked_msa_num_output, name="logits")(msa)}


class PredictedLDDTHead(hk.Module):
    """Suppl. Alg. 29 (1.9.6): per-residue lDDT-C-alpha over `plddt_num_bins` equal bins of [0, 1], from the
    single representation the structure module ends with."""

    def __init__(self, config: HeadsConfig, name: str = "predicted_lddt_head"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, structure_act: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """structure_act [N_res, c_s] -> logits [N_res, plddt_num_bins]."""
        c = self.config
        act = layer_norm("input_layer_norm")(structure_act)
        act = jax.nn.relu(Linear(c.plddt_num_channels, name="act_0")(act))
        act = jax.nn.relu(Linear(c.plddt_num_channels, name="act_1")(act))
        return {"logits": Linear(c.plddt_num_bins, name="logits")(act)}


class ExperimentallyResolvedHead(hk.Module):
    """Suppl. 1.9.10: for every atom37 slot, the logit (sigmoid, not softmax) that the atom would be resolved in
    a high-resolution experimental structure."""

    def __init__(self, config: HeadsConfig, name: str = "experimentally_resolved_head"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, single: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """single [N_res, c_s] -> logits [N_res, 37]."""
        return {"logits": Linear(NUM_ATOM_TYPES, name="logits")(single)}


class PredictedAlignedErrorHead(hk.Module):
    """Suppl. 1.9.7: for every pair (i, j), the error of residue j's position when the prediction is aligned on
    residue i's frame, over `pae_num_bins` bins; the basis of PAE and pTM."""

    def __init__(self, config: HeadsConfig, name: str = "predicted_aligned_error_head"):
        super().__init__(name=name)
        self.config = config

    def __call__(self, pair: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """pair [N_res, N_res, c_z] -> logits [N_res, N_res, pae_num_bins], breaks [pae_num_bins - 1] (Angstrom).

        The breaks run from 0 to `pae_max_error_bin` in equal steps; the last bin is open-ended.
        """
        c = self.config
        logits = Linear(c.pae_num_bins, name="logits")(pair)
        breaks = jnp.linspace(0.0, c.pae_max_error_bin, c.pae_num_bins - 1)
        return {"logits": logits, "breaks": breaks}
