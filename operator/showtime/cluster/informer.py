"""Watch-fed caches of the collections the reconciler reads: list once, then follow changes.

An ``Informer`` lists one collection (plain JSON, not the client's model classes), then
watches it from that resourceVersion in a background thread, replacing whole objects on
every change. A tick reads the cache instead of listing again, so its cost follows what
changed, not how much exists. A watch that ends is resumed; one that is too old (410 Gone)
is replaced by a fresh list, read in pages so that a large collection never sits in memory
twice. ``managedFields`` and kubectl's last-applied-configuration annotation (a second copy
of the object) are dropped to keep memory small, or an optional ``transform``
(e.g. ``podstartup.slim_pod``) cuts each object down to what its readers need before it is
stored. Strings are interned (``compact``): a watch event is parsed on its own, so without
it every cached object carries its own copy of each key and of values that thousands of
objects share (namespaces, labels, images, resource quantities). What the operator
itself wrote is put into the cache at once (``upsert``), so the next tick never acts on
a view older than its own writes.

resourceVersions are compared only for equality, as the API conventions require. A watch
delivers an object's versions in order, so: a write whose version the watch has already
delivered is not put in again (the cache holds it or something newer), and until the
watch delivers the version of a write that was put in, whatever it delivers for that
object is older and is not let over it. Decisions are not made here.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from kubernetes.watch import watch as _watch

log = structlog.get_logger("showtime.cluster.informer")
ListFn = Callable[..., Any]
Transform = Callable[[dict[str, Any]], dict[str, Any]]
_iter_lines: Callable[[Any], Any] = _watch.iter_resp_lines  # untyped in the client
ObjectKey = tuple[str, str]  # (namespace, name)
WATCH_SECONDS = 240
RETRY_SECONDS = 2.0
PAGE_SIZE = 500
MAX_PAGES = 10_000  # 5 million objects: a bound, not a limit anyone should meet


def _key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata", {})
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"  # a copy of the object


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return obj


INTERN_UP_TO = 256  # characters: longer strings (rare, e.g. annotations) are kept as they are


def compact(value: Any) -> Any:
    """``value`` rebuilt with every dict key and every string up to ``INTERN_UP_TO`` interned."""
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= INTERN_UP_TO:
        return sys.intern(value)
    return value


SEEN_VERSIONS = 8  # per object: the versions the watch delivered last


def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion") or "")


class Informer:
    def __init__(
        self,
        name: str,
        list_fn: ListFn,
        *args: Any,
        transform: Transform | None = None,
        intern: bool = True,
        written: bool = True,
    ) -> None:
        """``intern``: ``compact`` what ``transform`` keeps (off where strings are mostly
        unique, as a slim pod's are). ``written``: the operator writes these objects and
        ``upsert``s them; off, no per-object version bookkeeping is kept (50,000 pods)."""
        self.name = name
        self._list_fn = list_fn
        self._args = args
        slim = transform or _slim
        self._transform: Transform = (lambda obj: compact(slim(obj))) if intern else slim
        self._written = written
        self._items: dict[ObjectKey, dict[str, Any]] = {}
        # versions the watch delivered last, per object: a tuple (a deque costs ~600 bytes)
        self._seen: dict[ObjectKey, tuple[str, ...]] = {}
        self._pending: dict[ObjectKey, str] = {}  # our writes the watch has not delivered yet
        self._lock = threading.Lock()
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading -----------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        """The cached objects. Objects are replaced, never changed in place: treat as frozen."""
        with self._lock:
            return list(self._items.values())

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get((namespace, name))

    def upsert(self, obj: dict[str, Any]) -> None:
        """Put an object the operator just wrote, unless the watch already delivered it."""
        key, version = _key(obj), _version(obj)
        if not self._written:
            raise ValueError(f"the {self.name} informer is not told of writes")
        with self._lock:
            if not version or version in self._seen.get(key, ()):
                return  # the cache holds this version, or one the watch delivered after it
            self._items[key] = self._transform(obj)
            self._pending[key] = version

    def _delivered(self, key: ObjectKey, obj: dict[str, Any], deleted: bool) -> None:
        """A watch event, in order. Called with the lock held."""
        version = _version(obj)
        if deleted:
            self._items.pop(key, None)
            self._seen.pop(key, None)
            self._pending.pop(key, None)
            return
        if not self._written:
            self._items[key] = self._transform(obj)
            return
        self._seen[key] = (*self._seen.get(key, ())[1 - SEEN_VERSIONS :], version)
        pending = self._pending.get(key)
        if pending is not None and pending != version:
            return  # older than the write already in the cache
        self._pending.pop(key, None)
        self._items[key] = self._transform(obj)

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                began = time.monotonic()
                version = self._watch(version)
                if time.monotonic() - began < 1:
                    self._stop.wait(RETRY_SECONDS / 4)  # a watch that ends at once: no busy loop
            except Exception as exc:  # the API server restarts, the network blips: go on
                log.warning("watch interrupted", resource=self.name, error=str(exc)[:300])
                version = None
                self._stop.wait(RETRY_SECONDS)

    def _relist(self) -> str:
        fresh: dict[ObjectKey, dict[str, Any]] = {}
        seen: dict[ObjectKey, tuple[str, ...]] = {}
        token: str | None = None
        version = ""
        for _ in range(MAX_PAGES):
            paging: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                paging["_continue"] = token
            response = self._list_fn(*self._args, _preload_content=False, **paging)
            body = json.loads(response.data)
            for item in body.get("items") or []:
                fresh[_key(item)] = self._transform(item)
                if self._written:
                    seen[_key(item)] = (_version(item),)
            body.pop("items", None)  # the page's raw objects can go before the next arrives
            del response
            meta = body.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            token = meta.get("continue") or None
            if token is None:
                break
        with self._lock:
            self._items, self._seen, self._pending = fresh, seen, {}
        self.synced.set()
        return version

    def _watch(self, version: str) -> str | None:
        """Follow changes from ``version``; the version to resume from, or None to relist."""
        response = self._list_fn(
            *self._args,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=WATCH_SECONDS + 30,
            _preload_content=False,
        )
        try:
            for line in _iter_lines(response):
                if self._stop.is_set():
                    return version
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None  # too old: list again
                    raise RuntimeError(obj.get("message", "watch error"))
                version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                with self._lock:
                    self._delivered(_key(obj), obj, deleted=kind == "DELETED")
        finally:
            response.release_conn()
        return version


def wait_synced(informers: list[Informer], timeout: float) -> bool:
    """Block until every informer has its first list (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    for informer in informers:
        if not informer.synced.wait(max(0.0, deadline - time.monotonic())):
            return False
    return True
