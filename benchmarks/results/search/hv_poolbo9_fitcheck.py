"""Round 9's offline check: how well surrogates rank NAS-Bench-201 cells from few points.

Needs ``hv_poolbo9_candidates.patch`` applied (the ANOVA kernel). For 40, 70 and 100
training cells (half uniform, half from the cells >= 88 %, 6 draws each), fit on warped
accuracy and report Spearman's rho of the prediction against the table's accuracy over the
cells >= 85 % and >= 92 %, and the mean accuracy of the 20 best-predicted unseen cells.
``+flops``: the cell's FLOPs (log, scaled to [0, 3]; from the H200 latency table) as one
more feature.

    python benchmarks/results/search/hv_poolbo9_fitcheck.py
"""

import csv
import re
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.ensemble import RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.preprocessing import PowerTransformer

from accelsearch.search.pool_anova import anova_kernel

ROOT = Path(__file__).resolve().parents[3]
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
LAT = ROOT / "benchmarks/results/nb201/nb201_latency_h200.csv"
NB201 = "/work/shared/data/nb201/nats_bench_tss.csv"


def tables():
    flops = {r["arch_string"]: float(r["flops"]) for r in csv.DictReader(open(LAT))}
    cells, acc, f = [], [], []
    for r in csv.DictReader(open(NB201)):
        ops = re.findall(r"([a-z_0-9x]+)~\d", r["ArchitectureString"])
        cells.append([OPS.index(o) for o in ops])
        acc.append(float(r["CIFAR10TestAccuracy200Epochs"]))
        f.append(flops[r["ArchitectureString"]])
    log_f = np.log(np.array(f))
    return np.array(cells), np.array(acc), (log_f - log_f.min()) / np.ptp(log_f)


def predict(name, x, idx, y):
    if name.startswith("forest"):
        forest = RandomForestRegressor(
            n_estimators=100, min_samples_leaf=2, max_features=5 / 6, random_state=0
        )
        return forest.fit(x[idx], y).predict(x)
    groups = np.repeat(np.arange(6), 5)
    k = (
        anova_kernel(groups)
        if name.startswith("anova")
        else ConstantKernel() * Matern(1.0, (1e-2, 1e2), nu=2.5)
    )
    gp = GaussianProcessRegressor(
        k + WhiteKernel(1e-2, (1e-6, 1)), normalize_y=True, random_state=0
    )
    return gp.fit(x[idx], y).predict(x)


def main():
    warnings.simplefilter("ignore")
    cells, acc, flops = tables()
    one_hot = np.hstack([np.eye(5)[cells[:, j]] for j in range(6)])
    names = ("matern", "matern+flops", "anova", "forest", "forest+flops")
    print("| points | surrogate | rho (>= 85 %) | rho (>= 92 %) | top-20 unseen, mean acc. |")
    print("|---:|---|---:|---:|---:|")
    for n in (40, 70, 100):
        rows = {name: [] for name in names}
        for seed in range(6):
            rng = np.random.default_rng(seed)
            good = np.flatnonzero(acc >= 88)
            idx = np.concatenate(
                [
                    rng.choice(len(acc), n // 2, replace=False),
                    rng.choice(good, n - n // 2, replace=False),
                ]
            )
            y = PowerTransformer().fit_transform(-acc[idx][:, None]).ravel()
            unseen = np.setdiff1d(np.arange(len(acc)), idx)
            for name in names:
                x = np.hstack([one_hot, 3.0 * flops[:, None]]) if "flops" in name else one_hot
                mu = predict(name, x, idx, y)
                best = unseen[np.argsort(mu[unseen])[:20]]
                rows[name].append(
                    (
                        spearmanr(mu[acc >= 85], -acc[acc >= 85]).correlation,
                        spearmanr(mu[acc >= 92], -acc[acc >= 92]).correlation,
                        acc[best].mean(),
                    )
                )
        for name in names:
            a, b, c = np.mean(rows[name], axis=0)
            print(f"| {n} | {name} | {a:.3f} | {b:.3f} | {c:.2f} |")


if __name__ == "__main__":
    main()
