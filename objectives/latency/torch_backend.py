"""PyTorch latency: eager on CPU; on CUDA channels_last, fp16/bf16 and CUDA-graph replay.

On a GPU an eager timing at small batch measures Python's kernel launches, not the
architecture (3-5× slower than graph replay at batch 1 on an H200, see shared/GPU.md), so
CUDA timings replay a captured CUDA graph by default; each sample is one replay between two
CUDA events on the measuring stream. ``compile=True`` runs ``torch.compile`` (mode
``compile_mode``, default PyTorch's default; ``"max-autotune"`` can take 10+ minutes per
model) before capture. cuDNN's autotuner is on while measuring (``cudnn_benchmark``), as a
deployed model would run; the warm-up runs before capture let it choose its kernels.

If a model cannot be captured (a host synchronisation inside ``forward``), the backend
times it eagerly instead and says so: ``mode`` is then ``eager`` and
``extra["graph_error"]`` holds the reason.

Options: ``channels_last`` (default True on CUDA, False on CPU), ``cuda_graphs`` (default
True), ``compile`` (default False), ``compile_mode``, ``cudnn_benchmark`` (default True),
``threads`` (CPU threads; default PyTorch's).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, MeasurementError
from accelsearch.objectives.latency.base import (
    DTYPES,
    InputShape,
    LatencyBackend,
    as_module,
    is_out_of_memory,
)
from accelsearch.objectives.latency.protocol import Protocol, Stats, run_protocol


class TorchBackend(LatencyBackend):
    """PyTorch eager (CPU) or CUDA-graph replay (GPU); see the module docstring."""

    name = "torch"
    precisions = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "fp16", "bf16")}
    option_names = (
        "channels_last",
        "cuda_graphs",
        "compile",
        "compile_mode",
        "cudnn_benchmark",
        "threads",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        threads = self.options.get("threads")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ConfigError(
                f"torch latency option threads must be an integer >= 1, got {threads!r}"
            )
        if self.device != "cpu" and threads is not None:
            self.options = {k: v for k, v in self.options.items() if k != "threads"}

    def _prepare(self, model_or_arch, num_classes: int) -> nn.Module:
        """An ``Arch`` is built straight on the GPU (initialising a large model on the CPU
        and copying it costs more than timing it); a module is deep-copied."""
        if isinstance(model_or_arch, Arch) and self.device != "cpu":
            with torch.device(self.device):
                return as_module(model_or_arch, num_classes)
        return super()._prepare(model_or_arch, num_classes)

    def timing_options(self) -> dict[str, Any]:
        cuda = self.device != "cpu"
        opts: dict[str, Any] = {"channels_last": self._channels_last()}
        if cuda:
            opts["cuda_graphs"] = bool(self.options.get("cuda_graphs", True))
            opts["compile"] = bool(self.options.get("compile", False))
            if opts["compile"]:
                opts["compile_mode"] = self.options.get("compile_mode") or "default"
            opts["cudnn_benchmark"] = bool(self.options.get("cudnn_benchmark", True))
        return opts

    def _channels_last(self) -> bool:
        return bool(self.options.get("channels_last", self.device != "cpu"))

    def _measure_impl(
        self, model: nn.Module, input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        t0 = time.perf_counter()
        if self.device == "cpu":
            return time_cpu(
                model,
                input_shape,
                DTYPES[self.precision],
                self.protocol,
                channels_last=self._channels_last(),
                threads=self.options.get("threads"),
                t0=t0,
            )
        opts = self.timing_options()
        return time_cuda(
            model,
            input_shape,
            DTYPES[self.precision],
            self.protocol,
            device=self.device,
            channels_last=opts["channels_last"],
            cuda_graphs=opts["cuda_graphs"],
            compile=opts["compile"],
            compile_mode=self.options.get("compile_mode"),
            cudnn_benchmark=opts["cudnn_benchmark"],
            t0=t0,
        )


def time_cpu(
    model: nn.Module,
    input_shape: InputShape,
    dtype: torch.dtype,
    protocol: Protocol,
    channels_last: bool = False,
    threads: int | None = None,
    t0: float | None = None,
) -> tuple[Stats, float, str, dict[str, Any]]:
    """Time ``model`` eagerly on the CPU (host clock around each forward)."""
    t0 = time.perf_counter() if t0 is None else t0
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.eval().to(dtype=dtype, memory_format=fmt)
        x = torch.randn(*input_shape, dtype=dtype).contiguous(memory_format=fmt)
        build_s = time.perf_counter() - t0

        def once() -> float:
            s = time.perf_counter()
            model(x)
            return (time.perf_counter() - s) * 1000.0

        with torch.inference_mode():
            stats = run_protocol(once, protocol)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    mode = "eager" + ("+channels_last" if channels_last else "")
    return stats, build_s, mode, {"threads": used_threads}


def time_cuda(
    model: nn.Module,
    input_shape: InputShape,
    dtype: torch.dtype,
    protocol: Protocol,
    device: str = "cuda:0",
    channels_last: bool = True,
    cuda_graphs: bool = True,
    compile: bool = False,
    compile_mode: str | None = None,
    cudnn_benchmark: bool = True,
    t0: float | None = None,
) -> tuple[Stats, float, str, dict[str, Any]]:
    """Time ``model`` on a GPU: CUDA events around one graph replay (or eager forward)."""
    t0 = time.perf_counter() if t0 is None else t0
    dev = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    old_bench = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    extra: dict[str, Any] = {}
    try:
        with torch.cuda.device(dev):
            model = model.eval().to(device=dev, dtype=dtype, memory_format=fmt)
            x = torch.randn(*input_shape, device=dev, dtype=dtype).contiguous(memory_format=fmt)
            fn = model
            if compile:
                try:
                    fn = torch.compile(model, mode=compile_mode)
                except Exception as exc:  # torch.compile raises many types
                    raise MeasurementError(
                        f"torch.compile failed ({type(exc).__name__}: {exc}); measure with "
                        "compile=False"
                    ) from exc
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())  # the weights and input are ready
            graph = None
            with torch.inference_mode(), torch.cuda.stream(stream):
                try:
                    for _ in range(3):  # compile, cuDNN autotuning, allocator warm-up
                        fn(x)
                except MeasurementError:
                    raise
                except Exception as exc:
                    if compile and not _is_oom(exc):
                        raise MeasurementError(
                            f"torch.compile'd model failed to run ({type(exc).__name__}: "
                            f"{exc}); measure with compile=False"
                        ) from exc
                    raise
                stream.synchronize()
                if cuda_graphs:
                    graph = _capture(fn, x, stream, extra)
                build_s = time.perf_counter() - t0
                run = graph.replay if graph is not None else (lambda: fn(x))
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)

                def once() -> float:
                    start.record(stream)
                    run()
                    end.record(stream)
                    end.synchronize()
                    return start.elapsed_time(end)

                stats = run_protocol(once, protocol)
            graphed = graph is not None
    finally:
        torch.backends.cudnn.benchmark = old_bench
    parts = (["compile"] if compile else []) + ["cuda_graph" if graphed else "eager"]
    if channels_last:
        parts.append("channels_last")
    return stats, build_s, "+".join(parts), extra


def _capture(fn, x: torch.Tensor, stream: torch.cuda.Stream, extra: dict[str, Any]):
    """Capture one forward as a CUDA graph; ``None`` (and the reason in ``extra``) when the
    model cannot be captured."""
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph, stream=stream):
            fn(x)
        stream.synchronize()
        graph.replay()
        stream.synchronize()
        return graph
    except Exception as exc:
        if _is_oom(exc):
            raise
        extra["graph_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        torch.cuda.synchronize()
        return None


def _is_oom(exc: BaseException) -> bool:
    return is_out_of_memory(exc)
