"""A small least-recently-used store bounded by bytes, for what search works out once and reuses."""
from __future__ import annotations

import threading


class Kept:
    """The most recently used of what was read or worked out, up to a budget of bytes (the least
    recently used let go first); safe to share between threads."""

    def __init__(self, budget: int):
        self.budget = budget
        self._items: dict[object, tuple[object, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            found = self._items.pop(key, None)
            if found is None:
                return None
            self._items[key] = found  # most recently used last
            return found[0]

    def get_or(self, key, make):
        """The kept value, or `make()`'s (value, size) kept and given; None where `make` gives None."""
        found = self.get(key)
        if found is None:
            made = make()
            if made is None:
                return None
            found, size = made
            self.put(key, found, size)
        return found

    def put(self, key, value, size: int) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes += size - (old[1] if old else 0)
            self._items[key] = (value, size)
            while self._bytes > self.budget and len(self._items) > 1:
                self._bytes -= self._items.pop(next(iter(self._items)))[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
