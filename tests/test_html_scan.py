"""The fast paths of the ``<meta>`` scanner read exactly what the full reader reads.

:func:`scrapy_optout.protocols.html.head_meta` skips text, comments, raw-text
elements and every tag it has no use for with one regular expression, and stops
once no ``<meta`` is left after the head. Both are checked here against the plain reader (every
attribute read by :func:`_read_tag`, every tag visited) on generated markup
built from the pieces that make tokenizing hard.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols import html
from scrapy_optout.protocols.html import MetaTag, head_meta


def _reference(text: str, *, include_body: bool) -> list[MetaTag]:
    """head_meta's loop over the plain reader, without the early exit."""
    metas: list[MetaTag] = []
    in_head = True
    for is_start, name, attrs, _end in html._tags(text):
        if in_head and (
            (is_start and name in html._BODY_START_TAGS)
            or (not is_start and name in html._HEAD_END_TAGS)
        ):
            if not include_body:
                break
            in_head = False
        if is_start and name == "meta":
            metas.extend(html._meta_tags(attrs, in_head))
    return metas


PIECES = [
    "<",
    ">",
    "/",
    "=",
    '"',
    "'",
    " ",
    "\t",
    "\n",
    "<!--",
    "-->",
    "--!>",
    "<!",
    "<?",
    "</",
    "<meta",
    "<META",
    "<Meta ",
    "<meta/",
    "</meta>",
    "name=robots",
    'name="robots"',
    "name='tdm-reservation'",
    "content=noai",
    'content="noai, noimageai"',
    "content='1'",
    "property=og:x",
    "http-equiv=x",
    "<head>",
    "</head>",
    "<body>",
    "<BODY class=x>",
    "</body>",
    "</html>",
    "<frameset>",
    "<script>",
    "</script>",
    "<style>",
    "</style >",
    "<title>",
    "</title>",
    "<textarea>",
    "<plaintext>",
    "<a href=x>",
    '<a href="x>y">',
    "<a ==x>",
    "<p>",
    "<SCRIPT>",
    "</Script>",
    "<Title x=1>",
    "<iframe>",
    "</iframe >",
    "<noframes>",
    "</noframes/",
    "<template>",
    "</>",
    "<metadata>",
    "<bodyx>",
    "</headx>",
    "</HEAD>",
    "<Frameset >",
    "<!-->",
    "<!--->",
    "<!->",
    "<?xml?>",
    "</ x>",
    "</1>",
    "\u212a",
    "a",
    "x",
    "&amp;",
    "&#114;",
]


markup = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@settings(max_examples=3000, deadline=None)
@given(markup, st.booleans())
def test_head_meta_matches_the_plain_reader(text: str, include_body: bool) -> None:
    assert head_meta(text.encode(), encoding="utf-8", include_body=include_body) == _reference(
        text, include_body=include_body
    )


def test_early_exit_still_reads_metas_in_the_body() -> None:
    page = (
        b"<html><head><meta name=description content=x></head>"
        b"<body><p>text</p><!-- <meta name=robots content=noai> -->"
        b"<div><meta name=robots content=noai></div></body></html>"
    )
    found = head_meta(page, include_body=True)
    assert [(m.name, m.content, m.in_head) for m in found] == [
        ("description", "x", True),
        ("robots", "noai", False),
    ]


def test_unclosed_quote_ends_the_scan() -> None:
    page = b'<head><a title="x><meta name=robots content=noai></head>'
    assert head_meta(page, include_body=True) == []


_BOMS = [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")]


@settings(max_examples=1000, deadline=None)
@given(markup, st.sampled_from(_BOMS), st.sampled_from(["", "<!-- c -->", "\n <!--x-->\t"]))
def test_head_meta_behind_a_byte_order_mark_matches_the_plain_reader(
    text: str, bom: tuple[str, bytes], lead: str
) -> None:
    """A BOM (UTF-8 or UTF-16) and leading comments change nothing the scanner finds."""
    codec, mark = bom
    text = lead + text
    body = mark + text.encode(codec, "surrogatepass")
    for declared in (None, "utf-8", "windows-1252"):
        assert head_meta(body, encoding=declared, include_body=True) == _reference(
            text, include_body=True
        )
