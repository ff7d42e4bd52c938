"""LLR's linear models (a part of :class:`.LLRSearcher`): features, fit and selection.

:class:`LinearModelSelection` holds the feature names and vectors of an arch's depth and width
changes (:meth:`~LinearModelSelection._vectors`, per block type or per stage), the ridge fit of
the objective and of latency on the one-stage perturbations around a center
(:meth:`~LinearModelSelection._fit`), and the choice of the best predicted arch within the
radius and the latency budget (:meth:`~LinearModelSelection._select`, refined by coordinate
descent, or with a latency predictor). It is a base class of :class:`.LLRSearcher` and uses the
state LLRSearcher sets up and keeps: ``encoding``, ``options``, ``space``, ``seed``,
``effects``, ``start_idx``, ``center``, ``round``, ``budget``, ``latency_model``, ``known``,
``_decode`` and ``_result``; it sets ``stage_types``, ``acc_names``, ``lat_names``,
``_pending_log`` (read by the verification log) and ``_predictor``.
"""

from __future__ import annotations

import numpy as np

from accelsearch.search.predictors import make_predictor, predict_params

__all__ = ["LinearModelSelection"]


class LinearModelSelection:
    """The linear models of :class:`.LLRSearcher` (see the module docstring for the attributes
    and methods of LLRSearcher it uses)."""

    def _features(self) -> None:
        arch0 = self._decode(self.start_idx)
        self.stage_types = [st.type for st in arch0.stages]
        acc_names, lat_names = [], []
        for table in self.effects.values():
            for j, kind, _ in table.values():
                a = self._acc_feature(j, kind)
                if a not in acc_names:
                    acc_names.append(a)
                lname = f"stage{j}:{kind}"
                if lname not in lat_names:
                    lat_names.append(lname)
        self.acc_names, self.lat_names = acc_names, lat_names

    def _acc_feature(self, j: int, kind: str) -> str:
        if self.options["granularity"] == "type":
            return f"{self.stage_types[j]}:{kind}"
        return f"stage{j}:{kind}"

    def _vectors(self, center: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feature vectors (objective, latency) of ``idx`` relative to ``center``; additive
        over parameters (each moves one stage)."""
        xa = np.zeros(len(self.acc_names))
        xl = np.zeros(len(self.lat_names))
        for p, table in self.effects.items():
            if idx[p] == center[p]:
                continue
            # effects are relative to the start arch (the start's own value has none)
            e1 = table.get(int(idx[p]))
            e0 = table.get(int(center[p]))
            for e, sign in ((e1, 1.0), (e0, -1.0)):
                if e is None:
                    continue
                j, kind, delta = e
                xa[self.acc_names.index(self._acc_feature(j, kind))] += sign * delta
                xl[self.lat_names.index(f"stage{j}:{kind}")] += sign * delta
        return xa, xl

    def _fit(self, center: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float, float]:
        y0, m0 = self._result(center)
        lat0 = float(m0["latency_ms"]) if m0 and "latency_ms" in m0 else float("nan")
        rows_a, rows_l, ya, yl = [], [], [], []
        for key, (value, metrics) in self.known.items():
            if value is None:
                continue
            idx = self.encoding.to_indices(dict(zip(self.encoding.names, key)))
            if np.array_equal(idx, center):
                continue
            diff = np.flatnonzero(idx != center)
            if len(diff) != 1 or int(diff[0]) not in self.effects:
                continue  # only one-stage perturbations of this center
            xa, xl = self._vectors(center, idx)
            rows_a.append(xa)
            ya.append(value - y0)
            if metrics and "latency_ms" in metrics:
                rows_l.append(xl)
                yl.append(float(metrics["latency_ms"]) - lat0)
        lam = float(self.options["ridge"])
        g = _ridge(np.array(rows_a), np.array(ya), lam, len(self.acc_names))
        a = _ridge(np.array(rows_l), np.array(yl), lam, len(self.lat_names)) if rows_l else None
        return g, a, y0, lat0

    def _select(self) -> np.ndarray | None:
        center = self.center
        g, a, y0, lat0 = self._fit(center)
        params = [p for p in self.effects]
        radius = int(self.options["radius"])
        # per parameter and value: predicted objective and latency contributions
        contrib_a: dict[int, dict[int, float]] = {}
        contrib_l: dict[int, dict[int, float]] = {}
        choices: dict[int, list[int]] = {}
        for p in params:
            vals = [
                v
                for v in range(
                    max(0, int(center[p]) - radius),
                    min(int(self.encoding.cardinalities[p]), int(center[p]) + radius + 1),
                )
                if v in self.effects[p] or v == self.start_idx[p]
            ]
            choices[p] = vals
            contrib_a[p], contrib_l[p] = {}, {}
            for v in vals:
                idx = center.copy()
                idx[p] = v
                xa, xl = self._vectors(center, idx)
                contrib_a[p][v] = float(xa @ g)
                contrib_l[p][v] = float(xl @ a) if a is not None else 0.0
        n = int(self.options["candidates"])
        rng = np.random.default_rng(self.seed + 7919 * (self.round + 1))
        cand = np.repeat(center[None, :], n, axis=0)
        for p in params:
            cand[:, p] = rng.choice(choices[p], size=n)
        cand = np.vstack([center[None, :], cand])
        pred_a = y0 + sum(np.vectorize(contrib_a[p].get)(cand[:, p]) for p in params)
        if self.latency_model == "linear":
            pred_l = lat0 + sum(np.vectorize(contrib_l[p].get)(cand[:, p]) for p in params)
        else:
            cand = cand[: min(len(cand), 512)]  # a predictor builds or looks up each arch
            pred_a = pred_a[: len(cand)]
            pred_l = self._predict_latency(cand)
        fresh = np.array(
            [self.encoding.key(self.encoding.from_indices(c)) not in self.known for c in cand]
        )
        feasible = pred_l <= self.budget
        ok = feasible & fresh
        if not ok.any():
            self._pending_log = {"selected": None, "reason": "no unevaluated arch fits the budget"}
            return None
        best = int(np.flatnonzero(ok)[np.argmin(pred_a[ok])])
        chosen = cand[best].copy()
        if self.latency_model == "linear":
            chosen = self._coordinate_descent(chosen, params, choices, contrib_a, contrib_l, lat0)
        xa, xl = self._vectors(center, chosen)
        pa = float(y0 + xa @ g)
        pl = (
            float(lat0 + xl @ a)
            if (a is not None and self.latency_model == "linear")
            else float(pred_l[best])
        )
        self._pending_log = {
            "round": self.round,
            "center": self.encoding.from_indices(center),
            "center_value": y0,
            "center_latency_ms": lat0,
            "coefficients": dict(zip(self.acc_names, map(float, g))),
            "latency_slopes": dict(zip(self.lat_names, map(float, a))) if a is not None else {},
            "budget": self.budget,
            "selected": self.encoding.from_indices(chosen),
            "predicted_value": pa,
            "predicted_latency": pl,
        }
        return chosen

    def _coordinate_descent(self, idx, params, choices, ca, cl, lat0) -> np.ndarray:
        """Improve one parameter at a time while the prediction gets better and fits."""
        idx = idx.copy()

        def score(i):
            return sum(ca[p][int(i[p])] for p in params), lat0 + sum(
                cl[p][int(i[p])] for p in params
            )

        cur_a, _ = score(idx)
        improved = True
        while improved:
            improved = False
            for p in params:
                for v in choices[p]:
                    if v == idx[p]:
                        continue
                    trial = idx.copy()
                    trial[p] = v
                    pa, pl = score(trial)
                    key = self.encoding.key(self.encoding.from_indices(trial))
                    if pa < cur_a - 1e-12 and pl <= self.budget and key not in self.known:
                        idx, cur_a, improved = trial, pa, True
        return idx

    def _predict_latency(self, cand) -> np.ndarray:
        if not hasattr(self, "_predictor") or self._predictor is None:
            self._predictor = make_predictor(
                self.latency_model, self.space, self.options["predictor_options"] or {}
            )
        params = [self.encoding.from_indices(c) for c in cand]
        return predict_params(self._predictor, self.space, params)


def _ridge(X: np.ndarray, y: np.ndarray, lam: float, k: int) -> np.ndarray:
    if X.size == 0:
        return np.zeros(k)
    A = X.T @ X + lam * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ y)
