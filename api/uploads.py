"""Read uploaded files into enrollment Photos, refusing oversized ones before anything decodes them."""

from __future__ import annotations

from fastapi import UploadFile

from api.errors import UploadTooLarge
from enrollment import Photo


def read_photo(upload: UploadFile, *, fallback_name: str, max_bytes: int) -> Photo:
    """The upload's bytes and a name for error messages.

    Reads at most `max_bytes + 1` bytes, so an oversized file is never held in memory whole.

    Raises:
        UploadTooLarge: the file has more than `max_bytes` bytes.
    """
    name = upload.filename or fallback_name
    upload.file.seek(0)
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"{name}: the file is larger than the limit of {max_bytes} bytes")
    return Photo(name=name, data=data)
