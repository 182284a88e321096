"""Full-size parameter files: the official layout of every released preset (taken from the oracle, not from our
code), a random file of model_1 in that layout (all of its ~93M parameters) loaded with no renaming, and a file of
one preset offered for another failing with the names of the offending tensors."""

from __future__ import annotations

import haiku as hk
import jax
import numpy as np
import pytest

from protein.errors import ParamsError
from protein.model import params as params_lib
from protein.model.config import preset_config
from protein.model.network import expected_param_shapes, initial_recycled_state
from tests.model.inputs import processed_features, raw_features, reference_cfg_for, first_slice


def _reference_layout(preset_name: str) -> dict[str, dict[str, tuple[int, ...]]]:
    """The oracle's own parameter layout of a released preset (shapes only: nothing is computed)."""
    from alphafold.model import modules

    preset = preset_config(preset_name)
    cfg = reference_cfg_for(preset, num_recycle=0)
    cfg.data.eval.max_msa_clusters = 8  # parameter shapes do not depend on the MSA sizes
    cfg.data.common.max_extra_msa = 8
    features = first_slice(processed_features(cfg, raw_features(12, 10, 1 if preset.data.use_templates else 0)), True)

    def forward(batch):
        return modules.AlphaFold_noE(cfg.model)(batch, is_training=False)

    prev = initial_recycled_state(preset.model, 12)
    shapes = jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0), {**features, "prev": prev})
    return {module: {name: tuple(s.shape) for name, s in names.items()} for module, names in shapes.items()}


@pytest.mark.parametrize("preset_name", ["model_1", "model_2_ptm", "model_3", "model_5_ptm"])
def test_expected_layout_is_the_official_one(preset_name):
    assert expected_param_shapes(preset_config(preset_name)) == _reference_layout(preset_name)


@pytest.fixture(scope="module")
def model_1_file(tmp_path_factory):
    """A random params_model_1.npz written the way the official files are: flat keys 'module//name', float32."""
    layout = _reference_layout("model_1")
    rng = np.random.default_rng(0)
    flat = {
        f"{module}//{name}": rng.standard_normal(shape, dtype=np.float32)
        for module, names in layout.items()
        for name, shape in names.items()
    }
    path = tmp_path_factory.mktemp("params") / "params_model_1.npz"
    with open(path, "wb") as handle:
        np.savez(handle, **flat)
    return path, layout, {key: value.ravel()[:5].copy() for key, value in flat.items()}


def test_full_size_model_1_file_loads_without_renaming(model_1_file):
    path, layout, heads = model_1_file
    params = params_lib.load_params(path, "model_1")
    count = params_lib.count_parameters(params)
    assert 93_000_000 < count < 94_000_000, count  # AlphaFold2 monomer: about 93M parameters
    assert {m: {n: v.shape for n, v in names.items()} for m, names in params.items()} == layout
    for key, head in heads.items():
        module, name = key.split("//")
        np.testing.assert_array_equal(params[module][name].ravel()[:5], head, err_msg=key)
        assert params[module][name].dtype == np.float32


@pytest.mark.parametrize(
    "preset_name, named",
    [
        # The pTM presets have a predicted aligned error head that model_1 lacks.
        ("model_1_ptm", "missing: alphafold/alphafold_iteration/predicted_aligned_error_head/logits//bias"),
        # model_3 has no template embedding: every template tensor is unexpected.
        ("model_3", "unexpected: alphafold/alphafold_iteration/evoformer/template_embedding/"),
    ],
)
def test_file_of_another_preset_names_the_offending_tensors(model_1_file, preset_name, named):
    path, _, _ = model_1_file
    with pytest.raises(ParamsError) as info:
        params_lib.load_params(path, preset_name)
    message = str(info.value)
    assert str(path) in message and repr(preset_name) in message
    assert named in message
