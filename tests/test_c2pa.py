"""C2PA / CAWG training-mining assertions: manifest stores in every container, hostile input."""

from __future__ import annotations

import contextlib
import datetime
import io
import math
import struct
import time
from typing import Any

import c2pa as c2pa_library
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mediafiles as mf
from scrapy_optout.protocols import c2pa, cbor
from scrapy_optout.protocols.c2pa import c2pa_findings, training_assertions
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

SRC = "https://media.example/a"
NOT_ALLOWED = {"cawg.ai_generative_training": {"use": "notAllowed"}}


def by_rule(findings: list[Finding]) -> dict[str, Finding]:
    return {f.rule: f for f in findings}


# -- every container ---------------------------------------------------------------------------

STORE = mf.training(NOT_ALLOWED)
CONTAINERS = {
    "jpeg": lambda s: mf.jpeg(*mf.jpeg_app11(s)),
    "jpeg-many-packets": lambda s: mf.jpeg(*mf.jpeg_app11(s + b"\x00" * 300, piece=97)),
    "png": lambda s: mf.png(mf.chunk(b"caBX", s)),
    "webp": lambda s: mf.webp(mf.riff_chunk(b"C2PA", s)),
    "tiff": lambda s: _tiff_with_tag(s),
    "mp4": lambda s: mf.mp4(mf.mp4_c2pa(s)),
    "sidecar": lambda s: s,
    "pdf": lambda s: mf.pdf(b"<x:xmpmeta/>") + b"\n% embedded\n" + s,
}


def _tiff_with_tag(store: bytes) -> bytes:
    body = bytearray(mf.tiff(None))
    # Append a second directory holding tag 52545 and chain it from the first.
    ifd0_count = struct.unpack_from("<H", body, 8)[0]
    next_at = 8 + 2 + 12 * ifd0_count
    ifd1 = len(body)
    struct.pack_into("<I", body, next_at, ifd1)
    data_at = ifd1 + 2 + 12 + 4
    body += struct.pack("<H", 1) + struct.pack("<HHII", 0xCD41, 7, len(store), data_at)
    body += struct.pack("<I", 0) + store
    return bytes(body)


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_container_carries_the_assertion(name: str) -> None:
    findings = c2pa_findings(CONTAINERS[name](STORE), source=SRC, content_type=None)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.signal is Signal.C2PA and finding.where is Where.META
    assert finding.stance is Stance.RESERVE and finding.purposes == {Purpose.TRAIN}
    assert finding.rule == "cawg.training-mining: cawg.ai_generative_training=notAllowed"
    assert "validation: not performed" in finding.detail
    assert "urn:c2pa:test" in finding.detail
    assert decide(findings, "train").reserved and not decide(findings, "input").reserved


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_a_manifest_without_the_assertion_is_no_signal(name: str) -> None:
    other = mf.store(mf.manifest("urn:c2pa:x", mf.assertion("c2pa.actions", {"actions": []})))
    assert c2pa_findings(CONTAINERS[name](other), source=SRC) == []


def test_no_manifest_is_no_signal() -> None:
    for body in (mf.jpeg(), mf.png(), mf.webp(), mf.mp4(), mf.tiff(None), b"", b"plain"):
        assert c2pa_findings(body, source=SRC) == []


# -- labels, shapes, uses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "read"),
    [
        ("cawg.training-mining", True),
        ("c2pa.training-mining", True),
        ("c2pa.training-mining.v2", True),
        ("cawg.training-mining__1", True),
        ("cawg.training-mining.v1__2", True),
        ("c2pa.training-mining-extra", False),
        ("c2pa.actions", False),
        ("stds.schema-org.CreativeWork", False),
    ],
)
def test_labels(label: str, read: bool) -> None:
    body = mf.png(mf.chunk(b"caBX", mf.training(NOT_ALLOWED, label=label)))
    assert bool(c2pa_findings(body, source=SRC)) is read


ALL = frozenset({Purpose.TDM, Purpose.TRAIN, Purpose.INPUT})


@pytest.mark.parametrize(
    ("key", "use", "stance", "purposes"),
    [
        ("cawg.ai_generative_training", "notAllowed", Stance.RESERVE, {Purpose.TRAIN}),
        ("cawg.ai_training", "constrained", Stance.RESERVE, {Purpose.TRAIN}),
        ("cawg.ai_inference", "notAllowed", Stance.RESERVE, {Purpose.INPUT}),
        ("cawg.data_mining", "notAllowed", Stance.RESERVE, ALL),
        ("c2pa.ai_training", "notAllowed", Stance.RESERVE, {Purpose.TRAIN}),
        ("c2pa.data_mining", "allowed", Stance.ALLOW, ALL),
        ("cawg.ai_training", "maybe", Stance.UNKNOWN, {Purpose.TRAIN}),
        ("cawg.ai_training", 7, Stance.UNKNOWN, {Purpose.TRAIN}),
        ("com.example.custom_use", "notAllowed", Stance.UNKNOWN, frozenset()),
    ],
)
def test_entry_uses(key: str, use: Any, stance: Stance, purposes: frozenset[Purpose]) -> None:
    finding = c2pa_findings(mf.training({key: {"use": use}}), source=SRC)[0]
    assert (finding.stance, finding.purposes) == (stance, purposes)


