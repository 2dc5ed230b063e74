"""Scrapy signals sent by scrapy-optout.

Connect to them like any Scrapy signal::

    crawler.signals.connect(handler, signal=scrapy_optout.content_excluded)
"""

#: Sent once for every exclusion, after its ledger line is written and before
#: the request is ignored or the item dropped. Arguments: ``record`` (the ledger
#: record, a dict), ``request`` (the :class:`~scrapy.Request`, or ``None`` at the
#: item stage) and ``item`` (the item, or ``None`` before the item stage).
content_excluded = object()
