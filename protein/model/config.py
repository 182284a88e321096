"""Model and input-processing settings: one typed tree, presets as small diffs of it.

The released AlphaFold2 v2.3 monomer presets (`model_1`..`model_5`, `model_1_ptm`..`model_5_ptm`) follow
Jumper et al. (2021) Suppl. Table 5; `tiny` keeps every module with few blocks and narrow channels for tests;
`small` has the real widths with few blocks, for benchmarks.
Every config is a frozen dataclass, so a misspelled field fails when the preset is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvoformerBlockConfig:
    """One block of the Evoformer (Suppl. Alg. 6) or of the extra-MSA stack (Suppl. Alg. 18)."""

    msa_row_num_head: int = 8
    msa_column_num_head: int = 8
    msa_transition_factor: int = 4
    outer_product_channels: int = 32
    triangle_multiplication_channels: int = 128
    triangle_attention_num_head: int = 4
    pair_transition_factor: int = 4


@dataclass(frozen=True)
class TemplateConfig:
    """Template pair stack and point-wise attention (Suppl. Alg. 16, 17), torsion rows (Suppl. 1.7.1)."""

    enabled: bool = False
    embed_torsion_angles: bool = False
    max_templates: int = 4
    pair_channel: int = 64
    num_pair_blocks: int = 2
    triangle_attention_num_head: int = 4
    triangle_multiplication_channels: int = 64
    pair_transition_factor: int = 2
    attention_num_head: int = 4
    attention_key_dim: int = 64
    attention_value_dim: int = 64
    dgram_min_bin: float = 3.25
    dgram_max_bin: float = 50.75
    dgram_num_bins: int = 39
    use_template_unit_vector: bool = False


@dataclass(frozen=True)
class StructureModuleConfig:
    """Structure module (Suppl. Alg. 20) with invariant point attention (Suppl. Alg. 22)."""

    num_layer: int = 8
    num_channel: int = 384
    num_head: int = 12
    num_layer_in_transition: int = 3
    num_scalar_qk: int = 16
    num_scalar_v: int = 16
    num_point_qk: int = 4
    num_point_v: int = 8
    position_scale: float = 10.0
    sidechain_channel: int = 128
    sidechain_num_residual_block: int = 2


@dataclass(frozen=True)
class HeadsConfig:
    """Output heads (Suppl. 1.9)."""

    distogram_first_break: float = 2.3125
    distogram_last_break: float = 21.6875
    distogram_num_bins: int = 64
    plddt_num_bins: int = 50
    plddt_num_channels: int = 128
    masked_msa_num_output: int = 23
    experimentally_resolved: bool = True
    # The predicted aligned error head (and so pTM) exists only in the `_ptm` presets.
    predicted_aligned_error: bool = False
    pae_max_error_bin: float = 31.0
    pae_num_bins: int = 64


@dataclass(frozen=True)
class ModelConfig:
    """The network (Suppl. Alg. 2), including the sizes of the recycled representations."""

    msa_channel: int = 256
    pair_channel: int = 128
    seq_channel: int = 384
    extra_msa_channel: int = 64
    max_relative_feature: int = 32
    num_evoformer_blocks: int = 48
    num_extra_msa_blocks: int = 4
    # The extra-MSA stack uses the same block settings as the Evoformer, as published.
    evoformer: EvoformerBlockConfig = field(default_factory=EvoformerBlockConfig)
    recycle_features: bool = True
    recycle_pos: bool = True
    prev_pos_min_bin: float = 3.25
    prev_pos_max_bin: float = 20.75
    prev_pos_num_bins: int = 15
    template: TemplateConfig = field(default_factory=TemplateConfig)
    structure_module: StructureModuleConfig = field(default_factory=StructureModuleConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    # Rows processed at a time by the memory-heavy modules at inference; None processes all at once.
    # Changes memory use and speed only, never the result. 4 is AlphaFold2's inference default (its
    # `subbatch_size`); on a CPU it is also about 30 % faster than no chunking (L = 100, full size), as the
    # chunks' intermediates stay in cache.
    chunk_size: int | None = 4


@dataclass(frozen=True)
class DataConfig:
    """Evaluation-time input processing (Suppl. 1.2.5-1.2.7)."""

    max_msa_clusters: int = 512
    max_extra_msa: int = 1024
    reduce_msa_clusters_by_max_templates: bool = False
    use_templates: bool = False
    max_templates: int = 4
    masked_msa_replace_fraction: float = 0.15
    num_recycle: int = 3
    resample_msa_in_recycling: bool = True


@dataclass(frozen=True)
class Preset:
    """A named model: its network and the input processing it was trained with."""

    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @property
    def ptm(self) -> bool:
        return self.model.heads.predicted_aligned_error


def replace(config: Any, overrides: Mapping[str, Any]) -> Any:
    """Returns `config` with dotted-path fields replaced, e.g. {"model.template.enabled": True}.

    Raises KeyError naming the path when a field does not exist.
    """
    for path, value in overrides.items():
        config = _replace_path(config, path.split("."), value, path)
    return config


def _replace_path(node: Any, parts: list[str], value: Any, full_path: str) -> Any:
    name = parts[0]
    names = {f.name for f in dataclasses.fields(node)}
    if name not in names:
        raise KeyError(f"config has no field {full_path!r} ({type(node).__name__} has no {name!r})")
    if len(parts) == 1:
        return dataclasses.replace(node, **{name: value})
    return dataclasses.replace(node, **{name: _replace_path(getattr(node, name), parts[1:], value, full_path)})


_TEMPLATES_ON = {
    "data.use_templates": True,
    "data.reduce_msa_clusters_by_max_templates": True,
    "model.template.enabled": True,
    "model.template.embed_torsion_angles": True,
}
_LARGE_EXTRA_MSA = {"data.max_extra_msa": 5120}
_PTM = {"model.heads.predicted_aligned_error": True}

# Jumper et al. (2021) Suppl. Table 5: models 1.1.1, 1.1.2, 1.2.1, 1.2.2, 1.2.3, as released in AlphaFold v2.3.
CONFIG_DIFFS: dict[str, dict[str, Any]] = {
    "model_1": {**_TEMPLATES_ON, **_LARGE_EXTRA_MSA},
    "model_2": {**_TEMPLATES_ON},
    "model_3": {**_LARGE_EXTRA_MSA},
    "model_4": {**_LARGE_EXTRA_MSA},
    "model_5": {},
}
# The pTM models are the above fine-tuned with a predicted aligned error head.
CONFIG_DIFFS.update({f"{name}_ptm": {**diff, **_PTM} for name, diff in list(CONFIG_DIFFS.items())})
# Every module of the real network, with few blocks and narrow channels: for fast tests.
CONFIG_DIFFS["tiny"] = {
    **_TEMPLATES_ON,
    **_PTM,
    "model.msa_channel": 32,
    "model.pair_channel": 16,
    "model.seq_channel": 48,
    "model.extra_msa_channel": 16,
    "model.max_relative_feature": 8,
    "model.num_evoformer_blocks": 2,
    "model.num_extra_msa_blocks": 1,
    "model.evoformer": EvoformerBlockConfig(
        msa_row_num_head=4,
        msa_column_num_head=4,
        msa_transition_factor=2,
        outer_product_channels=8,
        triangle_multiplication_channels=16,
        triangle_attention_num_head=2,
        pair_transition_factor=2,
    ),
    "model.template": TemplateConfig(
        enabled=True,
        embed_torsion_angles=True,
        pair_channel=8,
        num_pair_blocks=1,
        triangle_attention_num_head=2,
        triangle_multiplication_channels=8,
        attention_num_head=2,
        attention_key_dim=8,
        attention_value_dim=8,
    ),
    "model.structure_module": StructureModuleConfig(
        num_layer=2,
        num_channel=48,
        num_head=4,
        num_scalar_qk=8,
        num_scalar_v=8,
        num_point_qk=2,
        num_point_v=4,
        sidechain_channel=16,
    ),
    "model.heads": HeadsConfig(plddt_num_channels=16, predicted_aligned_error=True),
    "data.max_msa_clusters": 16,
    "data.max_extra_msa": 32,
    "data.num_recycle": 1,
}

# The real network's channel widths with few blocks: compiles and runs like the full model at a fraction of its
# cost, for benchmarks of the batch platform with random weights (no released parameters fit it).
CONFIG_DIFFS["small"] = {
    **_TEMPLATES_ON,
    **_PTM,
    "model.num_evoformer_blocks": 4,
    "model.num_extra_msa_blocks": 1,
    "model.template.num_pair_blocks": 1,
    "data.max_msa_clusters": 64,
    "data.max_extra_msa": 256,
    "data.num_recycle": 1,
}

PRESETS: tuple[str, ...] = tuple(CONFIG_DIFFS)


def preset_config(name: str) -> Preset:
    """The config of preset `name` (one of PRESETS)."""
    if name not in CONFIG_DIFFS:
        raise ValueError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}")
    return replace(Preset(name=name), CONFIG_DIFFS[name])
