"""The line and the sold-out markers in Redis, shared by every app process and host.

Keys (under CROWD_KEY_PREFIX, "crowd:" by default):

  line      sorted set: cart -> place number (INCR of `seq`): first come, first served
  seen      sorted set: cart -> when its waiting page last asked (ms): silent places are dropped
  near      sorted set: cart -> when its place came near the front (ms): the near timeout's start
  in        sorted set: cart -> until when it counts as in checkout (ms): the capacity's count
  seq       the place counter
  cap       the capacity set in the console (absent: CHECKOUT_QUEUE_CAPACITY)
  admitted  sorted set of the last minute's admissions (for the dashboard)
  so:<id>   a variant's sold-out marker (its label), with a time to live
  ep:<id>   a variant's restock counter: a marker is set only if it has not moved since the
            stock was read, so a restock that commits meanwhile always wins

A turn (join or poll) is one script: expired slots and silent places are forgotten, and the
admission decided and recorded atomically, so two processes never admit past the capacity.
"""

from __future__ import annotations

from typing import Any

import redis

from commerce.crowd import (
    ADMITTED_WINDOW_MS,
    EPOCH_MS,
    NEAR_ROUNDS,
    Board,
    Rules,
    Turn,
)

# Every script first forgets the slots whose time is up and the places whose pages stopped
# asking: anywhere after the place timeout, and near the front (the first `near_count`, none
# without a cap) after the near timeout, counted from when the place came near (`near`: member
# -> since when).
FORGET_LAPSED = """
local function forget(line, seen, near, m)
  redis.call('ZREM', line, m)
  redis.call('ZREM', seen, m)
  redis.call('ZREM', near, m)
end
local function forget_lapsed(line, seen, inside, near, now, place_timeout, near_timeout, near_count)
  redis.call('ZREMRANGEBYSCORE', inside, '-inf', now)
  local silent = redis.call('ZRANGEBYSCORE', seen, '-inf', now - place_timeout)
  for _, m in ipairs(silent) do
    forget(line, seen, near, m)
  end
  if near_count > 0 then
    for _, m in ipairs(redis.call('ZRANGE', line, 0, near_count - 1)) do
      redis.call('ZADD', near, 'NX', now, m)
      local since = math.max(tonumber(redis.call('ZSCORE', near, m)),
                             tonumber(redis.call('ZSCORE', seen, m) or '0'))
      if since < now - near_timeout then
        forget(line, seen, near, m)
      end
    end
  end
end
"""

TAKE_TURN = (
    FORGET_LAPSED
    + """
local line, seen, inside, seq_key, cap_key, admitted, near =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local member, now = ARGV[1], tonumber(ARGV[2])
local place_timeout, slot_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local polling, ticket_seq, window = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8])
local near_timeout, rounds = tonumber(ARGV[9]), tonumber(ARGV[10])

local epochs, sold = {}, {}
for i = 1, (#KEYS - 7) / 2 do
  local label = redis.call('GET', KEYS[6 + 2 * i])
  epochs[i] = redis.call('GET', KEYS[7 + 2 * i]) or '0'
  if label then
    sold[#sold + 1] = tostring(i)
    sold[#sold + 1] = label
  end
end

local cap = tonumber(redis.call('GET', cap_key) or ARGV[3])
forget_lapsed(line, seen, inside, near, now, place_timeout, near_timeout, cap * rounds)
local active = redis.call('ZCARD', inside)

local function answer(status, position, seq)
  return {status, position, seq, cap, redis.call('ZCARD', inside), redis.call('ZCARD', line),
          epochs, sold}
end

local function admit(status)
  forget(line, seen, near, member)
  redis.call('ZADD', inside, now + slot_ms, member)
  if status == 'admitted' then
    redis.call('ZADD', admitted, now, member .. '@' .. now)
    redis.call('ZREMRANGEBYSCORE', admitted, '-inf', now - window)
  end
  return answer(status, 0, 0)
end

if redis.call('ZSCORE', inside, member) then
  return admit('inside')
end
if #sold > 0 then
  forget(line, seen, near, member)
  return answer('sold_out', 0, 0)
end
local mine = redis.call('ZSCORE', line, member)
if not mine then
  if polling then
    return answer('lost', 0, 0)
  end
  if cap <= 0 or (redis.call('ZCARD', line) == 0 and active < cap) then
    return admit('admitted')
  end
  mine = redis.call('INCR', seq_key)
  redis.call('ZADD', line, mine, member)
elseif polling and tostring(mine) ~= ticket_seq then
  return answer('lost', 0, 0)
end
redis.call('ZADD', seen, now, member)
local rank = redis.call('ZRANK', line, member)
if cap <= 0 or rank < cap - active then
  return admit('admitted')
end
return answer('waiting', rank + 1, tonumber(mine))
"""
)

