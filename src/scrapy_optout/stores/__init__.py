"""Where decisions and their evidence are kept: policy snapshots, the ledger.

* :mod:`~scrapy_optout.stores.base` - the ``PolicyStore`` interface;
* :mod:`~scrapy_optout.stores.memory` - the in-memory store (LRU, TTL),
  with :mod:`~scrapy_optout.stores.coldstore` for the snapshots not in use;
* :mod:`~scrapy_optout.stores.redis` - the store every process of a crawl
  shares through Redis (needs the ``redis`` package);
* :mod:`~scrapy_optout.stores.ledger` - the ledger and its evidence store.

Nothing here imports Scrapy.
"""
