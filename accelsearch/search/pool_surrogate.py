"""The accuracy surrogate of ``pool-bo``: scikit-learn's Gaussian process on encoded params.

Features: one column per value of a categorical parameter (one-hot), one column per ordered
parameter (its index scaled to [0, 1]). Kernel: a constant times a Matern-5/2, plus white
noise; targets standardised (``normalize_y``). The Matern has one length scale for all
columns, or (``groups``; pool-bo's ``per_parameter``) one per *parameter*, shared by that
parameter's one-hot columns (:class:`ParameterMatern`): the GP can then learn which
parameters matter, with a handful of hyper-parameters instead of one per column. The
hyper-parameters are fitted by maximum likelihood at every fit (tens of points: tens of
milliseconds; per parameter, seconds at a few hundred points).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.preprocessing import PowerTransformer


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

    def __init__(self, seed: int = 0, warp: bool = True, groups=None, summed: bool = False):
        """``groups``: the parameter of each feature column (:func:`parameter_of_column`)
        for one length scale per parameter; ``None``: one length scale for all.
        ``summed`` (with ``groups``): both, added, each with its own amplitude - the GP can
        weigh a smooth trend over all parameters against the parameters that matter."""
        if summed and groups is None:
            raise ValueError("Surrogate(summed=True) needs groups (parameter_of_column)")
        self.seed = seed
        self.summed = summed
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.gp: GaussianProcessRegressor | None = None
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
        return self

    def _matern(self, one: bool = False) -> Matern:
        if self.groups is None or one:
            return Matern(length_scale=1.0, length_scale_bounds=(1e-2, 1e2), nu=2.5)
        ones = np.ones(int(self.groups.max()) + 1)
        return ParameterMatern(self.groups, ones, length_scale_bounds=(1e-2, 1e2), nu=2.5)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, sigma = self.gp.predict(x, return_std=True)
        return np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
