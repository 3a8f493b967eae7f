"""Record: frozen, slotted, keyword-only records, each field spelled once."""

from __future__ import annotations

import pytest

from lognotify.record import Record


class Point(Record):
    x: int
    y: int = 0
    _hidden = frozenset({"y"})


class Labelled(Point):
    label: str = "p"


def test_fields_defaults_and_inheritance() -> None:
    assert Point(x=1) == Point(x=1, y=0)
    assert Labelled(x=1, label="q")._fields == ("x", "y", "label")
    assert Point.__slots__ == ("x", "y")
    assert Labelled.__slots__ == ("label",)
    assert hash(Point(x=1)) == hash(Point(x=1))
    assert Point(x=1) != Point(x=2)
    assert Point(x=1) != Labelled(x=1)


def test_records_are_immutable_and_replace_makes_a_copy() -> None:
    point = Point(x=1)
    with pytest.raises(AttributeError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x  # type: ignore[misc]
    assert point.replace(y=5) == Point(x=1, y=5)
    assert point.y == 0


def test_a_missing_or_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="missing field 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown field"):
        Point(x=1, z=2)  # type: ignore[call-arg]


def test_a_hidden_field_is_not_shown_by_repr() -> None:
    assert repr(Point(x=1, y=42)) == "Point(x=1, y=***)"
    assert repr(Point(x=1)) == "Point(x=1, y=0)"  # an empty secret says so
