"""JSON merge patch (RFC 7386), the patch format every Showtime write uses.

``apply_merge_patch`` is what the API server does with a merge patch: a ``None`` value
removes the key, nested objects merge, anything else (lists included) replaces whole.
``merge_patch_between`` is the inverse: the smallest patch that turns one object into
another, with ``None`` for every key that must go (a status written without those nulls
leaves stale fields behind on the server). Pure functions on JSON values; no I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` merged in (RFC 7386); neither argument is changed."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def merge_patch_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The smallest merge patch turning ``before`` into ``after``; ``{}`` when they are equal.

    ``after`` must not hold ``None`` values itself: in a merge patch they mean "remove".
    """
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch_between(old, value)
            if nested:
                patch[key] = nested
        elif key not in before or old != value:
            patch[key] = copy.deepcopy(value)
    return patch
