"""Code versions that change when the code or the parameters behind an asset change.

Dagster compares an asset's `code_version` with the one recorded at its last materialization to show
"code version changed"; a constant would never change, and a hand-bumped number is forgotten. The
version here is a short SHA-256 of the source files of the modules that compute the asset's rows
and of its parameters.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any


def source_version(*modules: ModuleType, params: Mapping[str, Any] | None = None) -> str:
    """12 hex digits of SHA-256 over the modules' source text (in the given order) and `params` as
    canonical JSON."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.__name__.encode())
        digest.update(inspect.getsource(module).encode())
    digest.update(json.dumps(params or {}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]
