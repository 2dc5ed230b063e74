"""Scrapy project settings for the ``survey`` spider.

The top-level ``scrapy.cfg`` points here, so ``scrapy crawl survey`` works from
a checkout, and ``optout survey`` starts from the same values. The defaults are
polite: four requests per site, at most two at a time per origin, one retry,
a 20 s timeout and capped bodies.
"""

BOT_NAME = "scrapy-optout-survey"

SPIDER_MODULES = ["scrapy_optout.frontends.survey.spider"]
NEWSPIDER_MODULE = "scrapy_optout.frontends.survey.spider"

USER_AGENT = "scrapy-optout-survey/0.1 (+https://github.com/scrapy-optout/scrapy-optout)"

# The policy files are what is being surveyed, so Scrapy must not read
# robots.txt on its own (nor refuse a request because of it).
ROBOTSTXT_OBEY = False

# Politeness, per origin: the spider makes every origin its own download slot,
# and a site gets four small requests in all, at most two at a time; a site that
# answers slowly is waited for, not queued behind. Across sites, the requests in
# flight are what a survey's speed comes from (the network round trip dominates;
# Scrapy counts the requests waiting in a site's slot as in flight too).
CONCURRENT_REQUESTS = 512
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0  # optout survey --delay S: seconds between requests to one origin

# The spider yields no items, only a few requests (a policy file's next hop,
# licences, further pages, the HTTP attempt), each merely scheduled. Scrapy
# starts CONCURRENT_ITEMS tasks for the output of every response, so its
# default (100) would cost each of the four responses of a site a hundred
# tasks that have nothing to do; one is enough.
CONCURRENT_ITEMS = 1

# Requests are queued site by site, so a plain priority queue keeps every slot
# busy; Scrapy's default downloader-aware queue looks at every slot for every
# request it hands out, which grows with the number of sites surveyed at once.
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.ScrapyPriorityQueue"

# Idle connections close after a few seconds instead of Twisted's 240: a site
# is done within seconds, and open sockets would otherwise pile up by the
# thousand in a long survey.
DOWNLOAD_HANDLERS = {
    "http": "scrapy_optout.frontends.survey.handler.SurveyHTTPDownloadHandler",
    "https": "scrapy_optout.frontends.survey.handler.SurveyHTTPDownloadHandler",
}
SURVEY_IDLE_CONNECTION_TIMEOUT = 2.0
AUTOTHROTTLE_ENABLED = False

RETRY_TIMES = 1
DOWNLOAD_TIMEOUT = 20
DNS_TIMEOUT = 20
REDIRECT_MAX_TIMES = 10

# The spider cuts bodies at SURVEY_MAXSIZE; these are the hard limits behind it.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
SURVEY_MAXSIZE = 1024 * 1024

# Progress on standard error: a bar on a terminal, else a count line this often.
SURVEY_PROGRESS = True
SURVEY_PROGRESS_INTERVAL = 10.0

# Nothing a survey fetches should be cached or remembered between runs; the
# output folder's results.jsonl is what makes a survey resumable.
HTTPCACHE_ENABLED = False
COOKIES_ENABLED = False

# Components a survey has no use for, each costing every request or the start
# of every run: the survey keeps its own counts and progress, sends no cookies
# and no credentials, follows no links beyond its own, and takes no commands
# while it runs. What its records depend on stays: redirects (meta refresh of
# the home page included), decompression, the size caps, retries, timeouts,
# proxies, default headers and the User-Agent.
# (Extensions set to None are not even imported: the remote control alone
# would import aiohttp.)
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
    "scrapy.extensions.memusage.MemoryUsage": None,
}
DOWNLOADER_STATS = False
DOWNLOADER_MIDDLEWARES = {
    # The spider sets no allowed_domains and no HTTP credentials.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    # Depth means nothing to a survey, and a dropped long URL would leave its
    # site without a record: every request the spider makes must be answered.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

LOG_LEVEL = "INFO"
