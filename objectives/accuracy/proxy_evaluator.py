"""The ``proxy`` accuracy evaluator: a zero-cost proxy of :mod:`.proxies` in place of training.

:class:`ProxyEvaluator` is registered as accuracy evaluator ``"proxy"`` by the package
(``accelsearch.objectives.accuracy.EVALUATORS``); the value it reports as "accuracy" is
then the proxy score.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.builder import build_model
from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.data import check_source
from accelsearch.objectives.accuracy.proxies import PROXIES, Batch, batch_from_dataset, score
from accelsearch.objectives.accuracy.resolution import cap_stride


class ProxyEvaluator(AccuracyEvaluator):
    """A zero-cost proxy in place of training (``accuracy.evaluator: proxy``).

    Options: ``proxy`` (a name of :func:`names`), ``batch_size``, ``num_classes`` (the head
    the candidate is built with), ``resolution`` (default: the arch's), ``max_stride`` (as in
    proxy training), ``dataset`` (a real batch from this source instead of Gaussian noise),
    ``log`` (report log10 of the score, for ``synflow``'s huge values), ``seed``, ``device``.
    The score is reported once (epoch 1) and returned; it is a ranking signal, not a
    percentage, so use it in a Pareto objective or with a reward that only ranks.
    """

    name = "proxy"

    def __init__(
        self,
        proxy: str = "naswot",
        *,
        batch_size: int | None = None,
        num_classes: int = 10,
        resolution: int | None = None,
        max_stride: int | None = None,
        dataset: str | None = None,
        val_dataset: str | None = None,
        data_root: str | None = None,
        log: bool = False,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        PROXIES.get(proxy)  # unknown name -> clear error now, not in a trial
        if num_classes < 1:
            raise ConfigError(f"proxy num_classes must be >= 1, got {num_classes}")
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"proxy batch_size must be >= 1, got {batch_size}")
        if dataset is not None:
            check_source(dataset)
        self.proxy = proxy
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.resolution = resolution
        self.max_stride = max_stride
        self.dataset = dataset
        self.val_dataset = val_dataset
        self.data_root = data_root
        self.log = log
        self.seed = seed
        self.device = device
        self._batches: dict[tuple, Batch] = {}

    def describe(self) -> str:
        return f"proxy({self.proxy}{', log10' if self.log else ''})"

    def _batch(self, res: int, in_chans: int) -> Batch | None:
        if self.dataset is None:
            return None
        n = self.batch_size or PROXIES.get(self.proxy).batch_size
        key = (res, in_chans, n)
        if key not in self._batches:
            self._batches[key] = batch_from_dataset(
                self.dataset,
                n,
                res,
                seed=self.seed,
                val_dataset=self.val_dataset,
                root=self.data_root,
                in_chans=in_chans,
            )
        return self._batches[key]

    def evaluate(
        self, arch: Arch, report: Report | None = None, model: nn.Module | None = None
    ) -> float:
        res = self.resolution or arch.resolution
        if model is None:
            # the seed fixes the initial weights too (a proxy scores them), so the same arch
            # gets the same score; the caller's random state is left as it was
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = build_model(cap_stride(arch, self.max_stride), self.num_classes)
        value = score(
            self.proxy,
            model,
            (arch.in_chans, res, res),
            batch_size=self.batch_size,
            batch=self._batch(res, arch.in_chans),
            seed=self.seed,
            device=self.device,
        )
        if self.log:
            if value <= 0:
                raise EvaluationError(f"proxy {self.proxy!r} is {value}; log10 needs > 0")
            value = math.log10(value)
        if report is not None:
            report(1, value)
        return value
