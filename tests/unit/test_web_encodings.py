"""What importing the add-on loads, and the encodings table written out by hand."""

from __future__ import annotations

import codecs
import subprocess
import sys

from scrapy_optout.protocols import html

#: The labels of the WHATWG Encoding Standard that Python can decode.
WHATWG_LABELS = [
    "utf-8",
    "ibm866",
    "iso-8859-2",
    "iso-8859-3",
    "iso-8859-4",
    "iso-8859-5",
    "iso-8859-6",
    "iso-8859-7",
    "iso-8859-8",
    "iso-8859-10",
    "iso-8859-13",
    "iso-8859-14",
    "iso-8859-15",
    "iso-8859-16",
    "koi8-r",
    "koi8-u",
    "mac-roman",
    "mac-cyrillic",
    "cp874",
    "cp1250",
    "cp1251",
    "cp1252",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "gbk",
    "gb18030",
    "big5",
    "euc-jp",
    "iso-2022-jp",
    "shift_jis",
    "euc-kr",
    "utf-16-le",
    "utf-16-be",
]


def test_web_encodings_are_the_codec_names_of_the_whatwg_labels() -> None:
    assert {codecs.lookup(label).name for label in WHATWG_LABELS} == html._WEB_ENCODINGS


def test_every_whatwg_label_is_usable() -> None:
    for label in WHATWG_LABELS:
        assert html._web_codec(label, declared_in_document=False) is not None, label
    assert html._web_codec("rot13", declared_in_document=False) is None
    assert html._web_codec("latin1", declared_in_document=True) == "cp1252"


def test_importing_the_components_loads_no_optional_heavyweights() -> None:
    # Every object a module creates at import is walked by each full collection
    # of the garbage collector for the whole crawl: itemadapter (and pydantic
    # behind it) and the codec modules are loaded only when an item or a page needs them.
    code = (
        "import sys\n"
        "import scrapy_optout.scrapy.addon, scrapy_optout.scrapy.pipeline\n"
        "import scrapy_optout.scrapy.spidermw, scrapy_optout.scrapy.middleware\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('itemadapter', "
        "'pydantic', 'encodings.gb', 'encodings.shift_jis', 'encodings.koi8')))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
