"""The policy layer: what an origin's policy files say about a URL, without I/O.

* :mod:`~scrapy_optout.policy.snapshot` - an origin's policy files as fetched
  (:class:`PolicyFile`, :class:`OriginPolicy`) and the evaluator that applies
  every protocol to a URL, stage by stage;

It imports the protocol parsers and the verdict vocabulary, never Scrapy.
"""
