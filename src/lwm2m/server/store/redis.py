"""The shared store of several server nodes: registrations, observations, security
info and queued requests in one Redis (redis-py asyncio).

How a synchronous store sits on Redis
-------------------------------------
:class:`~lwm2m.server.store.ServerStore` is synchronous: the server calls it from
its event loop in the middle of answering a datagram and uses the answer at once.
A round trip to Redis there would stall the loop (and a Redis that is down would
stall it for the whole timeout), and making the interface asynchronous would ripple
through the registration table, the REST API and every store. So this store keeps
**a complete copy of the records in memory**, which answers every read, and
**writes through** to Redis behind the caller:

* a write checks its rule (an observation needs its registration, a PSK identity
  belongs to one endpoint) against the copy, changes the copy, and queues one Lua
  script; the I/O thread of :mod:`~lwm2m.server.store.redis_link` sends the queued
  scripts in order, pipelined. Each script does one write atomically (a Register
  that replaces the endpoint's older registration removes or moves that
  registration's observations in the same script) and publishes what it did,
  numbered, on the ``changes`` channel (``INCR seq`` + ``PUBLISH``, in the script);
* every node applies the ``changes`` messages to its copy in that order, which is
  Redis's commit order. A message from another node about a record this node has
  a write in flight for is skipped: Redis runs the later write after it, and that
  write's own message brings the outcome. A script that refuses a write (it lost
  a race: an Update of a registration another node replaced, an observation of a
  registration that is gone, a PSK identity taken meanwhile) publishes that, and
  the node reads the record again through the same channel (``state``);
* at every (re)connection the subscriber subscribes first, then takes a snapshot
  (``MULTI``: the sequence number and every hash), rebuilds the copy from it
  (records with writes in flight keep their local state) and applies only the
  messages numbered after the snapshot. So a node that lost Redis for a while, or
  a Redis restarted from its append-only file, ends with the same copy as the
  others. Writes made while Redis was unreachable wait in order and are sent when
  it answers again (a bounded wait at :meth:`RedisStore.close`).

Listeners (:meth:`RedisStore.add_listener`) hear what *other* nodes changed, as
:class:`StoreChange` values on their own event loop; :mod:`lwm2m.server.cluster`
turns them into the server's registration table and events.

Expiry happens once: :meth:`RedisStore.claim_expiry` is a script that removes a
registration only if its expiry time is still the one the caller saw (no Update
came in between); exactly one claim can win. Ownership: every registration
records the node that wrote it last (its Register or Update came there), which is
the node holding the device's CoAP/DTLS session. A Register replacing a
registration owned by *another* node is a move (the device's node died or it was
placed elsewhere): that registration's observations move to the new registration
instead of ending, so the new owner can establish them again with their tokens.
A Register replacing this node's own registration (a reboot) ends them, as the
single-node stores do.

Keys, under ``prefix`` (``lwm2m:``): ``schema``, ``seq``, hashes ``reg`` (id ->
record), ``reg:ep`` (endpoint -> id), ``reg:idep`` (id -> endpoint), ``reg:owner``
(id -> node), sorted set ``reg:exp`` (id by expiry time), ``obs`` (token hex ->
record), ``obs:rid`` (token -> registration id), sets ``obs:reg:<id>``, ``sec``
(endpoint -> record), ``sec:id`` (PSK identity -> endpoint), ``sec:epid``, lists
``queue:<endpoint>`` (requests waiting for a sleeping device), hashes ``nodes``
and ``nodes:seen`` (heartbeats), channels ``changes``, ``events`` and ``node:<id>``.
Records are the JSON of :mod:`~lwm2m.server.store.codec`. The scripts compute key
names, so the store needs one Redis primary (with replicas or Sentinel), not Redis
Cluster.

Damaged data: a record that does not decode is logged with its key, listed in
:attr:`RedisStore.damaged` and skipped; the node serves the others. Keys of the
wrong type, or a ``schema`` newer than this code, refuse the store at opening
(:class:`StoreCorrupt` / :class:`StoreError`) without changing anything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from lwm2m.server.store.base import (
    Observation,
    Registration,
    SecurityInfo,
    StoreCorrupt,
    StoreError,
)
from lwm2m.server.store.codec import (
    decode_observation,
    decode_registration,
    decode_security,
    encode_observation,
    encode_registration,
    encode_security,
)
from lwm2m.server.store.redis_link import (
    Delivery,
    Op,
    RedisLink,
    RedisUnavailable,
    check_redis_url,
)

__all__ = ["SCHEMA_VERSION", "RedisStore", "StoreChange"]

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1

# --------------------------------------------------------------------------- scripts
# Every script takes the key prefix, this node's id and the write's number first,
# and publishes exactly one message on <prefix>changes: a JSON header (cjson), then
# for a stored record a newline and the record.

_EMIT = """
local function emit(p, h, body)
  h.s = redis.call('INCR', p .. 'seq')
  local m = cjson.encode(h)
  if body then m = m .. '\\n' .. body end
  redis.call('PUBLISH', p .. 'changes', m)
end
"""

_REG_PUT = (
    _EMIT
    + """
local p, node, op = ARGV[1], ARGV[2], tonumber(ARGV[3])
local id, ep, exp, rec, intent = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if intent == 'u' and redis.call('HEXISTS', p .. 'reg', id) == 0 then
  emit(p, {k = 'rx', n = node, o = op, id = id, ep = ep})
  return 0
