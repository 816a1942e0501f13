"""Why a document could not be turned into text.

A file that cannot be parsed is data, not a crash: every failure of a parser, whatever the
library underneath raised, reaches the caller as one :class:`DocumentUnreadable` whose
``reason`` a program can branch on and whose message names the file and says what to do.

    PlaitError
    └── DocumentUnreadable          reason            code                    status
        ├── (empty)                 empty             document_unreadable     400
        ├── (corrupt)               corrupt           document_unreadable     400
        ├── (encrypted)             encrypted         document_unreadable     400
        ├── (type_mismatch)         type_mismatch     document_unreadable     400
        ├── (too_large)             too_large         file_too_large          413
        └── (unsupported_type)      unsupported_type  unsupported_file_type   415

The reasons are values of one class rather than subclasses because callers (the
document-extractor node, dataset indexing) record or show them, and rarely catch one alone.
The codes of the last two are Dify's, for its upload errors.
"""

from __future__ import annotations

from typing import Literal, get_args

from plait.errors import PlaitError

UnreadableReason = Literal["empty", "corrupt", "encrypted", "too_large", "unsupported_type", "type_mismatch"]
REASONS: tuple[UnreadableReason, ...] = get_args(UnreadableReason)

_CODES_AND_STATUSES: dict[UnreadableReason, tuple[str, int]] = {
    "too_large": ("file_too_large", 413),
    "unsupported_type": ("unsupported_file_type", 415),
}


class DocumentUnreadable(PlaitError):
    """A document yielded no text; ``message`` is for the person who uploaded it.

    ``detail`` keeps what the library said (for logs), apart from the message, which does
    not quote library internals at users.
    """

    code = "document_unreadable"
    status = 400

    def __init__(self, reason: UnreadableReason, message: str, *, filename: str, detail: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}; expected one of {', '.join(REASONS)}")
        code, status = _CODES_AND_STATUSES.get(reason, (self.code, self.status))
        super().__init__(message, code=code, status=status)
        self.reason: UnreadableReason = reason
        self.filename = filename
        self.detail = detail
