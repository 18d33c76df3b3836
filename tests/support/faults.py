"""Deterministic kill points: a ``Gateway`` that stops writing after its N-th write.

``FailingGateway(inner, fail_after=N)`` passes reads through, lets the first N writes reach
``inner`` (whatever ``inner`` answers), then raises ``OperatorKilled`` for that write and
every later one, as if the operator had been killed right there. A restarted operator (a
new reconciler on the same ``inner``) must then carry on to the same end state. With
``fail_after=None`` nothing fails and ``passed`` counts the writes of a run, which gives
the range of N to try::

    probe = FailingGateway(build_cluster())
    tick(Reconciler(probe, ...))
    for n in range(probe.passed):
        cluster = build_cluster()
        tick(Reconciler(FailingGateway(cluster, fail_after=n), ...))  # killed after n writes
        tick(Reconciler(cluster, ...))  # the restart
        ...  # assert the promise holds

Test support only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from showtime.cluster.kube import Gateway, Snapshot, WorkloadKey


class OperatorKilled(Exception):  # noqa: N818 (it is not an error of the operator)
    """The write the operator never got to send."""


class FailingGateway:
    def __init__(self, inner: Gateway, fail_after: int | None = None) -> None:
        self.inner = inner
        self.fail_after = fail_after
        self.passed = 0  # writes handed to ``inner``
        self.refused = 0  # writes raised ``OperatorKilled`` for
        self.calls: list[str] = []  # the names of the writes handed to ``inner``, in order

    @property
    def killed(self) -> bool:
        return self.refused > 0

    def _gate(self, call: str) -> None:
        if self.fail_after is not None and self.passed >= self.fail_after:
            self.refused += 1
            raise OperatorKilled(f"killed after {self.passed} writes (before {call})")
        self.passed += 1
        self.calls.append(call)

    # -- reads ----------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        return await self.inner.snapshot()

    # -- writes ---------------------------------------------------------------------------

    async def patch_workload(
        self,
        key: WorkloadKey,
        *,
        annotations: Mapping[str, str | None] | None = None,
        replicas: int | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._gate("patch_workload")
        return await self.inner.patch_workload(
            key, annotations=annotations, replicas=replicas, resource_version=resource_version
        )

    async def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int | None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._gate("patch_hpa")
        return await self.inner.patch_hpa(
            namespace, name, min_replicas=min_replicas, resource_version=resource_version
        )

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._gate("patch_status")
        return await self.inner.patch_status(
            namespace, name, status, resource_version=resource_version
        )

    async def create_event(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._gate("create_event")
        return await self.inner.create_event(body)

    async def patch_event(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._gate("patch_event")
        return await self.inner.patch_event(namespace, name, patch)

    async def create_reservation(
        self, kind: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._gate("create_reservation")
        return await self.inner.create_reservation(kind, namespace, body)

    async def patch_reservation(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._gate("patch_reservation")
        return await self.inner.patch_reservation(kind, namespace, name, patch)

    async def delete_reservation(self, kind: str, namespace: str, name: str) -> None:
        self._gate("delete_reservation")
        await self.inner.delete_reservation(kind, namespace, name)
