"""A tiny space, a score-based accuracy evaluator and recipes for the search tests.

The space builds one conv stage at 8 px (milliseconds to build and time); the evaluator
computes a deterministic "accuracy" from the arch and reports it per epoch, optionally
sleeping (to give a test time to act), appending one line per finished evaluation to a log
file, or killing its own worker process once. Both reach Ray workers by value
(``ship_by_value``), so this module need not be importable there.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import torch

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ArchError
from accelsearch.objectives import accuracy
from accelsearch.objectives.accuracy.base import AccuracyEvaluator
from accelsearch.recipe import recipe_from_dict
from accelsearch.spaces import SPACES, Categorical, IntRange, Ordinal, SearchSpace, register_space

WIDTHS = (4, 8, 12, 16)


class TinySpace(SearchSpace):
    """One conv stage on an 8-px input: width, depth, kernel, activation."""

    def params(self):
        return {
            "width": Ordinal(WIDTHS),
            "depth": IntRange(1, 3),
            "kernel": Categorical((1, 3)),
            "act": Categorical(("relu", "swish")),
        }

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        return Arch(
            resolution=8,
            stem=Stage("conv", width=4, kernel=3, stride=1),
            stages=(
                Stage(
                    "conv",
                    width=int(params["width"]),
                    depth=int(params["depth"]),
                    kernel=int(params["kernel"]),
                    act=params["act"],
                ),
            ),
            head=Head(width=0),
        )

    def encode(self, arch: Arch) -> dict[str, Any]:
        st = arch.stages[0]
        return {"width": st.width, "depth": st.depth, "kernel": st.kernel, "act": st.act}


class FlakySpace(TinySpace):
    """TinySpace whose build refuses width 12 (a build error the search must survive)."""

    def build(self, arch: Arch, num_classes: int = 1000, **kwargs: Any):
        if arch.stages[0].width == 12:
            raise ArchError("width 12 is not buildable in the flaky test space")
        return super().build(arch, num_classes=num_classes, **kwargs)


class CategoricalOnlySpace(TinySpace):
    """Same archs, every parameter categorical (LLR has nothing ordered to step)."""

    def params(self):
        return {
            "width": Categorical(WIDTHS),
            "depth": Categorical((1, 2, 3)),
            "kernel": Categorical((1, 3)),
            "act": Categorical(("relu", "swish")),
        }


if "search_tiny" not in SPACES:
    register_space("search_tiny")(TinySpace)
    register_space("search_flaky")(FlakySpace)
    register_space("search_categorical")(CategoricalOnlySpace)


def score(arch: Arch) -> float:
    """A smooth 'accuracy' in (0, 100): wider and deeper is better, kernel 3 helps."""
    st = arch.stages[0]
    return (
        40.0
        + 2.0 * st.width
        + 5.0 * st.depth
        + (4.0 if st.kernel == 3 else 0.0)
        + (1.0 if st.act == "swish" else 0.0)
    )


class ScoreEvaluator(AccuracyEvaluator):
    """Reports ``score(arch) × epoch / epochs`` per epoch.

    ``sleep_s`` per epoch; ``log_path`` gets one JSON line per finished evaluation (with
    the torch threads it ran with);
    ``kill_marker`` (and optionally ``kill_width``): the first evaluation (of that width)
    while the marker file does not exist creates it and SIGKILLs its own worker process.
    """

    name = "search_score"

    def __init__(
        self,
        epochs: int = 2,
        sleep_s: float = 0.0,
        log_path: str | None = None,
        kill_width: int | None = None,
        kill_marker: str | None = None,
        bad_width: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.sleep_s = sleep_s
        self.log_path = log_path
        self.kill_width = kill_width
        self.kill_marker = kill_marker
        self.bad_width = bad_width

    def evaluate(self, arch: Arch, report=None) -> float:
        width = arch.stages[0].width
        kill = self.kill_marker and self.kill_width in (None, width)
        if kill and not os.path.exists(self.kill_marker):
            with open(self.kill_marker, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        final = score(arch)
        # a "bad" width learns slowly: its early epochs look poor (ASHA should stop it)
        slow = self.bad_width == width
        acc = final
        for epoch in range(1, self.epochs + 1):
            if self.sleep_s:
                time.sleep(self.sleep_s)
            acc = final * (epoch / self.epochs) ** (3 if slow else 1)
            if report is not None:
                report(epoch, acc)
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(
                    json.dumps(
                        {
                            "arch": str(arch),
                            "t": time.time(),
                            "pid": os.getpid(),
                            "torch_threads": torch.get_num_threads(),  # the trial's setting
                        }
                    )
                    + "\n"
                )
        return acc


if "search_score" not in accuracy.EVALUATORS:
    accuracy.EVALUATORS.add("search_score", ScoreEvaluator)

FAST_PROTOCOL = {"warmup": 1, "min_reps": 3, "max_reps": 5, "max_seconds": 0.2, "batch_reps": 3}


def tiny_recipe(
    strategy: str = "random",
    num_samples: int = 6,
    space: str = "search_tiny",
    objectives: list[str] | None = None,
    evaluator_options: dict[str, Any] | None = None,
    search: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    **top: Any,
):
    """A validated recipe over a test space, timed on the CPU with a short protocol."""
    opts = dict(options or {})
    if objectives is not None:
        opts["objectives"] = objectives
    raw = {
        "name": top.pop("name", "tiny"),
        "num_classes": 4,
        "space": {"name": space},
        "latency": {
            "backend": "torch",
            "device": "cpu",
            "batch_size": 2,
            "protocol": FAST_PROTOCOL,
        },
        "accuracy": {"evaluator": "search_score", "options": dict(evaluator_options or {})},
        "reward": {"target_ms": 0.5, "w": -0.09},
        "search": {
            "strategy": strategy,
            "num_samples": num_samples,
            "cpus_per_trial": 1,
            "seed": 0,
            "options": opts,
            **(search or {}),
        },
        **top,
    }
    return recipe_from_dict(raw, "test recipe")


def fake_metrics(space, params: dict[str, Any]) -> dict[str, float]:
    """Metrics as a trial would report them, without building anything."""
    arch = space.decode(params)
    st = arch.stages[0]
    acc = score(arch)
    lat = 0.01 * st.width * st.depth * st.kernel + 0.02
    return {"accuracy": acc, "latency_ms": lat, "reward": acc * (lat / 0.5) ** -0.09}
