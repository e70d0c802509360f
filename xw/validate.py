"""Checking values read from a YAML study file, with messages that name the file, the key and the fix.

Generic (no study concepts): xw.params builds its typed objects with these, so a wrong type, an
unknown key or a missing field fails at load time in one readable line, never deep in a run.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from pathlib import Path
from typing import Any

import yaml

from xw.errors import ParameterError


def fail(path: Path, key: str, message: str) -> ParameterError:
    """The error for one key of one file (long keys from a mangled file are cut)."""
    if len(key) > 80:  # a key from a mangled file can be any length
        key = key[:77] + "..."
    return ParameterError(f"{path}: key '{key}': {message}")



_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 6, 6


def show(value: Any) -> str:
    """A short repr for messages: a value from YAML can be huge (aliases) or self-referencing."""
    return _REPR.repr(value)


def sorted_keys(keys: Any) -> list[str]:
    """Mapping keys as text, sorted (YAML keys may be ints, booleans or None)."""
    return sorted(str(k) for k in keys)


def exists(path: Path) -> bool:
    """Path.exists that says no (instead of raising) for names no file system accepts."""
    try:
        return path.exists()
    except (OSError, ValueError):  # embedded NUL byte, name too long
        return False


def resolve_path(study_file: Path, value: str) -> Path:
    """A path written in a study, absolute: relative to the study file's folder (where the author wrote
    it), else to the working directory when only that has it; cells run in another directory."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    beside = (study_file.parent / path).resolve()
    return beside if exists(beside) or not exists(path) else path.resolve()


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list"}


def typed(path: Path, key: str, value: Any, kind: type) -> Any:
    """Check one scalar's type; ints are accepted where floats are expected, floats must be finite."""
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:  # YAML 1.1 reads 1e-4 as a string
            number = float(value)
        except (ValueError, OverflowError):
            number = None
        if number is not None:
            if not math.isfinite(number):
                raise fail(path, key, f"expected a finite number, got {show(value)}")
            return number
    if not ok:
        raise fail(path, key, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {show(value)}")
    return value


def mapping(path: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(path, key, f"expected a mapping (key: value lines), got {show(value)}")
    return value


def dataclass_from(path: Path, key: str, cls: type, raw: Any, base: Any = None) -> Any:
    """Build a flat dataclass from a mapping, rejecting unknown keys, wrong types and negative numbers.

    With ``base``, the mapping overrides that instance's fields (a per-task override of the defaults).
    """
    raw = mapping(path, key, raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted_keys(set(raw) - set(fields))
    if unknown:
        raise fail(path, f"{key}.{unknown[0]}", f"unknown key; allowed keys: {sorted(fields)}")
    if base is None:
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in raw:
                raise fail(path, f"{key}.{name}", f"missing; allowed keys: {sorted(fields)}")
    values = {}
    for name, value in raw.items():
        f = fields[name]
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(
            str(f.type).replace(" | None", ""), None
        )
        if value is None and "None" in str(f.type):
            values[name] = None
        elif kind is None:
            values[name] = value
        else:
            values[name] = typed(path, f"{key}.{name}", value, kind)
        if kind in (int, float) and values[name] is not None and values[name] < 0:
            raise fail(path, f"{key}.{name}", f"must be >= 0, got {value!r}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail(path, key, f"expected a non-empty list, got {show(value)}")
    for item in value:
        if not isinstance(item, str):
            raise fail(path, key, f"expected a list of names, got item {show(item)}")
    if len(set(value)) != len(value):
        raise fail(path, key, f"duplicate entries in {show(value)}")
    return tuple(value)


def read_study_file(path: str | Path) -> Any:
    """The parsed YAML of a study file; ParameterError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"parameters file {path} not found; studies live in parameters/*.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParameterError(f"{path}: not valid YAML: {err}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    except RecursionError:
        raise ParameterError(f"{path}: not valid YAML: nested too deeply") from None
    except OSError as err:
        raise ParameterError(f"{path}: cannot read it: {err.strerror or err}") from None
    return raw
