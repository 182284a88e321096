"""Raw feature dictionaries (the analogue of AlphaFold2's features.pkl) on disk as .npz, without pickle.

AlphaFold2 keeps text features (`domain_name`, `sequence`, `msa_species_identifiers`, `template_domain_names`,
`template_sequence`) as object arrays of bytes, which numpy can store only by pickling. They are written as
fixed-width byte-string arrays (dtype `S`) and read back as object arrays of bytes; every other array keeps its
dtype and shape. Byte strings lose trailing NUL bytes on the way (none of these features has any).
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

from protein.atomic import atomic_output
from protein.errors import InputError

logger = logging.getLogger(__name__)


def _storable(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != np.object_:
        return array
    if not all(isinstance(item, bytes) for item in array.flat):
        raise ValueError(f"feature {name!r} is an object array whose items are not all bytes; cannot store it")
    # Empty or all-empty arrays still need a width of at least 1.
    width = max([len(item) for item in array.flat] + [1])
    return array.astype(f"S{width}")


def save_features(path: str | Path, features: Mapping[str, np.ndarray]) -> Path:
    """Writes features to `path` (compressed .npz), atomically: a reader sees the old file or the whole new one.

    Raises:
      ValueError: if a feature is an object array holding something other than bytes.
    """
    path = Path(path)
    arrays = {name: _storable(name, value) for name, value in features.items()}
    with atomic_output(path) as stream:
        np.savez_compressed(stream, **arrays)
    logger.info("wrote %d features to %s", len(arrays), path)
    return path


def load_features(path: str | Path) -> dict[str, np.ndarray]:
    """Reads features written by `save_features`; byte-string arrays come back as object arrays of bytes.

    Raises:
      InputError: naming the file, if it is missing, truncated, corrupt, or holds pickled objects.
    """
    path = Path(path)
    try:
        stored = np.load(path, allow_pickle=False)
        if not isinstance(stored, NpzFile):
            raise InputError(f"feature file {path} is a single .npy array, not a feature .npz")
        with stored:
            features = {name: stored[name] for name in stored.files}
    except FileNotFoundError as error:
        raise InputError(f"feature file {path} does not exist") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"feature file {path} is truncated or not a feature .npz: {error}") from error
    if not features:
        raise InputError(f"feature file {path} holds no features")
    return {
        name: value.astype(np.object_) if value.dtype.kind == "S" else value for name, value in features.items()
    }
