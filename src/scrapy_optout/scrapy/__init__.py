"""The Scrapy adapters: the add-on, the middlewares, the pipeline, the settings.

Everything Scrapy-specific lives here; the layers below know nothing of Scrapy.
"""