end
local h = {k = 'r', n = node, o = op, id = id, ep = ep}
local old = redis.call('HGET', p .. 'reg:ep', ep)
if old and old ~= id then
  local owner = redis.call('HGET', p .. 'reg:owner', old)
  local tokens = redis.call('SMEMBERS', p .. 'obs:reg:' .. old)
  if owner and owner ~= node then
    for _, t in ipairs(tokens) do
      redis.call('HSET', p .. 'obs:rid', t, id)
      redis.call('SADD', p .. 'obs:reg:' .. id, t)
    end
    if #tokens > 0 then h.mv = tokens end
  else
    for _, t in ipairs(tokens) do
      redis.call('HDEL', p .. 'obs', t)
      redis.call('HDEL', p .. 'obs:rid', t)
    end
    if #tokens > 0 then h.dr = tokens end
  end
  redis.call('DEL', p .. 'obs:reg:' .. old)
  redis.call('HDEL', p .. 'reg', old)
  redis.call('HDEL', p .. 'reg:owner', old)
  redis.call('HDEL', p .. 'reg:idep', old)
  redis.call('ZREM', p .. 'reg:exp', old)
  h.x = old
  h.xo = owner
end
local prev_ep = redis.call('HGET', p .. 'reg:idep', id)
if prev_ep and prev_ep ~= ep and redis.call('HGET', p .. 'reg:ep', prev_ep) == id then
  redis.call('HDEL', p .. 'reg:ep', prev_ep)
end
redis.call('HSET', p .. 'reg', id, rec)
redis.call('HSET', p .. 'reg:ep', ep, id)
redis.call('HSET', p .. 'reg:idep', id, ep)
redis.call('HSET', p .. 'reg:owner', id, node)
redis.call('ZADD', p .. 'reg:exp', exp, id)
emit(p, h, rec)
return 1
"""
)

_REG_DEL = (
    _EMIT
    + """
local p, node, op = ARGV[1], ARGV[2], tonumber(ARGV[3])
local id, why, expect = ARGV[4], ARGV[5], ARGV[6]
local h = {k = 'd', n = node, o = op, id = id, why = why}
local ep = redis.call('HGET', p .. 'reg:idep', id)
if not ep then
  h.gone = 1
  emit(p, h)
  return 0
end
h.ep = ep
if expect ~= '' then
  local score = redis.call('ZSCORE', p .. 'reg:exp', id)
  if (not score) or math.abs(tonumber(score) - tonumber(expect)) > 1e-6 then
    h.k = 'dx'
    emit(p, h)
    return 0
  end
end
local tokens = redis.call('SMEMBERS', p .. 'obs:reg:' .. id)
for _, t in ipairs(tokens) do
  redis.call('HDEL', p .. 'obs', t)
  redis.call('HDEL', p .. 'obs:rid', t)
end
if #tokens > 0 then h.dr = tokens end
redis.call('DEL', p .. 'obs:reg:' .. id)
redis.call('HDEL', p .. 'reg', id)
redis.call('HDEL', p .. 'reg:owner', id)
redis.call('HDEL', p .. 'reg:idep', id)
redis.call('ZREM', p .. 'reg:exp', id)
if redis.call('HGET', p .. 'reg:ep', ep) == id then redis.call('HDEL', p .. 'reg:ep', ep) end
emit(p, h)
return 1
"""
)

_OBS_PUT = (
    _EMIT
    + """
local p, node, op = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tok, rid, rec = ARGV[4], ARGV[5], ARGV[6]
if redis.call('HEXISTS', p .. 'reg', rid) == 0 then
  emit(p, {k = 'ox', n = node, o = op, tok = tok, rid = rid})
  return 0
end
local prev = redis.call('HGET', p .. 'obs:rid', tok)
if prev and prev ~= rid then redis.call('SREM', p .. 'obs:reg:' .. prev, tok) end
redis.call('HSET', p .. 'obs', tok, rec)
redis.call('HSET', p .. 'obs:rid', tok, rid)
redis.call('SADD', p .. 'obs:reg:' .. rid, tok)
emit(p, {k = 'o', n = node, o = op, tok = tok, rid = rid}, rec)
return 1
"""
)

_OBS_DEL = (
    _EMIT
    + """
local p, node, op, tok = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local rid = redis.call('HGET', p .. 'obs:rid', tok)
if rid then redis.call('SREM', p .. 'obs:reg:' .. rid, tok) end
local n = redis.call('HDEL', p .. 'obs', tok)
redis.call('HDEL', p .. 'obs:rid', tok)
local h = {k = 'od', n = node, o = op, tok = tok}
if n == 0 then h.gone = 1 end
emit(p, h)
return n
"""
)

#: Lua: store the security record ``rec`` of ``ep`` under prefix ``p``, indexed by its
#: PSK identity ``ident`` ('' for none); returns the endpoint that already holds that
#: identity (nothing is written then), else false. Shared with the bootstrap store.
PUT_SECURITY = """
local function put(p, ep, ident, rec)
  if ident ~= '' then
    local owner = redis.call('HGET', p .. 'sec:id', ident)
    if owner and owner ~= ep then return owner end
  end
  local oldid = redis.call('HGET', p .. 'sec:epid', ep)
  if oldid and redis.call('HGET', p .. 'sec:id', oldid) == ep then
    redis.call('HDEL', p .. 'sec:id', oldid)
  end
  redis.call('HSET', p .. 'sec', ep, rec)
  if ident ~= '' then
    redis.call('HSET', p .. 'sec:id', ident, ep)
    redis.call('HSET', p .. 'sec:epid', ep, ident)
  else
    redis.call('HDEL', p .. 'sec:epid', ep)
  end
  return false
end
"""

_SEC_PUT = (
    _EMIT
    + PUT_SECURITY
    + """
local p, node, op = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ep = ARGV[4]
local owner = put(p, ep, ARGV[5], ARGV[6])
if owner then
  emit(p, {k = 'sx', n = node, o = op, ep = ep, owner = owner})
  return 0
end
emit(p, {k = 's', n = node, o = op, ep = ep}, ARGV[6])
return 1
"""
)

_SEC_DEL = (
    _EMIT
    + """
local p, node, op, ep = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local oldid = redis.call('HGET', p .. 'sec:epid', ep)
if oldid and redis.call('HGET', p .. 'sec:id', oldid) == ep then
  redis.call('HDEL', p .. 'sec:id', oldid)
