"""LACS end to end on synthetic latency and accuracy: choice, members, caching, bad input."""

from __future__ import annotations

import json
import math

import pytest
from lacs_synthetic import noisy, small_base, synthetic_ms

from accelsearch.core.errors import BackendUnavailableError, ConfigError
from accelsearch.scaling import (
    EFFICIENTNET_COEFFICIENTS,
    LACS,
    Evaluations,
    UnreachableTargetError,
    compound,
    default_grid,
    make_predictor,
    parse_targets,
    resolve_targets,
    validate_grid,
)
from accelsearch.scaling.predict import count_flops
from accelsearch.scaling.prune import _angle, direction, prune_grid

BASE = small_base()
BASE_MS = synthetic_ms(BASE)


def synthetic_accuracy(arch):
    """Depth helps most, then resolution, then width (deterministic)."""
    blocks = sum(s.depth for s in arch.stages)
    width = sum(s.width for s in arch.stages)
    return 50 + 8 * math.log(blocks) + 5 * math.log(arch.resolution) + 2 * math.log(width)


class Counter:
    def __init__(self, fn):
        self.fn, self.calls, self.returned, self.args = fn, 0, [], []

    def __call__(self, arch):
        self.calls += 1
        self.args.append(arch)
        value = self.fn(arch)
        self.returned.append(value)
        return value


# -- the grid ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "grid, match",
    [
        ([(0.9, 1.1, 1.15)], "alpha=0.9 is below 1"),
        ([(1.2, 0.95, 1.15)], "beta=0.95 is below 1"),
        ([(1.2, 1.1, -1)], "gamma=-1 is below 1"),
        ([(1.2, 1.1, float("nan"))], "not finite"),
        ([(1.2, 1.1)], "three numbers"),
        ([(1.2, "x", 1.1)], "not a number"),
        ([(1.0, 1.0, 1.0)], "does not grow"),
        ([], "empty"),
    ],
)
def test_grid_is_validated_when_lacs_is_constructed(grid, match):
    with pytest.raises(ConfigError, match=match):
        LACS(grid=grid)


def test_default_grid_is_the_papers_neighbourhood():
    grid = default_grid()
    assert len(grid) == 9**3 - 1
    assert min(min(t) for t in grid) == 1.0 and max(max(t) for t in grid) == 1.4
    assert EFFICIENTNET_COEFFICIENTS in grid
    assert validate_grid(grid) == grid
    assert len(LACS().grid) == len(grid)


def test_pruning_keeps_few_distinct_reachable_triples():
    lacs = LACS(latency=synthetic_ms, max_triples=5)
    pruned = lacs.prune(BASE, BASE_MS * 1.5, BASE_MS * 4)
    assert len(pruned.kept) == 5
    assert pruned.considered == 728
    assert pruned.kept[0] == EFFICIENTNET_COEFFICIENTS  # nearest the anchor's direction
    archs = {compound(BASE, *t, pruned.predicted_phi[t]) for t in pruned.kept}
    assert len(archs) == 5  # no two kept triples predict the same model
    assert 5 <= pruned.examined == 5 + pruned.merged + len(pruned.unreachable) < 60
    dirs = [direction(t) for t in pruned.kept]  # spread out: no two directions close
    assert min(_angle(u, v) for i, u in enumerate(dirs) for v in dirs[:i]) > 0.2
    summary = pruned.summary()
    assert summary["kept"] == [list(t) for t in pruned.kept]
    # a small explicit grid is kept whole
    mine = [(1.2, 1.1, 1.15), (1.3, 1.0, 1.0)]
    assert LACS(grid=mine, latency=synthetic_ms).prune(BASE, BASE_MS * 2).kept == mine


