"""Dataclasses from plain data, checked field by field (what the study file is read with)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

import pytest

from voicesae_core import VoicesaeError
from voicesae_core.report import checked


@dataclass
class Inner:
    mode: Literal["a", "b"] = "a"
    """How."""


@dataclass
class Outer:
    name: str
    """What it is called."""
    pair: tuple[str, str] = ("x", "y")
    values: list[Union[int, str]] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    by_name: dict[str, Inner] = field(default_factory=dict)
    ratio: float = 0.5


def test_builds_nested_dataclasses_and_keeps_int_and_text_apart():
    o = checked.convert({"name": "n", "pair": ["p", "q"], "values": [1, "1"], "inner": {"mode": "b"},
                         "by_name": {"x": {}}, "ratio": 2}, Outer, "")
    assert o == Outer("n", ("p", "q"), [1, "1"], Inner("b"), {"x": Inner()}, 2.0)
    assert isinstance(o.ratio, float) and checked.plain(o)["pair"] == ["p", "q"]


@pytest.mark.parametrize("raw, message", [
    ({}, r"f.yml: name: missing \(expected str\)"),
    ({"name": 3}, r"f.yml: name: expected text, got 3"),
    ({"name": "n", "pair": ["p"]}, r"pair: expected 2 values \(str, str\), got \['p'\]"),
    ({"name": "n", "values": [1.5]}, r"values\[0\]: expected int \| str, got 1.5"),
    ({"name": "n", "inner": {"mode": "c"}}, r"inner.mode: expected one of a, b, got 'c'"),
    ({"name": "n", "by_name": {"x": {"mdoe": "a"}}}, r"by_name.x.mdoe: unknown key \(did you mean mode\?\)"),
    ({"name": "n", "ratio": True}, r"ratio: expected a number, got True"),
])
def test_the_first_bad_value_is_named_with_its_dotted_key(raw, message):
    with pytest.raises(VoicesaeError, match=message):
        checked.convert(raw, Outer, "", "f.yml")


def test_keys_list_types_defaults_and_the_docstrings_under_the_fields():
    keys = {k.name: k for k in checked.keys(Outer)}
    assert keys["name"].default is checked.REQUIRED and keys["name"].doc == "What it is called."
    assert keys["inner.mode"].type == "a | b" and keys["inner.mode"].doc == "How."
    assert "by_name.<name>.mode" in keys and keys["ratio"].default == 0.5
