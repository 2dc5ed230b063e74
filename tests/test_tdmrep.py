"""TDMRep: tdmrep.json, headers, HTML meta, EPUB/PDF metadata, priority and findings."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.html import MetaTag, head_meta
from scrapy_optout.protocols.tdmrep import (
    PURPOSES,
    TdmrepFile,
    TdmValue,
    document_value,
    findings,
    header_value,
    meta_value,
    resolve,
)
from scrapy_optout.verdict import Purpose, Signal, Stance, Where, decide

# These properties are about outcomes, not speed on a loaded CI machine.
_NO_DEADLINE = settings(deadline=None)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "corpora"
VECTORS = json.loads((FIXTURES / "tdmrep-spec-vectors" / "tdmrep-vectors.json").read_text())
SIGNALS = FIXTURES / "ai-signals-in-the-wild" / "signals.jsonl"
FILE_URL = "https://example.com/.well-known/tdmrep.json"
PAGE_URL = "https://example.com/page"
POLICY = "https://provider.com/policies/policy.json"


def _records(kind: str) -> list[dict[str, Any]]:
    if not SIGNALS.exists():
        return []
    lines = SIGNALS.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _example(example_id: str) -> str:
    return next(e["text"] for e in VECTORS["spec_examples"] if e["id"] == example_id)


def _file(text: str) -> TdmrepFile:
    return TdmrepFile.parse(text.encode())


def _reservation(text: str, path: str) -> int | None:
    value = _file(text).lookup(path, source=FILE_URL)
    return None if value is None else value.reservation


def _headers(text: str) -> dict[str, list[str]]:
    """Parse the header block of a printed HTTP response."""
    headers: dict[str, list[str]] = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def _epub(package: str, *, package_path: str = "OEBPS/content.opf") -> bytes:
    container = (
        '<?xml version="1.0"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
        f'  <rootfiles><rootfile full-path="{package_path}" '
        'media-type="application/oebps-package+xml"/></rootfiles>\n'
        "</container>\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(package_path, package, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _pdf(xmp: str) -> bytes:
    """A minimal PDF-shaped byte string carrying *xmp* as an uncompressed metadata stream."""
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f"{xmp}\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj << /Type /Catalog /Metadata 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Metadata /Subtype /XML /Length "
        + str(len(packet)).encode()
        + b" >>\nstream\n"
        + packet
        + b"\nendstream\nendobj\n"
        + b"3 0 obj << /Filter /FlateDecode >> stream\n\x00\xff<\x9c>\nendstream\nendobj\n"
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _value(
    reservation: int | None, where: Where = Where.FILE, policy: str | None = None
) -> TdmValue:
    return TdmValue(reservation, policy, f"{where}: {reservation}", where, f"https://x/{where}")


# -- vectors: tdmrep.json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", VECTORS["tdmrep_json_vectors"], ids=lambda v: v["id"] if isinstance(v, dict) else ""
)
def test_tdmrep_json_vectors(vector: dict[str, Any]) -> None:
    value = _file(vector["tdmrep_json"]).lookup(vector["path"], source=FILE_URL)
    expected = vector["expected"]
    if value is None:
        assert expected == {"tdm_reservation": None, "tdm_policy": None}
    else:
        assert value.reservation == expected["tdm_reservation"]
        assert value.policy == expected["tdm_policy"]
        assert value.where is Where.FILE
        assert value.source == FILE_URL


def test_string_one_is_a_protocol_error_and_the_reason_is_reported() -> None:
    # Vector f18: the strict reading, which this module follows.
    parsed = _file('[{"location":"/","tdm-reservation":"1"}]')
    value = parsed.lookup("/", source=FILE_URL)
    assert value is not None and value.reservation is None
    assert parsed.error is not None and "string" in parsed.error
    stances = [f.stance for f in findings(value, file_error=parsed.error, source_file=FILE_URL)]
    assert stances == [Stance.UNKNOWN, Stance.UNKNOWN]


def test_rule_is_quoted_as_json() -> None:
    value = _file('[{"location": "/", "tdm-reservation": 1}]').lookup("/x", source=FILE_URL)
    assert value is not None
    assert value.rule == '{"location": "/", "tdm-reservation": 1}'


# -- vectors: headers, HTML meta, priority ---------------------------------------------------------


@pytest.mark.parametrize(
    "vector", VECTORS["header_vectors"], ids=lambda v: v["id"] if isinstance(v, dict) else ""
)
def test_header_vectors(vector: dict[str, Any]) -> None:
    headers = {name: [value] for name, value in vector["headers"].items()}
    value = header_value(headers, source=PAGE_URL)
    expected = vector["expected"]
    got = (None, None) if value is None else (value.reservation, value.policy)
    assert got == (expected["tdm_reservation"], expected["tdm_policy"])
    if value is not None:
        assert value.where is Where.HEADER
        assert value.rule.startswith("tdm-reservation: ")


@pytest.mark.parametrize(
    "vector", VECTORS["html_meta_vectors"], ids=lambda v: v["id"] if isinstance(v, dict) else ""
)
def test_html_meta_vectors(vector: dict[str, Any]) -> None:
    value = meta_value(head_meta(vector["html"].encode()), source=PAGE_URL)
    expected = vector["expected"]
    got = (None, None) if value is None else (value.reservation, value.policy)
    assert got == (expected["tdm_reservation"], expected["tdm_policy"])
    if value is not None:
        assert value.where is Where.META


@pytest.mark.parametrize(
    "vector", VECTORS["priority_vectors"], ids=lambda v: v["id"] if isinstance(v, dict) else ""
)
def test_priority_vectors(vector: dict[str, Any]) -> None:
    def given(key: str, where: Where) -> TdmValue | None:
        return None if vector[key] is None else _value(vector[key], where)

    result = resolve(
        given("tdmrep_json_value_for_url", Where.FILE),
        given("header_value", Where.HEADER),
        given("html_meta_value", Where.META),
    )
    got = None if result is None else result.reservation
    assert got == vector["expected_tdm_reservation"]


# -- spec examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reservation", "policy"),
    [
        ("/directory-a/", 1, None),
        ("/directory-a/x/y.pdf", 1, None),
        ("/directory-b/html/index.html", 1, POLICY),
        ("/directory-b/images/cat.jpg", 0, None),
        ("/directory-b/images/cat.jpg.html", 0, None),
        ("/directory-b/images/cat.png", None, None),
        ("/directory-b/", None, None),
        ("/", None, None),
    ],
)
def test_spec_example_file(path: str, reservation: int | None, policy: str | None) -> None:
    parsed = _file(_example("spec-ex-tdmrep-2"))
    assert parsed.error is None and len(parsed.rules) == 3
    value = parsed.lookup(path, source=FILE_URL)
    if reservation is None:
        assert value is None
    else:
        assert value is not None and (value.reservation, value.policy) == (reservation, policy)


def test_spec_example_whole_site_file() -> None:
    parsed = _file(_example("spec-ex-tdmrep-1"))
    assert parsed.error is None
    assert _reservation(_example("spec-ex-tdmrep-1"), "https://example.com/any?q=1") == 1


@pytest.mark.parametrize(
    ("example_id", "policy"), [("spec-ex-header-1", None), ("spec-ex-header-2", POLICY)]
)
def test_spec_example_headers(example_id: str, policy: str | None) -> None:
    value = header_value(_headers(_example(example_id)), source=PAGE_URL)
    assert value is not None
    assert (value.reservation, value.policy, value.rule) == (1, policy, "tdm-reservation: 1")


def test_spec_example_html() -> None:
    value = meta_value(head_meta(_example("spec-ex-html-1").encode()), source=PAGE_URL)
    assert value is not None
    assert (value.reservation, value.policy) == (1, POLICY)
    assert value.rule == '<meta name="tdm-reservation" content="1">'


@pytest.mark.parametrize("example_id", ["spec-ex-epub2-1", "spec-ex-epub3-1"])
def test_spec_example_epub(example_id: str) -> None:
    # The fragments are used as printed, "..." placeholders included.
    value = document_value(_epub(_example(example_id)), "application/epub+zip", source=PAGE_URL)
    assert value is not None
    assert (value.reservation, value.policy, value.where) == (1, POLICY, Where.META)
    assert "tdm:reservation" in value.rule


def test_spec_example_epub_is_recognised_without_content_type() -> None:
    value = document_value(_epub(_example("spec-ex-epub3-1")), None, source=PAGE_URL)
    assert value is not None and value.reservation == 1


def test_spec_example_pdf() -> None:
    # Printed with an unquoted xmlns:rdf value and "..." inside a tag: read it anyway.
    value = document_value(_pdf(_example("spec-ex-pdf-1")), None, source=PAGE_URL)
    assert value is not None
    assert value.reservation == 1
    assert value.policy == "https://publisher.com/policies/policy.json"
    assert value.rule == "<tdm:reservation>1</tdm:reservation>"


# -- the 24 edge cases of specs/tdmrep.md §10 ------------------------------------------------------

_OPEN_LAST = '[{"location":"/","tdm-reservation":1},{"location":"/open/","tdm-reservation":0}]'
_OPEN_FIRST = '[{"location":"/open/","tdm-reservation":0},{"location":"/","tdm-reservation":1}]'


@pytest.mark.parametrize(
    ("case", "text", "path", "expected"),
    [
        ("01 first match wins", _OPEN_LAST, "/open/a", 1),
        ("02 reversed", _OPEN_FIRST, "/open/a", 0),
        ("02 reversed, other path", _OPEN_FIRST, "/other", 1),
        ("03 prefix", '[{"location":"/img/*.jpg","tdm-reservation":0}]', "/img/a.jpg.html", 0),
        ("03 no match", '[{"location":"/img/*.jpg","tdm-reservation":0}]', "/img/a.png", None),
        ("04 exact", '[{"location":"/doc$","tdm-reservation":1}]', "/doc", 1),
        ("04 exact, longer", '[{"location":"/doc$","tdm-reservation":1}]', "/doc/", None),
        ("05 case", '[{"location":"/Docs/","tdm-reservation":1}]', "/docs/x", None),
        ("06 single object", '{"location":"/","tdm-reservation":1}', "/", None),
        ("07 string", '[{"location":"/","tdm-reservation":"1"}]', "/", None),
        ("07 boolean", '[{"location":"/","tdm-reservation":true}]', "/", None),
        ("08 two", '[{"location":"/","tdm-reservation":2}]', "/", None),
        ("09 no location", '[{"tdm-reservation":1},{"location":"/","tdm-reservation":0}]', "/", 0),
        ("09 no value", '[{"location":"/"},{"location":"/","tdm-reservation":1}]', "/", 1),
        ("22 non-ASCII", '[{"location":"/caf%C3%A9/","tdm-reservation":1}]', "/café/x", 1),
        # An encoded slash and a slash are one path (RFC 9309 figure 4, read as servers do).
        ("22 encoded slash", '[{"location":"/a%2Fb","tdm-reservation":1}]', "/a/b", 1),
    ],
)
def test_edge_cases_file(case: str, text: str, path: str, expected: int | None) -> None:
    assert _reservation(text, path) == expected


@pytest.mark.parametrize(
    ("case", "text", "error"),
    [
        ("06", '{"location":"/","tdm-reservation":1}', "JSON is an object, not an array"),
        ("07", '[{"location":"/","tdm-reservation":true}]', "tdm-reservation true"),
        ("08", '[{"location":"/","tdm-reservation":2}]', "tdm-reservation 2"),
        ("09", '[{"tdm-reservation":1}]', "rule 1 has no location"),
        ("09", '[{"location":"/"}]', "rule 1 has no tdm-reservation"),
    ],
)
def test_edge_cases_file_errors(case: str, text: str, error: str) -> None:
    parsed = _file(text)
    assert parsed.error is not None and error in parsed.error


def test_edge_case_10_header_without_file() -> None:
    value = resolve(None, header_value({"tdm-reservation": ["1"]}, source=PAGE_URL))
    assert value is not None and value.reservation == 1 and value.where is Where.HEADER


def test_edge_case_11_header_overrides_file() -> None:
    from_file = _file('[{"location":"/","tdm-reservation":1}]').lookup(PAGE_URL, source=FILE_URL)
    value = resolve(from_file, header_value({"tdm-reservation": ["0"]}, source=PAGE_URL))
    assert value is not None and value.reservation == 0


@pytest.mark.parametrize("values", [["1", "0"], ["1, 0"], ["0", "1"]])
def test_edge_case_12_conflicting_headers_are_invalid(values: list[str]) -> None:
    header = header_value({"tdm-reservation": values}, source=PAGE_URL)
    assert header is not None and header.reservation is None
    assert resolve(_value(1), header) == _value(1)  # the file value stands
    assert resolve(None, header) == header  # and alone it is unset


def test_repeated_identical_header_values_count_once() -> None:
    header = header_value({"tdm-reservation": ["1", "1"]}, source=PAGE_URL)
    assert header is not None and header.reservation == 1


def test_edge_case_13_header_name_case_and_padding() -> None:
    value = header_value({"TDM-Reservation": ["  1 "]}, source=PAGE_URL)
    assert value is not None and value.reservation == 1


def test_edge_case_14_meta_overrides_header() -> None:
    meta = meta_value([MetaTag("tdm-reservation", "0", "name")], source=PAGE_URL)
    header = header_value({"tdm-reservation": ["1"]}, source=PAGE_URL)
    value = resolve(None, header, meta)
    assert value is not None and value.reservation == 0 and value.where is Where.META


def test_edge_case_15_html_protection_does_not_extend_to_images() -> None:
    # The page's meta says 1; the image has no header and no file rule.
    assert resolve(None, header_value({}, source="https://example.com/a.png")) is None
    assert findings(None) == []


def test_edge_case_16_policy_with_zero_is_not_processed() -> None:
    value = header_value(
        {"tdm-reservation": ["0"], "tdm-policy": ["https://p.example/p.json"]}, source=PAGE_URL
    )
    assert value is not None and value.reservation == 0
    (finding,) = findings(value)
    assert finding.stance is Stance.ALLOW
    assert "p.example" not in finding.detail


def test_edge_case_17_reservation_stands_without_fetching_the_policy() -> None:
    value = header_value(
        {"tdm-reservation": ["1"], "tdm-policy": ["https://unreachable.invalid/p.json"]},
        source=PAGE_URL,
    )
    (finding,) = findings(value)
    assert finding.stance is Stance.RESERVE
    assert "https://unreachable.invalid/p.json" in finding.detail


def test_edge_case_18_body_reached_through_redirects_parses_the_same() -> None:
    # Following redirects is the fetcher's job; the parser only sees the final body.
    body = b'[{"location":"/","tdm-reservation":1}]'
    assert TdmrepFile.parse(body, content_type="application/json").rules == (
        TdmrepFile.parse(body).rules
    )


def test_edge_case_19_server_error_is_unknown_not_permission() -> None:
    result = findings(None, file_error="HTTP 500", source_file=FILE_URL)
    assert [f.stance for f in result] == [Stance.UNKNOWN]
    assert result[0].source == FILE_URL and "HTTP 500" in result[0].detail


@pytest.mark.parametrize(
    "namespace", ["http://www.w3.org/ns/tdmrep#", "http://www.w3.org/ns/tdmrep/"]
)
def test_edge_case_20_pdf_hash_and_slash_namespaces(namespace: str) -> None:
    xmp = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:tdm="{namespace}">'
        "<tdm:reservation>1</tdm:reservation></rdf:Description></rdf:RDF>"
    )
    value = document_value(_pdf(xmp), "application/pdf", source=PAGE_URL)
    assert value is not None and value.reservation == 1


def test_edge_case_21_epub3_prefix_bound_elsewhere_is_not_tdmrep() -> None:
    package = (
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
        'prefix="tdm: http://example.com/not-tdmrep#">'
        '<metadata><meta property="tdm:reservation">1</meta></metadata></package>'
    )
    assert document_value(_epub(package), None, source=PAGE_URL) is None


def test_edge_case_23_several_meta_elements_most_restrictive_wins() -> None:
    metas = [
        MetaTag("tdm-reservation", "0", "name"),
        MetaTag("tdm-reservation", "1", "name"),
    ]
    value = meta_value(metas, source=PAGE_URL)
    assert value is not None and value.reservation == 1
    assert value.rule == '<meta name="tdm-reservation" content="1">'


def test_edge_case_24_head_response_headers_count() -> None:
    # Headers are headers, whatever the method; nothing here depends on it.
    value = header_value({"tdm-reservation": ["1"]}, source=PAGE_URL)
    assert value is not None and value.reservation == 1


# -- more of the header and meta readings ----------------------------------------------------------


def test_header_policy_alone() -> None:
    value = header_value({"tdm-policy": [POLICY]}, source=PAGE_URL)
    assert value is not None and (value.reservation, value.policy) == (None, POLICY)


def test_header_value_as_plain_string_is_one_value() -> None:
    assert header_value({"tdm-reservation": "1"}, source=PAGE_URL) == header_value(  # type: ignore[dict-item]
        {"tdm-reservation": ["1"]}, source=PAGE_URL
    )


@pytest.mark.parametrize(
    ("metas", "expected"),
    [
        ([MetaTag("tdm-reservation", " 1 ", "name")], 1),
        ([MetaTag("tdm-reservation", "yes", "name")], None),
        ([MetaTag("tdm-reservation", "1", "property")], "absent"),
        ([MetaTag("tdm-reservation", "1", "http-equiv")], "absent"),
        ([MetaTag("robots", "noai", "name")], "absent"),
        ([MetaTag("tdm-reservation", "yes", "name"), MetaTag("tdm-reservation", "0", "name")], 0),
    ],
)
def test_meta_readings(metas: list[MetaTag], expected: int | str | None) -> None:
    value = meta_value(metas, source=PAGE_URL)
    if expected == "absent":
        assert value is None
    else:
        assert value is not None and value.reservation == expected


def test_meta_policy_is_kept() -> None:
    metas = [MetaTag("tdm-policy", POLICY, "name"), MetaTag("tdm-reservation", "1", "name")]
    value = meta_value(metas, source=PAGE_URL)
    assert value is not None and value.policy == POLICY


# -- resolve ---------------------------------------------------------------------------------------


def test_resolve_carries_an_earlier_policy_forward() -> None:
    value = resolve(_value(1, Where.FILE, "https://a/p"), _value(1, Where.HEADER))
    assert value is not None
    assert (value.reservation, value.policy, value.where) == (1, "https://a/p", Where.HEADER)


def test_resolve_takes_the_later_policy() -> None:
    value = resolve(_value(1, Where.FILE, "https://a/p"), _value(None, Where.META, "https://b/p"))
    assert value is not None
    assert (value.reservation, value.policy, value.where) == (1, "https://b/p", Where.FILE)


def test_resolve_embedded_metadata_has_the_last_word() -> None:
    value = resolve(
        _value(0), _value(0, Where.HEADER), _value(0, Where.META), _value(1, Where.META)
    )
    assert value is not None and value.reservation == 1


def test_resolve_nothing() -> None:
    assert resolve() is None
    assert resolve(None, None, None) is None


# -- findings --------------------------------------------------------------------------------------


def test_findings_for_a_reservation() -> None:
    value = _value(1, Where.HEADER, POLICY)
    (finding,) = findings(value)
    assert finding.signal is Signal.TDMREP
    assert finding.stance is Stance.RESERVE
    assert finding.purposes == PURPOSES == {Purpose.TDM, Purpose.TRAIN, Purpose.INPUT}
    assert (finding.where, finding.rule, finding.source) == (value.where, value.rule, value.source)
    assert decide([finding], "train").reserved
    assert decide([finding], "input").reserved
    assert not decide([finding], "search").reserved
    assert not decide([finding], "crawl").reserved


def test_findings_for_no_reservation() -> None:
    (finding,) = findings(_value(0))
    assert finding.stance is Stance.ALLOW
    assert not decide([finding], "tdm").reserved


def test_findings_for_a_broken_file_and_a_header() -> None:
    result = findings(_value(1, Where.HEADER), file_error="body is HTML", source_file=FILE_URL)
    assert [(f.stance, f.where) for f in result] == [
        (Stance.UNKNOWN, Where.FILE),
        (Stance.RESERVE, Where.HEADER),
    ]
    assert result[0].detail.endswith("body is HTML") and result[0].source == FILE_URL


# -- what real servers send ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"", None, "body is empty"),
        (b"  \n", None, "body is empty"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "text/html", "body is HTML"),
        (b"\n<html><head><title>App</title></head></html>", None, "body is HTML"),
        (b'<?xml version="1.0"?><rules/>', "application/xml", "body is XML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "body is binary"),
        (b"\xff\xd8\xff\xe0garbage\xfe\xfd", None, "not UTF-8"),
        (b'[{"location": "/", "tdm-reservation": 1,}]', None, "not JSON"),
        (b"# tdm-reservation: 1", "text/plain", "not JSON"),
        (b'"reserved"', None, "JSON is a string"),
        (b"1", None, "JSON is a number"),
        (b"null", None, "JSON is null"),
        (b'{"@context": "http://www.w3.org/ns/tdmrep"}', None, "JSON-LD"),
        (b'{"tdm_reservation": 1}', None, "underscore"),
        (b'{"policies": []}', None, "keys: policies"),
        (b"[" * 100_000 + b"]" * 100_000, None, "not JSON"),
        (b"[" + b" " * (1024 * 1024) + b"]", None, "cut short"),
        (b'[1, "x", {"location": "https://example.com/", "tdm-reservation": 1}]', None, "rule 1"),
    ],
)
def test_broken_files_say_why(body: bytes, content_type: str | None, error: str) -> None:
    parsed = TdmrepFile.parse(body, content_type=content_type)
    assert parsed.error is not None and error in parsed.error
    assert parsed.lookup("/", source=FILE_URL) is None
    (finding,) = findings(None, file_error=parsed.error, source_file=FILE_URL)
    assert finding.stance is Stance.UNKNOWN and finding.detail


def test_html_error_names_the_content_type() -> None:
    parsed = TdmrepFile.parse(b"<!doctype html><p>hi", content_type="text/html; charset=utf-8")
    assert parsed.error == "body is HTML (Content-Type: text/html; charset=utf-8)"


def test_good_rules_survive_a_bad_one() -> None:
    parsed = _file('[{"tdm-reservation": 0}, {"location": "/", "tdm-reservation": 1}]')
    assert parsed.error == "rule 1 has no location"
    assert (
        _reservation('[{"tdm-reservation": 0}, {"location": "/", "tdm-reservation": 1}]', "/") == 1
    )


def test_byte_order_marks_are_accepted() -> None:
    body = '[{"location": "/", "tdm-reservation": 1}]'
    for encoded in (b"\xef\xbb\xbf" + body.encode(), body.encode("utf-16")):
        parsed = TdmrepFile.parse(encoded)
        assert parsed.error is None and len(parsed.rules) == 1


def test_location_with_a_star_first() -> None:
    assert _reservation('[{"location": "*", "tdm-reservation": 1}]', "/a") == 1
    assert _reservation('[{"location": "/*", "tdm-reservation": 0}]', "/") == 0


def test_json_number_one_point_zero_is_one() -> None:
    assert _reservation('[{"location": "/", "tdm-reservation": 1.0}]', "/") == 1


_TDMREP_EXPECTED = {
    "reserved (1)": 1,
    "not reserved (0)": 0,
    "not-an-array (protocol error: unset)": None,
}


def test_corpus_is_present() -> None:
    assert SIGNALS.exists(), f"{SIGNALS} is missing: copy the ai-signals-in-the-wild corpus"
    assert len(_records("tdmrep.json")) == 9


@pytest.mark.parametrize(
    "record",
    _records("tdmrep.json"),
    ids=lambda r: f"{r['source_repo']}/{r['source_path']}" if isinstance(r, dict) else "",
)
def test_real_world_tdmrep_files(record: dict[str, Any]) -> None:
    expected = _TDMREP_EXPECTED[record["strict_reading_for_path_root"]]
    parsed = TdmrepFile.parse(record["body"].encode(), content_type="application/json")
    value = parsed.lookup("https://example.com/", source=FILE_URL)
    result = findings(value, file_error=parsed.error, source_file=FILE_URL)
    if expected is None:
        assert parsed.error is not None and value is None
        (finding,) = result
        assert finding.stance is Stance.UNKNOWN
        assert finding.detail.startswith("tdmrep.json: JSON is an object")
    else:
        assert parsed.error is None and value is not None
        assert value.reservation == expected
        (finding,) = result
        assert finding.stance is (Stance.RESERVE if expected else Stance.ALLOW)
        assert decide(result, "train").reserved is bool(expected)


# -- embedded metadata -----------------------------------------------------------------------------


_EPUB3 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id" '
    'prefix="tdm: http://www.w3.org/ns/tdmrep#">\n'
    '  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
    "    <dc:title>T</dc:title>\n"
    "    {metas}\n"
    "  </metadata>\n"
    "</package>\n"
)


@pytest.mark.parametrize(
    ("metas", "expected"),
    [
        ('<meta property="tdm:reservation">0</meta>', 0),
        ('<meta property="tdm:reservation"> 1 </meta>', 1),
        ("<meta property='tdm:reservation'>2</meta>", None),
        ('<!-- <meta property="tdm:reservation">1</meta> -->', "absent"),
        ('<meta refines="#c1" property="tdm:reservation">1</meta>', "absent"),
        ('<meta name="tdm:reservation" content="0"/>', 0),
        ('<opf:meta name="tdm:reservation" content="1"/>', 1),
        ('<meta property="dcterms:modified">2024-01-01</meta>', "absent"),
    ],
)
def test_epub_package_readings(metas: str, expected: int | str | None) -> None:
    value = document_value(_epub(_EPUB3.format(metas=metas)), None, source=PAGE_URL)
    if expected == "absent":
        assert value is None
    else:
        assert value is not None and value.reservation == expected


def test_epub_package_path_with_escapes() -> None:
    package = _EPUB3.format(metas='<meta property="tdm:reservation">1</meta>')
    body = _epub(package, package_path="OEBPS/my book.opf").replace(
        b'my book.opf"', b'my%20book.opf"'
    )
    value = document_value(body, "application/epub+zip", source=PAGE_URL)
    assert value is not None and value.reservation == 1


def test_epub_oversized_package_is_not_inflated() -> None:
    # 64 MiB of white space deflates to a few dozen KiB: a small zip bomb.
    package = _EPUB3.format(metas='<meta property="tdm:reservation">1</meta>' + " " * (64 << 20))
    assert document_value(_epub(package), None, source=PAGE_URL) is None


@pytest.mark.parametrize(
    "body",
    [
        b"PK\x03\x04" + b"\x00" * 100,
        b"PK\x03\x04\x14\x00\x00\x00\x00\x00mimetypeapplication/epub+zip",
        b"%PDF-1.7\n<rdf:RDF xmlns:tdm='http://www.w3.org/ns/tdmrep/'><tdm:reservation>",
        b"%PDF-1.7\n<rdf:RDF xmlns:tdm='http://www.w3.org/ns/tdmrep/'<<<<>>>>",
        b"%PDF-1.7\n" + b"<" * 10_000 + b"ns/tdmrep",
        b"",
        b"<html></html>",
    ],
)
def test_broken_documents_give_no_reservation(body: bytes) -> None:
    for content_type in ("application/epub+zip", "application/pdf", None):
        value = document_value(body, content_type, source=PAGE_URL)
        assert value is None or value.reservation is None


def test_pdf_attribute_form_and_custom_prefix() -> None:
    xmp = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:t="http://www.w3.org/ns/tdmrep/" '
        't:reservation="1" t:policy="https://p.example/policy.json"/></rdf:RDF>'
    )
    value = document_value(_pdf(xmp), None, source=PAGE_URL)
    assert value is not None
    assert (value.reservation, value.policy, value.rule) == (
        1,
        "https://p.example/policy.json",
        't:reservation="1"',
    )


def test_pdf_unquoted_slash_namespace_on_a_self_closing_tag() -> None:
    xmp = (
        "<rdf:RDF><rdf:Description xmlns:tdm=http://www.w3.org/ns/tdmrep/ "
        "tdm:reservation=1 xmlns:tdm2=http://www.w3.org/ns/tdmrep/></rdf:RDF>"
    )
    value = document_value(_pdf(xmp), None, source=PAGE_URL)
    assert value is not None and value.reservation == 1


def test_pdf_without_tdmrep_namespace_gives_nothing() -> None:
    xmp = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tdm="http://example.com/other/">'
        "<tdm:reservation>1</tdm:reservation></rdf:Description></rdf:RDF>"
    )
    assert document_value(_pdf(xmp), "application/pdf", source=PAGE_URL) is None


def test_pdf_packet_at_the_end_of_a_large_file_is_found() -> None:
    xmp = (
        '<rdf:RDF><rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/">'
        "<tdm:reservation>0</tdm:reservation></rdf:Description></rdf:RDF>"
    )
    body = b"%PDF-1.7\n" + b"\x00stream data " * 1_000_000 + _pdf(xmp)
    value = document_value(body, "application/pdf", source=PAGE_URL)
    assert value is not None and value.reservation == 0


def test_other_documents_give_nothing() -> None:
    assert (
        document_value(
            b"<html><meta name=tdm-reservation content=1></html>", "text/html", source=PAGE_URL
        )
        is None
    )


# -- robustness ------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["location", "tdm-reservation", "tdm-policy", "x"])
            | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@_NO_DEADLINE
@given(_json_values, st.text(max_size=20))
def test_any_json_parses_without_raising(document: Any, path: str) -> None:
    parsed = TdmrepFile.parse(json.dumps(document).encode())
    value = parsed.lookup(path, source=FILE_URL)
    assert value is None or value.reservation in (None, 0, 1)
    assert isinstance(findings(value, file_error=parsed.error), list)


@_NO_DEADLINE
@given(st.binary(max_size=300), st.sampled_from([None, "text/html", "application/json"]))
def test_any_bytes_parse_without_raising(body: bytes, content_type: str | None) -> None:
    parsed = TdmrepFile.parse(body, content_type=content_type)
    assert parsed.error is not None or isinstance(parsed.rules, tuple)


@settings(deadline=None, max_examples=200)
@given(
    st.binary(max_size=400),
    st.sampled_from(
        [b"", b"PK\x03\x04", b'%PDF-1.4\n<rdf:RDF xmlns:tdm="http://www.w3.org/ns/tdmrep/">']
    ),
    st.sampled_from([None, "application/pdf", "application/epub+zip"]),
)
def test_any_document_bytes_without_raising(
    body: bytes, prefix: bytes, content_type: str | None
) -> None:
    value = document_value(prefix + body, content_type, source=PAGE_URL)
    assert value is None or value.reservation in (None, 0, 1)


@_NO_DEADLINE
@given(
    st.dictionaries(
        st.sampled_from(["tdm-reservation", "TDM-Policy", "x"]),
        st.lists(st.text(max_size=6), max_size=3),
    )
)
def test_any_headers_without_raising(headers: dict[str, list[str]]) -> None:
    value = header_value(headers, source=PAGE_URL)
    assert value is None or value.reservation in (None, 0, 1)
