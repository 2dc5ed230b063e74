"""A Scrapy project whose workers share a scrapy-redis queue and one opt-out policy store."""
