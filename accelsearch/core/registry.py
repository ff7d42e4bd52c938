"""A small named registry shared by spaces, latency backends, searchers and block builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from accelsearch.core.errors import UnknownNameError, choices_text

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes or factories); ``kind`` names them in errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")``."""

        def deco(obj: T) -> T:
            self.add(name, obj, replace=replace)
            return obj

        return deco

    def register_class(self, name: str, *, replace: bool = False) -> Callable[[type], type]:
        """Class decorator: ``@registry.register_class("name")`` registers the class under
        ``name`` and sets its ``name`` attribute to it (spaces, latency backends and
        predictors are registered this way; a plug-in's class too)."""

        def deco(cls: type) -> type:
            cls.name = name
            self.add(name, cls, replace=replace)
            return cls

        return deco

    def add(self, name: str, obj: T, *, replace: bool = False) -> None:
        if not replace and name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid choices: {choices_text(self._items)}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