def test_generative_forbidden_classifier_allowed() -> None:
    # Edge case (1) of the digest.
    findings = c2pa_findings(
        mf.training(
            {
                "cawg.ai_generative_training": {"use": "notAllowed"},
                "cawg.ai_training": {"use": "allowed"},
            }
        ),
        source=SRC,
    )
    rules = by_rule(findings)
    assert (
        rules["cawg.training-mining: cawg.ai_generative_training=notAllowed"].stance
        is Stance.RESERVE
    )
    assert rules["cawg.training-mining: cawg.ai_training=allowed"].stance is Stance.ALLOW
    assert decide(findings, "train").reserved  # any reservation wins


def test_constraint_info_in_both_spellings() -> None:
    for spelling in ("constraint_info", "constraints_info"):
        entry = {"use": "constrained", spelling: "licence at https://licence.example"}
        finding = c2pa_findings(mf.training({"cawg.ai_training": entry}), source=SRC)[0]
        assert finding.stance is Stance.RESERVE
        assert "constraint_info: licence at https://licence.example" in finding.detail
        assert "constrained counts as notAllowed" in finding.detail


def test_older_shape_without_entries() -> None:
    body = mf.store(
        mf.manifest(
            "urn:c2pa:old",
            mf.assertion("c2pa.training-mining", {"c2pa.ai_training": {"use": "notAllowed"}}),
        )
    )
    finding = c2pa_findings(body, source=SRC)[0]
    assert finding.rule == "c2pa.training-mining: c2pa.ai_training=notAllowed"
    assert finding.stance is Stance.RESERVE


def test_json_assertion() -> None:
    body = mf.store(
        mf.manifest(
            "urn:c2pa:json",
            mf.json_assertion(
                "cawg.training-mining",
                b'{"entries": {"cawg.ai_inference": {"use": "notAllowed"}}}',
            ),
        )
    )
    finding = c2pa_findings(body, source=SRC)[0]
    assert finding.stance is Stance.RESERVE and finding.purposes == {Purpose.INPUT}


def test_empty_assertion_is_unknown() -> None:
    finding = c2pa_findings(mf.training({}), source=SRC)[0]
    assert finding.stance is Stance.UNKNOWN and "no entries" in finding.detail


def test_ingredient_manifest_is_read_and_named() -> None:
    body = mf.store(
        mf.manifest(
            "urn:c2pa:ingredient", mf.assertion("cawg.training-mining", {"entries": NOT_ALLOWED})
        ),
        mf.manifest("urn:c2pa:active", mf.assertion("c2pa.actions", {"actions": []})),
    )
    (assertion,) = training_assertions(body)
    assert assertion.manifest == "urn:c2pa:ingredient" and not assertion.active
    finding = c2pa_findings(body, source=SRC)[0]
    assert finding.stance is Stance.RESERVE
    assert "not the active manifest" in finding.detail


def test_update_manifest_is_read() -> None:
    body = mf.store(
        mf.manifest(
            "urn:c2pa:update",
            mf.assertion("cawg.training-mining", {"entries": NOT_ALLOWED}),
            kind=b"c2um",
        )
    )
    (assertion,) = training_assertions(body)
    assert assertion.active and assertion.manifest == "urn:c2pa:update"


def test_two_jpeg_box_instances() -> None:
    first = mf.training({"cawg.ai_training": {"use": "allowed"}})
    second = mf.training({"cawg.ai_inference": {"use": "notAllowed"}})
    body = mf.jpeg(*mf.jpeg_app11(first, instance=1), *mf.jpeg_app11(second, instance=2))
    stances = sorted(str(f.stance) for f in c2pa_findings(body, source=SRC))
    assert stances == ["allow", "reserve"]


# -- broken and hostile ----------------------------------------------------------------------------


def test_broken_cbor_errs_toward_the_reservation() -> None:
    # The outer map declares two pairs and holds one.
    raw = b"\xa2" + mf.cbor({"entries": {"cawg.ai_inference": {"use": "notAllowed"}}})[1:]
    body = mf.store(mf.manifest("urn:c2pa:b", mf.assertion("cawg.training-mining", None, raw=raw)))
    finding = c2pa_findings(body, source=SRC)[0]
    assert finding.stance is Stance.RESERVE and finding.purposes == {Purpose.INPUT}
    assert "the assertion is broken" in finding.detail


