"""The test oracle (`alphafold-colabfold`, DeepMind's AlphaFold2 as forked by ColabFold), set up to be the
published float32 model, and the helpers that compare our modules with it.

Differences of the fork that the tests undo:
- `global_config.bfloat16` defaults to True (activations in bfloat16): set to False.
- triangle multiplications default to `fuse_projection_weights=True` (one fused `projection`/`gate` tensor,
  the multimer layout): set to False, the layout of the monomer parameter files.
- `global_config.use_pallas` / fp8 / kernel backends: fused kernels off, plain XLA.
- `global_config.subbatch_size` 4: chunking of the reference changes nothing but memory; set above any size
  (the fork fails on None).
- `AlphaFold.__call__` runs one recycling iteration and returns the recycled state; `RunModel.predict` keeps
  that state in float16 between iterations. Tests drive the reference one iteration at a time with float32
  recycled inputs instead of going through `RunModel.predict`.
"""

from __future__ import annotations

import copy

import jax
import ml_collections
import numpy as np

from protein.model import config as our_config


def _unfuse(node) -> None:
    for key, value in node.items():
        if isinstance(value, ml_collections.ConfigDict):
            if "fuse_projection_weights" in value:
                value.fuse_projection_weights = False
            _unfuse(value)


def reference_model_config(name: str) -> ml_collections.ConfigDict:
    """The oracle's `model_config(name)` in float32, unfused, no fused kernels, no subbatching."""
    from alphafold.model import config

    cfg = config.model_config(name)
    gc = cfg.model.global_config
    gc.bfloat16 = False
    gc.bfloat16_output = False
    gc.use_pallas = False
    gc.fp8 = False
    gc.deterministic = True
    gc.subbatch_size = 1 << 30  # the fork fails on None
    gc.zero_init = False
    _unfuse(cfg.model)
    return cfg


def reference_global_config() -> ml_collections.ConfigDict:
    return copy.deepcopy(reference_model_config("model_1").model.global_config)


