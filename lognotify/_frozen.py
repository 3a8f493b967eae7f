"""A base for small immutable records.

lognotify's records would be frozen, slotted dataclasses, but ``dataclasses`` imports
``inspect`` and costs about 7 ms at start-up: more than everything else ``lognotify -- true``
imports. This base gives the same properties (slots, read-only, compared by value, a repr
that can hide secrets) for the price of one small class.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~2 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _R = TypeVar("_R", bound="Frozen")


class Frozen:
    """Slotted, read-only after ``__init__``, equal when every field is equal."""

    __slots__: tuple[str, ...] = ()
    _hidden: frozenset[str] = frozenset()

    def _init(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self) -> tuple[tuple[str, Any], ...]:
        return tuple((name, getattr(self, name)) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in self._hidden and value else repr(value)}"
            for name, value in self._fields()
        )
        return f"{type(self).__name__}({shown})"

    def replace(self: _R, **changes: Any) -> _R:
        """Return a copy with some fields changed."""
        copy = object.__new__(type(self))
        copy._init(**{**dict(self._fields()), **changes})
        return copy
