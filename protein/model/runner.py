"""Running the network: recycling on the host, one compiled program per (preset, input shape), parameters kept
on the device, MSA depth trimmed to a bucket, optional early stopping, and a memory check before running.

`run_network` is the one-call form; `Runner` keeps compiled programs and device parameters between calls (one
per worker in the batch platform).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from protein import confidence
from protein.errors import InputError, ResourceError
from protein.model.config import Preset, preset_config
from protein.model.network import initial_recycled_state, iteration_fn
from protein.structure import residue_constants

logger = logging.getLogger(__name__)

# Features that the network reads in one iteration, and those of them with an MSA-row axis (axis 0 after the
# recycle axis is removed).
NETWORK_FEATURES = (
    "aatype",
    "residue_index",
    "seq_mask",
    "target_feat",
    "msa_feat",
    "msa_mask",
    "extra_msa",
    "extra_has_deletion",
    "extra_deletion_value",
    "extra_msa_mask",
    "atom14_atom_exists",
    "atom37_atom_exists",
    "residx_atom14_to_atom37",
    "residx_atom37_to_atom14",
)
TEMPLATE_FEATURES = (
    "template_aatype",
    "template_all_atom_positions",
    "template_all_atom_masks",
    "template_pseudo_beta",
    "template_pseudo_beta_mask",
    "template_mask",
)
_MSA_ROW_FEATURES = ("msa_feat", "msa_mask")
_EXTRA_ROW_FEATURES = ("extra_msa", "extra_has_deletion", "extra_deletion_value", "extra_msa_mask")
# Bucket ladder for trimmed MSA depths: few distinct shapes, so a batch compiles a handful of times.
DEPTH_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3072, 4096, 5120)


COMPILE_CACHE_ENV = "PROTEIN_COMPILE_CACHE"


def enable_compile_cache(folder: str | os.PathLike) -> Path:
    """Keeps every compiled program in `folder` (JAX's persistent compilation cache), so that another process
    (a later `protein predict`, the other workers of a batch, a later batch) loads a (model, shape) compiled
    before instead of compiling it again: a minute or more per shape for the full models on a GPU. JAX keys each
    entry by the program, the compile options, the backend and its device kind. Programs compiled in under a
    second are not kept (JAX's threshold). Call it before the first compilation of the process.

    Raises:
      InputError: the folder cannot be made or written.
    """
    folder = Path(folder).expanduser().absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"compile cache {folder}: cannot make the folder ({error.strerror})") from error
    if not os.access(folder, os.W_OK):
        raise InputError(f"compile cache {folder}: not writable")
    if jax.config.jax_compilation_cache_dir != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder


def depth_bucket(depth: int, padded_depth: int) -> int:
    """The smallest bucket >= depth (at least 1 row), never more than the depth the features were padded to."""
    depth = max(depth, 1)
    for bucket in DEPTH_BUCKETS:
        if bucket >= depth:
            return min(bucket, padded_depth)
    return padded_depth


def _real_depth(mask: np.ndarray) -> int:
    """Rows up to the last one with any unmasked position; mask [..., S, N_res] (any leading axes)."""
    rows = np.any(mask > 0, axis=tuple(i for i in range(mask.ndim) if i != mask.ndim - 2))
    nonzero = np.flatnonzero(rows)
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def trim_msa_depth(batch: Mapping[str, np.ndarray], recycle_axis: bool) -> dict[str, np.ndarray]:
    """The features with the MSA and extra-MSA row axes cut after the last real row, rounded up to a bucket.

    Rows past the last real one are fully masked, and a fully masked row has no effect on any other row, on the
    pair representation or on the heads of the real rows (attention gives it zero weight, outer product mean and
    global attention are masked means), so trimming them changes the result only by float summation order.
    """
    out = dict(batch)
    row_axis = 1 if recycle_axis else 0
    for features, mask_name in ((_MSA_ROW_FEATURES, "msa_mask"), (_EXTRA_ROW_FEATURES, "extra_msa_mask")):
        if mask_name not in batch:
            continue
        mask = np.asarray(batch[mask_name])
        padded = mask.shape[row_axis]
        keep = depth_bucket(_real_depth(mask), padded)
        for name in features:
            if name in out:
                out[name] = np.take(np.asarray(out[name]), np.arange(keep), axis=row_axis)
    return out


def _available_memory(device: jax.Device) -> int | None:
    """Bytes the device can still give: the accelerator's limit, or the host's available memory for the CPU."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def ca_distance_change(prev_positions: np.ndarray, positions: np.ndarray, mask: np.ndarray) -> float:
    """Root mean square change of the Cα-Cα distance matrix between two iterations, over unmasked residue pairs
    (Å): ColabFold's recycle early-stopping criterion (from AF2Complex).

    prev_positions, positions [N_res, 37, 3]; mask [N_res].
    """
    ca = residue_constants.atom_order["CA"]

    def distances(x):
        ca_xyz = np.asarray(x[:, ca], np.float64)
        return np.sqrt(np.sum(np.square(ca_xyz[:, None] - ca_xyz[None, :]), axis=-1))

    pair_mask = np.asarray(mask, np.float64)[:, None] * np.asarray(mask, np.float64)[None, :]
    squared = np.square(distances(prev_positions) - distances(positions)) * pair_mask
    return float(np.sqrt(squared.sum() / max(pair_mask.sum(), 1.0) + 1e-8))


@dataclass
class RunResult:
    """Outputs of one model run, numpy on the host. Shapes are those of the (possibly padded) input residues."""

    final_atom_positions: np.ndarray  # [N_res, 37, 3] Å
    final_atom_mask: np.ndarray  # [N_res, 37]
    plddt: np.ndarray  # [N_res] 0-100
    distogram_logits: np.ndarray  # [N_res, N_res, 64]
    distogram_bin_edges: np.ndarray  # [63]
    predicted_aligned_error: np.ndarray | None  # [N_res, N_res] Å, ptm presets
    max_predicted_aligned_error: float | None
    ptm: float | None
    mean_plddt: float
    num_recycles: int  # recycling iterations run after the first pass
    recycle_tolerances: list[float]  # Cα distance change after each recycle
    timings: dict[str, float]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Runner:
    """One preset with its parameters on the device; compiled iterations cached per input shape.

    params: module path -> parameter name -> array (as from `load_params`).
    """

    def __init__(self, preset: str | Preset, params: Mapping[str, Mapping[str, np.ndarray]], device=None):
        self.preset = preset_config(preset) if isinstance(preset, str) else preset
        self.device = device or jax.devices()[0]
        self.params = jax.device_put(
            {m: {n: jnp.asarray(v, jnp.float32) for n, v in p.items()} for m, p in params.items()}, self.device
        )
        self._apply = iteration_fn(self.preset.model).apply
        # Without any template (every template and template atom masked, as the data pipeline pads "no template")
        # the template embedding is zeroed (AlphaFold2's `update * (sum(template_mask) > 0)`) and the template
        # torsion rows of the MSA are fully masked (their mask is the torsion angles' mask), so the network without
        # its template modules gives the same outputs, without their cost (`skip_templates`).
        self._apply_without_templates = iteration_fn(_without_templates(self.preset.model)).apply \
            if self.preset.model.template.enabled else None
        self._compiled: dict[tuple, jax.stages.Compiled] = {}

    def _signature(self, batch: Mapping[str, np.ndarray]) -> tuple:
        return tuple(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in batch.items()))

    def compiled(self, batch: Mapping[str, np.ndarray], prev: Mapping[str, np.ndarray]) -> jax.stages.Compiled:
        """The compiled iteration for these shapes (compiled on first use), after a memory check. A batch without
        template features runs the network without its template modules."""
        key = self._signature(batch)
        if key not in self._compiled:
            num_res = batch["aatype"].shape[0]
            with_templates = "template_mask" in batch or self._apply_without_templates is None
            apply = self._apply if with_templates else self._apply_without_templates
            lowered = jax.jit(apply).lower(self.params, batch, prev)
            try:
                compiled = lowered.compile()
            except Exception as error:  # XLA reports allocation failures at compile time on some backends
                _raise_if_out_of_memory(error, num_res)
                raise
            self._check_memory(compiled, num_res)
            self._compiled[key] = compiled
        return self._compiled[key]

    def _check_memory(self, compiled: jax.stages.Compiled, num_res: int) -> None:
        try:
            stats = compiled.memory_analysis()
        except Exception:  # not every backend reports it
            return
        if stats is None:
            return
        needed = int(stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes)
        available = _available_memory(self.device)
        logger.info("model iteration for %d residues needs %.2f GiB on %s", num_res, needed / 2**30, self.device)
        if available is not None and needed > available:
            raise ResourceError(
                f"a sequence of {num_res} residues needs about {needed / 2**30:.1f} GiB for one model iteration "
                f"with preset {self.preset.name!r}, but {self.device.platform} has only {available / 2**30:.1f} GiB "
                "available; use a device with more memory, set a smaller model chunk_size, or split the sequence"
            )

    def run(
        self,
        batch: Mapping[str, np.ndarray],
        num_recycle: int | None = None,
        early_stop_tolerance: float | None = None,
        trim_msa: bool = True,
        skip_templates: bool = True,
    ) -> RunResult:
        """Runs 1 + num_recycle iterations of the network on processed features.

        batch: features with the reference's names and shapes, either with a leading recycle axis (as from
        AlphaFold2's `RunModel.process_features`: iteration r reads `feature[r]`, the last slice is reused when
        there are fewer slices than iterations) or without one (the same features every iteration).
        num_recycle: defaults to the preset's. early_stop_tolerance: stop recycling once the Cα distance change
        (Å, see `ca_distance_change`) falls below it; None runs every iteration. trim_msa: cut the MSA after its
        last real row (`trim_msa_depth`); skip_templates: without any real template (template_mask and
        template_all_atom_masks all 0), run without the template modules (see `__init__`); both change the outputs only by float summation order.
        """
        num_recycle = self.preset.data.num_recycle if num_recycle is None else int(num_recycle)
        if num_recycle < 0:
            raise InputError(f"num_recycle must be >= 0, got {num_recycle}")
        features = _network_features(batch, self.preset)
        recycle_axis = features["aatype"].ndim == 2
        if trim_msa:
            features = trim_msa_depth(features, recycle_axis)
        if skip_templates and "template_mask" in features and not np.any(features["template_mask"]) \
                and not np.any(features["template_all_atom_masks"]):
            features = {name: value for name, value in features.items() if name not in TEMPLATE_FEATURES}
        num_slices = features["aatype"].shape[0] if recycle_axis else 1
        num_res = features["aatype"].shape[-1]
        seq_mask = np.asarray(features["seq_mask"][0] if recycle_axis else features["seq_mask"], np.float32)

        prev = jax.device_put(initial_recycled_state(self.preset.model, num_res), self.device)
        timings: dict[str, float] = {"compile": 0.0, "iterations": 0.0}
        tolerances: list[float] = []
        prev_positions = None
        outputs = None
        for iteration in range(num_recycle + 1):
            sliced = {
                k: np.asarray(v[min(iteration, num_slices - 1)]) if recycle_axis else np.asarray(v)
                for k, v in features.items()
            }
            start = time.perf_counter()
            program = self.compiled(sliced, prev)
            timings["compile"] += time.perf_counter() - start
            start = time.perf_counter()
            try:
                outputs = program(self.params, jax.device_put(sliced, self.device), prev)
                prev = outputs["prev"]
                positions = np.asarray(prev["prev_pos"])
            except Exception as error:
                _raise_if_out_of_memory(error, num_res)
                raise
            timings["iterations"] += time.perf_counter() - start
            if prev_positions is not None:
                tolerances.append(ca_distance_change(prev_positions, positions, seq_mask))
                if early_stop_tolerance is not None and tolerances[-1] < early_stop_tolerance:
                    break
            prev_positions = positions
        return _result(outputs, seq_mask, len(tolerances), tolerances, timings)


def run_network(
    params: Mapping[str, Mapping[str, np.ndarray]],
    batch: Mapping[str, np.ndarray],
    preset: str | Preset,
    num_recycle: int | None = None,
    seed: int = 0,
    early_stop_tolerance: float | None = None,
) -> dict:
    """One model run on processed features (see `Runner.run`); returns a dict of numpy arrays and floats:
    final_atom_positions [N_res, 37, 3], final_atom_mask [N_res, 37], plddt [N_res], distogram_logits
    [N_res, N_res, 64], and for ptm presets predicted_aligned_error [N_res, N_res] and ptm.

    seed: the network itself is deterministic at inference (no dropout); the seed of a prediction lives in the
    feature processing (MSA sampling and masking), so it is accepted here only to record it.
    """
    result = Runner(preset, params).run(batch, num_recycle=num_recycle, early_stop_tolerance=early_stop_tolerance)
    out = result.as_dict()
    out["seed"] = int(seed)
    return out


def _without_templates(config):
    """The model config with its template modules (embedding and torsion rows) turned off."""
    return dataclasses.replace(config, template=dataclasses.replace(config.template, enabled=False,
                                                                     embed_torsion_angles=False))


def _network_features(batch: Mapping[str, np.ndarray], preset: Preset) -> dict[str, np.ndarray]:
    names = NETWORK_FEATURES + (TEMPLATE_FEATURES if preset.model.template.enabled else ())
    missing = [name for name in names if name not in batch]
    if missing:
        raise InputError(f"processed features lack {', '.join(missing)} (needed by preset {preset.name!r})")
    features = {name: np.asarray(batch[name]) for name in names}
    aatype = features["aatype"]
    if aatype.ndim not in (1, 2):
        raise InputError(f"aatype must be [N_res] or [recycles, N_res], got shape {aatype.shape}")
    if preset.model.template.enabled:
        max_templates = preset.model.template.max_templates
        axis = 1 if aatype.ndim == 2 else 0
        if features["template_mask"].shape[axis] > max_templates:
            raise InputError(
                f"{features['template_mask'].shape[axis]} templates given, preset {preset.name!r} takes at most "
                f"{max_templates}"
            )
    return features


def _result(outputs, seq_mask: np.ndarray, num_recycles: int, tolerances: list[float], timings) -> RunResult:
    outputs = jax.device_get(outputs)
    structure = outputs["structure_module"]
    plddt = confidence.plddt(np.asarray(outputs["predicted_lddt"]["logits"]))
    pae = max_pae = ptm = None
    if "predicted_aligned_error" in outputs:
        logits = np.asarray(outputs["predicted_aligned_error"]["logits"])
        breaks = np.asarray(outputs["predicted_aligned_error"]["breaks"])
        pae, max_pae = confidence.predicted_aligned_error(logits, breaks)
        ptm = float(confidence.predicted_tm_score(logits, breaks, residue_weights=seq_mask))
    mask_sum = max(float(seq_mask.sum()), 1.0)
    return RunResult(
        final_atom_positions=np.asarray(structure["final_atom_positions"]),
        final_atom_mask=np.asarray(structure["final_atom_mask"]),
        plddt=plddt,
        distogram_logits=np.asarray(outputs["distogram"]["logits"]),
        distogram_bin_edges=np.asarray(outputs["distogram"]["bin_edges"]),
        predicted_aligned_error=pae,
        max_predicted_aligned_error=None if max_pae is None else float(max_pae),
        ptm=ptm,
        mean_plddt=float((plddt * seq_mask).sum() / mask_sum),
        num_recycles=num_recycles,
        recycle_tolerances=tolerances,
        timings=timings,
    )


_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory", "Failed to allocate", "OOM")


def _raise_if_out_of_memory(error: Exception, num_res: int) -> None:
    """An allocation failure becomes a ResourceError that says what happened; other errors are left alone."""
    text = str(error)
    if any(marker in text for marker in _OOM_MARKERS):
        raise ResourceError(
            f"out of device memory running the model on a sequence of {num_res} residues; use a device with more "
            f"memory, set a smaller model chunk_size, or split the sequence ({text.splitlines()[0][:200]})"
        ) from error