end
redis.call('HDEL', p .. 'sec:epid', ep)
local n = redis.call('HDEL', p .. 'sec', ep)
emit(p, {k = 'sd', n = node, o = op, ep = ep})
return n
"""
)

# The current state of one record, published in the order of the changes.
_STATE = (
    _EMIT
    + """
local p, node, op, what, key = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local h = {k = 'st', n = node, o = op, w = what}
if what == 'r' then
  h.ep = key
  local id = redis.call('HGET', p .. 'reg:ep', key)
  if not id then emit(p, h) return 0 end
  h.id = id
  h.own = redis.call('HGET', p .. 'reg:owner', id)
  local body = redis.call('HGET', p .. 'reg', id)
  local tokens = redis.call('SMEMBERS', p .. 'obs:reg:' .. id)
  local kept = {}
  for _, t in ipairs(tokens) do
    local rec = redis.call('HGET', p .. 'obs', t)
    if rec then
      table.insert(kept, t)
      body = body .. '\\n' .. rec
    end
  end
  if #kept > 0 then h.toks = kept end
  emit(p, h, body)
elseif what == 'o' then
  h.tok = key
  local rec = redis.call('HGET', p .. 'obs', key)
  if rec then h.rid = redis.call('HGET', p .. 'obs:rid', key) end
  emit(p, h, rec or nil)
else
  h.ep = key
  local rec = redis.call('HGET', p .. 'sec', key)
  emit(p, h, rec or nil)
end
return 1
"""
)

# A barrier: once its message is applied, every earlier change is.
_MARK = (
    _EMIT
    + """
emit(ARGV[1], {k = 'm', n = ARGV[2], o = tonumber(ARGV[3])})
return 1
"""
)

_QUEUE_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
"""

_HEARTBEAT = """
local p, node, info = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', p .. 'nodes', node, info)
redis.call('HSET', p .. 'nodes:seen', node, now)
return {now, redis.call('HGETALL', p .. 'nodes'), redis.call('HGETALL', p .. 'nodes:seen')}
"""

_LEAVE = """
local p, node = ARGV[1], ARGV[2]
redis.call('HDEL', p .. 'nodes', node)
redis.call('HDEL', p .. 'nodes:seen', node)
return 1
"""

SCRIPTS: Final = (
    _REG_PUT,
    _REG_DEL,
    _OBS_PUT,
    _OBS_DEL,
    _SEC_PUT,
    _SEC_DEL,
    _STATE,
    _MARK,
    _QUEUE_TAKE,
    _HEARTBEAT,
    _LEAVE,
)


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class StoreChange:
    """What another node changed in the shared store (see :meth:`RedisStore.add_listener`).

    ``kind`` is one of:

    * ``"registration"``: ``registration`` was written; ``previous`` is the same
      id before (an Update), ``replaced`` the endpoint's registration under another
      id that it replaced, ``moved`` the tokens of ``replaced``'s observations that
      now belong to ``registration`` (a move from another node);
    * ``"registration_removed"``: ``registration`` is gone, ``reason`` being
      ``"deregistered"``, ``"expired"`` or ``"refreshed"``;
    * ``"observation"`` / ``"observation_removed"``: the observation ``token``;
    * ``"security"`` / ``"security_removed"``: ``endpoint``'s security info;
      ``identity`` is the PSK identity it had before, if any;
    * ``"resync"``: the copy was rebuilt from a snapshot (after a reconnection):
      compare everything.
    """

    kind: str
    node: str
    registration: Registration | None = None
    previous: Registration | None = None
    replaced: Registration | None = None
    moved: tuple[bytes, ...] = ()
    reason: str = ""
    token: bytes | None = None
    endpoint: str | None = None
    identity: str | None = None


Listener = Callable[[StoreChange], None]


@dataclass(slots=True)
class _Moved:
    """A Register of this node replaced another node's registration of the endpoint."""

    old: Registration | None
    old_owner: str | None
    tokens: tuple[bytes, ...]


