"""Dataclasses from plain data (what YAML or JSON holds), checked field by field.

``convert(value, SomeDataclass, where)`` builds the dataclass from a dict, checking every value
against its field's type (int, float, str, bool, Literal[...], lists, tuples, unions, mappings and
nested dataclasses) and stopping at the first problem with one VoicesaeError naming the dotted key
and what was expected: ``grid.ks[1]: expected an integer, got 'twenty'``. An unknown key is named
too, with the closest known one. ``keys`` lists a dataclass's keys with their types, defaults and
the docstrings written under the fields, which is how the study file is documented.
"""
from __future__ import annotations

import dataclasses
import math
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from ..errors import VoicesaeError

REQUIRED = object()
"""The default of a key the study must give."""


class Key(typing.NamedTuple):
    name: str
    """Dotted, e.g. 'chapters.identification.bootstrap'."""
    type: str
    """What the value must be, as text."""
    default: Any
    """The default, or REQUIRED."""
    doc: str
    """The field's docstring."""


def field_docs(cls) -> dict[str, str]:
    """The docstrings written under a dataclass's fields (read from this module's source)."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(cls))
    body, docs = tree.body[0].body, {}
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(getattr(b, "value", None), ast.Constant):
            docs[a.target.id] = " ".join(str(b.value.value).split())
    return docs


def keys(cls, prefix: str = "", skip: tuple[str, ...] = ("path",)) -> list[Key]:
    """Every dotted key of dataclass ``cls`` (nested dataclasses walked into; a mapping of dataclasses
    as ``<prefix>.<name>.``), with its type, default and docstring."""
    out, docs = [], field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        t = hints(cls)[f.name]
        if dataclasses.is_dataclass(t):
            out += keys(t, f"{prefix}{f.name}.", skip)
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else REQUIRED)
        out.append(Key(f"{prefix}{f.name}", type_text(t), default, docs.get(f.name, "")))
        if typing.get_origin(t) is dict and dataclasses.is_dataclass(typing.get_args(t)[1]):
            out += keys(typing.get_args(t)[1], f"{prefix}{f.name}.<name>.", skip)
    return out


def hints(cls) -> dict:
    """The field types of ``cls``, resolved (its module's names)."""
    return typing.get_type_hints(cls)


def type_text(t) -> str:
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Literal:
        return " | ".join(map(str, args))
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in args if a is not type(None)) + (
            " or null" if type(None) in args else "")
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is tuple:
        return f"{len(args)} values ({', '.join(type_text(a) for a in args)})"
    if origin is dict:
        return f"mapping of {type_text(args[1])}"
    if dataclasses.is_dataclass(t):
        return f"mapping ({', '.join(f.name for f in dataclasses.fields(t) if f.name != 'path')})"
    return getattr(t, "__name__", str(t))


def convert(value: Any, t, where: str, file: str = ""):
    """``value`` checked (and built) as type ``t``; ``where`` is its dotted key, for the message."""
    def bad(expected: str | None = None):
        prefix = f"{file}: " if file else ""
        return VoicesaeError(f"{prefix}{where or 'the study'}: expected {expected or type_text(t)}, got {value!r}")

    origin, args = typing.get_origin(t), typing.get_args(t)
    if dataclasses.is_dataclass(t):
        if not isinstance(value, dict):
            raise bad()
        fields = {f.name: f for f in dataclasses.fields(t) if f.name != "path"}
        unknown = [k for k in value if k not in fields]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), list(fields), 1, cutoff=0.5)
            prefix = f"{file}: " if file else ""
            raise VoicesaeError(f"{prefix}{where + '.' if where else ''}{unknown[0]}: unknown key"
                                + (f" (did you mean {close[0]}?)" if close else f" (keys here: {', '.join(fields)})"))
        types_of, kwargs = hints(t), {}
        for name, f in fields.items():
            key = f"{where}.{name}" if where else name
            if name in value:
                kwargs[name] = convert(value[name], types_of[name], key, file)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                prefix = f"{file}: " if file else ""
                raise VoicesaeError(f"{prefix}{key}: missing (expected {type_text(types_of[name])})")
        return t(**kwargs)
    if origin is Literal:
        if value not in args:
            raise bad(f"one of {', '.join(map(str, args))}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:  # the first type that accepts it; bool is checked before int
            if a is type(None):
                continue
            try:
                return convert(value, a, where, file)
            except VoicesaeError:
                continue
        raise bad()
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad()
        return [convert(v, args[0], f"{where}[{i}]", file) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad()
        return tuple(convert(v, a, f"{where}[{i}]", file) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        return {str(k): convert(v, args[1], f"{where}.{k}", file) for k, v in value.items()}
    if t is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if t is int:  # every integer of a study is a size, count, step or seed
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        if value < 0:
            raise bad("a non-negative integer")
        return value
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        if not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if t is str:
        if not isinstance(value, str):
            raise bad("text")
        return value
    raise bad()  # pragma: no cover - a type the schema does not use


def plain(obj):
    """Dataclasses -> dicts, tuples -> lists (what YAML and JSON hold)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
