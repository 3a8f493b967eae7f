"""Record: the base of lognotify's small immutable records, each field spelled once.

A record is what a frozen, slotted, keyword-only dataclass would be::

    class Line(Record):
        text: str
        stream: str = "stdout"

but ``dataclasses`` imports ``inspect`` and costs about 8 ms at start-up, more than the rest of
``lognotify -- true`` together. This metaclass reads the class's annotations once, when the
class is made, and gives the same: ``__slots__``, a keyword-only ``__init__`` with the defaults,
read-only fields, equality and hashing by value, a repr that can hide secrets, ``replace``.
Type checkers see it as a frozen dataclass (``dataclass_transform``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~2 ms at start-up; type checkers still read this block
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    from typing_extensions import dataclass_transform

    _R = TypeVar("_R", bound="Record")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda cls: cls


_MISSING = object()


@dataclass_transform(kw_only_default=True, frozen_default=True)
class _RecordMeta(type):
    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _RecordMeta:
        inherited: dict[str, object] = {}
        for base in reversed(bases):
            inherited.update(getattr(base, "_defaults", {}))
        own = [
            field
            for field, kind in namespace.get("__annotations__", {}).items()
            if not str(kind).startswith("ClassVar")
        ]
        defaults = dict(inherited)
        for field in own:
            value = namespace.pop(
                field, _MISSING
            )  # a slot and a class attribute cannot share a name
            if value is not _MISSING:
                defaults[field] = value
            else:
                defaults.pop(field, None)
        namespace["__slots__"] = tuple(own)
        namespace["_defaults"] = defaults
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        fields: list[str] = []
        for klass in reversed(cls.__mro__):
            fields += [
                field for field in klass.__dict__.get("__slots__", ()) if field not in fields
            ]
        cls._fields = tuple(fields)  # type: ignore[attr-defined]
        return cls


class Record(metaclass=_RecordMeta):
    """Slotted, keyword-only, read-only after ``__init__``, equal when every field is equal.

    A field named in ``_hidden`` is shown as ``***`` by ``repr`` (a password).
    """

    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, object]]
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **values: Any) -> None:
        fields, defaults = self._fields, self._defaults
        for field in fields:
            value = values.pop(field, _MISSING)
            if value is _MISSING:
                value = defaults.get(field, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing field {field!r}")
            object.__setattr__(self, field, value)
        if values:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(sorted(values))}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{field}={'***' if field in self._hidden and value else repr(value)}"
            for field, value in zip(self._fields, self._values(), strict=True)
        )
        return f"{type(self).__name__}({shown})"

    def replace(self: _R, **changes: Any) -> _R:
        """A copy with some fields changed."""
        return type(self)(**{**dict(zip(self._fields, self._values(), strict=True)), **changes})
