"""Hypothesis example databases for campaigns: local, optionally shared via Redis.

``open_database(local_dir, redis_url=None, on_warning=print)`` returns a
database for ``@settings(database=...)``: a ``DirectoryBasedExampleDatabase``
under ``local_dir``, multiplexed (``MultiplexedDatabase``) with a
``RedisExampleDatabase`` when ``redis_url`` is given, so every worker on every
machine replays what any of them found.  The Redis side is wrapped so that a
server that is down at start or goes away mid-run never stops the campaign:
the failed call is dropped, the campaign goes on with the local database, and
``on_warning`` is told once.

``redis_database(redis_url, on_warning)`` is that Redis side alone (None
without a URL).  :class:`RecordingDatabase` forwards to another database and
records every change, so that a campaign chunk run elsewhere (a cluster
worker) can hand its changes back; :func:`replay_changes` applies them to the
submitting machine's database.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, MultiplexedDatabase


class FallbackDatabase(ExampleDatabase):
    """Forwards to ``inner``; after its first error, reports once and stays off."""

    def __init__(self, inner: ExampleDatabase, name: str, on_warning: Callable[[str], None]):
        super().__init__()
        self.inner, self.name, self.on_warning = inner, name, on_warning
        self.failed: Optional[str] = None

    def _fetch_list(self, key):
        return list(self.inner.fetch(key))

    def _call(self, method: str, *args, default=None):
        if self.failed is not None:
            return default
        try:
            target = self if method == "_fetch_list" else self.inner
            return getattr(target, method)(*args)
        except Exception as exc:  # any client error: connection refused, reset, timeout
            self.failed = f"{type(exc).__name__}: {exc}"
            self.on_warning(f"{self.name} unreachable ({self.failed}); continuing with the local database only")
            return default

    def fetch(self, key):
        # Materialize inside the guard: a lazy iterator would fail outside it.
        return iter(self._call("_fetch_list", key, default=[]))

    def save(self, key, value):
        self._call("save", key, value)

    def delete(self, key, value):
        self._call("delete", key, value)

    def move(self, src, dest, value):
        self._call("move", src, dest, value)


def redis_database(redis_url: Optional[str], on_warning: Callable[[str], None] = print) -> Optional[ExampleDatabase]:
    """The Redis database at ``redis_url`` (guarded by :class:`FallbackDatabase`), or None."""
    if not redis_url:
        return None
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as exc:
        on_warning(f"--redis needs the 'redis' package ({exc}); continuing with the local database only")
        return None
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    return FallbackDatabase(RedisExampleDatabase(client), f"Redis at {redis_url}", on_warning)


def open_database(local_dir, redis_url: Optional[str] = None,
                  on_warning: Callable[[str], None] = print) -> ExampleDatabase:
    local = DirectoryBasedExampleDatabase(str(Path(local_dir)))
    shared = redis_database(redis_url, on_warning)
    return local if shared is None else MultiplexedDatabase(local, shared)


class RecordingDatabase(ExampleDatabase):
    """Forwards to ``inner``; every change (``save``, ``delete``, ``move``) is also appended to
    ``changes`` as ``(method, args)``."""

    def __init__(self, inner: ExampleDatabase):
        super().__init__()
        self.inner = inner
        self.changes: list = []

    def fetch(self, key):
        return self.inner.fetch(key)

    def save(self, key, value):
        self.changes.append(("save", (key, value)))
        self.inner.save(key, value)

    def delete(self, key, value):
        self.changes.append(("delete", (key, value)))
        self.inner.delete(key, value)

    def move(self, src, dest, value):
        self.changes.append(("move", (src, dest, value)))
        self.inner.move(src, dest, value)


def replay_changes(db: ExampleDatabase, changes) -> None:
    """Apply the ``changes`` of a :class:`RecordingDatabase` to ``db``, in order."""
    for method, args in changes:
        if method not in ("save", "delete", "move"):
            raise ValueError(f"database change {method!r}: expected save, delete or move")
        getattr(db, method)(*args)