class _Copy:
    """The records in memory, with the indexes the reads need."""

    def __init__(self) -> None:
        self.regs: dict[str, Registration] = {}
        self.by_ep: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.obs: dict[bytes, Observation] = {}
        self.obs_by_reg: dict[str, dict[bytes, None]] = {}
        self.sec: dict[str, SecurityInfo] = {}
        self.ids: dict[str, str] = {}

    # registrations
    def put_reg(
        self,
        reg: Registration,
        owner: str,
        moved: list[bytes] | None = None,
        dropped: list[bytes] | None = None,
        replaced_id: str | None = None,
    ) -> tuple[Registration | None, Registration | None, list[bytes]]:
        """Store ``reg``; (previous under this id, replaced registration, moved tokens).

        ``moved``/``dropped`` None: decide from the copy as the script does.
        """
        previous = self.regs.get(reg.id)
        current_id = self.by_ep.get(reg.endpoint)
        old_id = current_id if replaced_id is None else replaced_id
        if current_id is not None and current_id not in (reg.id, old_id):
            self.drop_reg(current_id, cascade=True)  # a stale copy: Redis has no such record
        replaced = None
        moved_out: list[bytes] = []
        if old_id is not None and old_id != reg.id:
            replaced = self.regs.get(old_id)
            tokens = list(self.obs_by_reg.get(old_id, {}))
            if moved is None:
                old_owner = self.owner.get(old_id)
                move = old_owner is not None and old_owner != owner
                moved, dropped = (tokens, []) if move else ([], tokens)
            for token in moved:
                self.move_obs(token, reg.id)
                moved_out.append(token)
            for token in dropped or ():
                self.drop_obs(token)
            self.drop_reg(old_id, cascade=True)
        if (
            previous is not None
            and previous.endpoint != reg.endpoint
            and self.by_ep.get(previous.endpoint) == reg.id
        ):
            del self.by_ep[previous.endpoint]
        self.regs[reg.id] = reg
        self.by_ep[reg.endpoint] = reg.id
        self.owner[reg.id] = owner
        return previous, replaced, moved_out

    def drop_reg(self, reg_id: str, *, cascade: bool) -> Registration | None:
        reg = self.regs.pop(reg_id, None)
        self.owner.pop(reg_id, None)
        tokens = self.obs_by_reg.pop(reg_id, {})
        if cascade:
            for token in tokens:
                self.obs.pop(token, None)
        if reg is not None and self.by_ep.get(reg.endpoint) == reg_id:
            del self.by_ep[reg.endpoint]
        return reg

    # observations
    def put_obs(self, obs: Observation) -> None:
        old = self.obs.get(obs.token)
        if old is not None and old.registration_id != obs.registration_id:
            self._unindex_obs(old)
        self.obs[obs.token] = obs
        self.obs_by_reg.setdefault(obs.registration_id, {})[obs.token] = None

    def drop_obs(self, token: bytes) -> Observation | None:
        obs = self.obs.pop(token, None)
        if obs is not None:
            self._unindex_obs(obs)
        return obs

    def move_obs(self, token: bytes, reg_id: str) -> None:
        obs = self.obs.get(token)
        if obs is not None and obs.registration_id != reg_id:
            self._unindex_obs(obs)
            obs = dataclasses.replace(obs, registration_id=reg_id)
            self.obs[token] = obs
            self.obs_by_reg.setdefault(reg_id, {})[token] = None

    def _unindex_obs(self, obs: Observation) -> None:
        tokens = self.obs_by_reg.get(obs.registration_id)
        if tokens is not None:
            tokens.pop(obs.token, None)
            if not tokens:
                del self.obs_by_reg[obs.registration_id]

    # security info
    def put_sec(self, info: SecurityInfo) -> SecurityInfo | None:
        old = self.drop_sec(info.endpoint)
        self.sec[info.endpoint] = info
        if info.psk_identity is not None:
            self.ids[info.psk_identity] = info.endpoint
        return old

    def drop_sec(self, endpoint: str) -> SecurityInfo | None:
        info = self.sec.pop(endpoint, None)
        if (
            info is not None
            and info.psk_identity is not None
            and self.ids.get(info.psk_identity) == endpoint
        ):
            del self.ids[info.psk_identity]
        return info


def _entity_reg(endpoint: str) -> str:
    return "r:" + endpoint


def _entity_obs(token: bytes) -> str:
    return "o:" + token.hex()


def _entity_sec(endpoint: str) -> str:
    return "s:" + endpoint


