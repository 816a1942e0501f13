"""Bytes of a text format to ``str``: a byte-order mark first, then UTF-8, then detection.

Detection (``charset-normalizer``) is what lets a GBK or Shift-JIS file from a Windows
machine come through intact; where it finds several encodings equally plausible (a short
text), the preference order below decides. It is also where binary junk would sneak in as text (any byte
string decodes as Latin-1), so the decoded text must also look like text: few control or
private-use characters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from plait.rag.parse.base import SourceDocument
from plait.rag.parse.errors import DocumentUnreadable

# UTF-32's little-endian mark starts with UTF-16's, so it is tried first.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 and C1 controls other than whitespace and ESC (terminal colours in logs), surrogates
# and the private-use area: what binary data turns into when decoded as text.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ud800-\uf8ff]")
_SAMPLE_CHARS = 100_000
_TIE = 0.01
_PREFERENCE = {
    name: rank
    for rank, name in enumerate(("gb18030", "big5", "cp932", "euc_jis_2004", "cp949", "cp1252", "cp1251", "cp1250"))
}
_MAX_NOT_TEXT_SHARE = 0.02
_MAX_STRAYS = 2


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    encoding: str


def decode_text(source: SourceDocument, *, declared: str | None = None) -> DecodedText:
    """Decode ``source``; ``declared`` is an encoding the file names for itself (HTML's ``<meta charset>``),
    believed after a byte-order mark and valid UTF-8, and before detection."""
    content = source.content
    for bom, codec in _BOMS:
        if content.startswith(bom):
            try:
                return _checked(source, content.decode(codec), codec)
            except UnicodeDecodeError as error:
                raise source.unreadable(
                    "corrupt",
                    f"{source.filename} starts with a {codec.upper().removesuffix('-SIG')} byte-order mark "
                    "but is not valid in that encoding; save it again as UTF-8 and upload it",
                    detail=str(error),
                ) from error
    try:
        return _checked(source, content.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if declared is not None:
        try:
            return _checked(source, content.decode(declared), codecs.lookup(declared).name)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common; detection decides
    matches = from_bytes(content)
    best = matches.best()
    if best is None:
        raise _binary(source)
    # A few bytes of GBK are equally plausible as Korean or Japanese, and é in Latin-1 as
    # č in Central European; when detection cannot tell, the more widely used encoding wins.
    tied = [match for match in matches if match.chaos <= best.chaos + _TIE]
    chosen = min(tied, key=lambda match: _PREFERENCE.get(match.encoding, len(_PREFERENCE)))
    return _checked(source, str(chosen), codecs.lookup(chosen.encoding).name)


def _checked(source: SourceDocument, text: str, encoding: str) -> DecodedText:
    sample = text[:_SAMPLE_CHARS]
    strays = len(_NOT_TEXT.findall(sample))
    # A stray NUL or two (padding some exporters add) does not make a text binary.
    if strays > _MAX_STRAYS and strays > _MAX_NOT_TEXT_SHARE * len(sample):
        raise _binary(source)
    return DecodedText(text, encoding)


def _binary(source: SourceDocument) -> DocumentUnreadable:
    return source.unreadable(
        "corrupt",
        f"{source.filename} does not contain readable text: its bytes look like binary data in no known "
        "text encoding; check that it is the right file",
    )
