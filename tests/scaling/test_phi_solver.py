"""The φ solver on deterministic synthetic latency: rounding steps, noise, plateaus, limits."""

from __future__ import annotations

import math

import pytest
from lacs_synthetic import noisy, small_base, synthetic_ms

from accelsearch.core.errors import ConfigError, MeasurementError
from accelsearch.scaling import PhiSolver, UnreachableTargetError, compound
from accelsearch.scaling.predict import FlopsPredictor

BASE = small_base()
BASE_MS = synthetic_ms(BASE)


class Meter:
    """Counts calls and remembers every value it returned (what 'measured' means here)."""

    def __init__(self, fn=synthetic_ms, fail_above: float | None = None):
        self.fn = fn
        self.fail_above = fail_above
        self.cache: dict[str, float] = {}
        self.returned: set[float] = set()
        self.calls = 0

    def __call__(self, arch):
        key = arch.hash()
        if key in self.cache:
            return self.cache[key], False
        if self.fail_above is not None and synthetic_ms(arch) > self.fail_above:
            raise MeasurementError("out of memory (synthetic)")
        self.calls += 1
        self.cache[key] = v = self.fn(arch)
        self.returned.add(v)
        return v, True


_PREDICTOR: list[FlopsPredictor] = []


def flops_predictor() -> FlopsPredictor:
    if not _PREDICTOR:  # calibrated once: it counts the base's FLOPs on the meta device
        p = FlopsPredictor()
        p.calibrate(BASE, BASE_MS)
        _PREDICTOR.append(p)
    return _PREDICTOR[0]


def make_solver(triple, meter, predictor=False, **kw):
    a, b, g = triple
    predict = flops_predictor().predict_ms if predictor else None
    kw.setdefault("phi_max", math.log(8.0) / max(math.log(v) for v in triple))
    return PhiSolver(
        lambda phi: compound(BASE, a, b, g, phi),
        meter,
        predict=predict,
        growth=math.log(a * b * b * g * g),
        **kw,
    )


def assert_adjacent(triple, sol):
    """The closest probes below and above the target have no other arch between them."""
    below = max((p for p in sol.probes if p.value < sol.target), key=lambda p: p.phi)
    above = min((p for p in sol.probes if p.value >= sol.target), key=lambda p: p.phi)
    assert below.phi < above.phi
    for i in range(1, 200):
        phi = below.phi + (above.phi - below.phi) * i / 200
        assert compound(BASE, *triple, phi) in (below.arch, above.arch)


TRIPLES = [(1.2, 1.1, 1.15), (1.4, 1.0, 1.0), (1.0, 1.3, 1.0), (1.0, 1.0, 1.35), (1.1, 1.2, 1.05)]
RATIOS = [1.5, 2.0, 2.7, 3.3, 4.0]


@pytest.mark.parametrize("use_predictor", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.01])
def test_converges_within_tolerance_in_few_measurements(use_predictor, eps):
    counts, outcomes = [], []
    for triple in TRIPLES:
        for ratio in RATIOS:
            meter = Meter(noisy(eps))
            sol = make_solver(triple, meter, use_predictor).solve(BASE_MS * ratio)
            counts.append(sol.n_measurements)
            outcomes.append(sol.reason)
            # never an unmeasured latency: the value is one the meter returned for that arch
            assert sol.value in meter.returned
            assert meter.cache[sol.arch.hash()] == sol.value
            assert sol.arch == compound(BASE, *triple, sol.phi)
            if sol.reason == "converged":
                assert abs(sol.value / sol.target - 1) <= 0.02 + 1e-12
            else:  # a rounding step: no arch between the two measured neighbours
                assert sol.reason == "plateau"
                below = [p for p in sol.probes if p.value < sol.target]
                above = [p for p in sol.probes if p.value >= sol.target]
                assert below and above
    assert outcomes.count("converged") >= 0.75 * len(outcomes)
    assert max(counts) <= 12
    mean = sum(counts) / len(counts)
    assert mean <= (4.5 if use_predictor else 5.0), counts


