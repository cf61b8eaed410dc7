"""The bootstrap store in Redis, for bootstrap servers that share one configuration set
and place devices on the live server nodes of a cluster.

Unlike :class:`~lwm2m.server.store.redis.RedisStore`, this store keeps no copy in
memory: every read asks Redis, with redis-py's synchronous client and short
timeouts. The bootstrap interface is a few requests per device per bootstrap
(its configuration, its credentials, the live nodes), so the round trips cost
little, and every bootstrap server sees each change made through any REST API at
once, without a protocol of its own to keep copies coherent. Each write is one
Lua script, so the rules hold across servers: a PSK identity belongs to one
endpoint, and a seed writes the credentials, the configuration and the record of
what it seeded together or not at all.

Keys, under ``prefix`` (``lwm2m:bs:``): ``schema``, hashes ``cfg`` (endpoint ->
configuration, the file form as JSON) with ``cfg:order`` (the order they were first
written in), ``sec`` (endpoint -> security info),
``sec:id`` (PSK identity -> endpoint), ``sec:epid``, ``seeded``. The server nodes'
heartbeats are read from ``cluster_prefix`` (``lwm2m:``, the server store's):
:meth:`RedisBootstrapStore.place` picks the least-loaded live node there.

A Redis that cannot be reached is a :class:`StoreError` naming the URL (the
bootstrap server answers that request 5.00 and goes on); a damaged record is a
:class:`StoreCorrupt` naming its key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.base import SecurityInfo, StoreCorrupt, StoreError
from lwm2m.server.store.bootstrap_base import decode_config, encode_config, seed_record
from lwm2m.server.store.codec import decode_security, encode_security
from lwm2m.server.store.redis import PUT_SECURITY as _PUT_SECURITY
from lwm2m.server.store.redis_link import check_redis_url

__all__ = ["BOOTSTRAP_SCHEMA_VERSION", "LiveNode", "RedisBootstrapStore"]

BOOTSTRAP_SCHEMA_VERSION: Final = 1
T = TypeVar("T")

# Configurations keep the order they were first written in (cfg:order), as the
# other stores list them.
_PUT_CONFIG = """
local function put_config(p, ep, cfg)
  if redis.call('HSET', p .. 'cfg', ep, cfg) == 1 then
    redis.call('ZADD', p .. 'cfg:order', redis.call('INCR', p .. 'cfg:n'), ep)
  end
end
"""

_CFG_PUT = (
    _PUT_CONFIG
    + """
put_config(ARGV[1], ARGV[2], ARGV[3])
return 1
"""
)

_CFG_DEL = """
redis.call('ZREM', ARGV[1] .. 'cfg:order', ARGV[2])
return redis.call('HDEL', ARGV[1] .. 'cfg', ARGV[2])
"""

_CFG_LIST = """
local names = redis.call('ZRANGE', ARGV[1] .. 'cfg:order', 0, -1)
local out = {}
for _, name in ipairs(names) do
  local cfg = redis.call('HGET', ARGV[1] .. 'cfg', name)
  if cfg then
    table.insert(out, name)
    table.insert(out, cfg)
  end
end
return out
"""

_SEC_PUT = (
    _PUT_SECURITY
    + """
