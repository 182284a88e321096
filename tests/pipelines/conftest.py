"""Shared by the command-line tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _restore_logger_levels():
    """`pipelines.cli.main` sets the levels of our loggers; other tests must not see them."""
    loggers = [logging.getLogger(name) for name in ("protein", "pipelines")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)
