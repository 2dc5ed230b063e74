"""Policy snapshots frozen out of memory come back as they went.

The policy store keeps the most recently used snapshots parsed and freezes the
others in a :class:`~scrapy_optout.stores.coldstore.ColdStore`; a frozen snapshot is
parsed again when its origin is next asked about. Decisions, evidence and
every attribute of the snapshot must be the same either way.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

from scrapy import Spider
from scrapy.utils.test import get_crawler

from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import RSL_LICENCE, Licence, OriginPolicy, PolicyFile
from scrapy_optout.protocols.registry import Registry
from scrapy_optout.scrapy.runtime import OptOutCore
from scrapy_optout.stores.coldstore import ColdStore

CORPUS = Path(__file__).parent.parent / "fixtures/corpora/protego-robotstxt-2019/robotstxt.jsonl.gz"
URLS = ("/", "/search?q=x", "/wp-admin/a.php", "/private/", "/images/a.jpg", "/robots.txt")


def _bodies(step: int = 40) -> list[bytes]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle][::step]
    return [
        r["body"].encode() if r["body"] is not None else base64.b64decode(r["body_base64"])
        for r in records
    ]


def _policy(index: int, body: bytes) -> OriginPolicy:
    host = f"https://site{index}.example"
    # Every third ai.txt is an HTML page: the snapshot then notes a problem.
    aitxt = (
        (b"<!doctype html><html><body>Not here</body></html>", "text/html")
        if index % 3 == 0
        else (b"User-Agent: *\nDisallow: *.jpg\n", "text/plain")
    )
    return OriginPolicy(
        f"{host}:443",
        PolicyFile("robots.txt", host + "/robots.txt", 200, body, content_type="text/plain"),
        PolicyFile("ai.txt", host + "/ai.txt", 200, aitxt[0], content_type=aitxt[1]),
        PolicyFile(
            "tdmrep.json",
            host + "/.well-known/tdmrep.json",
            404,
            b"<h1>Not found</h1>",
            content_type="text/html",
        ),
    )


def _decisions(evaluator: Evaluator, policy: OriginPolicy) -> list[Any]:
    out = []
    for path in URLS:
        assessment = evaluator.origin_stage(policy, policy.origin.rsplit(":", 1)[0] + path)
        out.append(
            (
                [f.to_dict() for f in assessment.all_findings],
                assessment.evidence,
                assessment.verdict("train").reserved,
            )
        )
    return out


def _plain_state(policy: OriginPolicy) -> dict[str, Any]:
    state = {name: getattr(policy, name) for name in OriginPolicy.__slots__}
    state["licences"] = [licence.file for licence in policy.licences]  # parsed again on use
    return {k: v for k, v in state.items() if k not in OriginPolicy.DERIVED}


def test_thawed_snapshot_decides_as_the_frozen_one() -> None:
    evaluator = Evaluator("benchbot/1.0")
    cold = ColdStore()
    for index, body in enumerate(_bodies()):
        policy = _policy(index, body)
        before = _decisions(evaluator, policy)
        ref = cold.freeze(policy)
        assert ref is not None
        thawed = cold.thaw(ref)
        assert _plain_state(thawed) == _plain_state(policy)
        assert thawed.created_at == policy.created_at
        assert _decisions(evaluator, thawed) == before
        cold.release(ref)
    assert len(cold) == 0 and cold.file_bytes == 0


def test_licences_and_kept_headers_survive_a_freeze() -> None:
    host = "https://licensed.example"
    robots_file = PolicyFile(
        "robots.txt",
        host + "/robots.txt",
        200,
        b"User-agent: *\nAllow: /\nLicense: /licence.xml\n",
        content_type="text/plain",
    )
    answered = PolicyFile(
        "robots.txt",
        host + "/robots.txt",
        402,
        b"",
        headers=(("crawler-price", "USD 0.01"), ("www-authenticate", 'License realm="x"')),
    )
    licence = Licence(
        PolicyFile(
            RSL_LICENCE,
            host + "/licence.xml",
            200,
            b'<rsl xmlns="https://rslstandard.org/rsl"><content url="/private/"><license>'
            b'<prohibits type="usage">ai-train</prohibits></license></content></rsl>',
            content_type="application/rsl+xml",
        )
    )
    registry = Registry()
    registry.load(b'{"url": "https://licensed.example/images/"}', source="r.jsonl")
    evaluators = (
        Evaluator("benchbot/1.0"),
        Evaluator("benchbot/1.0", registries=Registries(registry, sources=["r.jsonl"])),
    )
    cold = ColdStore()
    for robots_file_ in (robots_file, answered):
        policy = OriginPolicy(f"{host}:443", robots_file_, licences=(licence,))
        before = [_decisions(evaluator, policy) for evaluator in evaluators]
        ref = cold.freeze(policy)
        assert ref is not None
        thawed = cold.thaw(ref)
        assert _plain_state(thawed) == _plain_state(policy)
        assert thawed.plans == ()  # plans are made again, never stored
        assert thawed.robots_file.headers == robots_file_.headers
        assert [f.url for f in thawed.files] == [host + "/robots.txt", host + "/licence.xml"]
        assert thawed.evidence() == policy.evidence()
        assert [_decisions(evaluator, thawed) for evaluator in evaluators] == before
    cold.close()


class _Holder:
    def __init__(self, frozen: int | None) -> None:
        self.frozen = frozen


def test_compaction_keeps_live_records() -> None:
    cold = ColdStore()
    policies = [_policy(i, body) for i, body in enumerate(_bodies(200))]
    holders = [_Holder(cold.freeze(p)) for p in policies]
    for holder in holders[::2]:
        assert holder.frozen is not None
        cold.release(holder.frozen)
        holder.frozen = None
    size = cold.file_bytes
    cold.compact(holders)
    assert cold.file_bytes < size
    for holder, policy in zip(holders, policies, strict=True):
        if holder.frozen is not None:
            assert _plain_state(cold.thaw(holder.frozen)) == _plain_state(policy)


def test_store_freezes_beyond_its_hot_size_and_reads_back(tmp_path: Path) -> None:
    crawler = get_crawler(
        Spider,
        {"OPTOUT_CACHE_SIZE": 50, "OPTOUT_LEDGER": str(tmp_path / "ledger.jsonl")},
    )
    core = OptOutCore.for_crawler(crawler)
    store = core.store
    store.hot_size = 8
    bodies = _bodies(60)
    expected = {}
    for index, body in enumerate(bodies):
        policy = _policy(index, body)
        expected[policy.origin] = _decisions(core.evaluator, policy)
        store.put(policy)
    assert len(store) == min(50, len(bodies))
    assert len(store._hot) <= 8
    # Every cached origin, frozen or not, decides as before; reading one back
    # freezes another, so the hot set stays bounded.
    for origin in list(store._cache):
        policy = store.cached(origin)
        assert policy is not None
        assert _decisions(core.evaluator, policy) == expected[origin]
        assert len(store._hot) <= 8
    # Evicted and expired entries give their frozen records back.
    assert len(store._cold) == len(store) - len(store._hot)
