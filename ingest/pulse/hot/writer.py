"""Applies a batch's increments to Redis exactly once, atomically with its offset marker.

One Lua script per partition batch: it reads ``pulse:hot:applied:<topic>:<partition>``; if a batch
reaching past ``first`` was already applied it changes nothing and returns that offset (the caller
drops those messages and retries the rest); otherwise it applies every increment, sets expiries
and moves the marker to ``last`` — all or nothing, since Redis runs a script atomically. So a
restarted or rebalanced updater that re-reads uncommitted messages never counts them twice.
The script is one round trip (the write is pipelined by construction).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from pulse.hot.aggregate import Increments

APPLY_LUA = """
local marker = redis.call('GET', KEYS[1])
if marker and tonumber(marker) >= tonumber(ARGV[1]) then
  return tonumber(marker)
end
local i = 4
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HINCRBY', ARGV[i], ARGV[i + 1], ARGV[i + 2]); i = i + 3 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZINCRBY', ARGV[i], ARGV[i + 2], ARGV[i + 1]); i = i + 3 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local key = ARGV[i]
  local count = tonumber(ARGV[i + 1])
  i = i + 2
  local j = 0
  while j < count do
    local k = math.min(count - j, 500)
    redis.call('PFADD', key, unpack(ARGV, i + j, i + j + k - 1))
    j = j + k
  end
  i = i + count
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZADD', ARGV[i], 'GT', ARGV[i + 2], ARGV[i + 1]); i = i + 3 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', ARGV[i], ARGV[i + 1], redis.call('PFCOUNT', ARGV[i + 2])); i = i + 3 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local at = tonumber(ARGV[i + 1])
  local current = redis.call('EXPIRETIME', ARGV[i])
  if current == -1 or current < at then redis.call('EXPIREAT', ARGV[i], at) end
  i = i + 2
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return -1
"""

APPLIED = -1


def script_args(first: int, last: int, marker_ttl_s: int, inc: Increments) -> list[Any]:
    """The script's ARGV: counts followed by flat operands, in the script's order."""
    args: list[Any] = [first, last, marker_ttl_s, len(inc.hincr)]
    for (key, field), amount in inc.hincr.items():
        args += (key, field, amount)
    args.append(len(inc.zincr))
    for (key, member), amount in inc.zincr.items():
        args += (key, member, amount)
    args.append(len(inc.pfadd))
    for key, members in inc.pfadd.items():
        args += (key, len(members), *members)
    args.append(len(inc.zadd_max))
    for (key, member), score in inc.zadd_max.items():
        args += (key, member, score)
    args.append(len(inc.hll_counts))
    for triple in inc.hll_counts:
        args += triple
    args.append(len(inc.expire_at))
    for key, at in inc.expire_at.items():
        args += (key, at)
    return args


class HotWriter:
    def __init__(self, redis: Redis, marker_ttl_s: int) -> None:
        self.redis = redis
        self.marker_ttl_s = marker_ttl_s
        self._script = redis.register_script(APPLY_LUA)

    async def applied_offset(self, marker_key: str) -> int:
        """The last offset applied for a partition, or -1."""
        value = await self.redis.get(marker_key)
        return int(value) if value is not None else -1

    async def apply(self, marker_key: str, first: int, last: int, inc: Increments) -> int:
        """APPLIED (-1), or the marker that already covers ``first`` (nothing was changed)."""
        result = await self._script(keys=[marker_key], args=script_args(first, last, self.marker_ttl_s, inc))
        return int(result)
