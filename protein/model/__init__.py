"""The AlphaFold2 monomer network (Jumper et al. 2021) in JAX/Haiku.

    params = protein.model.load_params("params_model_1_ptm.npz", "model_1_ptm")
    outputs = protein.model.run_network(params, processed_features, "model_1_ptm", num_recycle=3)
"""

from protein.model.config import PRESETS, Preset, preset_config
from protein.model.params import default_params_dir, download, find_params, load_params, save_params
from protein.model.runner import Runner, RunResult, run_network

__all__ = [
    "PRESETS",
    "Preset",
    "RunResult",
    "Runner",
    "default_params_dir",
    "download",
    "find_params",
    "load_params",
    "preset_config",
    "run_network",
    "save_params",
]