class RedisStore:
    """Implements :class:`~lwm2m.server.store.ServerStore` on Redis (module docstring).

    ``url`` is ``redis://HOST:PORT/DB`` (``rediss://`` for TLS, ``unix://PATH``);
    ``node_id`` names this server node and must differ between the nodes sharing
    the store. Opening connects and loads every record, or raises
    :class:`StoreError` naming the URL and the reason within ``connect_timeout``.
    Thread-safe; reads never wait for Redis.
    """

    #: This store can be shared by several server nodes (see lwm2m.server.cluster).
    shared = True

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        prefix: str = "lwm2m:",
        connect_timeout: float = 2.0,
    ) -> None:
        if not node_id or not node_id.isprintable() or any(c.isspace() for c in node_id):
            raise StoreError(f"node id {node_id!r}: give a printable name without spaces")
        self.node_id = node_id
        self.prefix = prefix
        #: The Redis URL, without its password.
        self.url = check_redis_url(url)
        self._lock = threading.RLock()
        self._copy = _Copy()
        #: Records found damaged in Redis (key and reason); they were skipped.
        self.damaged: list[str] = []
        self._pending: dict[str, set[int]] = {}
        self._next_op = 0
        self._seq = 0  # the last change applied
        self._snapshot_seq: int | None = None
        self._listeners: list[tuple[Listener, Delivery]] = []
        self._deliveries: dict[asyncio.AbstractEventLoop | None, Delivery] = {}
        self._marks: dict[int, threading.Event] = {}
        self._moves: dict[str, _Moved] = {}
        self._closed = False
        self.link = RedisLink(
            url,
            name=node_id,
            scripts=SCRIPTS,
            channels={prefix + "changes": self._on_message},
            on_connect=[self._resync],
            connect_timeout=connect_timeout,
        )
        sha = self.link.sha
        self._sha_reg_put = sha(_REG_PUT)
        self._sha_reg_del = sha(_REG_DEL)
        self._sha_obs_put = sha(_OBS_PUT)
        self._sha_obs_del = sha(_OBS_DEL)
        self._sha_sec_put = sha(_SEC_PUT)
        self._sha_sec_del = sha(_SEC_DEL)
        self._sha_state = sha(_STATE)
        self._sha_mark = sha(_MARK)
        self._sha_queue_take = sha(_QUEUE_TAKE)
        self._sha_heartbeat = sha(_HEARTBEAT)
        self._sha_leave = sha(_LEAVE)

    # ------------------------------------------------------------ registrations
    def put_registration(self, registration: Registration) -> None:
        reg = registration
        record = encode_registration(reg)
        with self._lock:
            update = reg.id in self._copy.regs
            old_id = self._copy.by_ep.get(reg.endpoint)
            if old_id is not None and old_id != reg.id:
                old_owner = self._copy.owner.get(old_id)
                if old_owner is not None and old_owner != self.node_id:
                    tokens = tuple(self._copy.obs_by_reg.get(old_id, {}))
                    if len(self._moves) > 10000:  # nobody collects them (no cluster node)
                        self._moves.clear()
                    self._moves[reg.id] = _Moved(self._copy.regs.get(old_id), old_owner, tokens)
            self._copy.put_reg(reg, self.node_id)
            self._write(
                _entity_reg(reg.endpoint),
                self._sha_reg_put,
                reg.id,
                reg.endpoint,
                repr(reg.expires_at),
                record,
                "u" if update else "r",
            )

    def get_registration(self, reg_id: str) -> Registration | None:
        with self._lock:
            return self._copy.regs.get(reg_id)

    def get_registration_by_endpoint(self, endpoint: str) -> Registration | None:
        with self._lock:
            reg_id = self._copy.by_ep.get(endpoint)
            return None if reg_id is None else self._copy.regs.get(reg_id)

    def delete_registration(self, reg_id: str) -> Registration | None:
        with self._lock:
            reg = self._copy.drop_reg(reg_id, cascade=True)
            if reg is None:
                return None
            self._write(_entity_reg(reg.endpoint), self._sha_reg_del, reg_id, "deregistered", "")
            return reg

    def list_registrations(self) -> list[Registration]:
        with self._lock:
            return list(self._copy.regs.values())

    # ------------------------------------------------------------- observations
    def put_observation(self, observation: Observation) -> None:
        obs = observation
        record = encode_observation(obs)
        with self._lock:
            if obs.registration_id not in self._copy.regs:
                raise StoreError(f"observation for unknown registration {obs.registration_id!r}")
            self._copy.put_obs(obs)
            entity, token = _entity_obs(obs.token), obs.token.hex()
            self._write(entity, self._sha_obs_put, token, obs.registration_id, record)

    def get_observation(self, token: bytes) -> Observation | None:
        with self._lock:
            return self._copy.obs.get(token)

    def delete_observation(self, token: bytes) -> Observation | None:
        with self._lock:
            obs = self._copy.drop_obs(token)
            if obs is not None:
                self._write(_entity_obs(token), self._sha_obs_del, token.hex())
            return obs

    def list_observations(self, registration_id: str | None = None) -> list[Observation]:
        with self._lock:
            if registration_id is None:
                return list(self._copy.obs.values())
            tokens = self._copy.obs_by_reg.get(registration_id, {})
            return [self._copy.obs[t] for t in tokens if t in self._copy.obs]

    # ------------------------------------------------------------- security info
    def put_security(self, info: SecurityInfo) -> None:
        record = encode_security(info)
        with self._lock:
            if info.psk_identity is not None:
                owner = self._copy.ids.get(info.psk_identity)
                if owner is not None and owner != info.endpoint:
                    raise StoreError(f"PSK identity {info.psk_identity!r} is used by {owner!r}")
            self._copy.put_sec(info)
            self._write(
                _entity_sec(info.endpoint),
                self._sha_sec_put,
                info.endpoint,
                info.psk_identity or "",
                record,
            )

    def get_security(self, endpoint: str) -> SecurityInfo | None:
        with self._lock:
            return self._copy.sec.get(endpoint)

    def get_security_by_identity(self, identity: str) -> SecurityInfo | None:
        with self._lock:
            endpoint = self._copy.ids.get(identity)
            return None if endpoint is None else self._copy.sec.get(endpoint)

    def delete_security(self, endpoint: str) -> SecurityInfo | None:
        with self._lock:
            info = self._copy.drop_sec(endpoint)
            if info is not None:
                self._write(_entity_sec(endpoint), self._sha_sec_del, endpoint)
            return info

    def list_security(self) -> list[SecurityInfo]:
        with self._lock:
            return list(self._copy.sec.values())

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Send the queued writes (at most 2 s), then close the connection."""
        if self._closed:
            return
        self._closed = True
        self.link.close()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until Redis has run every write made so far; False on timeout."""
        return self.link.flush(timeout)

    def wait_applied(self, timeout: float = 5.0) -> bool:
        """Wait until every change published so far (by any node) is in this copy."""
        done = threading.Event()
        with self._lock:
            op = self._new_op()
            self._marks[op] = done
            self.link.enqueue(
                Op(("EVALSHA", self._sha_mark, 0, self.prefix, self.node_id, op), self._on_reply)
            )
        ok = done.wait(timeout)
        with self._lock:
            self._marks.pop(op, None)
        return ok

    async def applied(self, timeout: float = 5.0) -> bool:
        """:meth:`wait_applied` for a coroutine (the event loop keeps running)."""
        return await asyncio.to_thread(self.wait_applied, timeout)

    @property
    def pending_writes(self) -> int:
        """Writes not yet run by Redis (they wait while Redis is unreachable)."""
        return self.link.pending()

    @property
    def redis_up(self) -> bool:
        """Whether the last exchange with Redis worked."""
        return self.link.up

    # ------------------------------------------------------------ for the cluster
    def add_listener(
        self, listener: Listener, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Hand every change made by another node to ``listener`` on ``loop`` (in order)."""
        with self._lock:
            self._listeners.append((listener, self._delivery_for(loop)))

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [(fn, d) for fn, d in self._listeners if fn is not listener]

    def owner_of(self, reg_id: str) -> str | None:
        """The node that wrote registration ``reg_id`` last (where its device talks)."""
        with self._lock:
            return self._copy.owner.get(reg_id)

    def owned_count(self) -> int:
        """How many registrations this node owns."""
        with self._lock:
            me = self.node_id
            return sum(1 for owner in self._copy.owner.values() if owner == me)

    def take_move(self, reg_id: str) -> tuple[Registration | None, str | None, tuple[bytes, ...]]:
        """For a registration this node just wrote: the registration of another node it
        replaced, that node, and the observation tokens that moved (None, None, ())."""
        with self._lock:
            moved = self._moves.pop(reg_id, None)
        if moved is None:
            return None, None, ()
        return moved.old, moved.old_owner, moved.tokens

    def claim_expiry(self, registration: Registration) -> concurrent.futures.Future[bool]:
        """Remove ``registration`` if it still expires when it did; True for the one
        claim that did it (its change then reaches the other nodes as expired)."""
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        args = (registration.id, "expired", repr(registration.expires_at))
        self._command(self._sha_reg_del, *args, future=future)
        return future

    def heartbeat(self, info: str) -> concurrent.futures.Future[Any]:
        """Record this node's heartbeat ``info`` (JSON); resolves to [redis ms, nodes,
        last seen] as the script returns them."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        op = Op(
            ("EVALSHA", self._sha_heartbeat, 0, self.prefix, self.node_id, info),
            _resolver(future),
        )
        self.link.enqueue(op, droppable=True)
        return future

    def leave(self) -> concurrent.futures.Future[Any]:
        """Remove this node's heartbeat: it stopped on purpose."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        op = Op(("EVALSHA", self._sha_leave, 0, self.prefix, self.node_id), _resolver(future))
        self.link.enqueue(op)
        return future

    def publish(self, channel: str, data: bytes, done: Callable[[Any], None] | None = None) -> bool:
        """PUBLISH ``data`` on ``prefix + channel``, in order with the writes; ``done``
        gets the number of receivers (or the exception), in the I/O thread. While
        Redis is unreachable nothing is queued (False; ``done`` gets the error): a
        message is only worth something now."""
        op = Op(("PUBLISH", self.prefix + channel, data), done)
        return self.link.enqueue(op, droppable=True)

    def subscribe(
        self,
        channel: str,
        handler: Callable[[bytes], None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Hand the messages of ``prefix + channel`` to ``handler`` on ``loop``, in the
        order of every message and change this store receives."""
        delivery = self._delivery_for(loop)
        self.link.subscribe(self.prefix + channel, lambda data: delivery.put(handler, data))

    def unsubscribe(self, channel: str) -> None:
        self.link.unsubscribe(self.prefix + channel)

    def queue_push(self, endpoint: str, entry: bytes) -> None:
        """Append a request that waits for the sleeping device ``endpoint``."""
        self.link.enqueue(Op(("RPUSH", self.prefix + "queue:" + endpoint, entry)))

    def queue_remove(self, endpoint: str, entry: bytes) -> None:
        self.link.enqueue(Op(("LREM", self.prefix + "queue:" + endpoint, 1, entry)))

    def queue_take(self, endpoint: str) -> concurrent.futures.Future[list[bytes]]:
        """Remove and return every request waiting for ``endpoint``."""
        future: concurrent.futures.Future[list[bytes]] = concurrent.futures.Future()
        key = self.prefix + "queue:" + endpoint
        self.link.enqueue(Op(("EVALSHA", self._sha_queue_take, 1, key), _resolver(future)))
        return future

    def _delivery_for(self, loop: asyncio.AbstractEventLoop | None) -> Delivery:
        # One Delivery per loop, shared by listeners and subscriptions: changes and
        # bus messages reach a loop in the order they left Redis.
        with self._lock:
            delivery = self._deliveries.get(loop)
            if delivery is None:
                delivery = self._deliveries[loop] = Delivery(loop)
            return delivery

    # --------------------------------------------------------------- writing
    def _new_op(self) -> int:
        self._next_op += 1
        return self._next_op

    def _write(self, entity: str, sha: str, *args: Any) -> None:
        """Queue one write script whose effect is already in the copy (lock held)."""
        op = self._new_op()
        self._pending.setdefault(entity, set()).add(op)

        def done(reply: Any) -> None:
            if isinstance(reply, Exception):
                self._failed_write(entity, op, reply)

        self.link.enqueue(Op(("EVALSHA", sha, 0, self.prefix, self.node_id, op, *args), done))

    def _command(self, sha: str, *args: Any, future: concurrent.futures.Future[bool]) -> None:
        with self._lock:
            op = self._new_op()

        def done(reply: Any) -> None:
            if not future.done():
                if isinstance(reply, Exception):
                    future.set_exception(RedisUnavailable(f"Redis: {reply}"))
                else:
                    future.set_result(reply == 1)

        self.link.enqueue(Op(("EVALSHA", sha, 0, self.prefix, self.node_id, op, *args), done))

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, Exception):
            log.error("Redis store command failed: %s", reply)

    def _failed_write(self, entity: str, op: int, error: Exception) -> None:
        """A script Redis refused to run (a damaged key of the wrong type, say): its
        message never comes, so the record stops waiting for it."""
        log.error("Redis store: write of %s failed: %s", entity, error)
        with self._lock:
            ops = self._pending.get(entity)
            if ops is not None:
                ops.discard(op)
                if not ops:
                    del self._pending[entity]

    def _refresh(self, what: str, key: str) -> None:
        """Read one record again, through the changes channel (lock held)."""
        entity = {"r": _entity_reg, "s": _entity_sec}.get(what)
        name = entity(key) if entity is not None else "o:" + key
        self._write(name, self._sha_state, what, key)

    # -------------------------------------------------------- applying changes
    def _on_message(self, data: bytes) -> None:
        """One message of the changes channel (in the I/O thread)."""
        head, _, body = data.partition(b"\n")
        try:
            header = json.loads(head)
            seq = int(header["s"])
            kind = str(header["k"])
            node = str(header["n"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("Redis store: undecodable change message skipped: %s", exc)
            return
        changes: list[StoreChange] = []
        with self._lock:
            entity = self._entity_of(kind, header)
            own = node == self.node_id
            if own:
                was_pending = self._done_op(node, header)
                if kind == "m":
                    mark = self._marks.get(int(header.get("o", 0)))
                    if mark is not None:
                        mark.set()
                    return
                if kind in ("rx", "ox", "sx"):
                    self._refused(kind, header)
                    return
            if self._snapshot_seq is not None and seq <= self._snapshot_seq:
                return  # already in the snapshot
            self._seq = seq
            if own:
                if was_pending and entity is not None and self._pending.get(entity):
                    return  # a later write of this node to the same record is on its way
                if kind not in ("st", "d") and not (kind == "r" and header.get("x")):
                    return  # the copy has it already
            elif entity is not None and self._pending.get(entity):
                return  # this node's write to the same record runs after it in Redis
            try:
                self._apply(kind, node, header, body, changes, own)
            except (StoreCorrupt, ValueError, KeyError, TypeError) as exc:
                log.error("Redis store: change %s of %s not applied: %s", kind, node, exc)
                self.damaged.append(f"change {seq}: {exc}")
            if own and kind != "st":
                changes.clear()  # this node's server made the change itself
            listeners = list(self._listeners)
        for change in changes:
            for listener, delivery in listeners:
                delivery.put(listener, change)

    def _done_op(self, node: str, header: dict[str, Any]) -> bool:
        """Forget one of this node's writes in flight; True if it was one."""
        if node != self.node_id:
            return False
        op = header.get("o")
        entity = self._entity_of(str(header.get("k")), header)
        if entity is None or not isinstance(op, int):
            return False
        ops = self._pending.get(entity)
        if ops is None:
            return False
        ops.discard(op)
        if not ops:
            del self._pending[entity]
        return True

    @staticmethod
    def _entity_of(kind: str, header: dict[str, Any]) -> str | None:
        if kind in ("r", "rx", "d", "dx") or (kind == "st" and header.get("w") == "r"):
            ep = header.get("ep")
            return None if ep is None else _entity_reg(str(ep))
        if kind in ("o", "ox", "od") or (kind == "st" and header.get("w") == "o"):
            return "o:" + str(header.get("tok"))
        if kind in ("s", "sx", "sd") or (kind == "st" and header.get("w") == "s"):
            return _entity_sec(str(header.get("ep")))
        return None

    def _refused(self, kind: str, header: dict[str, Any]) -> None:
        log.info("Redis store: a write lost a race (%s); reading the record again", kind)
        if kind == "rx":
            self._refresh("r", str(header["ep"]))
        elif kind == "ox":
            self._refresh("o", str(header["tok"]))
        else:
            self._refresh("s", str(header["ep"]))

    def _apply(
        self,
        kind: str,
        node: str,
        header: dict[str, Any],
        body: bytes,
        changes: list[StoreChange],
        own: bool,
    ) -> None:
        copy = self._copy
        if kind == "r":
            reg = decode_registration(body.decode(), f"registration {header['id']!r}")
            moved = _tokens(header.get("mv"))
            dropped = _tokens(header.get("dr"))
            previous, replaced, moved_now = copy.put_reg(
                reg, node, moved, dropped, str(header.get("x") or reg.id)
            )
            changes.append(
                StoreChange(
                    "registration",
                    node,
                    registration=reg,
                    previous=previous,
                    replaced=replaced,
                    moved=tuple(moved_now),
                )
            )
        elif kind == "d":
            gone = copy.drop_reg(str(header["id"]), cascade=True)
            for token in _tokens(header.get("dr")):
                copy.drop_obs(token)
            if gone is not None and not own:
                why = str(header.get("why") or "deregistered")
                changes.append(StoreChange("registration_removed", node, gone, reason=why))
        elif kind == "dx":
            pass
        elif kind == "o":
            obs = decode_observation(body.decode(), f"observation {header['tok']}")
            rid = str(header["rid"])
            if obs.registration_id != rid:
                obs = dataclasses.replace(obs, registration_id=rid)
            copy.put_obs(obs)
            changes.append(StoreChange("observation", node, token=obs.token))
        elif kind == "od":
            token = bytes.fromhex(str(header["tok"]))
            if copy.drop_obs(token) is not None:
                changes.append(StoreChange("observation_removed", node, token=token))
        elif kind == "s":
            info = decode_security(body.decode(), f"security info {header['ep']!r}")
            old = copy.put_sec(info)
            changes.append(
                StoreChange(
                    "security",
                    node,
                    endpoint=info.endpoint,
                    identity=None if old is None else old.psk_identity,
                )
            )
        elif kind == "sd":
            old = copy.drop_sec(str(header["ep"]))
            if old is not None:
                changes.append(
                    StoreChange(
                        "security_removed", node, endpoint=old.endpoint, identity=old.psk_identity
                    )
                )
        elif kind == "st":
            self._apply_state(header, body, changes)

    def _apply_state(self, header: dict[str, Any], body: bytes, changes: list[StoreChange]) -> None:
        copy = self._copy
        what = header.get("w")
        node = str(header.get("n"))
        if what == "r":
            endpoint = str(header["ep"])
            current_id = copy.by_ep.get(endpoint)
            current = None if current_id is None else copy.regs.get(current_id)
            if header.get("id") is None:
                if current is not None:
                    copy.drop_reg(current.id, cascade=True)
                    changes.append(
                        StoreChange("registration_removed", node, current, reason="refreshed")
                    )
                return
            lines = body.split(b"\n")
            reg = decode_registration(lines[0].decode(), f"registration {header['id']!r}")
            owner = str(header.get("own") or node)
            previous, replaced, _ = copy.put_reg(reg, owner, [], [], current_id or reg.id)
            for token in list(copy.obs_by_reg.get(reg.id, {})):
                copy.drop_obs(token)
            for line in lines[1:]:
                obs = decode_observation(line.decode(), f"observation of {reg.id!r}")
                copy.put_obs(dataclasses.replace(obs, registration_id=reg.id))
            changes.append(
                StoreChange(
                    "registration", owner, reg, previous=previous, replaced=replaced or None
                )
            )
        elif what == "o":
            token = bytes.fromhex(str(header["tok"]))
            if not body:
                if copy.drop_obs(token) is not None:
                    changes.append(StoreChange("observation_removed", node, token=token))
                return
            obs = decode_observation(body.decode(), f"observation {token.hex()}")
            rid = header.get("rid")
            if isinstance(rid, str) and rid != obs.registration_id:
                obs = dataclasses.replace(obs, registration_id=rid)
            copy.put_obs(obs)
        else:
            endpoint = str(header["ep"])
            old = copy.drop_sec(endpoint)
            if body:
                copy.put_sec(decode_security(body.decode(), f"security info {endpoint!r}"))
                changes.append(
                    StoreChange(
                        "security",
                        node,
                        endpoint=endpoint,
                        identity=None if old is None else old.psk_identity,
                    )
                )
            elif old is not None:
                changes.append(
                    StoreChange(
                        "security_removed", node, endpoint=endpoint, identity=old.psk_identity
                    )
                )

    # -------------------------------------------------------------- snapshots
    async def _resync(self, redis: Any) -> None:
        """Rebuild the copy from Redis (on the I/O loop, after (re)subscribing)."""
        p = self.prefix
        from redis.exceptions import ResponseError

        try:
            pipe = redis.pipeline(transaction=True)
            pipe.get(p + "schema")
            pipe.get(p + "seq")
            for name in ("reg", "reg:owner", "obs", "obs:rid", "sec"):
                pipe.hgetall(p + name)
            schema, seq, regs, owners, obs, obs_rid, sec = await pipe.execute()
        except ResponseError as exc:
            raise StoreCorrupt(
                f"Redis at {self.url}: the keys under {p!r} are not a server store of this "
                f"package ({exc})"
            ) from None
        if schema is None:
            if regs or obs or sec:
                raise StoreCorrupt(
                    f"Redis at {self.url}: records under {p!r} but no {p}schema key: "
                    "not a server store of this package"
                )
            await redis.set(p + "schema", str(SCHEMA_VERSION), nx=True)
        else:
            try:
                version = int(schema)
            except ValueError:
                raise StoreCorrupt(f"Redis at {self.url}: {p}schema is {schema!r}") from None
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"Redis at {self.url} holds schema version {version}; this version of "
                    f"lwm2m reads up to {SCHEMA_VERSION}"
                )
        fresh, damaged = _build_copy(regs, owners, obs, obs_rid, sec)
        for problem in damaged:
            log.error("Redis store at %s: %s (skipped)", self.url, problem)
        with self._lock:
            self._overlay_pending(fresh)
            first = self._snapshot_seq is None and not self._listeners
            self._copy = fresh
            self.damaged.extend(damaged)
            self._snapshot_seq = int(seq or 0)
            self._seq = self._snapshot_seq
            listeners = list(self._listeners)
        if not first:
            change = StoreChange("resync", self.node_id)
            for listener, delivery in listeners:
                delivery.put(listener, change)

    def _overlay_pending(self, fresh: _Copy) -> None:
        """Records with this node's writes in flight keep their state in ``fresh``."""
        old = self._copy
        for entity in self._pending:
            kind, key = entity[0], entity[2:]
            if kind == "r":
                fresh_id = fresh.by_ep.get(key)
                if fresh_id is not None:
                    fresh.drop_reg(fresh_id, cascade=True)
                old_id = old.by_ep.get(key)
                if old_id is not None and old_id in old.regs:
                    fresh.put_reg(old.regs[old_id], old.owner.get(old_id, self.node_id), [], [])
                    for token in old.obs_by_reg.get(old_id, {}):
                        fresh.put_obs(old.obs[token])
            elif kind == "o":
                token = bytes.fromhex(key)
                fresh.drop_obs(token)
                if token in old.obs and old.obs[token].registration_id in fresh.regs:
                    fresh.put_obs(old.obs[token])
            else:
                fresh.drop_sec(key)
                if key in old.sec:
                    fresh.put_sec(old.sec[key])


def _resolver(future: concurrent.futures.Future[Any]) -> Callable[[Any], None]:
    def done(reply: Any) -> None:
        if future.done():
            return
        if isinstance(reply, Exception):
            future.set_exception(RedisUnavailable(f"Redis: {reply}"))
        else:
            future.set_result(reply)

    return done


def _tokens(value: object) -> list[bytes]:
    if not isinstance(value, list):
        return []  # cjson writes an empty list as {}
    return [bytes.fromhex(str(t)) for t in value]


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreCorrupt(f"{what}: not UTF-8 ({exc})") from None


def _build_copy(
    regs: dict[bytes, bytes],
    owners: dict[bytes, bytes],
    obs: dict[bytes, bytes],
    obs_rid: dict[bytes, bytes],
    sec: dict[bytes, bytes],
) -> tuple[_Copy, list[str]]:
    """A copy from the hashes of a snapshot, and the damaged records it skipped."""
    copy = _Copy()
    damaged: list[str] = []
    for raw_id, raw in regs.items():
        what = f"registration {raw_id.decode('utf-8', 'replace')!r}"
        try:
            reg = decode_registration(_text(raw, what), what)
            if reg.id.encode() != raw_id:
                raise StoreCorrupt(f"{what}: the record names id {reg.id!r}")
        except StoreCorrupt as exc:
            damaged.append(str(exc))
            continue
        owner = owners.get(raw_id, b"").decode("utf-8", "replace")
        copy.put_reg(reg, owner, [], [], reg.id)
    for raw_token, raw in obs.items():
        what = f"observation {raw_token.decode('ascii', 'replace')}"
        try:
            token = bytes.fromhex(raw_token.decode("ascii"))
            record = decode_observation(_text(raw, what), what)
            rid = obs_rid.get(raw_token)
            if rid is not None and rid.decode() != record.registration_id:
                record = dataclasses.replace(record, registration_id=rid.decode())
            if record.token != token:
                raise StoreCorrupt(f"{what}: the record names token {record.token.hex()}")
        except StoreCorrupt as exc:
            damaged.append(str(exc))
            continue
        except ValueError as exc:  # the key is not a hex token
            damaged.append(f"{what}: {exc}")
            continue
        if record.registration_id in copy.regs:
            copy.put_obs(record)
    for raw_ep, raw in sec.items():
        what = f"security info {raw_ep.decode('utf-8', 'replace')!r}"
        try:
            info = decode_security(_text(raw, what), what)
        except StoreCorrupt as exc:
            damaged.append(str(exc))
            continue
        copy.put_sec(info)
    return copy, damaged
