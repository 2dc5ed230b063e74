"""Policy files as text: one decoder for robots.txt, ai.txt and tdmrep.json.

RFC 9309 §2.3 asks for UTF-8 and lets a crawler bridge other encodings
(§2.2.2). Files are written with every editor there is, so the decoder reads
what the bytes say rather than what the specification hopes for:

* **Byte-order mark.** UTF-32 LE (``FF FE 00 00``, tested before UTF-16 LE,
  whose mark it starts with), UTF-32 BE, UTF-16 LE and BE, UTF-8. A UTF-8 mark
  cut short at the very start (``EF BB``, ``EF``) is skipped too, as Google
  skips it.
* **No mark, but NUL bytes in a regular pattern.** ASCII text saved as UTF-16
  has a NUL in every other byte, as UTF-32 three NULs in every four; the
  first bytes tell which, and on which side.
* **Otherwise UTF-8**, with ``errors="surrogateescape"``: an octet that is not
  part of a UTF-8 sequence (a Latin-1 ``é`` in a rule) stays in the text as a
  lone surrogate (U+DC80 + octet), so that pattern matching can compare it as
  the octet the site wrote instead of a replacement character. Use
  :func:`printable` before showing such text.
* **NUL bytes** carry nothing in a policy file: padding before, after or
  between the lines is dropped, and so is a NUL inside a line.
* **U+FEFF** (a byte-order mark) before the first line, once the file's own
  mark is gone (a second mark, or one after NUL padding or blank lines), is
  dropped. One at the start of a later line is left alone, so it spoils that
  line only, as in Google's parser (its test ``ID_UTF8ByteOrderMarkIsSkipped``):
  reading such a line would as often lift a reservation (an ``Allow``) as make
  one.

Each departure from plain UTF-8 gives a note, which the parsers pass on in
their findings' ``detail``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["PolicyText", "decode_policy_text", "looks_binary", "printable"]

# (mark, codec, name): UTF-32 LE first, its mark starts with UTF-16 LE's.
_MARKS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32 BE"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE"),
)
_UTF8_MARK = b"\xef\xbb\xbf"
# How many leading bytes the NUL-pattern detection looks at.
_SAMPLE = 512
_LEADING_MARK = re.compile("^(\\s*)\ufeff+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters no text file holds (white space excepted), raw octets
# and replacement characters: what a binary body decodes to.
_CONTROL = re.compile("[\x01-\x08\x0e-\x1f\x7f]")
_UNDECODED = re.compile("[\ud800-\udfff\ufffd]")


class PolicyText(NamedTuple):
    """A decoded policy file: its text, notes on the decoding, whether it was cut."""

    text: str
    notes: list[str]
    truncated: bool


def decode_policy_text(data: bytes, *, limit: int | None = None) -> PolicyText:
    """Return the text of a policy file and notes on how it was decoded.

    The notes are empty for plain UTF-8 (with or without a UTF-8 byte-order
    mark) without NUL bytes; otherwise each says, in words, what the decoder
    did: ``"decoded as UTF-16 LE from its byte-order mark"``.

    With *limit*, only that many bytes after the byte-order mark are read. A
    line the limit cuts through is dropped rather than read short, so a rule
    cut in half never covers more than its author wrote; ``truncated`` then
    tells that the limit applied. Never raises.
    """
    data = bytes(data)
    notes: list[str] = []
    codec, unit, skip = _encoding(data, notes)
    body = data[skip:]
    cut = limit is not None and len(body) > limit
    if cut:
        assert limit is not None
        body = body[:limit]
    if unit > 1:
        body = body[: len(body) - len(body) % unit]  # a code unit cut in half
        text = body.decode(codec, "replace")
        broken = text.count("\ufffd")
        if broken:
            notes.append(f"{broken} undecodable sequence(s) replaced")
    else:
        text = body.decode("utf-8", "surrogateescape")
        raw = len(_SURROGATE.findall(text)) if not text.isascii() else 0
        if raw:
            notes.append(f"{raw} byte(s) that are not UTF-8 kept as raw octets")
    if cut and text[-1:] not in ("\n", "\r"):
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]
    nuls = text.count("\x00")
    if nuls:
        text = text.replace("\x00", "")
        notes.append(f"{nuls} NUL character(s) dropped")
    if "\ufeff" in text:
        text, marks = _LEADING_MARK.subn(r"\1", text, count=1)
        if marks:
            notes.append("a byte-order mark before the first line ignored")
    return PolicyText(text, notes, cut)


def _encoding(data: bytes, notes: list[str]) -> tuple[str, int, int]:
    """Return the codec, its code unit size and how many leading bytes to skip."""
    for mark, codec, name in _MARKS:
        if data.startswith(mark):
            notes.append(f"decoded as {name} from its byte-order mark")
            return codec, len(mark), len(mark)
    for size in (3, 2, 1):
        if data.startswith(_UTF8_MARK[:size]):
            return "utf-8", 1, size  # a UTF-8 mark, whole or cut short
    guess = _nul_pattern(data[:_SAMPLE].rstrip(b"\x00"))
    if guess is not None:
        codec, unit, name = guess
        notes.append(f"decoded as {name}, read from its NUL bytes (it has no byte-order mark)")
        return codec, unit, 0
    return "utf-8", 1, 0


def _nul_pattern(sample: bytes) -> tuple[str, int, str] | None:
    """Guess UTF-32 or UTF-16 from where the NUL bytes sit in *sample*.

    Policy files are mostly ASCII, which UTF-16 writes as one NUL and one
    character byte, UTF-32 as three NULs and one character byte. Leading NUL
    padding would shift that pattern, so it is not taken for it: the sample
    must start with a character, not with padding, on the side its encoding
    puts characters.
    """
    if len(sample) < 8 or sample.count(0) < len(sample) // 3:
        return None
    for offset, codec, unit, name in (
        (0, "utf-32-le", 4, "UTF-32 LE"),
        (3, "utf-32-be", 4, "UTF-32 BE"),
        (0, "utf-16-le", 2, "UTF-16 LE"),
        (1, "utf-16-be", 2, "UTF-16 BE"),
    ):
        usable = sample[: len(sample) - len(sample) % unit]
        lanes = [usable[i::unit] for i in range(unit)]
        chars = lanes[offset]
        padding = [lane for i, lane in enumerate(lanes) if i != offset]
        if not chars or chars[0] == 0:
            continue
        # Nearly every padding byte NUL, nearly every character byte not.
        if all(lane.count(0) * 10 >= len(lane) * 9 for lane in padding) and (
            chars.count(0) * 10 <= len(chars)
        ):
            return codec, unit, name
    return None


def looks_binary(text: str) -> bool:
    """Tell whether decoded *text* (its first 8 KiB are looked at) is binary data.

    A few raw octets are a Latin-1 word in a UTF-8 file; a control character
    next to one (an image header: ``\\x89PNG\\r\\n\\x1a``) or more than one
    undecodable character in a hundred is not text. A DOS end-of-file mark
    (``\\x1a``) closing the text is not held against it.
    """
    # A DOS end-of-file mark (Ctrl-Z) may close a text file.
    head = text[:8192].rstrip("\x1a\r\n\t ")
    if head.isascii() and _CONTROL.search(head) is None:
        return False
    controls = len(_CONTROL.findall(head))
    bad = controls + len(_UNDECODED.findall(head))
    return bad > max(8, len(head) // 100) or (controls > 0 and bad >= 2)


def printable(text: str) -> str:
    """*text* with each lone surrogate written out, safe to print or encode.

    A raw octet kept by :func:`decode_policy_text` (U+DC80 to U+DCFF) is
    shown as ``\\xE9``; any other lone surrogate as ``\\uD800``. Text without
    surrogates is returned as it is.
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02X}"
    return f"\\u{code:04X}"
