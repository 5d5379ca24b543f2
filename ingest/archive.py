"""Zip-based formats (.docx) are checked before anything is unpacked: a small file
that expands to gigabytes (a zip bomb) is refused from the sizes its central directory
declares, and every part is shown to unpack to no more than it declares.

    check_archive(data, "通知.docx")   # None, or LoadError "unpacks to 3,072 MB, ..."
"""

import struct
import zipfile
import zlib
from io import BytesIO

from .errors import LoadError

# Word files unpack to a few MB, one of 1,000 pages with pictures to some tens. The
# docx reader holds every part in memory and its XML parser needs ~10x a part's size,
# so 200 MB of parts is already ~2 GB of memory: more is refused before it is read.
MAX_UNPACKED_BYTES = 200 * 2**20
# Word's parts compress 5-30x; the most repetitive documents we could make (100,000
# identical paragraphs, an empty table of 3,000 rows) 230-290x; a bomb of zeros
# ~1,000x, the most deflate allows. Only parts past _RATIO_FLOOR are judged: a small
# part may compress as well as it likes, it cannot hurt.
MAX_PACKING_RATIO = 500
_RATIO_FLOOR = 2**20
# The methods Office Open XML allows (ECMA-376 part 2); zipfile's bzip2 and LZMA
# readers expand each read whole, so their output could not be bounded.
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_PIECE = 2**16  # bytes of output per inflate step while a part's size is counted
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def check_archive(data: bytes, source: str) -> None:
    """Raise LoadError if the zip archive `data` would unpack past the limits, or a
    part of it past its declared size. Data that is no zip passes: its loader reports
    that in the format's own terms."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError):
        return
    with archive:
        parts = archive.infolist()
    total = sum(part.file_size for part in parts)
    if total > MAX_UNPACKED_BYTES:
        raise LoadError(
            f"{source}: unpacks to {_mb(total)} MB, more than the {_mb(MAX_UNPACKED_BYTES)} MB "
            "zhice unpacks from one file (a zip bomb?); if it is a real document, "
            "save it without its pictures or split it"
        )
    for part in parts:
        if part.compress_type not in _METHODS:
            raise LoadError(
                f"{source}: part {part.filename} is compressed with method "
                f"{part.compress_type}, which Word never writes; open and re-save it in "
                "Word or WPS"
            )
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > _RATIO_FLOOR and ratio > MAX_PACKING_RATIO:
            raise LoadError(
                f"{source}: part {part.filename} unpacks to {ratio:,.0f} times its packed "
                f"size, more than the {MAX_PACKING_RATIO} a real document does (a zip "
                "bomb?); open and re-save it in Word or WPS"
            )
    for part in parts:
        # zipfile reads a part as declared only after inflating as much as the data
        # gives (up to 2 GB in one call), so a part that lies about its size is found here
        if part.compress_type == zipfile.ZIP_DEFLATED and _unpacked(data, part) > part.file_size:
            raise LoadError(
                f"{source}: part {part.filename} unpacks to more than the archive declares "
                "for it, so the file is damaged or made to deceive; open and re-save it, "
                "or download it again"
            )


def _unpacked(data: bytes, part: zipfile.ZipInfo) -> int:
    """The bytes a deflated part really unpacks to, counted a piece at a time and only
    up to one past its declared size; memory stays at a piece."""
    try:
        signature, name, extra = _LOCAL_HEADER.unpack_from(data, part.header_offset)
    except struct.error:
        return part.file_size + 1
    if signature != b"PK\x03\x04":
        return part.file_size + 1
    start = part.header_offset + _LOCAL_HEADER.size + name + extra
    stream = memoryview(data)[start : start + part.compress_size]
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as zip stores it
    size = read = 0
    try:
        # fed a piece at a time too: the input left over is copied at every step
        while not inflate.eof:
            piece = inflate.unconsumed_tail
            if not piece:
                piece = stream[read : read + _PIECE]
                read += len(piece)
                if not piece:
                    break
            size += len(inflate.decompress(piece, _PIECE))
            if size > part.file_size:
                return size
        # all input taken while the last piece was full: at most one match (258
        # bytes) is left to flush (flush() would inflate unconsumed input whole)
        size += len(inflate.flush())
    except zlib.error:
        return part.file_size + 1
    return size


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f}"
