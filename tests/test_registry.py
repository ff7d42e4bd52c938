"""The one way to register a plug-in class: ``Registry.register_class``."""

from __future__ import annotations

import pytest

from accelsearch.core.errors import UnknownNameError
from accelsearch.core.registry import Registry


def test_register_class_names_and_registers_the_class():
    reg = Registry("widget")

    @reg.register_class("round")
    class Round:
        pass

    assert reg.get("round") is Round and Round.name == "round"
    assert reg.names() == ["round"]
    with pytest.raises(ValueError, match="widget 'round' is already registered"):

        @reg.register_class("round")
        class Other:
            pass

    with pytest.raises(UnknownNameError, match="unknown widget 'square'"):
        reg.get("square")


def test_the_plug_in_decorators_are_register_class():
    from accelsearch.objectives.latency.backends import BACKENDS, register_backend
    from accelsearch.objectives.latency.predictors import PREDICTORS, register_predictor
    from accelsearch.spaces.registry import SPACES, register_space

    for decorator, registry in (
        (register_space, SPACES),
        (register_backend, BACKENDS),
        (register_predictor, PREDICTORS),
    ):
        name = f"test-{registry.kind}-plug-in"
        cls = decorator(name)(type("PlugIn", (), {}))
        try:
            assert registry.get(name) is cls and cls.name == name
        finally:
            registry._items.pop(name)
