"""protein-platform: AlphaFold2 monomer structure prediction in JAX/Haiku.

    import protein
    predictions = protein.predict("MKTAYIAKQR...", msas=["uniref90_hits.sto"])   # ranked, best first
"""

import os

__version__ = "0.1.0"

# XLA's CPU backend runs each operation's Eigen kernels on a shared intra-op thread pool, which other projects
# have seen wedge now and then, a computation never returning (PyAutoFit issues 1528/1530, with this flag as the
# workaround). A batch rerun here hung alike (both threads of a 2-thread worker in model runs; cause unconfirmed,
# and model runs are now one at a time per worker, `pipelines.tasks.ModelCache.exclusive`). The
# flag costs nothing measurable here (tiny and small presets on 2 cores, within 2 %) and only concerns the CPU
# backend; set XLA_FLAGS with xla_cpu_multi_thread_eigen yourself to choose otherwise. Read when JAX starts its
# backend, so it is set at import, before any JAX work. Only for the jaxlib releases known to have the flag: XLA
# aborts on a flag it does not know, and a later release may drop this one.
CPU_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen=false"
CPU_EIGEN_FLAG_JAXLIB = (0, 11)  # set for jaxlib releases before this one


def _jaxlib_version() -> tuple[int, ...] | None:
    from importlib import metadata

    try:
        version = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", "") \
        and (_jaxlib_version() or CPU_EIGEN_FLAG_JAXLIB) < CPU_EIGEN_FLAG_JAXLIB:
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CPU_EIGEN_FLAG}".strip()


def __getattr__(name: str):
    # `import protein` stays light (no JAX) until the prediction API is used.
    if name in ("predict", "Predictor"):
        from protein import predictor as _predictor

        return getattr(_predictor, name)
    if name == "Prediction":
        from protein.prediction import Prediction

        return Prediction
    raise AttributeError(f"module 'protein' has no attribute {name!r}")
