"""One process's connection to Redis: an I/O thread with its own asyncio loop.

:class:`~lwm2m.server.store.redis.RedisStore` is a synchronous store (the server
calls it from its event loop and expects an answer at once), so its Redis traffic
runs beside the caller, in one daemon thread that owns an asyncio loop and two
redis-py asyncio connections:

* the **command** connection, fed by one ordered queue: :meth:`RedisLink.enqueue`
  appends a command (an ``EVALSHA`` of a store script, a ``PUBLISH``), the writer
  task sends what is queued as one pipeline and hands each reply to the command's
  ``done`` callback, in the I/O thread. Commands run in the order they were
  queued, across batches and across reconnections: when Redis is unreachable the
  batch goes back to the head of the queue and is sent again once Redis answers
  (at least once: a batch cut off in the middle may run its first part twice,
  which every store script tolerates);
* the **subscriber** connection: every channel of :meth:`RedisLink.subscribe` is
  handed to its handler in the I/O thread, in the order Redis published them.
  After every (re)connection the ``on_connect`` coroutines run (with the command
  connection) before the first message is handed over: the store takes its
  snapshot there, so nothing published while the connection was down is missed.

:class:`Delivery` hands work from the I/O thread to another asyncio loop (the
server's) in order and in batches, one loop wake-up per batch.

Nothing here knows what the commands mean; the store and the cluster modules do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lwm2m.server.store.base import StoreError

__all__ = [
    "Delivery",
    "Op",
    "RedisLink",
    "RedisUnavailable",
    "check_redis_url",
    "redacted_url",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Commands sent in one pipeline at most.
BATCH = 512
#: Writes that may wait for an unreachable Redis; more are refused (StoreError).
MAX_PENDING = 200_000
#: Reconnection back-off bounds (seconds).
_BACKOFF_MIN, _BACKOFF_MAX = 0.05, 2.0


class RedisUnavailable(StoreError):
    """Redis cannot be reached (or answered an error) where an answer was needed."""


def redacted_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_redis_url(url: str) -> str:
    """The redacted form of a usable Redis URL; :class:`StoreError` naming the problem."""
    shown = redacted_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise StoreError(f"{shown!r} is not a Redis URL: {exc}") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise StoreError(
            f"{shown!r} is not a Redis URL: expected redis://HOST:PORT/DB "
            f"(or rediss://, unix://), not {parts.scheme or 'no'} scheme"
        )
    if parts.scheme != "unix":
        if not parts.hostname:
            raise StoreError(f"{shown!r} is not a Redis URL: no host")
        if port == 0:
            raise StoreError(f"{shown!r} is not a Redis URL: port 0")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise StoreError(f"{shown!r}: the database must be a number, not {db!r}")
    elif not parts.path:
        raise StoreError(f"{shown!r} is not a Redis URL: no socket path")
    return shown


@dataclass(slots=True)
class Op:
    """One queued command and what to do with its reply (called in the I/O thread
    with the reply, or with the exception Redis answered)."""

    args: tuple[Any, ...]
    done: Callable[[Any], None] | None = None


class Delivery:
    """Runs ``fn(arg)`` calls on ``loop`` in the order they were put, from any thread.

    One ``call_soon_threadsafe`` per batch: while a batch waits for the loop, later
    calls join it. With ``loop`` None the calls run at once, in the caller's thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self._items: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, fn: Callable[[T], None], arg: T) -> None:
        if self.loop is None:
            _run_logged(fn, arg)
            return
        with self._lock:
            self._items.append((fn, arg))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            with self._lock:
                self._items.clear()
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, deque()
            self._scheduled = False
        for fn, arg in items:
            _run_logged(fn, arg)


def _run_logged(fn: Callable[[Any], None], arg: Any) -> None:
    try:
        fn(arg)
    except Exception:
        log.exception("Redis delivery to %r failed", fn)


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()


