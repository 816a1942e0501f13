"""The ZIP package under every Office Open XML file, checked before a library opens it.

python-docx, openpyxl and python-pptx inflate parts as they need them; a crafted package
(a "ZIP bomb") declares gigabytes in a few kilobytes. ``zipfile`` never inflates a member
past the size the central directory declares for it (it stops there and fails the CRC), so
checking the declared sizes before parsing bounds the memory any parser can use.

XML inside the packages cannot reach outside the file: python-docx and python-pptx parse
with lxml and ``resolve_entities=False``; openpyxl parses with lxml the same way and reads
sheets and shared strings through ``defusedxml``, which refuses entity declarations.
"""

from __future__ import annotations

import io
import zipfile

from plait.rag.parse.base import MIB, SourceDocument, format_size

# Members this small cannot make a bomb whatever their ratio, and tiny XML parts (a
# settings.xml full of defaults) compress better than any real content.
_RATIO_CHECKED_FROM_BYTES = MIB


def check_package(source: SourceDocument) -> None:
    limits = source.limits
    try:
        with zipfile.ZipFile(io.BytesIO(source.content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise source.unreadable(
            "corrupt",
            f"{source.filename} is damaged: its ZIP structure cannot be read (the file may be truncated); "
            "save it again and upload it",
            detail=repr(error),
        ) from error
    if len(members) > limits.max_zip_entries:
        raise source.unreadable(
            "too_large",
            f"{source.filename} holds {len(members):,} parts, more than the {limits.max_zip_entries:,} allowed",
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise source.unreadable(
            "too_large",
            f"{source.filename} would unpack to {format_size(unpacked)}, more than the "
            f"{format_size(limits.max_unpacked_bytes)} allowed; a file like this is usually a decompression bomb",
        )
    for member in members:
        if member.file_size >= _RATIO_CHECKED_FROM_BYTES and member.file_size > limits.max_compression_ratio * max(
            member.compress_size, 1
        ):
            ratio = member.file_size // max(member.compress_size, 1)
            raise source.unreadable(
                "too_large",
                f"{source.filename} is refused: its part {member.filename} is compressed {ratio:,} to 1 "
                f"(at most {limits.max_compression_ratio:,} to 1 is allowed), the way a decompression bomb is",
            )
