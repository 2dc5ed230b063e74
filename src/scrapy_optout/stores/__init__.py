"""Where decisions and their evidence are kept: policy snapshots, the ledger.

Nothing here imports Scrapy.
"""
