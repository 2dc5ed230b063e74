"""Settings of every worker of the fleet: one Redis for the queue and for the policy store.

Start as many workers as you like, on as many machines, with the same
settings (``scrapy crawl sites``); see the README beside this project.
"""

import os
import socket

BOT_NAME = "fleet"
SPIDER_MODULES = ["fleet.spiders"]
NEWSPIDER_MODULE = "fleet.spiders"

#: One Redis for the whole fleet (``FLEET_REDIS_URL``), Redis or Valkey.
REDIS_URL = os.environ.get("FLEET_REDIS_URL", "redis://127.0.0.1:6379/0")

# scrapy-redis: one request queue and one duplicate filter for every worker.
SCHEDULER = "scrapy_redis.scheduler.Scheduler"
DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
# A worker that finishes first must not clear the queue and the duplicate filter
# while the others still crawl (scrapy-redis clears them on close otherwise).
SCHEDULER_PERSIST = True
# Seconds a worker with an empty queue waits for more before it closes.
MAX_IDLE_TIME_BEFORE_CLOSE = int(os.environ.get("FLEET_MAX_IDLE", "10"))

# The opt-out add-on, one line, and the policy store shared through the same Redis:
# each origin's robots.txt, ai.txt and tdmrep.json are fetched once for the fleet.
ADDONS = {"scrapy_optout.Addon": 500}
OPTOUT_POLICY_STORE = REDIS_URL
OPTOUT_PURPOSE = "train"
# One ledger per process (files concatenate), and one evidence folder for all of
# them: a shared path (NFS, a mounted bucket) when the workers are on several machines.
FLEET_OUTPUT = os.environ.get("FLEET_OUTPUT", "output")
OPTOUT_LEDGER = f"{FLEET_OUTPUT}/ledgers/{socket.gethostname()}-{os.getpid()}.jsonl"
OPTOUT_EVIDENCE_DIR = f"{FLEET_OUTPUT}/evidence"

USER_AGENT = os.environ.get("FLEET_USER_AGENT", "fleet-example/1.0 (+https://example.invalid/bot)")
ROBOTSTXT_OBEY = True  # the add-on takes robots.txt over from Scrapy's middleware
CONCURRENT_REQUESTS_PER_DOMAIN = 8
TELEMETRY_ENABLED = False
