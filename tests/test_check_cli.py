"""``optout check`` against every fixture site, through ``main(argv)``."""

from __future__ import annotations

import json

import pytest
from examples.farm import load_manifests

from helpers import SITES
from scrapy_optout.cli import main
from scrapy_optout.verdict import Purpose

MANIFESTS = load_manifests(SITES)

CASES = [
    pytest.param(name, path, purpose, expected, id=f"{name}{path}-{purpose}")
    for name, manifest in sorted(MANIFESTS.items())
    for path, expected in sorted(manifest.expect.urls.items())
    for purpose in sorted(expected.verdicts)
]


def _registry(farm, scenario):
    """``--registry FILE`` when the scenario's verdicts assume the farm registry."""
    registry = farm.registry(scenario)
    return ["--registry", str(registry)] if registry is not None else []


@pytest.mark.parametrize(("scenario", "path", "purpose", "expected"), CASES)
def test_check_matches_expectation(farm, capsys, scenario, path, purpose, expected):
    manifest = MANIFESTS[scenario]
    code = main(
        [
            "check",
            farm.url(scenario, path),
            "--purpose",
            str(purpose),
            "--user-agent",
            manifest.expect.user_agent,
            "--json",
            *_registry(farm, scenario),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    want = expected.verdicts[purpose]
    assert out["verdict"] == want, out
    assert code == (1 if want == "reserved" else 0)
    assert out["purpose"] == str(purpose)
    assert out["url"] == farm.url(scenario, path)
    if want == "reserved" and expected.signal is not None:
        assert str(expected.signal) in {r["signal"] for r in out["reasons"]}, out["reasons"]
    for reason in out["reasons"]:
        assert set(reason) == {"signal", "where", "rule", "source"}
    if want == "allowed":
        assert out["reasons"] == []


def test_images_checked_on_their_own(farm, capsys):
    """Images whose reservation comes from their own URL or headers, not a page."""
    checked = 0
    for name, manifest in sorted(MANIFESTS.items()):
        for path, expected in manifest.expect.images.items():
            if expected.from_page or "{origin:" in path:
                continue
            for purpose in expected.verdicts:
                code = main(
                    [
                        "check",
                        farm.url(name, path),
                        "--purpose",
                        str(purpose),
                        "--json",
                        "--user-agent",
                        manifest.expect.user_agent,
                        *_registry(farm, name),
                    ]
                )
                out = json.loads(capsys.readouterr().out)
                assert out["verdict"] == expected.verdicts[purpose], (name, path, out)
                assert code in (0, 1)
                checked += 1
    assert checked > 0


def test_text_output_explains(farm, capsys):
    code = main(
        ["check", farm.url("robots-ai-groups", "/index.html"), "--user-agent", "optout-test/1.0"]
    )
    text = capsys.readouterr().out
    assert code == 1
    assert "RESERVED for purpose train" in text
    assert "robots.txt" in text
    assert "sha256" in text


def test_json_shape(farm, capsys):
    main(["check", farm.url("open", "/"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert {"url", "purpose", "verdict", "reasons", "findings"} <= set(out)
    assert out["purpose"] == "train"
    assert out["verdict"] == "allowed"
    assert len(out["evidence"]) == 3
    for ev in out["evidence"]:
        assert {"source", "status", "sha256", "fetched_at"} <= set(ev)


@pytest.mark.parametrize("argv", [["check"], ["check", "ftp://example.invalid/x"], ["nope"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2


def test_unreachable_url_exits_2(capsys):
    # A port nobody listens on: bind, read the port, close, then use it.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["check", f"http://127.0.0.1:{port}/", "--timeout", "2"])
    assert code == 2
    assert "cannot reach" in capsys.readouterr().err


def test_every_purpose_is_accepted(farm, capsys):
    for purpose in Purpose:
        assert main(["check", farm.url("open", "/"), "--purpose", str(purpose)]) == 0
        capsys.readouterr()
