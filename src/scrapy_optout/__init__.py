"""Respect AI-training and text-and-data-mining opt-outs in Scrapy crawls.

The pure evaluators live in :mod:`scrapy_optout.protocols` and
:mod:`scrapy_optout.verdict` and import nothing from Scrapy. The Scrapy
components (``Addon``, ``OptOutMiddleware``, ``OptOutPipeline``) are loaded on
first access, so ``import scrapy_optout.protocols`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy_optout.exceptions import ConfigurationError, FetchError, LedgerError, OptOutError
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Verdict, Where, decide

__version__ = "0.1.0"

__all__ = [
    "Addon",
    "ConfigurationError",
    "FetchError",
    "Finding",
    "LedgerError",
    "OptOutError",
    "OptOutMiddleware",
    "OptOutPipeline",
    "Purpose",
    "Signal",
    "Stance",
    "Verdict",
    "Where",
    "__version__",
    "decide",
]

_LAZY = {
    "Addon": "scrapy_optout.scrapy.addon",
    "OptOutMiddleware": "scrapy_optout.scrapy.middleware",
    "OptOutPipeline": "scrapy_optout.scrapy.pipeline",
}

if TYPE_CHECKING:
    from scrapy_optout.scrapy.addon import Addon
    from scrapy_optout.scrapy.middleware import OptOutMiddleware
    from scrapy_optout.scrapy.pipeline import OptOutPipeline


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
