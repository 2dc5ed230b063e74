"""Respect AI-training and text-and-data-mining opt-outs in Scrapy crawls.

The public surface, in three parts:

* the Scrapy components: :class:`Addon` (one line in ``ADDONS``),
  :class:`OptOutMiddleware`, :class:`OptOutSpiderMiddleware`,
  :class:`OptOutPipeline`, and the :data:`content_excluded` signal;
* the exception tree, rooted at :class:`OptOutError`;
* a library API that needs no Scrapy: :func:`evaluate_url` and
  :func:`assess_url` over policy files you hold, the :class:`Evaluator`
  itself, and the verdict vocabulary (:class:`Purpose`, :class:`Signal`,
  :class:`Finding`, :class:`Verdict`...).

Names that need Scrapy are loaded on first access, so importing this package,
its protocol parsers or its policy layer does not import Scrapy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy_optout.exceptions import (
    ConfigurationError,
    FetchError,
    LedgerError,
    OptOutError,
    PolicyStoreError,
)
from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.library import assess_url, evaluate_url, origin_policy
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.scrapy.signals import content_excluded
from scrapy_optout.verdict import (
    Finding,
    Purpose,
    Signal,
    Stage,
    Stance,
    Verdict,
    Where,
    decide,
)

__version__ = "0.1.0"

__all__ = [
    "Addon",
    "Assessment",
    "ConfigurationError",
    "Evaluator",
    "FetchError",
    "Finding",
    "InvalidOptOutMeta",
    "LedgerError",
    "LedgerFailed",
    "OptOutError",
    "OptOutMiddleware",
    "OptOutPipeline",
    "OptOutSpiderMiddleware",
    "OriginPolicy",
    "PolicyFile",
    "PolicyStoreError",
    "PolicyStoreFailed",
    "Purpose",
    "RefusedScheme",
    "ReservedContent",
    "ReservedItem",
    "Signal",
    "Stage",
    "Stance",
    "Verdict",
    "Where",
    "__version__",
    "assess_url",
    "content_excluded",
    "decide",
    "evaluate_url",
    "origin_policy",
]

# Names whose modules import Scrapy, loaded on first access.
_LAZY = {
    "Addon": "scrapy_optout.scrapy.addon",
    "OptOutMiddleware": "scrapy_optout.scrapy.middleware",
    "OptOutSpiderMiddleware": "scrapy_optout.scrapy.spidermw",
    "OptOutPipeline": "scrapy_optout.scrapy.pipeline",
    "ReservedContent": "scrapy_optout.scrapy.exceptions",
    "RefusedScheme": "scrapy_optout.scrapy.exceptions",
    "InvalidOptOutMeta": "scrapy_optout.scrapy.exceptions",
    "LedgerFailed": "scrapy_optout.scrapy.exceptions",
    "PolicyStoreFailed": "scrapy_optout.scrapy.exceptions",
    "ReservedItem": "scrapy_optout.scrapy.exceptions",
}

if TYPE_CHECKING:
    from scrapy_optout.scrapy.addon import Addon
    from scrapy_optout.scrapy.exceptions import (
        InvalidOptOutMeta,
        LedgerFailed,
        PolicyStoreFailed,
        RefusedScheme,
        ReservedContent,
        ReservedItem,
    )
    from scrapy_optout.scrapy.middleware import OptOutMiddleware
    from scrapy_optout.scrapy.pipeline import OptOutPipeline
    from scrapy_optout.scrapy.spidermw import OptOutSpiderMiddleware


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
