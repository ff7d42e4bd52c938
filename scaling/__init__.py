"""Compound scaling and LACS (``accelsearch.scaling``).

>>> from accelsearch import scaling
>>> bigger = scaling.scale(arch, depth=1.2, width=1.1, resolution=1.15)
>>> lacs = scaling.LACS(grid=[(1.2, 1.1, 1.15), (1.3, 1.05, 1.1)], latency=measure, accuracy=evaluate)
>>> family = lacs.run(arch, targets_ms=[2.0, 4.0])
>>> baseline = lacs.compare(family, "efficientnet")    # α=1.2, β=1.1, γ=1.15 at equal latency

Modules: :mod:`.rules` (``scale``, rounding), :mod:`.grid` (the (α, β, γ) grid and the
latency targets), :mod:`.efficientnet` (EfficientNet's accuracy-only compound scaling),
:mod:`.solve` (φ on measured latency; its probes, solution and bracket in :mod:`.solve_types`),
:mod:`.predict` (latency predictors), :mod:`.prune` (grid pruning), :mod:`.lacs` (the method),
:mod:`.fixed` (LACS's families with given coefficients and the EfficientNet comparison),
:mod:`.family` (the result, JSON and ONNX).
"""

from accelsearch.scaling.efficientnet import (
    EFFICIENTNET_COEFFICIENTS,
    CompoundScaling,
    constraint_grid,
    flops_growth,
    phi_for_flops,
)
from accelsearch.scaling.evaluations import Evaluations, MeasuredLatency
from accelsearch.scaling.family import Family, FamilyMember, GridPoint
from accelsearch.scaling.grid import (
    check_targets,
    default_grid,
    parse_targets,
    resolve_targets,
    validate_grid,
)
from accelsearch.scaling.lacs import LACS
from accelsearch.scaling.predict import (
    CallablePredictor,
    FlopsPredictor,
    LatencyPredictor,
    StageFlops,
    make_predictor,
)
from accelsearch.scaling.prune import PrunedGrid, prune_grid
from accelsearch.scaling.rules import (
    compound,
    round_channels,
    round_resolution,
    scale,
    space_rounding,
)
from accelsearch.scaling.solve import PhiSolution, PhiSolver, UnreachableTargetError

__all__ = [
    "CallablePredictor",
    "CompoundScaling",
    "EFFICIENTNET_COEFFICIENTS",
    "Evaluations",
    "Family",
    "FamilyMember",
    "FlopsPredictor",
    "GridPoint",
    "LACS",
    "LatencyPredictor",
    "MeasuredLatency",
    "PhiSolution",
    "PhiSolver",
    "PrunedGrid",
    "StageFlops",
    "UnreachableTargetError",
    "check_targets",
    "compound",
    "constraint_grid",
    "default_grid",
    "flops_growth",
    "make_predictor",
    "parse_targets",
    "phi_for_flops",
    "prune_grid",
    "resolve_targets",
    "round_channels",
    "round_resolution",
    "scale",
    "space_rounding",
    "validate_grid",
]
