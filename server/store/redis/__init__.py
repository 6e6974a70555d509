"""The Redis answer store (`--store redis://…`): any instance serves any request, one generates.

- `health`: whether Redis is reachable, said once per outage; `retrying`, the one loop that
  waits out an unreachable Redis.
- `layout`: one answer's keys and stream entries, and the Lua scripts that change them.
- `generation`: the instance holding an answer's lease runs its answerer into the stream.
- `store`: `RedisEventStore`, which opens, reads and stops answers.
"""
