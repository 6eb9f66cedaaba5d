"""slam_nodes.config_schema: one set of typed-config rules for every config module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from slam_nodes.config_schema import (NodeParams, from_dict, load_params, merge,
                                    read_params_file, save_params, to_dict, unflatten)
from slam_nodes.errors import ConfigError


@dataclass
class _Inner:
    rate_hz: float = 1.0
    mode: Literal["a", "b"] = "a"
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class _Outer:
    n: int = 1
    flag: bool = False
    name: str = "x"
    bounds: list | None = None
    inner: _Inner = field(default_factory=_Inner)
    maybe: _Inner | None = None
    options: dict = field(default_factory=dict)


def test_builds_nested_and_coerces():
    c = from_dict(_Outer, {"n": 3, "flag": True, "bounds": ((1, 2), (3, 4)),
                           "inner": {"rate_hz": 2, "mode": "b", "xyz": [1, 2, 3]},
                           "maybe": {"rate_hz": 5.5}, "options": {"k": 1}})
    assert c.n == 3 and c.flag is True and c.bounds == [[1, 2], [3, 4]]
    assert c.inner.rate_hz == 2.0 and isinstance(c.inner.rate_hz, float)
    assert c.inner.mode == "b" and c.inner.xyz == (1.0, 2.0, 3.0)
    assert c.maybe == _Inner(rate_hz=5.5) and c.options == {"k": 1}
    assert from_dict(_Outer, to_dict(c)) == c
    assert from_dict(_Outer, {"maybe": None}).maybe is None


@pytest.mark.parametrize("data, message", [
    ({"nn": 1}, "unknown parameter(s) ['cfg.nn']; allowed under 'cfg'"),
    ({"inner": {"rate": 1}}, "unknown parameter(s) ['cfg.inner.rate']"),
    ({"n": 1.5}, "cfg.n must be an integer, got 1.5"),
    ({"n": True}, "cfg.n must be an integer, got True"),
    ({"flag": 1}, "cfg.flag must be true or false, got 1"),
    ({"inner": {"rate_hz": "fast"}}, "cfg.inner.rate_hz must be a number"),
    ({"inner": {"mode": "c"}}, "cfg.inner.mode must be one of ['a', 'b'], got 'c'"),
    ({"inner": {"xyz": [1, 2]}}, "cfg.inner.xyz must have 3 items"),
    ({"inner": {"xyz": [1, "y", 3]}}, "cfg.inner.xyz[1] must be a number"),
    ({"inner": 5}, "cfg.inner must be a mapping, got int"),
    ({"maybe": 5}, "cfg.maybe must be _Inner or null, got 5"),
    ({"name": 3}, "cfg.name must be a string"),
    ({"options": []}, "cfg.options must be a mapping"),
])
def test_errors_name_the_path(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(_Outer, data, "cfg")
    assert message in str(err.value)


def test_unflatten_and_merge():
    assert unflatten({"a.b": 1, "a": {"c": 2}, "options": {"x.y": 3}}) == \
        {"a": {"b": 1, "c": 2}, "options": {"x.y": 3}}
    with pytest.raises(ConfigError, match="conflicts"):
        unflatten({"a": 1, "a.b": 2})
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    assert merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 1}
    assert base["a"]["b"] == 1


@dataclass
class _Section:
    rate_hz: float = 1.0

    def validate(self) -> None:
        if self.rate_hz <= 0:
            raise ConfigError(f"sec.rate_hz must be > 0, got {self.rate_hz}")


@dataclass
class _Params(NodeParams):
    sec: _Section = field(default_factory=_Section)
    use_sim_time: bool = False


def test_node_params_load_save_round_trip(tmp_path):
    p = tmp_path / "params.yaml"
    save_params(p, _Params(_Section(2.5), True), "my_node")
    cfg = load_params(_Params, p, "my_node", overrides={"sec.rate_hz": 4})
    assert cfg == _Params(_Section(4.0), True)
    assert _Params.from_dict({"sec.rate_hz": 3}).sec.rate_hz == 3.0
    with pytest.raises(ConfigError, match=r"params.yaml: sec.rate_hz must be > 0, got -1.0"):
        load_params(_Params, p, "my_node", overrides={"sec.rate_hz": -1})
    with pytest.raises(ConfigError, match="other_node: ros__parameters"):
        load_params(_Params, p, "other_node")


def test_params_file_overrides_merge_into_nested_options(tmp_path):
    """`--set engine.options.preset=x` must keep the file's other engine.options keys."""
    p = tmp_path / "params.yaml"
    p.write_text("node:\n  ros__parameters:\n    engine:\n      name: neural\n"
                 "      options:\n        preset: cpu-lite\n        tracker: {iters: 20, lr: 0.02}\n")
    params = read_params_file(p, "node", {"engine.options.tracker.iters": 5,
                                          "engine.options.preset": "normal"})
    assert params == {"engine": {"name": "neural", "options": {
        "preset": "normal", "tracker": {"iters": 5, "lr": 0.02}}}}
