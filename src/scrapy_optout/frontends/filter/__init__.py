"""The dataset filter: ``optout filter`` and the compliance manifest.

Existing corpora (JSON Lines, Parquet, WARC) are filtered by the opt-outs in
force for their records' origins, with the same evaluators as a crawl; every
removal is a ledger line and every kept record carries its provenance.
"""

from scrapy_optout.frontends.filter.decide import Decision, decide_record, provenance
from scrapy_optout.frontends.filter.run import filter_dataset

__all__ = ["Decision", "decide_record", "filter_dataset", "provenance"]
