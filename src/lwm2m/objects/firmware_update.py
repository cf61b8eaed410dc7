"""Firmware Update object (5): push through Package (5/0/0), pull through Package URI (5/0/1).

The image goes straight into the application's :class:`FirmwareUpdater`
sink: a Block1 transfer of Package arrives through :meth:`FirmwareUpdate.write_package_chunk`
one block at a time; a pull streams from a :class:`~lwm2m.objects.firmware_download.Downloader`.
State and Update Result change only through
:mod:`lwm2m.objects.firmware_state`. Failures are reported in Update Result,
not in the response of the write (Core TS E.6: errors during the update
process are reported only by the Update Result resource). Downloads and the
update itself run as background tasks so that the Write / Execute response
goes out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from lwm2m.client.store import ObjectStore
from lwm2m.errors import MethodNotAllowed, OperationError
from lwm2m.objects._base import Clock, ObjectInstance
from lwm2m.objects.firmware_download import (
    PROTOCOL_SUPPORT,
    Downloader,
    HttpDownloader,
    check_package_uri,
)
from lwm2m.objects.firmware_errors import FirmwareError, UpdateFailed, storage_error
from lwm2m.objects.firmware_state import (
    TRANSITIONS,
    Event,
    FirmwareStateMachine,
    Result,
    State,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""Called with (bytes received, total size or None) after each chunk."""

StateCallback = Callable[[State, Result], None]
"""Called with the new State and Update Result after every transition."""

#: CoAP 4.08 Request Entity Incomplete: a Block1 block out of sequence (RFC 7959 2.9.2).
REQUEST_ENTITY_INCOMPLETE = 0x88
#: What resets the state machine when written to Package: an empty payload, or a single
#: NUL byte, as servers write it where an empty Opaque cannot be sent (Core TS 1.1 E.6:
#: "Writing an empty string ... resets"; the ETS firmware cases write '\0').
RESET_PACKAGES = (b"", b"\x00")


class FirmwareUpdater:
    """The application side of a firmware update; subclass and override the hooks.

    Hooks raise :class:`~lwm2m.objects.firmware_errors.FirmwareError`
    subclasses (NotEnoughStorage, IntegrityCheckFailed, UpdateFailed, ...) to
    pick the Update Result; ``MemoryError`` and ``OSError`` from
    :meth:`open_sink` / :meth:`write` are classified as out of RAM / storage.
    """

    async def open_sink(self) -> None:
        """Prepare storage for a new image (called before the first chunk)."""

    async def write(self, chunk: bytes) -> None:
        """Store the next chunk of the image."""
        raise NotImplementedError

    async def verify(self) -> bool:
        """Check the complete image; False means integrity check failure (Update Result 5)."""
        return True

    def defer(self) -> bool:
        """True to defer an Update request (Update Result 11); start it later yourself."""
        return False

    async def apply(self) -> None:
        """Install the image. Return for success; raise UpdateFailed (8) or another error."""
        raise UpdateFailed("no apply() implementation")

    async def cancel(self) -> None:
        """Drop a partial or downloaded image (reset, cancel or failure)."""


# The latest normalised downloaders mapping (a one-element cell): instances given
# equal downloaders, as a fleet gives every device, share it rather than a copy each.
_last_by_scheme: list[Mapping[str, Downloader]] = [MappingProxyType({})]


def _by_scheme(downloaders: Mapping[str, Downloader]) -> Mapping[str, Downloader]:
    """``downloaders`` keyed by lower-case scheme, read-only (shared when equal to the last)."""
    normalised = {k.lower(): v for k, v in downloaders.items()}
    last = _last_by_scheme[0]
    if len(last) == len(normalised) and all(last.get(k) is v for k, v in normalised.items()):
        return last
    _last_by_scheme[0] = shared = MappingProxyType(normalised)
    return shared


