"""The model pickled fast: a worker process receives a mapped report per build (issue 16).

Python 3.11 pickles a frozen, slotted dataclass through the ``__getstate__``/``__setstate__``
that :mod:`dataclasses` adds, and both call ``fields()`` on every object: about 15 µs each, a
20-result report has some 200 of them, 3 ms a round trip to a worker. The reducer below writes
the same values in the same order and sets them back without asking for the fields again.
"""

from __future__ import annotations

import copyreg
import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["register"]


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one class's values are read (one C call) and set back (its slots' descriptors)."""

    read: Callable[[Any], Any]
    setters: tuple[Callable[[Any, Any], None], ...]


_SHAPES: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        read = operator.attrgetter(*names) if len(names) > 1 else (lambda obj, _n=names: (getattr(obj, _n[0]),))
        # A slot's descriptor sets the value beneath the frozen __setattr__, as dataclasses' own __setstate__.
        setters = tuple(type.__getattribute__(cls, name).__set__ for name in names)
        shape = _SHAPES[cls] = _Shape(read, setters)
    return shape


def _reduce(obj: Any) -> tuple[Any, tuple[type, tuple[Any, ...]]]:
    cls = type(obj)
    return _rebuild, (cls, _shape(cls).read(obj))


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for setter, value in zip(_shape(cls).setters, values, strict=True):
        setter(obj, value)
    return obj


def register(*modules: ModuleType) -> None:
    """Every frozen, slotted dataclass defined in ``modules`` pickles through the fast reducer."""
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__
                    and "__slots__" in vars(value) and value.__dataclass_params__.frozen):  # type: ignore[attr-defined]
                copyreg.pickle(value, _reduce)
