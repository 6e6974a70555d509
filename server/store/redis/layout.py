"""One answer in Redis: its keys, its stream entries, and the Lua scripts that change them.

Per request id, three keys that share the hash tag `{rid}`, so that they live in one slot
of a Redis Cluster and one script may touch them all:

- `chat:{rid}:events`: a stream. Entry `0-1` holds the question; event n is entry `n-1`
  (`e` = the event's JSON); an entry `n-2` after event n ends the answer (`end` = done,
  error or stopped; `retryable` and `text` = 0/1, for a retry's decision). So the entry
  ids are the SSE ids, a reader resumes after event n with XREAD from `n-1`, and a stream
  has ended exactly when its last entry's id ends in `-2`.
- `chat:{rid}:lease`: who generates the answer: `"<instance> <nonce>"`, with a TTL that
  the owner renews. Every write of the owner checks it, so an owner that lost its lease
  (paused too long, or Redis restarted) can never write a second version of the answer.
- `chat:{rid}:readers`: exists while some connection has read the answer within the grace
  period; the owner stops generating for nobody.

Stops travel as a PUBLISH of the rid on `chat:stop:<instance>`, the owner's own channel.
Each script is atomic, which is what makes "generate once" and "stop once" hold across
instances without any lock of our own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from server.events import AnswerEvent, ServerError, event_from_json, event_json
from server.store.types import Batch, Outcome

STOP_CHANNEL = "chat:stop:"
#: Most entries one XREAD returns; a reader that is further behind reads again.
READ_COUNT = 500
#: The id XREAD starts after to read from the first event (the question's entry).
HEADER_ID = "0-1"


@dataclass(frozen=True)
class Keys:
    """The keys of one answer."""

    rid: str
    events: str
    lease: str
    readers: str

    @classmethod
    def of(cls, rid: str) -> Keys:
        tag = f"chat:{{{rid}}}"
        return cls(rid, f"{tag}:events", f"{tag}:lease", f"{tag}:readers")


@dataclass(frozen=True)
class Ending:
    """Why an answer ended, as its last entry says."""

    outcome: Outcome
    retryable: bool = False
    has_text: bool = False


def after_id(n: int) -> str:
    """The stream id to read after, for a client that has seen events 1..n."""
    return f"{n}-1"


def encode_event(event: AnswerEvent) -> str:
    return json.dumps(event_json(event), ensure_ascii=False, separators=(",", ":"))


def decode_batch(entries: Sequence[tuple[str, dict[str, str]]]) -> Batch:
    """The events of stream `entries` (in order, after some event), and the ending if any."""
    events: list[AnswerEvent] = []
    outcome = Outcome.RUNNING
    for entry_id, fields in entries:
        if entry_id.endswith("-2"):
            outcome = decode_ending(fields).outcome
        elif entry_id != HEADER_ID:
            events.append(event_from_json(json.loads(fields["e"])))
            outcome = Outcome.RUNNING  # an ending followed by events was a failed attempt's
    return Batch(tuple(events), outcome)


def decode_ending(fields: dict[str, str]) -> Ending:
    return Ending(
        Outcome(fields.get("end", "error")),
        retryable=fields.get("retryable") == "1",
        has_text=fields.get("text") == "1",
    )


def sequence_number(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class Verdict:
    """What the owner's writes and renewals answer (plain strings, as Lua returns them)."""

    #: Written, or renewed with some reader there.
    OK = "ok"
    #: Renewed, but nobody has read the answer for the grace period.
    ALONE = "alone"
    #: Not written: the lease is not ours any more, or the stream is gone.
    LOST = "lost"
    #: Not written: the answer has ended (a stop, or a reader found the owner gone).
    ENDED = "ended"