def test_broken_cbor_without_a_prohibition_is_unknown() -> None:
    body = mf.store(
        mf.manifest("urn:c2pa:b", mf.assertion("cawg.training-mining", None, raw=b"\x1c"))
    )
    finding = c2pa_findings(body, source=SRC)[0]
    assert finding.stance is Stance.UNKNOWN and finding.purposes == ALL


def test_deep_cbor_nesting_is_refused() -> None:
    deep = b"\x81" * 100_000 + b"\x00"
    with pytest.raises(cbor.CborError, match="nested deeper"):
        cbor.loads(deep)
    body = mf.store(
        mf.manifest("urn:c2pa:deep", mf.assertion("cawg.training-mining", None, raw=deep))
    )
    assert c2pa_findings(body, source=SRC)[0].stance is Stance.UNKNOWN


@pytest.mark.parametrize(
    "data",
    [
        b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",  # a byte string of 2**64 - 1 bytes
        b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",  # an array of 2**32 items
        b"\xbb\x7f\xff\xff\xff\xff\xff\xff\xff",  # a map of 2**63 - 1 pairs
        b"\x1c",  # reserved additional information
        b"\xff",  # a lone break
        b"\x5f\x61a\xff",  # a text chunk inside an indefinite byte string
        b"\xa1\x81\x00\x00",  # an array as a map key
        b"\xf8",  # simple value without its byte
        b"",
    ],
)
def test_cbor_refuses_hostile_items(data: bytes) -> None:
    with pytest.raises(cbor.CborError):
        cbor.loads(data)


def test_cbor_item_budget() -> None:
    with pytest.raises(cbor.CborError, match="more than 10 items"):
        cbor.loads(mf.cbor(list(range(20))), max_items=10)


def test_cbor_decodes_what_the_encoder_wrote() -> None:
    value = {
        "entries": {"cawg.ai_training": {"use": "notAllowed", "n": -300, "big": 2**40}},
        "bytes": b"\x00\x01",
        "list": [True, False, None, 1.5, "é"],
    }
    assert cbor.loads(mf.cbor(value)) == value


def test_cbor_indefinite_lengths_tags_and_floats() -> None:
    assert cbor.loads(b"\x9f\x01\x02\xff") == [1, 2]
    assert cbor.loads(b"\xbf\x61a\x01\xff") == {"a": 1}
    assert cbor.loads(b"\x7f\x62ab\x61c\xff") == "abc"
    assert cbor.loads(b"\x5f\x41a\x41b\xff") == b"ab"
    assert cbor.loads(b"\xc0\x64date") == "date"  # the tag is dropped
    assert cbor.loads(b"\xf9\x3c\x00") == 1.0
    assert cbor.loads(b"\xfa\x3f\x80\x00\x00") == 1.0
    assert math.isnan(cbor.loads(b"\xf9\x7e\x00"))
    assert cbor.loads(b"\xf7") is None  # undefined
    assert cbor.loads(b"\x63\xff\xfe\x61") == "\ufffd\ufffda"  # not UTF-8: replaced


def test_lying_jumbf_lengths_never_raise() -> None:
    whole = mf.training(NOT_ALLOWED)
    for cut in range(0, len(whole), 7):
        findings = c2pa_findings(whole[:cut], source=SRC)
        assert all(f.signal is Signal.C2PA for f in findings)
    lying = bytearray(whole)
    struct.pack_into(">I", lying, 0, 0xFFFFFFFF)
    assert c2pa_findings(bytes(lying), source=SRC)[0].stance is Stance.RESERVE
    struct.pack_into(">I", lying, 8, 3)  # a description box shorter than its header
    assert c2pa_findings(bytes(lying), source=SRC) == []


def test_truncated_app11_packets_never_raise() -> None:
    body = mf.jpeg(*mf.jpeg_app11(mf.training(NOT_ALLOWED), piece=50))
    for cut in range(0, len(body), 11):
        c2pa_findings(body[:cut], source=SRC)
    # A missing middle packet: what is left does not decode into the assertion.
    segments = mf.jpeg_app11(mf.training(NOT_ALLOWED), piece=50)
    assert c2pa_findings(mf.jpeg(*segments[:2], *segments[3:]), source=SRC) == []


