"""Dask graphs, cluster set-up, the batch runner and the `protein` command line."""