class Commands:
    """This layout's reads and scripts; each call is one round trip. Blocking reads go
    through `tail`, everything else through `redis`."""

    def __init__(
        self, redis: Redis, tail: Redis, *, keep_ms: int, lease_ms: int, grace_ms: int
    ) -> None:
        self._redis = redis
        self._tail = tail
        self._keep_ms = keep_ms
        self._lease_ms = lease_ms
        self._grace_ms = grace_ms
        # redis-py sends EVALSHA and loads a script again after a NOSCRIPT (a restarted Redis).
        self._open = redis.register_script(_TAIL + _OPEN)
        self._append = redis.register_script(_TAIL + _OWNER + _APPEND)
        self._renew = redis.register_script(_TAIL + _OWNER + _RENEW)
        self._release = redis.register_script(_RELEASE)
        self._check = redis.register_script(_TAIL + _CHECK)
        self._stop = redis.register_script(_TAIL + _STOP)
        self._restart = redis.register_script(_RESTART)

    async def read(self, keys: Keys, after: int, block_ms: int) -> Batch | None:
        """The entries after event `after`, waiting up to `block_ms` (0: not at all) for some;
        None: none came."""
        reply: Any = await self._tail.xread(
            {keys.events: after_id(after)}, count=READ_COUNT, block=block_ms or None
        )
        return decode_batch(reply[0][1]) if reply else None

    async def last_entry(self, keys: Keys) -> tuple[str, dict[str, str]] | None:
        reply: Any = await self._redis.xrevrange(keys.events, count=1)
        return (str(reply[0][0]), dict(reply[0][1])) if reply else None

    async def show_reader(self, keys: Keys) -> None:
        """Says that a reader is there, for the grace period."""
        await self._redis.set(keys.readers, 1, px=self._grace_ms)

    async def open(
        self, keys: Keys, question: str, token: str, *, may_create: bool
    ) -> tuple[str, str | None]:
        """("created", None), ("exists", its question or None) or ("missing", None)."""
        reply = await self._call(
            self._open,
            keys,
            [question, int(may_create), token, self._lease_ms, self._keep_ms, self._grace_ms],
        )
        return str(reply[0]), (str(reply[1]) if len(reply) > 1 else None)

    async def append(
        self,
        keys: Keys,
        token: str,
        first: int,
        events: Sequence[AnswerEvent],
        ending: Ending | None,
        *,
        maxlen: int,
    ) -> str:
        """Appends events numbered from `first`, and the ending (which releases the lease):
        a Verdict, OK or why nothing was written."""
        ending_args: list[str | int] = ["", 0, 0]
        if ending is not None:
            ending_args = [ending.outcome.value, int(ending.retryable), int(ending.has_text)]
        args: list[str | int] = [token, self._keep_ms, maxlen, first, *ending_args]
        args.extend(encode_event(event) for event in events)
        return str(await self._call(self._append, keys, args))

    async def renew(self, keys: Keys, token: str) -> str:
        """Extends the lease and the stream's TTL: a Verdict (ALONE: no reader lately)."""
        return str(await self._call(self._renew, keys, [token, self._lease_ms, self._keep_ms]))

    async def release(self, keys: Keys, token: str) -> None:
        await self._call(self._release, keys, [token])

    async def check(self, keys: Keys, orphaned: ServerError) -> tuple[str, Ending | None]:
        """A silent answer's state: ("running", None), ("gone", None), ("ended", ending) or
        ("orphaned", None) when nobody held its lease, so `orphaned` was appended to end it."""
        reply = await self._call(self._check, keys, [encode_event(orphaned), self._keep_ms])
        status = str(reply[0])
        if status == "ended":
            fields = dict(zip(reply[1::2], reply[2::2], strict=True))
            return status, decode_ending(fields)
        return status, None

    async def stop(self, keys: Keys) -> bool:
        """Ends the answer as stopped and tells its owner; False if it had already ended."""
        return bool(await self._call(self._stop, keys, [keys.rid, STOP_CHANNEL, self._keep_ms]))

    async def restart(self, keys: Keys, count: int, token: str) -> bool:
        """Takes the lease for a new attempt, if the answer ended with a retryable error
        without text as event `count`; removes that ending, so the stream runs again."""
        args: list[str | int] = [count, token, self._lease_ms, self._keep_ms, self._grace_ms]
        return bool(await self._call(self._restart, keys, args))

    @staticmethod
    async def _call(script: Any, keys: Keys, args: Sequence[str | int]) -> Any:
        return await script(keys=[keys.events, keys.lease, keys.readers], args=list(args))