def nontrivial_params(params, seed: int = 0, constant_scale: float = 0.2):
    """Makes a parameter tree non-trivial: every tensor that its initialiser left constant (biases, layer norm
    scales and offsets, zero-initialised output layers) gets seeded Gaussian noise; random tensors are kept.

    With this, no residual branch is zero and no layer norm is the identity, so a wrong wiring shows.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for module in sorted(params):
        out[module] = {}
        for name in sorted(params[module]):
            value = np.asarray(params[module][name], dtype=np.float32)
            flat = value.reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                if flat[0] == 0.0 and value.ndim >= 2 and name in ("weights", "output_w") or (
                    flat[0] == 0.0 and name.endswith("_w")
                ):
                    fan_in = value.shape[-2] if value.ndim >= 2 else 1
                    noise = rng.standard_normal(value.shape) / np.sqrt(max(fan_in, 1))
                else:
                    noise = constant_scale * rng.standard_normal(value.shape)
                value = value + noise.astype(np.float32)
            out[module][name] = value
    return out


def random_params_for(transformed, *args, seed: int = 0):
    """Initialises a haiku-transformed function with a seeded key and makes the result non-trivial."""
    params = transformed.init(jax.random.PRNGKey(seed), *args)
    return nontrivial_params(jax.device_get(params), seed=seed + 1)


def relative_error(ours, reference) -> float:
    """max |ours - reference| / max |reference| over all elements (arrays of equal shape)."""
    ours = np.asarray(ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    scale = np.max(np.abs(reference))
    if scale == 0.0:
        return float(np.max(np.abs(ours)))
    return float(np.max(np.abs(ours - reference)) / scale)


def assert_params_equal_layout(ours, reference) -> None:
    """Both parameter trees have the same module paths, names and shapes; the message names every difference."""
    def shape(v):
        return tuple(v) if isinstance(v, tuple) else np.shape(v)  # a shape already, or an array

    ours_flat = {(m, n): shape(v) for m in ours for n, v in ours[m].items()}
    ref_flat = {(m, n): shape(v) for m in reference for n, v in reference[m].items()}
    problems = []
    for key in sorted(set(ref_flat) - set(ours_flat)):
        problems.append(f"missing {key[0]}//{key[1]} {ref_flat[key]}")
    for key in sorted(set(ours_flat) - set(ref_flat)):
        problems.append(f"unexpected {key[0]}//{key[1]} {ours_flat[key]}")
    for key in sorted(set(ours_flat) & set(ref_flat)):
        if ours_flat[key] != ref_flat[key]:
            problems.append(f"shape {key[0]}//{key[1]}: ours {ours_flat[key]} reference {ref_flat[key]}")
    assert not problems, "\n".join(problems)


def reference_config_for(preset: our_config.Preset) -> ml_collections.ConfigDict:
    """The oracle's model config with every size and switch of our preset (for `tiny` and shrunk presets)."""
    base = "model_1_ptm" if preset.model.template.enabled else "model_3_ptm"
    cfg = reference_model_config(base)
    m = preset.model
    e = cfg.model.embeddings_and_evoformer
    e.msa_channel = m.msa_channel
    e.pair_channel = m.pair_channel
    e.seq_channel = m.seq_channel
    e.extra_msa_channel = m.extra_msa_channel
    e.max_relative_feature = m.max_relative_feature
    e.evoformer_num_block = m.num_evoformer_blocks
    e.extra_msa_stack_num_block = m.num_extra_msa_blocks
    e.recycle_features = m.recycle_features
    e.recycle_pos = m.recycle_pos
    e.prev_pos.min_bin = m.prev_pos_min_bin
    e.prev_pos.max_bin = m.prev_pos_max_bin
    e.prev_pos.num_bins = m.prev_pos_num_bins
    set_evoformer_block(e.evoformer, m.evoformer)
    t = e.template
    tc = m.template
    t.enabled = tc.enabled
    t.embed_torsion_angles = tc.embed_torsion_angles
    t.max_templates = tc.max_templates
    t.attention.num_head = tc.attention_num_head
    t.attention.key_dim = tc.attention_key_dim
    t.attention.value_dim = tc.attention_value_dim
    t.dgram_features.min_bin = tc.dgram_min_bin
    t.dgram_features.max_bin = tc.dgram_max_bin
    t.dgram_features.num_bins = tc.dgram_num_bins
    t.use_template_unit_vector = tc.use_template_unit_vector
    tps = t.template_pair_stack
    tps.num_block = tc.num_pair_blocks
    for key in ("triangle_attention_starting_node", "triangle_attention_ending_node"):
        tps[key].num_head = tc.triangle_attention_num_head
        tps[key].key_dim = tc.pair_channel
        tps[key].value_dim = tc.pair_channel
    for key in ("triangle_multiplication_outgoing", "triangle_multiplication_incoming"):
        tps[key].num_intermediate_channel = tc.triangle_multiplication_channels
    tps.pair_transition.num_intermediate_factor = tc.pair_transition_factor
    s = cfg.model.heads.structure_module
    sc = m.structure_module
    s.num_layer = sc.num_layer
    s.num_channel = sc.num_channel
    s.num_head = sc.num_head
    s.num_layer_in_transition = sc.num_layer_in_transition
    s.num_scalar_qk = sc.num_scalar_qk
    s.num_scalar_v = sc.num_scalar_v
    s.num_point_qk = sc.num_point_qk
    s.num_point_v = sc.num_point_v
    s.position_scale = sc.position_scale
    s.sidechain.num_channel = sc.sidechain_channel
    s.sidechain.num_residual_block = sc.sidechain_num_residual_block
    h = cfg.model.heads
    hc = m.heads
    h.distogram.first_break = hc.distogram_first_break
    h.distogram.last_break = hc.distogram_last_break
    h.distogram.num_bins = hc.distogram_num_bins
    h.predicted_lddt.num_bins = hc.plddt_num_bins
    h.predicted_lddt.num_channels = hc.plddt_num_channels
    h.masked_msa.num_output = hc.masked_msa_num_output
    h.predicted_aligned_error.weight = 0.1 if hc.predicted_aligned_error else 0.0
    h.predicted_aligned_error.max_error_bin = hc.pae_max_error_bin
    h.predicted_aligned_error.num_bins = hc.pae_num_bins
    h.experimentally_resolved.weight = 0.01 if hc.experimentally_resolved else 0.0
    return cfg


def set_evoformer_block(ref_block: ml_collections.ConfigDict, block: our_config.EvoformerBlockConfig) -> None:
    """Writes our block sizes into the oracle's `evoformer` config node."""
    ref_block.msa_row_attention_with_pair_bias.num_head = block.msa_row_num_head
    ref_block.msa_column_attention.num_head = block.msa_column_num_head
    ref_block.msa_transition.num_intermediate_factor = block.msa_transition_factor
    ref_block.outer_product_mean.num_outer_channel = block.outer_product_channels
    ref_block.triangle_multiplication_outgoing.num_intermediate_channel = block.triangle_multiplication_channels
    ref_block.triangle_multiplication_incoming.num_intermediate_channel = block.triangle_multiplication_channels
    ref_block.triangle_attention_starting_node.num_head = block.triangle_attention_num_head
    ref_block.triangle_attention_ending_node.num_head = block.triangle_attention_num_head
    ref_block.pair_transition.num_intermediate_factor = block.pair_transition_factor