def test_a_hundred_thousand_boxes_are_bounded() -> None:
    filler = mf.box(b"free", b"") * 100_000
    body = mf.jumb(
        b"c2pa",
        "c2pa",
        filler,
        mf.manifest(
            "urn:c2pa:late", mf.assertion("cawg.training-mining", {"entries": NOT_ALLOWED})
        ),
    )
    started = time.perf_counter()
    assert c2pa_findings(body, source=SRC) == []  # past the box budget: not reached
    assert time.perf_counter() - started < 5
    many = b"".join(
        mf.segment(0xEB, b"JP\x00\x01" + struct.pack(">I", n) + b"x") for n in range(20_000)
    )
    started = time.perf_counter()
    assert c2pa_findings(mf.jpeg(many), source=SRC) == []
    assert time.perf_counter() - started < 5


def test_the_box_budget_is_shared_by_the_whole_store() -> None:
    filler = mf.box(b"free", b"") * 3000
    crowded = [mf.manifest(f"urn:c2pa:{n}", filler) for n in range(50)]
    body = mf.store(
        *crowded,
        mf.manifest(
            "urn:c2pa:last", mf.assertion("cawg.training-mining", {"entries": NOT_ALLOWED})
        ),
    )
    started = time.perf_counter()
    assert c2pa_findings(body, source=SRC) == []  # past the budget of 4,096 boxes
    assert time.perf_counter() - started < 5


def test_strict_about_argument_types() -> None:
    with pytest.raises(TypeError):
        c2pa_findings(bytearray(b""), source=SRC)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c2pa_findings(b"", source=b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cbor.loads("text")  # type: ignore[arg-type]


# -- files signed by the C2PA reference implementation ---------------------------------------------


@pytest.fixture(scope="module")
def signer() -> c2pa_library.Signer:
    """A throwaway certificate chain (test CA and signer), made here, never trusted anywhere."""

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scrapy-optout tests"),
            ]
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(name("Test CA"), name("Test CA"), ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(name("Test signer"), ca.subject, key.public_key(), ca_key, ca=False)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    info = c2pa_library.C2paSignerInfo(c2pa_library.C2paSigningAlg.ES256, chain, pem, None)
    return c2pa_library.Signer.from_info(info)


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    """A certificate with the extensions the C2PA trust profile asks of a CA or a signer."""
    now = datetime.datetime.now(datetime.UTC)
    usage = [False] * 9
    usage[5:7] = [ca, ca]  # key_cert_sign, crl_sign
    usage[0] = not ca  # digital_signature
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(*usage), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _sign(signer: c2pa_library.Signer, mime: str, asset: bytes, label: str) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "scrapy-optout tests", "version": "1"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            },
            {
                "label": label,
                "data": {
                    "entries": {
                        f"{label[:4]}.ai_generative_training": {"use": "notAllowed"},
                        f"{label[:4]}.ai_training": {
                            "use": "constrained",
                            "constraint_info": "https://licence.example",
                        },
                        f"{label[:4]}.data_mining": {"use": "allowed"},
                    }
                },
            },
        ],
    }
    builder = c2pa_library.Builder(manifest)
    out = io.BytesIO()
    builder.sign(signer, mime, io.BytesIO(asset), out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mime", "asset"), [("image/jpeg", mf.jpeg()), ("image/png", mf.png())], ids=["jpeg", "png"]
)
@pytest.mark.parametrize("label", ["cawg.training-mining", "c2pa.training-mining"])
def test_files_signed_by_the_reference_implementation(
    signer: c2pa_library.Signer, mime: str, asset: bytes, label: str
) -> None:
    signed = _sign(signer, mime, asset, label)
    # The reference reader sees the assertion this reader is about to read.
    reference = c2pa_library.Reader(mime, io.BytesIO(signed)).json()
    assert label in reference
    rules = by_rule(c2pa_findings(signed, source=SRC, content_type=mime))
    prefix = label[:4]
    assert rules[f"{label}: {prefix}.ai_generative_training=notAllowed"].stance is Stance.RESERVE
    constrained = rules[f"{label}: {prefix}.ai_training=constrained"]
    assert constrained.stance is Stance.RESERVE
    assert "constraint_info: https://licence.example" in constrained.detail
    assert rules[f"{label}: {prefix}.data_mining=allowed"].stance is Stance.ALLOW
    assert len(rules) == 3
    assert all("validation: not performed" in f.detail for f in rules.values())


# -- fuzz ------------------------------------------------------------------------------------------

SEEDS = [build(STORE) for build in CONTAINERS.values()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mf.mutations(SEEDS), st.binary(max_size=2048)))
def test_fuzz_never_raises(body: bytes) -> None:
    for finding in c2pa.c2pa_findings(body, source=SRC):
        assert finding.signal is Signal.C2PA and finding.where is Where.META
        assert "validation: not performed" in finding.detail or len(finding.detail) == 300


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_cbor_raises_only_its_error(data: bytes) -> None:
    with contextlib.suppress(cbor.CborError):
        cbor.loads(data)
