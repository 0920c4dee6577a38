"""Feature-set definitions and their content hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from swiftbolt.features.feature_set import FeatureSetDefinition, canonical_json, default_feature_set
from swiftbolt.features.indicators import FEATURE_PARAMS, WARMUP_BARS, feature_columns


def _definition(**overrides: object) -> FeatureSetDefinition:
    base: dict = {
        "name": "test",
        "version": "1",
        "features": ("rsi_14", "macd"),
        "params": {"rsi_period": 14, "bb_nbdev": 2.0, "windows": [5, 10], "nested": {"a": 1, "b": 0.5}},
        "warmup_bars": 500,
    }
    base.update(overrides)
    return FeatureSetDefinition(**base)


def test_hash_is_sha256_of_canonical_payload() -> None:
    d = _definition()
    assert len(d.definition_hash()) == 64
    payload = json.loads(d.canonical_payload())
    assert payload == {
        "features": ["rsi_14", "macd"],
        "params": {"bb_nbdev": 2, "nested": {"a": 1, "b": 0.5}, "rsi_period": 14, "windows": [5, 10]},
        "warmup_bars": 500,
    }
    assert " " not in d.canonical_payload()


def test_parameter_changes_change_the_hash() -> None:
    h = _definition().definition_hash()
    assert _definition(params={**_definition().params, "rsi_period": 15}).definition_hash() != h
    assert _definition(params={**_definition().params, "nested": {"a": 1, "b": 0.25}}).definition_hash() != h
    assert _definition(params={**_definition().params, "windows": [5, 20]}).definition_hash() != h
    assert _definition(warmup_bars=501).definition_hash() != h
    assert _definition(features=("macd", "rsi_14")).definition_hash() != h  # column order is part of it
    assert _definition(features=("rsi_14", "macd", "adx_14")).definition_hash() != h


def test_dict_order_types_and_labels_do_not_change_the_hash() -> None:
    h = _definition().definition_hash()
    reordered = {"nested": {"b": 0.5, "a": 1}, "windows": (5, 10), "bb_nbdev": 2, "rsi_period": np.int64(14)}
    assert _definition(params=reordered).definition_hash() == h
    assert _definition(name="other", version="9").definition_hash() == h  # labels are not the math
    assert _definition() == _definition(params=reordered)
    assert hash(_definition()) == hash(_definition(params=reordered))


def test_params_are_a_detached_read_only_copy() -> None:
    params = {"windows": [5, 10]}
    d = _definition(params=params)
    h = d.definition_hash()
    params["windows"].append(20)
    assert d.definition_hash() == h
    with pytest.raises(TypeError):
        d.params["x"] = 1  # type: ignore[index]


def test_invalid_definitions() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        _definition(params={"x": float("nan")})
    with pytest.raises(TypeError):
        _definition(params={"x": object()})
    with pytest.raises(TypeError):
        canonical_json({1: "non-string key"})
    with pytest.raises(ValueError, match="distinct"):
        _definition(features=("a", "a"))
    with pytest.raises(ValueError, match="warmup"):
        _definition(warmup_bars=-1)


def test_hash_is_stable_across_processes() -> None:
    code = (
        "from swiftbolt.features.feature_set import default_feature_set;"
        "print(default_feature_set().definition_hash())"
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert hashes == {default_feature_set().definition_hash()}


def test_default_feature_set_describes_compute_features() -> None:
    d = default_feature_set()
    assert list(d.features) == feature_columns()
    assert d.warmup_bars == WARMUP_BARS
    assert d.params["supertrend_multiplier"] == FEATURE_PARAMS["supertrend_multiplier"]
