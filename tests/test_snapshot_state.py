"""What a store keeps of a policy file comes back whole, the kept headers included."""

from __future__ import annotations

from pathlib import Path

from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.stores.folder import SnapshotFolder

ORIGIN = "https://pay.example:443"


def _policy() -> OriginPolicy:
    robots = PolicyFile(
        "robots.txt",
        "https://pay.example/robots.txt",
        402,
        b"payment required",
        headers=(("crawler-price", "USD 0.01"), ("www-authenticate", 'License realm="x"')),
    )
    return OriginPolicy(ORIGIN, robots)


def test_state_names_every_stored_field_and_the_headers() -> None:
    state = _policy().robots_file.state()
    assert state["status"] == 402
    assert state["headers"] == [
        ["crawler-price", "USD 0.01"],
        ["www-authenticate", 'License realm="x"'],
    ]
    assert PolicyFile.kept_headers(state) == _policy().robots_file.headers
    assert PolicyFile.kept_headers({"headers": [["a"], [1, "b"], "x"]}) == ()


def test_a_snapshot_folder_keeps_the_headers(tmp_path: Path) -> None:
    folder = SnapshotFolder(tmp_path)
    policy = _policy()  # one fetch time: evidence() names it
    folder.put(policy)
    restored = folder.get(ORIGIN)
    assert restored is not None
    assert restored.robots_file.headers == policy.robots_file.headers
    assert restored.robots_file.evidence() == policy.robots_file.evidence()