def test_plateau_from_depth_rounding_returns_the_closest_measured_end():
    # depth only: latency moves in big ceil steps; a target between two steps is a plateau
    triple = (1.4, 1.0, 1.0)
    steps = []
    for i in range(1, 400):
        arch = compound(BASE, *triple, i / 100)
        if not steps or arch != steps[-1]:
            steps.append(arch)
    pairs = [(a, b) for a, b in zip(steps, steps[1:]) if synthetic_ms(b) > 1.1 * synthetic_ms(a)]
    assert pairs, "the synthetic depth steps should include a jump of more than 10 %"
    low, high = pairs[len(pairs) // 2]
    target = math.sqrt(synthetic_ms(low) * synthetic_ms(high))
    meter = Meter()
    sol = make_solver(triple, meter).solve(target)
    assert sol.reason == "plateau"
    assert not sol.within_tolerance
    assert sol.arch in (low, high)
    assert_adjacent(triple, sol)
    assert sol.value in meter.returned
    assert sol.value == min(meter.returned, key=lambda v: abs(v / target - 1))
    assert sol.n_measurements <= 8


def test_unreachable_target_names_the_largest_reachable_latency():
    meter = Meter()
    solver = make_solver((1.2, 1.1, 1.15), meter, phi_max=1.0)
    largest = synthetic_ms(compound(BASE, 1.2, 1.1, 1.15, 1.0))
    with pytest.raises(UnreachableTargetError) as info:
        solver.solve(largest * 1.5)
    assert info.value.largest == pytest.approx(largest)
    assert f"{largest:.4g}" in str(info.value)
    assert "largest reachable" in str(info.value)


def test_target_not_above_base_is_a_config_error():
    solver = make_solver((1.2, 1.1, 1.15), Meter())
    with pytest.raises(ConfigError, match="not above the base"):
        solver.solve(BASE_MS)
    with pytest.raises(ConfigError, match="positive"):
        solver.solve(-1.0)


def test_budget_exhausted_is_reported_not_hidden():
    meter = Meter(noisy(0.01))
    sol = make_solver((1.0, 1.0, 1.35), meter, max_measurements=2).solve(BASE_MS * 3.1)
    assert sol.n_measurements <= 2
    if not sol.within_tolerance:
        assert sol.reason == "budget"
    assert sol.value in meter.returned


def test_measurement_failures_lower_the_limit_and_the_search_goes_on():
    # models above 5x the base "run out of memory"; a 3x target is still found below that
    meter = Meter(fail_above=BASE_MS * 5)
    solver = make_solver((1.2, 1.1, 1.15), meter)
    sol = solver.solve(BASE_MS * 3.0, phi_guess=6.0)  # first probe far too large: fails
    assert sol.reason in ("converged", "plateau")
    assert sol.notes and "failed to measure" in sol.notes[0]
    assert sol.value in meter.returned


def test_cached_archs_cost_no_measurement():
    meter = Meter()
    solver = make_solver((1.2, 1.1, 1.15), meter)
    first = solver.solve(BASE_MS * 2)
    again = solver.solve(BASE_MS * 2)
    assert first.n_measurements >= 1
    assert again.n_measurements == 0
    assert again.arch == first.arch


@pytest.mark.parametrize("exponent", [0.3, 1.6])
def test_a_predictor_with_the_wrong_exponent_is_recalibrated(exponent):
    """Latency ∝ FLOPs^b with b ≠ 1 (a GPU not yet full, or memory-bound growth): the
    FLOPs predictor's power-law calibration still lands probes near the target."""

    def latency(arch):
        return BASE_MS * (synthetic_ms(arch) / BASE_MS) ** exponent

    counts = []
    for triple in TRIPLES:
        for ratio in (1.5, 2.0, 2.7):
            meter = Meter(latency)
            try:
                sol = make_solver(triple, meter, predictor=True).solve(BASE_MS * ratio)
            except UnreachableTargetError as exc:  # b = 0.3: 2.7x needs 27x the FLOPs
                assert exc.largest == max(meter.returned)
                continue
            assert sol.value in meter.returned
            assert sol.reason in ("converged", "plateau")
            counts.append(sol.n_measurements)
    assert len(counts) >= 10 and sum(counts) / len(counts) <= 5.0, counts


@pytest.mark.parametrize("use_predictor", [False, True])
def test_a_noisy_probe_does_not_send_the_next_one_to_a_huge_model(use_predictor):
    """The first grown model 'measures' faster than the base (timing noise on a busy
    machine): the next probes stay near the target instead of jumping to the limit."""
    first = []

    def latency(arch):
        value = synthetic_ms(arch)
        if arch != BASE and not first:
            first.append(arch)
            return BASE_MS * 0.9
        return value

    meter = Meter(latency)
    target = BASE_MS * 2.0
    sol = make_solver((1.2, 1.1, 1.15), meter, use_predictor).solve(target)
    assert sol.reason in ("converged", "plateau")
    assert max(meter.returned) < 3.5 * target