class RedisLink:
    """The I/O thread (see the module docstring). Construction connects or raises
    :class:`StoreError` naming the URL and the reason within ``connect_timeout``."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        scripts: Iterable[str] = (),
        channels: dict[str, Callable[[bytes], None]] | None = None,
        on_connect: Iterable[Callable[[Any], Awaitable[None]]] = (),
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
    ) -> None:
        self.shown_url = check_redis_url(url)
        self._url = url
        self._name = name
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._scripts = {_sha(s): s for s in scripts}
        self._channels: dict[bytes, Callable[[bytes], None]] = {
            ch.encode(): fn for ch, fn in (channels or {}).items()
        }
        self._on_connect = list(on_connect)
        self._ops: deque[Op] = deque()
        self._ops_lock = threading.Lock()
        self._signalled = False
        self._closing = False
        self._cmd: Any = None
        self._sub: Any = None
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Whether the last Redis exchange worked; when not, since when it fails.
        self.up = False
        self.down_since: float | None = time.monotonic()
        self.last_error = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"redis-{name}", daemon=True
        )
        self._thread.start()
        try:
            self.call(self._open(), timeout=connect_timeout * 2 + 2)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self.call(self._shutdown(), timeout=2.0)
            self._stop_thread()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot use Redis at {self.shown_url}: {_reason(exc)}") from None

    # ------------------------------------------------------------- from outside
    def sha(self, source: str) -> str:
        """The EVALSHA name of one of the ``scripts``."""
        return _sha(source)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the I/O loop (it may use :attr:`command`)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the I/O loop and wait for its result (not from that loop)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("RedisLink.call from its own I/O thread would wait forever")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RedisUnavailable(
                f"Redis at {self.shown_url} did not answer within {timeout:g} s"
            ) from None

    @property
    def command(self) -> Any:
        """The command connection (use on the I/O loop only)."""
        return self._cmd

    @property
    def in_io_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def enqueue(self, op: Op, *, droppable: bool = False) -> bool:
        """Queue one command; commands run in the order they were queued.

        While Redis is unreachable a ``droppable`` command (an event, a heartbeat) is
        not queued: its ``done`` gets :class:`RedisUnavailable` at once and False is
        returned. Other commands wait, up to :data:`MAX_PENDING` of them.
        """
        refused = ""
        with self._ops_lock:
            if self._closing:
                raise StoreError(f"the Redis connection to {self.shown_url} is closed")
            if droppable and not self.up:
                refused = f"Redis at {self.shown_url} is unreachable: {self.last_error}"
            elif len(self._ops) >= MAX_PENDING:
                raise RedisUnavailable(
                    f"Redis at {self.shown_url} is unreachable ({self.last_error}) and "
                    f"{len(self._ops)} writes wait for it: refused"
                )
            else:
                self._ops.append(op)
                wake = not self._signalled
                self._signalled = True
        if refused:
            if op.done is not None:
                _run_logged(op.done, RedisUnavailable(refused))
            return False
        if wake:
            self._loop.call_soon_threadsafe(self._wake.set)
        return True

    def pending(self) -> int:
        """Commands queued and not answered yet (waiting for Redis when it is down)."""
        with self._ops_lock:
            return len(self._ops) + self._in_flight

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None:
        """Hand every message of ``channel`` to ``handler`` (in the I/O thread)."""
        key = channel.encode()
        self._channels[key] = handler
        if self._pubsub is not None:
            self.submit(self._subscribe_now(key))

    def unsubscribe(self, channel: str) -> None:
        key = channel.encode()
        self._channels.pop(key, None)
        if self._pubsub is not None:
            self.submit(self._unsubscribe_now(key))

    def flush(self, timeout: float) -> bool:
        """Wait until every command queued before this call was answered; False on timeout."""
        done = threading.Event()
        try:
            self.enqueue(Op(("PING",), lambda _reply: done.set()))
        except StoreError:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for at most ``timeout`` s), then close the connections."""
        if self._closing:
            return
        self.flush(timeout)
        with self._ops_lock:
            self._closing = True
            lost = len(self._ops)
        if lost:
            log.error(
                "Redis at %s: %d write(s) not sent before closing (Redis unreachable: %s)",
                self.shown_url,
                lost,
                self.last_error or "no answer",
            )
        with contextlib.suppress(Exception):
            self.call(self._shutdown(), timeout=max(timeout, 1.0))
        self._stop_thread()

    def _stop_thread(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    # ---------------------------------------------------------- on the I/O loop
    def _client(self, socket_timeout: float | None) -> Any:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return Redis.from_url(
            self._url,
            socket_connect_timeout=self._connect_timeout,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),  # this module retries, in order
            client_name=f"lwm2m-{self._name}"[:64],
        )

    async def _open(self) -> None:
        self._wake = asyncio.Event()
        self._in_flight = 0
        self._synced = asyncio.Event()
        self._cmd = self._client(self._command_timeout)
        self._sub = self._client(None)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._cmd.ping()
        except Exception as exc:
            raise StoreError(
                f"cannot reach Redis at {self.shown_url}: {_reason(exc)} "
                "(is redis-server running there?)"
            ) from None
        subscriber = asyncio.ensure_future(self._subscriber())
        self._tasks = [subscriber, asyncio.ensure_future(self._writer())]
        waiter = asyncio.ensure_future(self._synced.wait())
        done, _ = await asyncio.wait(
            {waiter, subscriber}, timeout=self._connect_timeout + 1.0, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            error = subscriber.exception() if subscriber in done else None
            if isinstance(error, StoreError):
                raise error
            if error is not None:
                raise StoreError(f"Redis at {self.shown_url}: {_reason(error)}") from None
            raise StoreError(
                f"Redis at {self.shown_url} did not complete the first synchronisation: "
                f"{self.last_error or 'no answer'}"
            )

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in (self._cmd, self._sub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _load_scripts(self) -> None:
        for source in self._scripts.values():
            await self._cmd.script_load(source)

    def _mark_up(self) -> None:
        if not self.up and self.down_since is not None and self.last_error:
            log.warning("Redis at %s answers again", self.shown_url)
        self.up = True
        self.down_since = None

    def _mark_down(self, exc: BaseException) -> None:
        self.last_error = _reason(exc)
        if self.up or self.down_since is None:
            log.error(
                "Redis at %s unreachable: %s (writes wait in order, reads use the copy in memory)",
                self.shown_url,
                self.last_error,
            )
            self.down_since = time.monotonic()
        self.up = False

    async def _writer(self) -> None:
        backoff = _BACKOFF_MIN
        scripts_loaded = False
        while True:
            await self._wake.wait()
            with self._ops_lock:
                batch = [self._ops.popleft() for _ in range(min(BATCH, len(self._ops)))]
                self._in_flight = len(batch)
                if not self._ops:
                    self._signalled = False
                    self._wake.clear()
            if not batch:
                continue
            try:
                if not scripts_loaded:
                    await self._load_scripts()
                    scripts_loaded = True
                results = await self._execute(batch)
            except _connection_errors() as exc:
                scripts_loaded = False
                self._mark_down(exc)
                with self._ops_lock:
                    self._ops.extendleft(reversed(batch))
                    self._in_flight = 0
                    self._signalled = True
                self._wake.set()
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX, backoff * 2)
                continue
            backoff = _BACKOFF_MIN
            self._mark_up()
            retry: list[Op] = []
            for op, result in zip(batch, results, strict=True):
                if _is_noscript(result):
                    retry.append(op)
                elif op.done is not None:
                    _run_logged(op.done, result)
                elif isinstance(result, Exception):
                    log.error("Redis command %s failed: %s", op.args[0], result)
            with self._ops_lock:
                self._in_flight = 0
                if retry:  # the scripts were flushed (SCRIPT FLUSH): load them, send again
                    scripts_loaded = False
                    self._ops.extendleft(reversed(retry))
                    self._signalled = True
                    self._wake.set()

    async def _execute(self, batch: list[Op]) -> list[Any]:
        pipe = self._cmd.pipeline(transaction=False)
        for op in batch:
            pipe.execute_command(*op.args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, _connection_errors()):
                raise result
        return results

    async def _subscribe_now(self, channel: bytes) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.subscribe(channel)

    async def _unsubscribe_now(self, channel: bytes) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(channel)

    async def _subscriber(self) -> None:
        backoff = _BACKOFF_MIN
        while True:
            pubsub = self._sub.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._channels)
                self._pubsub = pubsub
                for callback in self._on_connect:
                    await callback(self._cmd)
                self._mark_up()
                self._synced.set()
                backoff = _BACKOFF_MIN
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    handler = self._channels.get(message["channel"])
                    if handler is not None:
                        _run_logged(handler, message["data"])
            except asyncio.CancelledError:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                if not self._synced.is_set() and not isinstance(exc, _connection_errors()):
                    raise  # damaged data at the first synchronisation: refuse to start
                self._mark_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX, backoff * 2)


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    return text


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError)


def _connection_errors() -> tuple[type[BaseException], ...]:
    return (ConnectionError, TimeoutError, OSError, *_redis_errors())


def _is_noscript(result: Any) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(result, NoScriptError)
