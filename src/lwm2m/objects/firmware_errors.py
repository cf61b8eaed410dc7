"""Failures of a firmware download or update, each tied to its Update Result (5/0/5).

The application's updater and the downloaders raise these; the Firmware
Update object turns them into the state machine event with that result.
"""

from __future__ import annotations

import errno

from lwm2m.errors import Lwm2mError
from lwm2m.objects.firmware_state import Result


class FirmwareError(Lwm2mError):
    """Base class; ``result`` is the Update Result the failure ends in."""

    result: Result = Result.UPDATE_FAILED

    def __init__(self, message: str = "", result: Result | None = None) -> None:
        if result is not None:
            self.result = result
        super().__init__(message or self.result.name.lower().replace("_", " "))


class NotEnoughStorage(FirmwareError):
    result = Result.NOT_ENOUGH_FLASH


class OutOfMemory(FirmwareError):
    result = Result.OUT_OF_RAM


class ConnectionLost(FirmwareError):
    result = Result.CONNECTION_LOST


class IntegrityCheckFailed(FirmwareError):
    result = Result.INTEGRITY_FAILURE


class UnsupportedPackageType(FirmwareError):
    result = Result.UNSUPPORTED_PACKAGE_TYPE


class InvalidUri(FirmwareError):
    result = Result.INVALID_URI


class UpdateFailed(FirmwareError):
    result = Result.UPDATE_FAILED


class UnsupportedProtocol(FirmwareError):
    result = Result.UNSUPPORTED_PROTOCOL


def storage_error(exc: BaseException) -> FirmwareError:
    """Classify an unexpected error of the application's sink (where the image is stored)."""
    if isinstance(exc, FirmwareError):
        return exc
    if isinstance(exc, MemoryError):
        return OutOfMemory(str(exc) or "out of memory")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return NotEnoughStorage(str(exc))
    # Any other failure to store the image: the storage is unusable for it.
    return NotEnoughStorage(f"storing the package failed: {exc!r}")
