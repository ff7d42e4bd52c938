"""The accuracy surrogate of ``pool-bo``: scikit-learn's Gaussian process on encoded params.

Features: one column per value of a categorical parameter (one-hot), one column per ordered
parameter (its index scaled to [0, 1]). Kernel: a constant times a Matern-5/2 with one
length scale per parameter group, plus white noise; targets standardised (``normalize_y``).
The hyper-parameters are fitted by maximum likelihood at every fit (tens of points: tens of
milliseconds).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.preprocessing import PowerTransformer


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

    def __init__(self, seed: int = 0, warp: bool = True) -> None:
        self.seed = seed
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
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=1.0, length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        self.gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=self.seed
        )
        with warnings.catch_warnings():  # a length scale at its bound is fine here
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, sigma = self.gp.predict(x, return_std=True)
        return np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
