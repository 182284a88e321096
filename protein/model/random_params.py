"""Random parameters in the official layout, for smoke tests, demos and benchmarks without the real weights.

Drawn in numpy from the layout alone (a full-size Haiku init takes minutes on a CPU): weights from a normal
distribution scaled by 1/sqrt(fan-in), layer-norm scales around 1, biases and offsets small. Nothing is zero,
so no branch of the network is switched off (a zero final layer would fold every protein into a point). The
structures such parameters give mean nothing: every output made with them says so (see `protein.predictor`).
"""

from __future__ import annotations

import logging

import numpy as np

from protein.model.config import Preset, preset_config
from protein.model.network import expected_param_shapes

logger = logging.getLogger(__name__)

# Module paths whose tensors carry a leading layer axis (a stack of identical blocks).
_STACKED = ("/evoformer_iteration", "/extra_msa_stack", "/__layer_stack_no_state")
# Spread of biases and offsets, and of layer-norm scales around 1.
_BIAS_SCALE = 0.1


def random_params(preset: str | Preset, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random float32 parameters of `preset` (module path -> name -> array), deterministic for `seed`."""
    preset = preset_config(preset) if isinstance(preset, str) else preset
    layout = expected_param_shapes(preset)
    rng = np.random.default_rng(seed)
    params: dict[str, dict[str, np.ndarray]] = {}
    for module in sorted(layout):
        stacked = any(part in module for part in _STACKED)
        params[module] = {}
        for name in sorted(layout[module]):
            shape = tuple(layout[module][name])
            block_shape = shape[1:] if stacked else shape
            value = rng.standard_normal(shape, dtype=np.float32)
            if name == "scale":
                value = 1.0 + _BIAS_SCALE * value
            elif len(block_shape) >= 2:
                value /= np.sqrt(float(np.prod(block_shape[:-1])))
            else:
                value *= _BIAS_SCALE
            params[module][name] = value
    logger.info("drew random parameters for preset %r with seed %d", preset.name, seed)
    return params