# -- the method ----------------------------------------------------------------------------
def test_lacs_grows_a_family_that_hits_measured_targets():
    latency = Counter(noisy(0.01))
    accuracy = Counter(synthetic_accuracy)
    lacs = LACS(latency=latency, accuracy=accuracy, max_triples=4, printer=lambda s: None)
    targets = [BASE_MS * r for r in (1.5, 2.0, 3.0, 4.0)]
    family = lacs.run(BASE, targets, name="syn", base_accuracy=70.0)

    assert [m.name for m in family.members] == [f"syn-{i}" for i in range(5)]
    base = family.members[0]
    assert base.phi == 0 and base.arch == BASE and base.accuracy == 70.0
    for m, t in zip(family.members[1:], targets):
        assert m.target_ms == pytest.approx(t)
        assert m.latency_ms in latency.returned  # measured, never predicted
        assert m.latency_error == pytest.approx(m.latency_ms / t - 1)
        assert m.within_tolerance == (abs(m.latency_error) <= 0.02 + 1e-12)
        if not m.within_tolerance:
            assert m.solve == "plateau"
        rule = compound(BASE, family.alpha, family.beta, family.gamma, m.phi)
        if m.solve == "held-resolution":  # a plateau's rest taken up by depth and width
            assert m.arch.stages == rule.stages and m.arch.resolution < rule.resolution
        else:
            assert m.arch == rule
        assert m.accuracy == pytest.approx(synthetic_accuracy(m.arch))
        assert m.reward == pytest.approx(m.accuracy * (m.latency_ms / t) ** -0.09)
    assert sum(m.within_tolerance for m in family.members[1:]) >= 3
    # the chosen triple is the grid point with the best reward at the first target
    scored = [g for g in family.grid if g.reward is not None]
    best = max(scored, key=lambda g: g.reward)
    assert (family.alpha, family.beta, family.gamma) == (best.alpha, best.beta, best.gamma)
    assert family.members[1].n_measurements == best.n_measurements
    # every latency measured once, and the count is reported
    assert family.settings["total_measurements"] == latency.calls
    per_member = sum(m.n_measurements for m in family.members[1:])
    per_grid = sum(g.n_measurements for g in family.grid)
    assert latency.calls == 1 + per_grid + per_member - family.members[1].n_measurements
    assert accuracy.calls == family.settings["accuracy_evaluations"]
    assert family.settings["pruning"]["considered"] == 728


def test_comparison_with_efficientnet_coefficients_at_equal_latency():
    latency = Counter(synthetic_ms)
    lacs = LACS(
        grid=[(1.4, 1.0, 1.0), EFFICIENTNET_COEFFICIENTS],
        latency=latency,
        accuracy=synthetic_accuracy,
        printer=lambda s: None,
    )
    family = lacs.run(BASE, [BASE_MS * 2, BASE_MS * 3])
    calls = latency.calls
    other = lacs.compare(family, "efficientnet")
    assert family.baseline is other and other.method == "efficientnet"
    assert (other.alpha, other.beta, other.gamma) == EFFICIENTNET_COEFFICIENTS
    # the EfficientNet triple was on the grid: its first-target model costs nothing again
    assert other.members[1].n_measurements == 0
    assert latency.calls - calls == other.settings["total_measurements"]
    rows = family.comparison()
    assert len(rows) == 2
    for row, m, b in zip(rows, family.members[1:], other.members[1:]):
        assert row["target_ms"] == m.target_ms == b.target_ms
        assert row["efficientnet_latency_ms"] == b.latency_ms
        assert row["accuracy_delta"] == pytest.approx(m.accuracy - b.accuracy)
        assert abs(b.latency_ms / b.target_ms - 1) <= 0.02 or b.solve == "plateau"
    with pytest.raises(ConfigError, match="efficientnet"):
        lacs.compare(family, "mobilenet")


def test_comparison_with_phi_from_the_flops_budget():
    lacs = LACS(grid=[(1.4, 1.0, 1.0)], latency=synthetic_ms, accuracy=synthetic_accuracy)
    lacs.printer = None
    family = lacs.grow_fixed(
        BASE, EFFICIENTNET_COEFFICIENTS, [BASE_MS * 2], method="efficientnet", phi_from="flops"
    )
    member = family.members[1]
    assert member.solve == "flops"
    base_flops = count_flops(BASE)["Global"]
    assert count_flops(member.arch)["Global"] / base_flops == pytest.approx(2.0, rel=0.06)
    assert member.latency_ms == synthetic_ms(member.arch)  # measured, not targeted
    with pytest.raises(ConfigError, match="phi_from"):
        lacs.grow_fixed(BASE, EFFICIENTNET_COEFFICIENTS, [BASE_MS * 2], phi_from="params")


# -- bad input ---------------------------------------------------------------------------------
def test_targets_not_above_the_base_latency():
    lacs = LACS(grid=[(1.2, 1.1, 1.15)], latency=synthetic_ms, accuracy=synthetic_accuracy)
    with pytest.raises(ConfigError, match="not above the base model's") as info:
        lacs.run(BASE, [BASE_MS * 0.9, BASE_MS * 2])
    assert f"{BASE_MS:.4g}" in str(info.value)
    with pytest.raises(ConfigError, match="at least one"):
        lacs.run(BASE, [])