# KEYS: line, seen, in, seq, cap, near, then each variant's sold-out marker (its label);
# ARGV: now, the default capacity, the place timeout, NEAR_ROUNDS, the near timeout.
BOARD = (
    FORGET_LAPSED
    + """
local line, seen, inside, seq_key, cap_key, near =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = tonumber(ARGV[1])
local cap = tonumber(redis.call('GET', cap_key) or ARGV[2])
forget_lapsed(line, seen, inside, near, now, tonumber(ARGV[3]), tonumber(ARGV[5]),
              cap * tonumber(ARGV[4]))
local sold = {}
for i = 7, #KEYS do
  local label = redis.call('GET', KEYS[i])
  if label then
    sold[#sold + 1] = tostring(i - 6)
    sold[#sold + 1] = label
  end
end
local last = tonumber(redis.call('GET', seq_key) or '0')
if cap <= 0 then
  return {last, last, sold}
end
local function upto(count)
  if count <= 0 then
    local first = redis.call('ZRANGE', line, 0, 0, 'WITHSCORES')
    if #first == 0 then return last end
    return tonumber(first[2]) - 1
  end
  local at = redis.call('ZRANGE', line, count - 1, count - 1, 'WITHSCORES')
  if #at == 0 then return last end
  return tonumber(at[2])
end
return {upto(cap - redis.call('ZCARD', inside)), upto(tonumber(ARGV[4]) * cap), sold}
"""
)

STATS = (
    FORGET_LAPSED
    + """
local line, seen, inside, cap_key, admitted, near =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = tonumber(ARGV[1])
local cap = tonumber(redis.call('GET', cap_key) or ARGV[2])
forget_lapsed(line, seen, inside, near, now, tonumber(ARGV[3]), tonumber(ARGV[5]),
              cap * tonumber(ARGV[6]))
redis.call('ZREMRANGEBYSCORE', admitted, '-inf', now - tonumber(ARGV[4]))
return {cap, redis.call('ZCARD', inside), redis.call('ZCARD', line), redis.call('ZCARD', admitted)}
"""
)

# KEYS: marker, epoch per variant; ARGV: ttl, then the epoch read and the label per variant.
MARK_SOLD_OUT = """
local marked = {}
for i = 1, #KEYS / 2 do
  if (redis.call('GET', KEYS[2 * i]) or '0') == ARGV[2 * i] then
    redis.call('SET', KEYS[2 * i - 1], ARGV[2 * i + 1], 'PX', ARGV[1])
    marked[#marked + 1] = i
  end
end
return marked
"""

