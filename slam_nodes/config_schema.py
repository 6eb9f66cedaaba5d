"""Typed config loading shared by every config module: dataclass <- nested dict.

One set of rules for the SLAM core (slam_nodes.slam.config), the EN-SLAM extension
(slam_nodes.slam.en_config) and the ROS node parameter files (slam_nodes.nodes.config,
slam_nodes.nodes.asset_config):

- nested dataclasses from nested mappings; unknown keys are rejected at every level with a
  ConfigError naming the dotted path(s) and the allowed keys;
- `bool` only from true/false, `int` only from integers (not bools), `float` from any number
  (ints widened), `str` only from strings; `list` / `list[...]` from lists or tuples (nested
  sequences become lists), `tuple[...]` from lists or tuples, `dict` from mappings;
  `X | None` accepts None; `Literal[...]` accepts only the listed values; `Any` accepts anything.

Messages read `<path> must be ..., got <value>`, e.g. `config.tracking.n_iters must be an
integer, got 'ten'`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from slam_nodes.errors import ConfigError

__all__ = ["from_dict", "coerce", "to_dict", "merge", "unflatten", "read_config_source",
           "read_params_file", "NodeParams", "load_params", "save_params", "check_positive",
           "check_non_negative"]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from the mapping `data`.

    path: dotted name of `data` used in error messages ("" for the root of a params file,
    "config" for the SLAM config). An instance of `cls` is returned unchanged.
    Raises ConfigError naming the offending path for unknown keys and wrong types.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'parameters'} must be a mapping, "
                          f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {[_join(path, str(u)) for u in unknown]}; "
                          f"allowed under '{path or '<root>'}': {sorted(names)}")
    return cls(**{k: coerce(v, hints[k], _join(path, k)) for k, v in data.items()})


def coerce(value: Any, tp: Any, name: str) -> Any:
    """`value` checked / converted to the type hint `tp`; ConfigError naming `name` if not."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name} must be {_describe(tp)}, got {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, name)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if tp is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return [list(v) if isinstance(v, (list, tuple)) else v for v in value]
    if tp is tuple or origin is tuple:
        return _coerce_tuple(value, tp, name)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{name}: unsupported type {tp}")


def _coerce_tuple(value: Any, tp: Any, name: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list, got {value!r}")
    args = typing.get_args(tp)
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{name} must have {len(args)} items, got {value!r}")
    return tuple(coerce(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def _describe(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    names = [getattr(a, "__name__", str(a)) for a in args]
    none = " or null" if type(None) in typing.get_args(tp) else ""
    return " or ".join(names) + none


def check_positive(name: str, value: float) -> None:
    """ConfigError naming parameter `name` unless value > 0 (NaN fails)."""
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


def check_non_negative(name: str, value: float) -> None:
    """ConfigError naming parameter `name` unless value >= 0 (NaN fails)."""
    if not value >= 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")


def to_dict(config: Any) -> dict:
    """Plain nested dict of a config dataclass (for YAML dumps and checkpoints)."""
    return dataclasses.asdict(config)


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge (override wins); neither input is modified."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def unflatten(data: dict, keep: tuple[str, ...] = ("options",)) -> dict:
    """ROS 2 dotted names ('sync.sync_slop_s') -> nested dicts; nested input passes through.

    Mappings under a key in `keep` are free-form values and are left as they are.
    """
    out: dict = {}
    for key, value in data.items():
        parts = str(key).split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise ConfigError(f"parameter {key!r} conflicts with a non-section value")
        if isinstance(value, dict) and parts[-1] not in keep:
            d.setdefault(parts[-1], {}).update(unflatten(value, keep))
        else:
            d[parts[-1]] = value
    return out


def read_config_source(source: str | Path | dict | None, section: str, what: str) -> dict:
    """A config mapping from None ({}), a dict (copied) or a YAML file.

    A file may hold the config at top level, under `<section>:` or in the ROS layout
    `<section>: ros__parameters:`. `what` names the config in errors ("SLAM config").
    """
    if source is None:
        return {}
    if isinstance(source, dict):
        return dict(source)
    import yaml

    try:
        data = yaml.safe_load(Path(source).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read {what} {source}: {err}") from err
    if isinstance(data, dict) and set(data) == {section}:
        data = data[section]
        if isinstance(data, dict) and set(data) == {"ros__parameters"}:
            data = data["ros__parameters"]
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(data).__name__}")
    return data


def read_params_file(path: str | Path, node_name: str,
                     overrides: dict | None = None) -> dict:
    """`node_name`'s ros__parameters from a ROS 2 params file, unflattened, with dotted
    `overrides` applied on top (merged recursively: `engine.options.preset=x` keeps the rest
    of `engine.options`).

    The node's section may be keyed `node_name`, `/node_name` or `/**`.
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read params file {path}: {err}") from err
    section = None
    for key in (node_name, f"/{node_name}", "/**"):
        if isinstance(doc, dict) and key in doc:
            section = doc[key]
            break
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ConfigError(f"{path}: expected '{node_name}: ros__parameters: ...' at top level")
    return merge(unflatten(section["ros__parameters"] or {}), unflatten(overrides or {}))


class NodeParams:
    """Base of a node's top-level params dataclass whose fields are section dataclasses with a
    `validate()` method (plus plain values such as use_sim_time)."""

    def validate(self):
        """Validate every section; returns self."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                value.validate()
        return self

    @classmethod
    def from_dict(cls, data: dict | None):
        """Build from nested (YAML) or dotted (ROS 2 flattened) keys; validate."""
        return from_dict(cls, unflatten(data or {})).validate()

    def to_dict(self) -> dict:
        return to_dict(self)


def load_params(cls: type, path: str | Path, node_name: str, overrides: dict | None = None):
    """`cls.from_dict` of `node_name`'s ros__parameters in a ROS 2 params file with dotted
    `overrides` on top; errors are prefixed with the file's path."""
    params = read_params_file(path, node_name, overrides)
    try:
        return cls.from_dict(params)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def save_params(path: str | Path, config: Any, node_name: str) -> None:
    """Write `config` as a ROS 2 params file (`node_name: ros__parameters: ...`)."""
    import yaml

    Path(path).write_text(yaml.safe_dump({node_name: {"ros__parameters": to_dict(config)}},
                                         sort_keys=False))