def test_unreachable_target_reports_the_largest_reachable_latency():
    lacs = LACS(
        grid=[(1.2, 1.1, 1.15)],
        latency=synthetic_ms,
        accuracy=synthetic_accuracy,
        max_multiplier=1.5,
        printer=lambda s: None,
    )
    largest = synthetic_ms(compound(BASE, 1.2, 1.1, 1.15, lacs.phi_max((1.2, 1.1, 1.15))))
    with pytest.raises(UnreachableTargetError, match="largest reachable") as info:
        lacs.run(BASE, [BASE_MS * 1.5, largest * 2])
    assert info.value.largest == pytest.approx(largest)


def test_lacs_needs_latency_and_accuracy():
    with pytest.raises(ConfigError, match="accuracy"):
        LACS(grid=[(1.2, 1.1, 1.15)], latency=synthetic_ms).run(BASE, [BASE_MS * 2])
    with pytest.raises(ConfigError, match="latency function"):
        LACS(grid=[(1.2, 1.1, 1.15)], accuracy=synthetic_accuracy).run(BASE, [1.0])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tolerance": 0}, "tolerance"),
        ({"max_measurements": 1}, "max_measurements"),
        ({"max_triples": 0}, "max_triples"),
        ({"max_multiplier": 1.0}, "max_multiplier"),
        ({"predictor": "oracle"}, "unknown LACS latency predictor"),
    ],
)
def test_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        lacs = LACS(grid=[(1.2, 1.1, 1.15)], latency=synthetic_ms, **kw)
        lacs.prune(BASE, BASE_MS * 2)


# -- targets, caches, predictors -------------------------------------------------------------
def test_targets_in_ms_or_multiples_of_the_base():
    assert parse_targets("1.0, 2ms,x1.5,×3") == [
        (1.0, False),
        (2.0, False),
        (1.5, True),
        (3.0, True),
    ]
    assert resolve_targets(parse_targets("x1.5,x2,5"), 2.0) == [3.0, 4.0, 5.0]
    with pytest.raises(ConfigError, match="x0.5 is not above"):
        resolve_targets(parse_targets("x0.5"), 2.0)
    with pytest.raises(ConfigError, match="1.5 ms is not above"):
        resolve_targets(parse_targets("1.5"), 2.0)
    with pytest.raises(ConfigError, match="neither"):
        parse_targets("fast")


def test_persistent_cache_makes_a_rerun_free(tmp_path):
    path = tmp_path / "cache.json"
    first = Counter(synthetic_ms)
    lacs = LACS(grid=[(1.2, 1.1, 1.15)], evaluations=Evaluations(first, synthetic_accuracy, path))
    lacs.print = lambda s: None
    family = lacs.run(BASE, [BASE_MS * 2])
    again = Counter(synthetic_ms)
    lacs2 = LACS(grid=[(1.2, 1.1, 1.15)], evaluations=Evaluations(again, None, path))
    lacs2.print = lambda s: None
    family2 = lacs2.run(BASE, [BASE_MS * 2])
    assert first.calls > 0 and again.calls == 0
    assert family2.members[1].latency_ms == family.members[1].latency_ms
    assert family2.members[1].accuracy == family.members[1].accuracy


class PowerCut(Exception):
    """A stop in the middle of LACS (the driver killed), at a chosen evaluation."""


def test_lacs_stopped_mid_grid_goes_on_from_its_checkpoint(tmp_path):
    """Stopped at the third accuracy evaluation (the second grid point's), LACS started
    again with the same checkpoint measures and evaluates nothing twice, and the family
    (members, measurement counts) is the one an uninterrupted run makes."""
    grid = [(1.2, 1.1, 1.15), (1.4, 1.0, 1.0), (1.0, 1.2, 1.2)]
    targets = [BASE_MS * 1.6, BASE_MS * 2.5]
    quiet = {"printer": lambda s: None}
    whole = LACS(grid=grid, latency=synthetic_ms, accuracy=synthetic_accuracy, **quiet)
    expected = whole.run(BASE, targets)

    done: list[str] = []

    def accuracy_then_cut(arch):
        if len(done) == 2:
            raise PowerCut
        done.append(arch.hash())
        return synthetic_accuracy(arch)

    path = tmp_path / "lacs_checkpoint.json"
    first_latency = Counter(synthetic_ms)
    lacs = LACS(grid=grid, evaluations=Evaluations(first_latency, accuracy_then_cut, path), **quiet)
    with pytest.raises(PowerCut):
        lacs.run(BASE, targets)
    saved = json.loads(path.read_text())  # what the checkpoint holds, by arch hash
    measured_before = set(saved["latency"])
    assert first_latency.calls == len(measured_before) > 0 and set(saved["accuracy"]) == set(done)

    again_latency, again_accuracy = Counter(synthetic_ms), Counter(synthetic_accuracy)
    lacs2 = LACS(grid=grid, evaluations=Evaluations(again_latency, again_accuracy, path), **quiet)
    family = lacs2.run(BASE, targets)
    assert lacs2.evals.restored == (len(measured_before), 2)
    remeasured = {a.hash() for a in again_latency.args} & measured_before
    retrained = {a.hash() for a in again_accuracy.args} & set(done)
    assert not remeasured and not retrained, "nothing done before the stop is done again"
    assert again_latency.calls > 0 and again_accuracy.calls > 0  # the rest was done now
    assert [g.__dict__ for g in family.grid] == [g.__dict__ for g in expected.grid]
    assert [m.to_dict() for m in family.members] == [m.to_dict() for m in expected.members]
    assert family.total_measurements == expected.total_measurements


