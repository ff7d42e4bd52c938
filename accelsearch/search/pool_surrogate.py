"""The accuracy surrogate of ``pool-bo``: scikit-learn's Gaussian process on encoded params.

Features: one column per value of a categorical parameter (one-hot), one column per ordered
parameter (its index scaled to [0, 1]). Kernel: a constant times a Matern-5/2, plus white
noise; targets standardised (``normalize_y``). The Matern has one length scale for all
columns, or (``groups``; pool-bo's ``per_parameter``) one per *parameter*, shared by that
parameter's one-hot columns (:class:`ParameterMatern`): the GP can then learn which
parameters matter, with a handful of hyper-parameters instead of one per column (off by
default: on NAS-Bench-201 it did not beat one length scale on fresh seeds, and its fit is
~6x slower at 300 trials). The hyper-parameters are fitted by maximum likelihood at every
fit (tens of points: tens of milliseconds; per parameter, seconds at a few hundred points).

``forest``: a random forest on the same warped targets, beside the GP (``"mixture"``: the
two predictions pooled as an equal mixture) or instead of it (``"alone"``). pool-bo's
``surrogate`` option chooses: ``gp`` no forest, ``gp+forest`` the mixture,
``alternate`` the forest alone at the asks with an odd number of trained members and the GP
at the others. A forest learns that one parameter's value is good only beside certain
others, which a stationary kernel on one-hot columns cannot; its spread over the trees
shrinks where no tree splits (a few slow members look certain), which the GP's spread makes
up for. On NAS-Bench-201 (hypervolume ratio in the acc >= 85 % region at 100 evaluations)
alternating gained 0.009 and the mixture 0.006 over the GP alone on the 40 seeds they were
chosen on, the forest alone lost 0.003; alternating gained 0.003 over 100 fresh seeds and
did worse under a latency budget with one metric, so it is the default for a front only
(:data:`DEFAULT_SURROGATE`; ``benchmarks/results/search/hv_poolbo6_nb201_h200.md``). A
forest costs ~0.2 s a fit at 100 points.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.preprocessing import PowerTransformer

#: the forest of ``Surrogate(forest=...)``: SMAC's random-forest settings (100 trees, leaves of at least
#: 2 points, 5/6 of the features tried per split)
FOREST = {"n_estimators": 100, "min_samples_leaf": 2, "max_features": 5 / 6}
#: a floor on the forest's spread over its trees (all trees agree where none splits)
FOREST_MIN_STD = 1e-3
#: ``Surrogate(forest=...)``: no forest, a forest beside the GP, a forest instead of it
FOREST_MODES = (None, "mixture", "alone")
#: pool-bo's ``surrogate`` option: the GP alone, a forest beside it, or the two by turns
SURROGATES = ("gp", "gp+forest", "alternate")
#: pool-bo's ``surrogate: null``, for a front (True) and for one metric (False). NB201's
#: front: ``alternate`` +0.0026 ± 0.0018 over the GP on 100 fresh seeds (0.9795 against
#: 0.9768; 0.9823 on seeds 0-9); one metric under a latency budget: the GP was better on
#: both seed sets (``benchmarks/results/search/hv_poolbo6_nb201_h200.md``)
DEFAULT_SURROGATE = {True: "alternate", False: "gp"}


def forest_mode(surrogate: str, n_points: int) -> str | None:
    """``Surrogate(forest=...)`` for pool-bo's ``surrogate`` choice at a fit on ``n_points``
    trained members: ``alternate`` takes the forest alone where ``n_points`` is odd and the
    GP alone where it is even (pool-bo fits once an ask, so the two take turns)."""
    if surrogate == "alternate":
        return "alone" if n_points % 2 else None
    return "mixture" if surrogate == "gp+forest" else None


def parameter_of_column(encoding) -> np.ndarray:
    """For each column of :func:`features`, the index of the parameter it encodes."""
    widths = [1 if o else int(c) for c, o in zip(encoding.cardinalities, encoding.ordered)]
    return np.repeat(np.arange(len(widths)), widths)


class ParameterMatern(Matern):
    """A Matern kernel with one length scale per parameter: ``groups[c]`` is the parameter of
    feature column ``c``, ``length_scale`` has one entry per parameter. Equal to the
    per-column (anisotropic) Matern with each column's scale its parameter's. For nu = 5/2
    (pool-bo's) it is computed from one squared distance per *parameter*, not per column:
    sklearn's per-column gradient array (points² x columns, then summed into groups) made a
    fit at 300 trials on NAS-Bench-201 (30 columns, 6 parameters) ~20x slower than one
    length scale; here the arrays are points² x parameters."""

    def __init__(self, groups, length_scale=1.0, length_scale_bounds=(1e-5, 1e5), nu=2.5):
        super().__init__(length_scale, length_scale_bounds, nu)
        self.groups = groups

    def __call__(self, X, Y=None, eval_gradient=False):
        groups = np.asarray(self.groups)
        scales = np.asarray(self.length_scale, dtype=float)
        if self.nu != 2.5:  # the general path: sklearn's per-column kernel, gradients tied
            return self._per_column(X, Y, eval_gradient)
        d = _group_sq_distances(np.asarray(X, float), None if Y is None else np.asarray(Y, float),
                                groups)  # fmt: skip
        scaled = d / np.broadcast_to(np.atleast_1d(scales), d.shape[2:]) ** 2
        r = np.sqrt(5.0 * scaled.sum(axis=2))
        decay = np.exp(-r)
        K = (1.0 + r + r**2 / 3.0) * decay
        if not eval_gradient:
            return K
        if self.hyperparameter_length_scale.fixed:
            return K, np.empty((K.shape[0], K.shape[1], 0))
        # d K / d log(scale_g) = 5/3 * d_g / scale_g² * (1 + r) exp(-r)   (r = sqrt(5) dist)
        return K, 5.0 / 3.0 * scaled * ((1.0 + r) * decay)[..., None]

    def _per_column(self, X, Y, eval_gradient):
        groups = np.asarray(self.groups)
        per_column = np.asarray(self.length_scale, dtype=float)[groups]
        columns = Matern(per_column, self.length_scale_bounds, self.nu)
        if not eval_gradient:
            return columns(X, Y)
        K, grad = columns(X, Y, eval_gradient=True)
        tied = np.zeros(grad.shape[:2] + (int(groups.max()) + 1,))
        np.add.at(tied, (slice(None), slice(None), groups), grad)  # columns -> their group
        return K, tied


def _group_sq_distances(x: np.ndarray, y: np.ndarray | None, groups: np.ndarray) -> np.ndarray:
    """``out[i, j, g]``: the squared distance between rows ``x[i]`` and ``y[j]`` (``x`` where
    ``y`` is None) over the columns of group ``g``."""
    y = x if y is None else y
    n_groups = int(groups.max()) + 1
    out = np.empty((len(x), len(y), n_groups))
    for g in range(n_groups):
        cols = groups == g
        a, b = x[:, cols], y[:, cols]
        sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
        out[:, :, g] = np.maximum(sq, 0.0)
    return out


def features(encoding, idx: np.ndarray) -> np.ndarray:
    """Rows of index vectors (``Encoding`` order) as GP features."""
    idx = np.atleast_2d(np.asarray(idx, dtype=np.int64))
    cols = []
    for j, (card, ordered) in enumerate(zip(encoding.cardinalities, encoding.ordered)):
        if ordered:
            cols.append((idx[:, j] / max(int(card) - 1, 1))[:, None])
        else:
            cols.append(np.eye(int(card))[idx[:, j]])
    return np.hstack(cols).astype(float)


class Surrogate:
    """A GP on features -> value (to minimise); ``predict`` gives mean and std."""

    def __init__(
        self,
        seed: int = 0,
        warp: bool = True,
        groups=None,
        summed: bool = False,
        forest: str | None = None,
    ):
        """``groups``: the parameter of each feature column (:func:`parameter_of_column`)
        for one length scale per parameter; ``None``: one length scale for all.
        ``summed`` (with ``groups``): both, added, each with its own amplitude - the GP can
        weigh a smooth trend over all parameters against the parameters that matter.
        ``forest``: ``"mixture"``, a random forest beside the GP, predictions pooled;
        ``"alone"``, the forest instead of the GP (module docstring)."""
        if summed and groups is None:
            raise ValueError("Surrogate(summed=True) needs groups (parameter_of_column)")
        if forest not in FOREST_MODES:
            raise ValueError(f"Surrogate(forest={forest!r}): choose one of {FOREST_MODES}")
        self.seed = seed
        self.summed = summed
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.gp: GaussianProcessRegressor | None = None
        self.forest_mode = forest
        self.forest: RandomForestRegressor | None = None
        self.warper: PowerTransformer | None = PowerTransformer() if warp else None

    def warp(self, y) -> np.ndarray:
        """Values in the GP's (warped) scale: a Yeo-Johnson power transform fitted on the
        targets, so that a few very poor values (a disconnected cell at 10 %) do not squash
        the differences among the good ones."""
        y = np.asarray(y, dtype=float)
        if self.warper is None or y.size == 0:
            return y
        return self.warper.transform(y.reshape(-1, 1)).ravel()

    def fit(self, x: np.ndarray, y: np.ndarray) -> Surrogate:
        if self.warper is not None:
            self.warper.fit(np.asarray(y, dtype=float).reshape(-1, 1))
            y = self.warp(y)
        if self.forest_mode is not None:
            self.forest = RandomForestRegressor(**FOREST, random_state=self.seed).fit(x, y)
        if self.forest_mode != "alone":
            self._fit_gp(x, y)
        return self

    def _fit_gp(self, x: np.ndarray, y: np.ndarray) -> None:
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * self._matern()
        if self.summed:
            kernel = kernel + ConstantKernel(1.0, (1e-3, 1e3)) * self._matern(one=True)
        kernel = kernel + WhiteKernel(1e-2, (1e-6, 1.0))
        self.gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=self.seed
        )
        with warnings.catch_warnings():  # a length scale at its bound is fine here
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(x, y)

    def _matern(self, one: bool = False) -> Matern:
        if self.groups is None or one:
            return Matern(length_scale=1.0, length_scale_bounds=(1e-2, 1e2), nu=2.5)
        ones = np.ones(int(self.groups.max()) + 1)
        return ParameterMatern(self.groups, ones, length_scale_bounds=(1e-2, 1e2), nu=2.5)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation in the warped scale: the GP's, the forest's (mean and
        spread over its trees), or for ``"mixture"`` their equal mixture (mean of the means;
        variance: mean of the variances plus the spread of the two means about theirs)."""
        if self.forest_mode == "alone":
            return self._predict_forest(x)
        mu, sigma = self.gp.predict(x, return_std=True)
        mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
        if self.forest_mode is None:
            return mu, sigma
        mu_f, sigma_f = self._predict_forest(x)
        mixed = (mu + mu_f) / 2
        return mixed, np.sqrt((sigma**2 + sigma_f**2) / 2 + ((mu - mu_f) / 2) ** 2)

    def _predict_forest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_tree = np.stack([tree.predict(x) for tree in self.forest.estimators_])
        return per_tree.mean(axis=0), np.maximum(per_tree.std(axis=0), FOREST_MIN_STD)
