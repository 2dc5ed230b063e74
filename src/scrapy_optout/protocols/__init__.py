"""One pure module per opt-out protocol: bytes and headers in, findings out.

Nothing here performs I/O or imports Scrapy.
"""