local owner = put(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if owner then return {0, owner} end
return {1, ''}
"""
)

_SEC_DEL = """
local p, ep = ARGV[1], ARGV[2]
local rec = redis.call('HGET', p .. 'sec', ep)
if not rec then return false end
local oldid = redis.call('HGET', p .. 'sec:epid', ep)
if oldid and redis.call('HGET', p .. 'sec:id', oldid) == ep then
  redis.call('HDEL', p .. 'sec:id', oldid)
end
redis.call('HDEL', p .. 'sec:epid', ep)
redis.call('HDEL', p .. 'sec', ep)
return rec
"""

_SEED = (
    _PUT_SECURITY
    + _PUT_CONFIG
    + """
local p, ep, record, cfg, ident, sec = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', p .. 'seeded', ep) == record then return {0, ''} end
if sec ~= '' then
  local owner = put(p, ep, ident, sec)
  if owner then return {-1, owner} end
end
put_config(p, ep, cfg)
redis.call('HSET', p .. 'seeded', ep, record)
return {1, ''}
"""
)

# The live node with the fewest devices plus recent placements (heartbeats of the
# server nodes, see lwm2m.server.cluster); its placement counter goes up by one.
_PLACE = """
local p, dead, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = redis.call('HGETALL', p .. 'nodes:seen')
local best, best_score, best_info = nil, nil, nil
for i = 1, #seen, 2 do
  local node, last = seen[i], tonumber(seen[i + 1])
  if last and now - last <= dead then
    local info = redis.call('HGET', p .. 'nodes', node)
    local ok, decoded = pcall(cjson.decode, info or '')
    if ok and type(decoded) == 'table' and not decoded.leaving then
      local devices = tonumber(decoded.devices) or 0
      local placed = tonumber(redis.call('GET', p .. 'placed:' .. node) or '0')
      local score = devices + placed
      if best_score == nil or score < best_score or (score == best_score and node < best) then
        best, best_score, best_info = node, score, info
      end
    end
  end
end
if not best then return false end
redis.call('INCR', p .. 'placed:' .. best)
redis.call('PEXPIRE', p .. 'placed:' .. best, window)
return {best, best_info}
"""

_LIVE = """
local p, dead = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = redis.call('HGETALL', p .. 'nodes:seen')
local out = {}
for i = 1, #seen, 2 do
  local last = tonumber(seen[i + 1])
  if last and now - last <= dead then
    table.insert(out, seen[i])
    table.insert(out, redis.call('HGET', p .. 'nodes', seen[i]) or '{}')
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class LiveNode:
    """A server node that sent a heartbeat recently: its name and what it announced
    (``uris``: its CoAP listeners as ``coap://HOST:PORT`` / ``coaps://...``)."""

    node_id: str
    devices: int
    uris: tuple[str, ...]


def _live_node(node_id: str, info: str) -> LiveNode:
    try:
        data = json.loads(info)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    uris = data.get("uris")
    devices = data.get("devices")
    return LiveNode(
        node_id,
        devices if isinstance(devices, int) else 0,
        tuple(u for u in uris if isinstance(u, str)) if isinstance(uris, list) else (),
    )


class RedisBootstrapStore:
    """Implements :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore` in Redis.

    Opening checks that Redis answers and that the keys under ``prefix`` are a
    bootstrap store of this package (:class:`StoreError` / :class:`StoreCorrupt`).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "lwm2m:bs:",
        cluster_prefix: str = "lwm2m:",
        timeout: float = 2.0,
    ) -> None:
        self.url = check_redis_url(url)
        self.prefix = prefix
        self.cluster_prefix = cluster_prefix
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._redis: Any = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("cfg_put", _CFG_PUT),
                ("cfg_del", _CFG_DEL),
                ("cfg_list", _CFG_LIST),
                ("sec_put", _SEC_PUT),
                ("sec_del", _SEC_DEL),
                ("seed", _SEED),
                ("place", _PLACE),
                ("live", _LIVE),
            )
        }
        try:
            self._open()
        except BaseException:
            self._redis.close()
            raise

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            return fn()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreError(f"Redis at {self.url} unreachable ({what}): {exc}") from None
        except ResponseError as exc:
            raise StoreCorrupt(
                f"Redis at {self.url}: {what} failed: {exc} (the keys under {self.prefix!r} "
                "are not a bootstrap store of this package?)"
            ) from None

    def _open(self) -> None:
        p = self.prefix
        schema = self._call("opening", lambda: self._redis.get(p + "schema"))
        if schema is None:
            present = self._call(
                "opening",
                lambda: self._redis.exists(p + "cfg", p + "cfg:order", p + "sec", p + "seeded"),
            )
            if present:
                raise StoreCorrupt(
                    f"Redis at {self.url}: records under {p!r} but no {p}schema key: "
                    "not a bootstrap store of this package"
                )
            self._call(
                "opening", lambda: self._redis.set(p + "schema", BOOTSTRAP_SCHEMA_VERSION, nx=True)
            )
            return
        try:
            version = int(schema)
        except ValueError:
            raise StoreCorrupt(f"Redis at {self.url}: {p}schema is {schema!r}") from None
        if version > BOOTSTRAP_SCHEMA_VERSION:
            raise StoreError(
                f"Redis at {self.url} holds bootstrap schema version {version}; this "
                f"version of lwm2m reads up to {BOOTSTRAP_SCHEMA_VERSION}"
            )

    @staticmethod
    def _text(raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreCorrupt(f"{what}: stored record is not UTF-8 ({exc})") from None

    # --- configurations -----------------------------------------------------------
    def put_config(self, endpoint: str, config: EndpointConfig) -> None:
        args = [self.prefix, endpoint, encode_config(endpoint, config)]
        self._call("put_config", lambda: self._scripts["cfg_put"](args=args))

    def get_config(self, endpoint: str) -> EndpointConfig | None:
        raw = self._call("get_config", lambda: self._redis.hget(self.prefix + "cfg", endpoint))
        if raw is None:
            return None
        return decode_config(self._text(raw, f"bootstrap configuration {endpoint!r}"), endpoint)

    def delete_config(self, endpoint: str) -> bool:
        args = [self.prefix, endpoint]
        return bool(self._call("delete_config", lambda: self._scripts["cfg_del"](args=args)))

    def list_configs(self) -> list[tuple[str, EndpointConfig]]:
        args = [self.prefix]
        raw = self._call("list_configs", lambda: self._scripts["cfg_list"](args=args))
        out = []
        for key, value in zip(raw[::2], raw[1::2], strict=True):
            endpoint = self._text(key, "bootstrap configuration name")
            what = f"bootstrap configuration {endpoint!r}"
            out.append((endpoint, decode_config(self._text(value, what), endpoint)))
        return out

    # --- security info ------------------------------------------------------------
    def put_security(self, info: SecurityInfo) -> None:
        record = encode_security(info)
        args = [self.prefix, info.endpoint, info.psk_identity or "", record]
        done, owner = self._call("put_security", lambda: self._scripts["sec_put"](args=args))
        if not done:
            raise StoreError(f"PSK identity {info.psk_identity!r} is used by {owner.decode()!r}")

    def _security(self, endpoint: str, raw: bytes | None) -> SecurityInfo | None:
        if raw is None:
            return None
        what = f"security info {endpoint!r}"
        return decode_security(self._text(raw, what), what)

    def get_security(self, endpoint: str) -> SecurityInfo | None:
        raw = self._call("get_security", lambda: self._redis.hget(self.prefix + "sec", endpoint))
        return self._security(endpoint, raw)

    def get_security_by_identity(self, identity: str) -> SecurityInfo | None:
        p = self.prefix
        raw_ep = self._call("get_security", lambda: self._redis.hget(p + "sec:id", identity))
        if raw_ep is None:
            return None
        endpoint = self._text(raw_ep, f"PSK identity {identity!r}")
        return self.get_security(endpoint)

    def delete_security(self, endpoint: str) -> SecurityInfo | None:
        args = [self.prefix, endpoint]
        raw = self._call("delete_security", lambda: self._scripts["sec_del"](args=args))
        return self._security(endpoint, raw)

    def list_security(self) -> list[SecurityInfo]:
        raw = self._call("list_security", lambda: self._redis.hgetall(self.prefix + "sec"))
        out = []
        for key, value in raw.items():
            endpoint = self._text(key, "security info name")
            info = self._security(endpoint, value)
            assert info is not None
            out.append(info)
        return out

    # --- seeding ------------------------------------------------------------------
    def seed(self, endpoint: str, config: EndpointConfig, security: SecurityInfo | None) -> bool:
        record = seed_record(endpoint, config, security)  # checks everything first
        text = encode_config(endpoint, config)
        identity = "" if security is None else security.psk_identity or ""
        sec = "" if security is None else encode_security(security)
        args = [self.prefix, endpoint, record, text, identity, sec]
        done, owner = self._call("seed", lambda: self._scripts["seed"](args=args))
        if done == -1:
            raise StoreError(f"PSK identity {identity!r} is used by {owner.decode()!r}")
        return bool(done == 1)

    # --- the cluster's server nodes ----------------------------------------------
    def live_nodes(self, dead_after: float = 3.0) -> list[LiveNode]:
        """The server nodes whose last heartbeat is at most ``dead_after`` s old."""
        args: list[str | int] = [self.cluster_prefix, int(dead_after * 1000)]
        raw = self._call("live_nodes", lambda: self._scripts["live"](args=args))
        return [
            _live_node(raw[i].decode(), raw[i + 1].decode("utf-8", "replace"))
            for i in range(0, len(raw), 2)
        ]

    def place(self, dead_after: float = 3.0, window: float = 10.0) -> LiveNode | None:
        """The live node with the fewest devices, counting the devices placed on it in
        the last ``window`` seconds; None when no node is alive."""
        args: list[str | int] = [self.cluster_prefix, int(dead_after * 1000), int(window * 1000)]
        found = self._call("place", lambda: self._scripts["place"](args=args))
        if not found:
            return None
        return _live_node(found[0].decode(), found[1].decode("utf-8", "replace"))

    def close(self) -> None:
        self._redis.close()