def test_predictors():
    assert make_predictor("none") is None
    p = make_predictor(lambda arch: 2.0)
    assert p.predict_ms(BASE) == 2.0
    try:
        make_predictor("lut")
    except BackendUnavailableError as exc:
        assert "lookup" in str(exc)
    flops = make_predictor("flops")
    flops.calibrate(BASE, BASE_MS)
    assert flops.predict_ms(BASE) == pytest.approx(BASE_MS)
    big = compound(BASE, 1.2, 1.1, 1.15, 2.0)
    ratio = count_flops(big)["Global"] / count_flops(BASE)["Global"]
    assert flops.predict_ms(big) / BASE_MS == pytest.approx(ratio, rel=0.08)


def test_a_predictor_that_knows_more_than_flops_filters_by_flops_per_ms():
    def lut_like(arch):  # resolution is cheap here, depth expensive
        return synthetic_ms(arch) * (sum(s.depth for s in arch.stages) / 8) ** 0.5

    grid = default_grid()
    kept_plain = prune_grid(
        grid, BASE_MS * 2, lambda t, p: compound(BASE, *t, p), LACS().phi_max, lut_like, 4
    )
    kept = prune_grid(
        grid,
        BASE_MS * 2,
        lambda t, p: compound(BASE, *t, p),
        LACS().phi_max,
        lut_like,
        4,
        flops=lambda arch: count_flops(arch)["Global"],
    )
    assert kept.low_efficiency > 0 and len(kept.kept) == 4
    assert kept.examined > kept_plain.examined


def test_comparison_when_lacs_chose_efficientnets_coefficients():
    latency = Counter(synthetic_ms)
    lacs = LACS(
        grid=[EFFICIENTNET_COEFFICIENTS],
        latency=latency,
        accuracy=synthetic_accuracy,
        printer=lambda s: None,
    )
    family = lacs.run(BASE, targets_x=[2.0, 3.0])
    calls = latency.calls
    other = lacs.compare(family)
    assert latency.calls == calls
    assert [m.arch for m in other.members] == [m.arch for m in family.members]
    assert other.members[1].name == f"{other.name}-1" and other.settings["same_as"] == "family"
    assert all(r["accuracy_delta"] == 0 for r in family.comparison())


def test_a_resolution_plateau_is_taken_up_by_depth_and_width():
    # resolution in steps of 32 px (GENet's space) makes latency jump between steps; a target
    # inside a jump is reached by holding the lower resolution and growing depth and width
    triple = (1.0, 1.0, 1.4)  # resolution-heavy, so every target sits between two steps
    plain = LACS(grid=[triple], latency=synthetic_ms, accuracy=synthetic_accuracy,
                 resolution_multiple=32, printer=lambda s: None)  # fmt: skip
    steps = sorted({synthetic_ms(plain.scaled(BASE, triple, i / 50)) for i in range(1, 60)})
    jumps = [(a, b) for a, b in zip(steps, steps[1:]) if b > 1.1 * a]
    assert jumps, "32-px resolution steps should make latency jump by more than 10 %"
    targets = [math.sqrt(a * b) for a, b in jumps[:3]]
    family = plain.run(BASE, targets, name="res")
    for m in family.members[1:]:
        assert m.within_tolerance, (m.target_ms, m.latency_ms, m.solve)
        assert m.latency_ms == pytest.approx(synthetic_ms(m.arch))  # measured
        rule = compound(BASE, *triple, m.phi, resolution_multiple=32)
        if m.solve != "converged":  # resolution held on a step at or below the rule's
            assert m.solve.startswith("held-resolution") and m.arch != rule
            assert m.arch.resolution <= rule.resolution and m.arch.resolution % 32 == 0
    assert any(m.solve.startswith("held-") for m in family.members[1:])