# KEYS: marker, epoch per variant; ARGV: how long the counters are kept.
CLEAR_SOLD_OUT = """
for i = 1, #KEYS / 2 do
  redis.call('DEL', KEYS[2 * i - 1])
  redis.call('INCR', KEYS[2 * i])
  redis.call('PEXPIRE', KEYS[2 * i], ARGV[1])
end
return #KEYS / 2
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLineStore:
    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._take_turn = client.register_script(TAKE_TURN)
        self._stats = client.register_script(STATS)
        self._board = client.register_script(BOARD)
        self._mark = client.register_script(MARK_SOLD_OUT)
        self._clear = client.register_script(CLEAR_SOLD_OUT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str, timeout: float) -> RedisLineStore:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        return cls(client, prefix=prefix)

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _line_keys(self) -> list[str]:
        return [self._key(k) for k in ("line", "seen", "in", "seq", "cap", "admitted", "near")]

    def _variant_keys(self, variant_ids: list[int]) -> list[str]:
        keys = []
        for variant_id in variant_ids:
            keys += [self._key(f"so:{variant_id}"), self._key(f"ep:{variant_id}")]
        return keys

    def take_turn(
        self,
        member: str,
        variant_ids: list[int],
        *,
        now_ms: int,
        rules: Rules,
        polling: bool,
        ticket_seq: int,
    ) -> Turn:
        status, position, seq, cap, inside, waiting, epochs, sold = self._take_turn(
            keys=self._line_keys() + self._variant_keys(variant_ids),
            args=[
                member,
                now_ms,
                rules.default_capacity,
                rules.place_timeout_ms,
                rules.slot_ms,
                "1" if polling else "0",
                str(ticket_seq),
                ADMITTED_WINDOW_MS,
                rules.near_timeout_ms,
                NEAR_ROUNDS,
            ],
        )
        sold_out = {
            variant_ids[int(_text(sold[i])) - 1]: _text(sold[i + 1]) for i in range(0, len(sold), 2)
        }
        return Turn(
            _text(status),
            position=int(position),
            seq=int(seq),
            capacity=int(cap),
            inside=int(inside),
            waiting=int(waiting),
            sold_out=sold_out,
            epochs={v: int(_text(e)) for v, e in zip(variant_ids, epochs, strict=True)},
        )

    def leave(self, member: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        for name in ("in", "line", "seen", "near"):
            pipe.zrem(self._key(name), member)
        pipe.execute()

    def board(self, variant_ids: list[int], *, now_ms: int, rules: Rules) -> Board:
        keys = [self._key(k) for k in ("line", "seen", "in", "seq", "cap", "near")]
        keys += [self._key(f"so:{variant_id}") for variant_id in variant_ids]
        args = [
            now_ms,
            rules.default_capacity,
            rules.place_timeout_ms,
            NEAR_ROUNDS,
            rules.near_timeout_ms,
        ]
        serving, near, sold = self._board(keys=keys, args=args)
        sold_out = {
            variant_ids[int(_text(sold[i])) - 1]: _text(sold[i + 1]) for i in range(0, len(sold), 2)
        }
        return Board(int(serving), int(near), sold_out)

    def stats(self, *, now_ms: int, rules: Rules) -> tuple[int, int, int, int]:
        keys = [self._key(k) for k in ("line", "seen", "in", "cap", "admitted", "near")]
        args = [
            now_ms,
            rules.default_capacity,
            rules.place_timeout_ms,
            ADMITTED_WINDOW_MS,
            rules.near_timeout_ms,
            NEAR_ROUNDS,
        ]
        capacity, inside, waiting, admitted = self._stats(keys=keys, args=args)
        return int(capacity), int(inside), int(waiting), int(admitted)

    def capacity(self) -> int | None:
        value = self.client.get(self._key("cap"))
        return None if value is None else int(value)

    def set_capacity(self, capacity: int) -> None:
        self.client.set(self._key("cap"), int(capacity))

    def epochs(self, variant_ids: list[int]) -> dict[int, int]:
        if not variant_ids:
            return {}
        values = self.client.mget([self._key(f"ep:{v}") for v in variant_ids])
        return {v: int(value or 0) for v, value in zip(variant_ids, values, strict=True)}

    def mark_sold_out(
        self, epochs: dict[int, int], labels: dict[int, str], *, ttl_ms: int
    ) -> list[int]:
        ids = sorted(epochs)
        args: list[Any] = [int(ttl_ms)]
        for variant_id in ids:
            args += [str(epochs[variant_id]), labels.get(variant_id) or ""]
        marked = self._mark(keys=self._variant_keys(ids), args=args)
        return [ids[int(i) - 1] for i in marked]

    def clear_sold_out(self, variant_ids: list[int]) -> None:
        self._clear(keys=self._variant_keys(variant_ids), args=[EPOCH_MS])
