"""The usual page's shortcut gives exactly what the headers and body stages give.

:meth:`Evaluator.quiet_page` judges a response in one step when neither its
headers nor its body can add anything to the origin stage. Whenever it answers,
the answer must equal :meth:`~Evaluator.body_stage` of
:meth:`~Evaluator.lowered_headers_stage` (findings, TDMRep value and
assumption, image findings, evidence, headers and verdicts); when anything in
the response could speak it must step aside (``None``), so a page that holds a
signal always takes the full path. Checked for origins drawn like those of
``test_origin_plan`` (corpus robots.txt files, ai.txt and ``tdmrep.json`` from
the wild, RSL licences, registries) against bodies that hold every kind of
signal and bodies that hold none.
"""

from __future__ import annotations

import codecs
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.verdict import Purpose
from test_origin_plan import ORIGIN, _policy, _with_registries, cases
from test_origin_plan import _state as origin_state

_PAGE = "<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


def _page(head: str = "", body: str = "<p>Nothing to see.</p>") -> bytes:
    return _PAGE.format(head=head, body=body).encode()


PLAIN = _page('<meta charset="utf-8"><meta name="viewport" content="width=device-width">')
# Bodies the shortcut must leave to the full path, with what each holds.
SPEAKING = {
    "robots meta": _page('<meta name="robots" content="noai">'),
    "robots meta in the body": _page(body='<meta name="ROBOTS" content="noimageai">'),
    "tdm meta": _page('<meta name="tdm-reservation" content="1">'),
    "own token": _page('<meta name="GPTBot" content="noai">'),
    "character reference": _page('<meta name="&#114;obots" content="noai">'),
    "rsl link": _page('<link rel="license" type="application/RSL+xml" href="/l.xml">'),
    "rsl inline": _page('<script type="application/rsl+xml"><rsl/></script>'),
    "utf-16": codecs.BOM_UTF16_LE + _PAGE.format(head="", body="x").encode("utf-16-le"),
    "pdf after markup": b"<html><body>%PDF-1.7 <x:xmpmeta/></body></html>",
    "pdf": b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "zip": b"PK\x03\x04mimetypeapplication/epub+zip",
}
TEXT = b"just some text, no markup at all"
CONTENT_TYPES: tuple[str | None, ...] = (
    "text/html; charset=utf-8",
    "text/html",
    None,
    "application/octet-stream",
    "text/plain",
    "image/png",
    "application/pdf",
    "application/json",
)


def _state(assessment: Assessment) -> tuple[Any, ...]:
    """What ``test_origin_plan`` compares, and what the response stages add to it."""
    labels = tuple(
        assessment.verdict(purpose).label
        for purpose in (Purpose.TRAIN, Purpose.SEARCH, Purpose.TDM, Purpose.CRAWL)
    )
    tdm = assessment.verdict(Purpose.TDM)
    return (
        *origin_state(assessment),
        assessment.image_findings,
        assessment.headers,
        assessment.token,
        (tdm.reserved, tdm.reasons, tdm.findings),
        labels,
    )


def _stages(
    evaluator: Evaluator, prior: Assessment, hdrs: dict[str, list[str]], body: bytes, status: int
) -> Assessment:
    headers = evaluator.lowered_headers_stage(prior, hdrs, status=status)
    return evaluator.body_stage(headers, body)


def _compare(
    evaluator: Evaluator,
    prior_of: Any,
    hdrs: dict[str, list[str]],
    body: bytes,
    status: int = 200,
) -> Assessment | None:
    """Whether the shortcut, when it answers, answers as the two stages do."""
    quick = evaluator.quiet_page(prior_of(), hdrs, body, status=status)
    if quick is not None:
        assert _state(quick) == _state(_stages(evaluator, prior_of(), hdrs, body, status))
    return quick


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases(),
    st.sampled_from(CONTENT_TYPES),
    st.sampled_from([PLAIN, TEXT, *SPEAKING.values()]),
    st.sampled_from([200, 200, 404, 401, 402]),
)
def test_the_shortcut_answers_as_the_stages_do(
    case: tuple[Evaluator, Any, list[str]], ctype: str | None, body: bytes, status: int
) -> None:
    evaluator, policy, urls = case
    hdrs = {"content-type": [ctype]} if ctype is not None else {}
    for url in urls:
        target = url if url.startswith("http") else ORIGIN + url
        _compare(evaluator, partial(evaluator.origin_stage, policy, target), hdrs, body, status)


def test_a_plain_page_takes_the_shortcut_and_nothing_that_speaks_does() -> None:
    evaluator = _with_registries(1, 0)  # GPTBot, no registry
    policy = _policy(b"User-agent: *\nAllow: /\n")
    url = ORIGIN + "/a/page"
    prior = partial(evaluator.origin_stage, policy, url)
    html = {"content-type": ["text/html; charset=utf-8"]}
    assert _compare(evaluator, prior, html, PLAIN) is not None
    assert _compare(evaluator, prior, {}, PLAIN) is not None  # sniffed as HTML
    assert _compare(evaluator, prior, html, TEXT) is not None  # read as its type says
    assert evaluator.quiet_page(prior(), {}, TEXT) is None  # read as nothing
    for what, body in SPEAKING.items():
        assert evaluator.quiet_page(prior(), html, body) is None, what
    # Headers that may speak, and licence or payment answers, take the full path too.
    for name in ("x-robots-tag", "content-usage", "content-signal", "link", "tdm-reservation"):
        assert evaluator.quiet_page(prior(), {**html, name: ["x"]}, PLAIN) is None, name
    for status in (401, 402):
        assert evaluator.quiet_page(prior(), html, PLAIN, status=status) is None
    # A stage later than the origin's, and a registry of body hashes, as well.
    assert evaluator.quiet_page(evaluator.headers_stage(prior(), html), html, PLAIN) is None
    hashes = _with_registries(1, 3)
    assert hashes.quiet_page(hashes.origin_stage(policy, url), html, PLAIN) is None


def test_a_pending_tdmrep_reservation_counts_in_the_shortcut() -> None:
    evaluator = _with_registries(0, 0)
    policy = _policy(
        b"User-agent: *\nAllow: /\n", tdm_body=b'[{"location": "/", "tdm-reservation": 1}]'
    )
    url = ORIGIN + "/article"
    prior = evaluator.origin_stage(policy, url)
    assert not prior.verdict(Purpose.TRAIN).reserved  # pending: a page may lift it
    html = {"content-type": ["text/html"]}
    done = _compare(evaluator, partial(evaluator.origin_stage, policy, url), html, PLAIN)
    assert done is not None and done.final
    assert done.verdict(Purpose.TRAIN).reserved
    # A body the headers say cannot carry TDMRep made it final at the headers
    # stage, where the adapter decides it: no shortcut then.
    json_type = {"content-type": ["application/json"]}
    assert evaluator.quiet_page(evaluator.origin_stage(policy, url), json_type, PLAIN) is None
