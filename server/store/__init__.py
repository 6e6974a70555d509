"""Where answers' events are kept, by request id: the interface the chat endpoint uses.

Modules, each importing only those listed before it (tests/server/test_store_imports.py):

- `types`: the shared values (`Outcome`, `Batch`, ...) and errors (all `StoreError`s).
- `interface`: `EventStore` and `StoredAnswer`, the protocols the endpoint uses.
- `memory`: `MemoryEventStore`, the default: one process, generation pulled by readers.
- `redis/`: `RedisEventStore` (`--store redis://…`): any number of instances share one Redis,
  generation pushed by the one instance holding the answer's lease.
- `open`: `open_store`, the store the settings name.

This file imports nothing, so that importing any of them loads only what it needs.
"""
