"""The policy layer: what an origin's policy files say about a URL, without I/O.

* :mod:`~scrapy_optout.policy.urls` - origins, where their policy files live,
  registrable domains;
* :mod:`~scrapy_optout.policy.snapshot` - an origin's policy files as fetched
  (:class:`~scrapy_optout.policy.snapshot.PolicyFile`) and parsed
  (:class:`~scrapy_optout.policy.snapshot.OriginPolicy`);
* :mod:`~scrapy_optout.policy.fetching` - the one fetch contract of a policy
  file: limits, redirects, and a server's answers into a ``PolicyFile``;
* :mod:`~scrapy_optout.policy.evaluate` - the evaluator that applies every
  protocol to a URL at the origin, headers and body stages.

It imports the protocol parsers and the verdict vocabulary, never Scrapy.
"""