class _Sink:
    """Adapts the updater to a downloader's PackageSink, counting bytes for progress."""

    def __init__(self, owner: FirmwareUpdate) -> None:
        self._owner = owner

    def set_total(self, total: int | None) -> None:
        self._owner.total_size = total

    async def write(self, chunk: bytes) -> None:
        await self._owner._store_chunk(chunk)


class FirmwareUpdate(ObjectInstance):
    """The instance /5/0 driving a :class:`FirmwareUpdater`.

    ``downloaders`` maps URI schemes to downloaders (default: http and https
    with aiohttp); ``push=False`` refuses Package writes. Protocol Support (8)
    and Delivery Method (9) follow from these two.
    """

    object_id = 5
    execute_handlers = {2: "_execute_update", 10: "_execute_cancel"}
    validate_handlers = {0: "_check_package_write", 1: "_check_uri_write"}
    post_write_handlers = {0: "_package_written", 1: "_uri_written"}

    def __init__(
        self,
        store: ObjectStore,
        updater: FirmwareUpdater,
        *,
        downloaders: Mapping[str, Downloader] | None = None,
        push: bool = True,
        on_progress: ProgressCallback | None = None,
        on_state_change: StateCallback | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, 0, clock=clock)
        if downloaders is None:
            http = HttpDownloader()
            downloaders = {"http": http, "https": http}
        self.updater = updater
        self.downloaders: Mapping[str, Downloader] = _by_scheme(downloaders)
        self.push = push
        if not push and not self.downloaders:
            raise ValueError("firmware update needs push or at least one downloader")
        self.on_progress = on_progress
        self.on_state_change = on_state_change
        self.machine = FirmwareStateMachine(clock=self.clock)
        self.received = 0
        self.total_size: int | None = None
        self._pushing = False
        self._task: asyncio.Task[None] | None = None

        self._set(0, b"")
        self._set(1, "")
        self._add_executables()
        self._set(6, "")
        self._set(7, "")
        self._publish_delivery()
        self._publish()

    def add_downloader(self, scheme: str, downloader: Downloader) -> None:
        """Pull ``scheme://`` Package URIs with ``downloader`` (updates 5/0/8 and 5/0/9)."""
        # Copy on write: the mapping may be shared with other instances (_by_scheme).
        self.downloaders = {**self.downloaders, scheme.lower(): downloader}
        self._publish_delivery()

    def _publish_delivery(self) -> None:
        support = sorted({PROTOCOL_SUPPORT[s] for s in self.downloaders if s in PROTOCOL_SUPPORT})
        self._set(8, support)
        # Delivery Method (5/0/9): 0 pull only, 1 push only, 2 both.
        self._set(9, 2 if self.push and self.downloaders else (1 if self.push else 0))

    # ------------------------------------------------------------- state
    @property
    def state(self) -> State:
        return self.machine.state

    @property
    def result(self) -> Result:
        return self.machine.result

    @property
    def pushing(self) -> bool:
        """True while a Package (5/0/0) block-wise write is under way."""
        return self._pushing

    def _publish(self) -> None:
        if self.machine.state is State.IDLE:
            # Package URI names the image being fetched or held; Idle holds none.
            self._set(1, "")
        self._set(3, int(self.machine.state))
        self._set(5, int(self.machine.result))
        if self.machine.changed_at is not None:
            self._set(12, self.machine.changed_at)

    def _fire(self, event: Event, result: Result | None = None) -> None:
        before = self.machine.state
        self.machine.handle(event, result)
        log.info(
            "firmware update: %s: %s -> %s, result %s",
            event.value,
            before.name,
            self.machine.state.name,
            self.machine.result.name,
        )
        self._publish()
        if self.on_state_change is not None:
            self.on_state_change(self.machine.state, self.machine.result)

    async def _fail(self, event: Event, exc: FirmwareError) -> None:
        """End in ``event`` with the error's result, dropping the image."""
        log.warning("firmware update failed: %s (result %d)", exc, exc.result)
        with contextlib.suppress(Exception):
            await self.updater.cancel()
        self._pushing = False
        row = TRANSITIONS[(self.machine.state, event)]
        result = exc.result if exc.result in row.allowed else min(row.allowed)
        self._fire(event, result)

    def set_package_info(self, name: str, version: str) -> None:
        """PkgName (6) and PkgVersion (7), e.g. from the image header in ``verify``."""
        self._set(6, name)
        self._set(7, version)

    async def join(self) -> None:
        """Wait for the running download or update task, if any."""
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -------------------------------------------------------------- push
    async def write_package_chunk(
        self, offset: int, data: bytes, last: bool, *, total: int | None = None
    ) -> None:
        """One block of a Package (5/0/0) write, called per Block1 block.

        ``total`` is the announced image size (Size1 of block 0), for progress.

        ``offset`` 0 starts a new image (an empty last block, or a single NUL
        byte, resets the state machine instead); during a push it starts the
        image over (RFC 7959 2.3: the peer may restart a transfer at block 0).
        Later blocks must follow on without gaps, otherwise 4.08 Request
        Entity Incomplete.
        """
        if offset == 0:
            if last and data in RESET_PACKAGES:
                await self.reset()
                return
            if self._pushing:
                with contextlib.suppress(Exception):
                    await self.updater.cancel()
            else:
                self._check_push_start()
                self._fire(Event.START_DOWNLOAD)
            self.received, self.total_size, self._pushing = 0, total, True
            if not await self._storage_step(self.updater.open_sink()):
                return
        elif not self._pushing or offset != self.received:
            raise OperationError(
                f"package block at offset {offset}, expected {self.received}",
                REQUEST_ENTITY_INCOMPLETE,
            )
        if data and not await self._storage_step(self._store_chunk(data)):
            return
        if last:
            self._pushing = False
            await self._finish_download()

    async def abort_push(self, error: FirmwareError) -> None:
        """End a Package write that will not complete (transfer dropped, connection lost)."""
        if self._pushing:
            await self._fail(Event.DOWNLOAD_FAILED, error)

    async def _storage_step(self, step: Awaitable[None]) -> bool:
        try:
            await step
        except Exception as exc:
            await self._fail(Event.DOWNLOAD_FAILED, storage_error(exc))
            return False
        return True

    def _check_reset(self) -> None:
        """Refuse a reset (empty Package or Package URI) in a state that does not allow it."""
        if not self.machine.allows(Event.RESET):
            raise MethodNotAllowed(f"reset not allowed in {self.machine.state.name}")

    def _check_push_start(self) -> None:
        if not self.push:
            raise MethodNotAllowed("firmware push (Package write) is not supported")
        if self.machine.state is not State.IDLE:
            raise MethodNotAllowed(f"Package write not allowed in {self.machine.state.name}")

    def _check_package_write(self, value: object) -> bool:
        if not isinstance(value, bytes):
            return False
        if value in RESET_PACKAGES:
            self._check_reset()
        else:
            self._check_push_start()
        return True

    async def _package_written(self, value: bytes) -> None:
        # A plain (non block-wise) write: the store holds the payload only
        # until it has been handed to the sink.
        self._set(0, b"")
        await self.write_package_chunk(0, value, True)

    async def _store_chunk(self, chunk: bytes) -> None:
        try:
            await self.updater.write(chunk)
        except Exception as exc:
            raise storage_error(exc) from exc
        self.received += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.received, self.total_size)

    async def _finish_download(self) -> None:
        try:
            ok = await self.updater.verify()
        except Exception as exc:
            err = exc if isinstance(exc, FirmwareError) else storage_error(exc)
            await self._fail(Event.DOWNLOAD_FAILED, err)
            return
        if not ok:
            await self._fail(Event.DOWNLOAD_FAILED, FirmwareError(result=Result.INTEGRITY_FAILURE))
            return
        self._fire(Event.DOWNLOAD_DONE)

    # -------------------------------------------------------------- pull
    def _check_uri_write(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if not value:
            self._check_reset()
        elif self.machine.state is not State.IDLE:
            raise MethodNotAllowed(f"Package URI write not allowed in {self.machine.state.name}")
        return True

    async def _uri_written(self, uri: str) -> None:
        if not uri:
            await self.reset()
            return
        problem = check_package_uri(uri, self.downloaders)
        if problem is not None:
            # The write itself succeeds; the URI is refused through Update
            # Result alone (Core TS E.6) and the resource keeps no bad value.
            self._set(1, "")
            self._fire(Event.URI_REJECTED, problem)
            return
        await self.download(uri)

    async def download(self, uri: str) -> None:
        """Start pulling ``uri`` in the background (what a Package URI write does)."""
        problem = check_package_uri(uri, self.downloaders)
        if problem is not None:
            raise ValueError(f"cannot download {uri!r}: {problem.name}")
        self._fire(Event.START_DOWNLOAD)
        self._set(1, uri)
        self.received, self.total_size = 0, None
        downloader = self.downloaders[uri.split(":", 1)[0].lower()]
        self._task = asyncio.get_running_loop().create_task(self._pull(uri, downloader))

    async def _pull(self, uri: str, downloader: Downloader) -> None:
        try:
            await self.updater.open_sink()
        except Exception as exc:
            await self._fail(Event.DOWNLOAD_FAILED, storage_error(exc))
            return
        try:
            await downloader.fetch(uri, _Sink(self))
        except FirmwareError as exc:
            await self._fail(Event.DOWNLOAD_FAILED, exc)
            return
        except Exception as exc:
            log.exception("firmware download of %s failed", uri)
            await self._fail(
                Event.DOWNLOAD_FAILED, FirmwareError(repr(exc), Result.CONNECTION_LOST)
            )
            return
        await self._finish_download()

    # ------------------------------------------------- update / cancel
    async def _execute_update(self, args: str) -> None:
        if not self.machine.allows(Event.UPDATE):
            raise MethodNotAllowed(f"Update not allowed in {self.machine.state.name}")
        if self.updater.defer():
            self._fire(Event.UPDATE_DEFERRED)
            return
        self.start_update()

    def start_update(self) -> None:
        """Start the update now (also how the application ends a deferral)."""
        self._fire(Event.UPDATE)
        self._task = asyncio.get_running_loop().create_task(self._apply())

    async def _apply(self) -> None:
        try:
            await self.updater.apply()
        except FirmwareError as exc:
            rejected = TRANSITIONS[(State.UPDATING, Event.UPDATE_REJECTED)].allowed
            if exc.result in rejected:
                await self._fail(Event.UPDATE_REJECTED, exc)
            else:
                # The image stays Downloaded so the update can be retried (Result 8).
                log.warning("firmware update failed: %s", exc)
                self._fire(Event.UPDATE_FAILED, Result.UPDATE_FAILED)
            return
        except Exception:
            log.exception("firmware apply() failed")
            self._fire(Event.UPDATE_FAILED, Result.UPDATE_FAILED)
            return
        self._fire(Event.UPDATE_SUCCEEDED)

    async def _execute_cancel(self, args: str) -> None:
        if not self.machine.allows(Event.CANCEL):
            raise MethodNotAllowed(f"Cancel not allowed in {self.machine.state.name}")
        await self._stop_task()
        with contextlib.suppress(Exception):
            await self.updater.cancel()
        self._pushing = False
        self._fire(Event.CANCEL)

    async def reset(self) -> None:
        """Back to Idle with Update Result 0 (empty Package or empty Package URI written)."""
        self._check_reset()
        await self._stop_task()
        if self.machine.state is not State.IDLE:
            with contextlib.suppress(Exception):
                await self.updater.cancel()
        self._pushing = False
        self._fire(Event.RESET)

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
