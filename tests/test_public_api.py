"""The public surface: exported names resolve, the README's Python runs, imports stay light."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import scrapy_optout
from helpers import ROOT

README = ROOT / "README.md"


def test_all_is_sorted_and_unique() -> None:
    assert list(scrapy_optout.__all__) == sorted(set(scrapy_optout.__all__))


@pytest.mark.parametrize("name", scrapy_optout.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    value = getattr(scrapy_optout, name)
    if isinstance(value, type) or callable(value):
        # Defined in the package, not re-exported from a dependency.
        assert value.__module__.startswith("scrapy_optout"), value.__module__


def test_nothing_public_is_missing_from_all() -> None:
    public = {
        name
        for name, value in vars(scrapy_optout).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    assert public <= set(scrapy_optout.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'content_excludedd'"):
        _ = scrapy_optout.content_excludedd  # type: ignore[attr-defined]


def test_exception_tree() -> None:
    from scrapy.exceptions import DropItem, IgnoreRequest

    for name in (
        "ConfigurationError",
        "FetchError",
        "LedgerError",
        "InvalidOptOutMeta",
        "ReservedContent",
        "RefusedScheme",
        "LedgerFailed",
        "ReservedItem",
    ):
        assert issubclass(getattr(scrapy_optout, name), scrapy_optout.OptOutError), name
    assert issubclass(scrapy_optout.ConfigurationError, ValueError)
    for name in ("ReservedContent", "RefusedScheme", "InvalidOptOutMeta", "LedgerFailed"):
        assert issubclass(getattr(scrapy_optout, name), IgnoreRequest), name
    assert issubclass(scrapy_optout.ReservedItem, DropItem)


def test_content_excluded_is_the_signal_the_runtime_sends() -> None:
    from scrapy_optout.scrapy import runtime

    assert runtime.events.content_excluded is scrapy_optout.content_excluded


def test_importing_the_package_does_not_import_scrapy() -> None:
    code = (
        "import sys, scrapy_optout\n"
        "scrapy_optout.evaluate_url('https://example.com/', robots_txt=b'Disallow: /')\n"
        "loaded = sorted(m for m in ('scrapy', 'twisted') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


# -- the README's Python examples --------------------------------------------------------------

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _readme_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_examples() -> None:
    assert len(_readme_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_python_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block runs as written; names it assumes (a ``crawler``) are provided."""
    from scrapy.utils.test import get_crawler

    code = _readme_blocks()[index]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "optout-ledger.jsonl").write_text(
        '{"v": 1, "url": "https://example.com/a", "verdict": "reserved",'
        ' "reasons": [{"signal": "robots.txt"}]}\n'
    )
    namespace: dict[str, object] = {"__name__": f"readme_{index}", "crawler": get_crawler()}
    exec(compile(code, f"README.md block {index}", "exec"), namespace)
    if "ADDONS" in namespace or "DOWNLOADER_MIDDLEWARES" in namespace:
        # A settings block: the names it writes are real Scrapy settings that resolve.
        _check_settings_block(namespace)


def _check_settings_block(namespace: dict[str, object]) -> None:
    from scrapy.utils.misc import load_object

    for key in ("ADDONS", "DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES"):
        for path in namespace.get(key, {}) or {}:  # type: ignore[union-attr]
            assert load_object(path) is not None, path
