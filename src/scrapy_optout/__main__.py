import sys

from scrapy_optout.cli import main

sys.exit(main())
