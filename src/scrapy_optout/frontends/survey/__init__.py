"""Prevalence surveys of AI-training and TDM opt-outs.

Point the crawler's evaluators at a list of sites, or at stored captures, and
get one record per site (``results.jsonl``), prevalence figures
(``summary.json``) and a self-contained report with charts (``report.html``).

* :func:`run_survey` - a live survey through Scrapy (the ``survey`` spider);
* :func:`survey_captures` - the same from JSON Lines or WARC captures;
* :func:`read_sites`, :func:`build_record`, :func:`summarise`,
  :func:`survey_report` - the pieces, for custom pipelines.

The walkthrough, and every field of the outputs, is in ``docs/survey.md``.
"""

from __future__ import annotations

from scrapy_optout.frontends.survey.captures import read_captures, survey_captures
from scrapy_optout.frontends.survey.crawl import run_survey
from scrapy_optout.frontends.survey.inputs import SiteLine, read_sites
from scrapy_optout.frontends.survey.record import build_record
from scrapy_optout.frontends.survey.report_html import survey_report
from scrapy_optout.frontends.survey.results import finish, read_records
from scrapy_optout.frontends.survey.summary import summarise

__all__ = [
    "SiteLine",
    "build_record",
    "finish",
    "read_captures",
    "read_records",
    "read_sites",
    "run_survey",
    "summarise",
    "survey_captures",
    "survey_report",
]
