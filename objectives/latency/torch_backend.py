"""PyTorch latency: eager on CPU; on CUDA channels_last, fp16/bf16 and CUDA-graph replay.

On a GPU an eager timing at small batch measures Python's kernel launches, not the
architecture (3-5× slower than graph replay at batch 1 on an H200, see shared/GPU.md), so
CUDA timings replay a captured CUDA graph by default; each sample is one replay between two
CUDA events. ``compile=True`` runs ``torch.compile`` (default mode) first.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn

from accelsearch.arch import Arch
from accelsearch.errors import MeasurementError
from accelsearch.objectives.latency.base import DTYPES, LatencyBackend, as_module
from accelsearch.objectives.latency.protocol import Stats, run_protocol


class TorchBackend(LatencyBackend):
    """Options: ``channels_last`` (default True on CUDA), ``cuda_graphs`` (default True),
    ``compile`` (default False), ``threads`` (CPU threads; default: PyTorch's)."""

    name = "torch"
    precisions = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "fp16", "bf16")}

    def _measure_impl(
        self, model_or_arch: nn.Module | Arch, batch_size: int, resolution: int, num_classes: int
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        t0 = time.perf_counter()
        model = as_module(model_or_arch, num_classes)
        if not isinstance(model_or_arch, Arch):
            model = copy.deepcopy(model)  # never change the caller's module
        in_chans = model_or_arch.in_chans if isinstance(model_or_arch, Arch) else 3
        dtype = DTYPES[self.precision]
        if self.device == "cpu":
            return self._cpu(model, batch_size, resolution, in_chans, dtype, t0)
        try:
            return self._cuda(model, batch_size, resolution, in_chans, dtype, t0)
        except torch.cuda.OutOfMemoryError as exc:
            del model
            torch.cuda.empty_cache()
            raise MeasurementError(
                f"out of GPU memory measuring batch {batch_size} at {resolution}px "
                f"({self.precision}) on {self.device}; use a smaller batch_size or resolution"
            ) from exc

    def _cpu(self, model, batch_size, resolution, in_chans, dtype, t0):
        threads = self.options.get("threads")
        old_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))
        try:
            channels_last = bool(self.options.get("channels_last", False))
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model = model.eval().to(dtype=dtype, memory_format=fmt)
            x = torch.randn(batch_size, in_chans, resolution, resolution, dtype=dtype)
            x = x.contiguous(memory_format=fmt)
            build_s = time.perf_counter() - t0

            def once() -> float:
                s = time.perf_counter()
                model(x)
                return (time.perf_counter() - s) * 1000.0

            with torch.inference_mode():
                stats = run_protocol(once, self.protocol)
        finally:
            torch.set_num_threads(old_threads)
        mode = "eager" + ("+channels_last" if channels_last else "")
        return stats, build_s, mode, {"threads": threads or old_threads}

    def _cuda(self, model, batch_size, resolution, in_chans, dtype, t0):
        dev = torch.device(self.device)
        channels_last = bool(self.options.get("channels_last", True))
        use_graph = bool(self.options.get("cuda_graphs", True))
        use_compile = bool(self.options.get("compile", False))
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        with torch.cuda.device(dev):
            model = model.eval().to(device=dev, dtype=dtype, memory_format=fmt)
            x = torch.randn(batch_size, in_chans, resolution, resolution, device=dev, dtype=dtype)
            x = x.contiguous(memory_format=fmt)
            fn = torch.compile(model) if use_compile else model
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            with torch.inference_mode():
                # warm-up on a side stream (required before graph capture)
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        fn(x)
                torch.cuda.current_stream().wait_stream(side)
                torch.cuda.synchronize()
                graph = None
                if use_graph:
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        fn(x)
                    torch.cuda.synchronize()
                build_s = time.perf_counter() - t0
                run = graph.replay if graph is not None else (lambda: fn(x))

                def once() -> float:
                    start.record()
                    run()
                    end.record()
                    end.synchronize()
                    return start.elapsed_time(end)

                stats = run_protocol(once, self.protocol)
        parts = (["compile"] if use_compile else []) + ["cuda_graph" if use_graph else "eager"]
        if channels_last:
            parts.append("channels_last")
        return stats, build_s, "+".join(parts), {}
