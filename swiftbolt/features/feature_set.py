"""A named, versioned feature set and a content hash of its definition.

`definition_hash()` is the sha256 of a canonical JSON of what determines the numbers: the ordered
feature list, the parameters and the warm-up length (not the name or version label). Canonical means:
object keys sorted, no whitespace, ASCII only, tuples as lists, numpy scalars as Python numbers, and
integral floats as integers (so 3 and 3.0 hash alike); NaN/inf and other types are rejected. The hash
is therefore identical across processes, machines and dict insertion orders.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


def _canonical(value: Any, path: str = "params") -> Any:
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: non-finite number {value!r} cannot be hashed canonically")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, bytes | bytearray):
        raise TypeError(f"{path}: bytes are not canonically serialisable")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: keys must be strings, got {k!r}")
            out[k] = _canonical(v, f"{path}.{k}")
        return out
    if isinstance(value, Sequence | np.ndarray):
        return [_canonical(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} is not canonically serialisable")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of `value` (see the module docstring)."""
    return json.dumps(
        _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


@dataclass(frozen=True)
class FeatureSetDefinition:
    """What a stored feature matrix was computed with.

    `features` is ordered (the column order of the matrix); `params` maps parameter names to JSON-like
    values (numbers, strings, bools, lists, nested mappings)."""

    name: str
    version: str
    features: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    warmup_bars: int = 0

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        if not feats or len(set(feats)) != len(feats):
            raise ValueError("features must be a non-empty list of distinct names")
        if self.warmup_bars < 0:
            raise ValueError("warmup_bars must be >= 0")
        if not all(isinstance(f, str) and f for f in feats):
            raise ValueError("feature names must be non-empty strings")
        # A canonical deep copy: fails early on unhashable values, detaches from the caller's objects.
        params = json.loads(canonical_json(dict(self.params)))
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "params", MappingProxyType(params))

    def __hash__(self) -> int:
        return hash(self.definition_hash())

    def canonical_payload(self) -> str:
        return canonical_json(
            {"features": list(self.features), "params": dict(self.params), "warmup_bars": int(self.warmup_bars)}
        )

    def definition_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of features + params + warmup_bars."""
        return hashlib.sha256(self.canonical_payload().encode("ascii")).hexdigest()


def default_feature_set(version: str = "1") -> FeatureSetDefinition:
    """The feature set of `swiftbolt.features.indicators.compute_features`."""
    from swiftbolt.features import indicators

    return FeatureSetDefinition(
        name="swiftbolt_core",
        version=version,
        features=tuple(indicators.feature_columns()),
        params=dict(indicators.FEATURE_PARAMS),
        warmup_bars=indicators.WARMUP_BARS,
    )
