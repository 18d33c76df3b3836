"""What a test does when something it needs is not on this machine.

Locally a missing prerequisite (no cluster, no ``ss``, a demo in the way) skips the test
with a message saying how to get it. In CI (``CI`` set) the same thing fails the test:
CI's e2e run must not skip anything.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs every test)")
    pytest.skip(reason)
