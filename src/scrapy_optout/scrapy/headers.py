"""The response headers the opt-out signals are read from, as Scrapy holds them.

Scrapy's :class:`~scrapy.http.Headers` keeps each field's values under its
normalised (title case) name; the middleware looks the few fields a signal
can be in up by that name instead of decoding every header of every response.
"""

from __future__ import annotations

from scrapy.http import Headers as ScrapyHeaders

__all__ = ["SIGNAL_HEADERS", "carries_signal", "has_header", "header_lists"]


#: The response headers any signal reads, under Scrapy's normalised names.
SIGNAL_HEADERS = tuple(
    (name.title().encode("ascii"), name)
    for name in (
        "content-type",
        "x-robots-tag",
        "content-usage",
        "content-signal",
        "tdm-reservation",
        "tdm-policy",
        "link",
        "www-authenticate",
        "crawler-price",
        "crawler-charged",
    )
)


def has_header(headers: ScrapyHeaders, key: bytes) -> bool:
    """Whether *headers* has the field *key* (given in Scrapy's title case)."""
    if type(headers) is ScrapyHeaders:
        return dict.__contains__(headers, key)
    return key in headers


_SIGNAL_TITLES = frozenset(title for title, _ in SIGNAL_HEADERS[1:])


def carries_signal(headers: ScrapyHeaders) -> bool:
    """Whether *headers* has a field any signal reads (``Content-Type`` aside)."""
    if type(headers) is ScrapyHeaders:
        # Its keys are the normalised (title case) names: one pass in C.
        return not _SIGNAL_TITLES.isdisjoint(headers)
    return any(title in headers for title in _SIGNAL_TITLES)


#: The header lists of responses that carry no signal header, by their
#: ``Content-Type`` values: one shared, read-only dict per type, not one per response.
_TYPE_ONLY: dict[tuple[bytes, ...], dict[str, list[str]]] = {}
_TYPE_ONLY_SIZE = 256


def header_lists(headers: ScrapyHeaders) -> dict[str, list[str]]:
    """The headers the signals read, lower-case names to decoded values.

    The result is only read, never changed: responses that carry no signal
    header share one per content type.
    """
    if type(headers) is ScrapyHeaders:
        # Scrapy's Headers keeps each value list under its normalised (title
        # case) key: look up the few names wanted instead of decoding them all.
        ctype = dict.get(headers, b"Content-Type")
        key = tuple(ctype) if ctype else ()
        found = None
        for title, name in SIGNAL_HEADERS[1:] if carries_signal(headers) else ():
            values = dict.get(headers, title)
            if values:
                if found is None:
                    found = {"content-type": [v.decode("latin-1") for v in key]} if key else {}
                found[name] = [v.decode("latin-1") for v in values]
        if found is not None:
            return found
        shared = _TYPE_ONLY.get(key)
        if shared is None:
            if len(_TYPE_ONLY) >= _TYPE_ONLY_SIZE:
                _TYPE_ONLY.clear()
            shared = _TYPE_ONLY[key] = (
                {"content-type": [v.decode("latin-1") for v in key]} if key else {}
            )
        return shared
    return {
        key.decode("latin-1").lower(): [v.decode("latin-1") for v in values]
        for key, values in headers.items()
    }