# Lua. KEYS are always events, lease, readers. Redis runs each script atomically.

#: The sequence number of the stream's last entry, and whether that entry ends the answer;
#: nil when the stream does not exist.
_TAIL = """
local function tail(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if not last then return nil end
  local seq, part = string.match(last[1], '^(%d+)%-(%d+)$')
  return tonumber(seq), part == '2', last[2]
end
"""

# ARGV: question, may_create (0/1), token, lease_ms, keep_ms, grace_ms
_OPEN = """
local header = redis.call('XRANGE', KEYS[1], '0-1', '0-1')[1]
if header then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
  return {'exists', header[2][2]}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
  return {'exists'}
end
if ARGV[2] ~= '1' then return {'missing'} end
redis.call('XADD', KEYS[1], '0-1', 'q', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
return {'created'}
"""

#: Whoever holds the lease may write, and nobody else: every way an answer ends (the owner's
#: ending, a stop) deletes the lease in the same script, so holding it also means that the
#: answer has not ended. This is the only check on the hot path, one GET per append.
_OWNER = """
local function owned(token)
  if redis.call('GET', KEYS[2]) == token then return true end
  local seq, ended = tail(KEYS[1])
  return false, (ended and 'ended' or 'lost')
end
"""

# ARGV: token, keep_ms, maxlen, first, end, retryable, text, event JSON...
_APPEND = """
local mine, why = owned(ARGV[1])
if not mine then return why end
local seq = tonumber(ARGV[4]) - 1
for i = 8, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'e', ARGV[i])
end
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq .. '-2',
    'end', ARGV[5], 'retryable', ARGV[6], 'text', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
end
return 'ok'
"""

# ARGV: token, lease_ms, keep_ms
_RENEW = """
local mine, why = owned(ARGV[1])
if not mine then return why end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[3]) == 0 then return 'alone' end
return 'ok'
"""

# Compare and delete. ARGV: token
_RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then return redis.call('DEL', KEYS[2]) end
return 0
"""

# ARGV: the orphaned error's JSON, keep_ms
_CHECK = """
local seq, ended, fields = tail(KEYS[1])
if seq == nil then return {'gone'} end
if ended then
  local reply = {'ended'}
  for i = 1, #fields do reply[#reply + 1] = fields[i] end
  return reply
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'running'} end
redis.call('XADD', KEYS[1], (seq + 1) .. '-1', 'e', ARGV[1])
redis.call('XADD', KEYS[1], (seq + 1) .. '-2', 'end', 'error', 'retryable', '0', 'text', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'orphaned'}
"""

# ARGV: rid, channel prefix, keep_ms
_STOP = """
local seq, ended = tail(KEYS[1])
if seq == nil or ended then return 0 end
redis.call('XADD', KEYS[1], seq .. '-2', 'end', 'stopped', 'retryable', '0', 'text', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local owner = redis.call('GET', KEYS[2])
if owner then
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[2] .. string.match(owner, '^%S+'), ARGV[1])
end
return 1
"""

# ARGV: count, token, lease_ms, keep_ms, grace_ms
_RESTART = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not last or last[1] ~= ARGV[1] .. '-2' then return 0 end
local f = {}
for i = 1, #last[2], 2 do f[last[2][i]] = last[2][i + 1] end
if f['end'] ~= 'error' or f['retryable'] ~= '1' or f['text'] ~= '0' then return 0 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('XDEL', KEYS[1], last[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
return 1
"""
