"""Dask graphs, cluster set-up, the batch runner and the `protein` command line.

    import pipelines
    batch = pipelines.submit("input.fasta", "results/", models=["model_1_ptm"])   # returns at once
    batch.wait(); batch.targets                                                     # see pipelines.batch
"""


def __getattr__(name: str):
    # `import pipelines` stays light (no Dask) until a batch is submitted.
    if name in ("submit", "Batch", "BatchSettings"):
        from pipelines import batch as _batch

        return getattr(_batch, name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
