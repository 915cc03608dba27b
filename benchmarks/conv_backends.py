"""The conv2d backends ``test_conv_backends.py`` times, behind one interface, and the shapes it
times them on.

A backend turns the benchmark's NCHW NumPy arrays into its own (``prepare``, not timed), runs
``forward(args) -> (out, cache)`` and ``backward(dout, cache) -> (dx, dw, db)`` (timed), and turns
its results back into NCHW NumPy arrays (``to_numpy``, not timed) for the correctness check.

Backends:

* ``torch``: ``torch.nn.functional.conv2d`` and the ``aten::convolution_backward`` that autograd
  calls for it (oneDNN on the CPU, cuDNN on the GPU), on tensors that live on the device: the
  baseline every ratio is taken against;
* ``torch-im2col``: ``unfold`` + one batched matmul, and ``fold`` for dx; written with torch ops so
  it runs on the GPU next to cuDNN;
* ``fft``: NumPy's real FFT, forward only, stride 1 only;
* every candidate (``candidates/``, entry points, ``--candidate``), the reference included, through
  its API's binding in this process (a worker's round trips would be timed too). Their arrays live
  in host memory, so they are compared with torch on the CPU, even ``torch_backend``, which computes
  on the GPU when there is one (its copies to and from the device are part of its time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from gradproof.grading import candidates
from gradproof.grading.courses import detect, get_api
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.units import bind


@dataclass(frozen=True)
class Shape:
    name: str
    n: int
    c: int
    h: int
    f: int
    k: int
    stride: int = 1
    padding: int = 0
    gpu: bool = False
    """A shape for the GPU: CPU backends skip it unless --bench-all-shapes."""

    @property
    def out_side(self) -> int:
        return (self.h + 2 * self.padding - self.k) // self.stride + 1

    @property
    def forward_flops(self) -> int:
        """Multiply-adds counted as two: ``2 N F C k^2 Ho Wo``; a backward (dx and dw) is twice this."""
        return 2 * self.n * self.f * self.c * self.k * self.k * self.out_side**2

    def describe(self) -> str:
        return (
            f"{self.name}: x ({self.n}, {self.c}, {self.h}, {self.h}), w ({self.f}, {self.c}, {self.k}, "
            f"{self.k}), stride {self.stride}, padding {self.padding}"
        )


SHAPES = (
    Shape("cifar-first", n=8, c=3, h=32, f=16, k=3, padding=1),
    Shape("cifar-batch", n=64, c=3, h=32, f=64, k=5, padding=2),
    Shape("middle", n=32, c=64, h=16, f=64, k=3, padding=1),
    Shape("strided", n=16, c=128, h=8, f=256, k=3, stride=2, padding=1),
    Shape("resnet-56", n=64, c=64, h=56, f=64, k=3, padding=1, gpu=True),
    Shape("resnet-14", n=64, c=256, h=14, f=256, k=3, padding=1, gpu=True),
)
CPU_SHAPES = tuple(s.name for s in SHAPES if not s.gpu)


@dataclass
class Backend:
    name: str
    device: str
    """Where its arrays live: ``cpu`` or ``cuda``. Its ratio is taken against torch there."""
    prepare: Callable[[np.ndarray, np.ndarray, np.ndarray, Shape], tuple]
    forward: Callable[[tuple], tuple]
    backward: Callable[[object, object], tuple] | None
    prepare_dout: Callable[[np.ndarray], object]
    to_numpy: Callable[[object], np.ndarray] = np.asarray
    """The forward's output as an NCHW NumPy array."""
    grads_to_numpy: Callable[[tuple], tuple] = lambda grads: tuple(np.asarray(g) for g in grads)
    """The backward's (dx, dw, db) as NumPy arrays in the reference's layout."""
    skip: Callable[[Shape], str | None] = lambda shape: None
    """Why this backend cannot run ``shape`` (``None`` when it can)."""
    kind: str = "builtin"
    notes: list[str] = field(default_factory=list)

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()


# -- torch ------------------------------------------------------------------------------------------


def _tensors(device):
    def prepare(x, w, b, shape):
        return (*(torch.from_numpy(a).to(device) for a in (x, w, b)), shape)

    return prepare


def torch_forward(args):
    x, w, b, shape = args
    out = F.conv2d(x, w, b, stride=shape.stride, padding=shape.padding)
    return out, args


def torch_backward(dout, cache):
    x, w, b, shape = cache
    # What autograd runs for conv2d's backward, called directly so that no graph is built or kept.
    return torch.ops.aten.convolution_backward(
        dout,
        x,
        w,
        [b.shape[0]],
        [shape.stride] * 2,
        [shape.padding] * 2,
        [1, 1],
        False,
        [0, 0],
        1,
        [True, True, True],
    )


def _im2col_forward(args):
    x, w, b, shape = args
    n, f = x.shape[0], w.shape[0]
    cols = F.unfold(x, shape.k, padding=shape.padding, stride=shape.stride)  # (N, C k k, L)
    out = (w.reshape(f, -1) @ cols).reshape(n, f, shape.out_side, shape.out_side) + b.reshape(1, f, 1, 1)
    return out, (cols, w, shape, x.shape[-2:])


def _im2col_backward(dout, cache):
    cols, w, shape, size = cache
    n, f = dout.shape[:2]
    d = dout.reshape(n, f, -1)  # (N, F, L)
    dw = torch.bmm(d, cols.transpose(1, 2)).sum(0).reshape(w.shape)
    dx = F.fold(w.reshape(f, -1).T @ d, size, shape.k, padding=shape.padding, stride=shape.stride)
    return dx, dw, dout.sum((0, 2, 3))


def _to_numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def torch_backends() -> list[Backend]:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    kinds = (("torch", torch_forward, torch_backward), ("torch-im2col", _im2col_forward, _im2col_backward))
    return [
        Backend(
            f"{label}-{device}",
            device,
            _tensors(device),
            forward,
            backward,
            lambda a, device=device: torch.from_numpy(a).to(device),
            _to_numpy,
            lambda grads: tuple(_to_numpy(t) for t in grads),
        )
        for device in devices
        for label, forward, backward in kinds
    ]


# -- FFT --------------------------------------------------------------------------------------------


def _fft_prepare(x, w, b, shape):
    return x, w, b, shape


def _fft_forward(args):
    """Cross-correlation as a product of spectra: with both padded to the padded input's size L,
    ``irfft2(X * conj(W))`` is the circular correlation, and its first ``L - k + 1`` rows and columns
    never wrap around, so they are the convolution. The channel sum is a matmul per frequency."""
    x, w, b, shape = args
    p = shape.padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    size = xp.shape[-2:]
    spectrum_x = np.fft.rfft2(xp)  # (N, C, L, L/2+1)
    spectrum_w = np.fft.rfft2(w, s=size).conj()  # (F, C, L, L/2+1)
    product = np.matmul(spectrum_x.transpose(2, 3, 0, 1), spectrum_w.transpose(2, 3, 1, 0))  # (L, L', N, F)
    out = np.fft.irfft2(product.transpose(2, 3, 0, 1), s=size)
    side = shape.out_side
    return out[:, :, :side, :side] + b[:, None, None], None


def fft_backend() -> Backend:
    def skip(shape):
        return "the FFT forward is written for stride 1 only" if shape.stride != 1 else None

    return Backend("fft", "cpu", _fft_prepare, _fft_forward, None, np.asarray, skip=skip)


# -- candidates -------------------------------------------------------------------------------------


def _layout(api: str):
    """(prepare, to_numpy, grads_to_numpy) for a candidate written to ``api``."""
    if api == "coursera":  # NHWC; W (k, k, C, F); b (1, 1, 1, F)

        def prepare(x, w, b, shape):
            arrays = (
                np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                np.ascontiguousarray(w.transpose(2, 3, 1, 0)),
                b.reshape(1, 1, 1, -1).copy(),
            )
            return arrays, {"stride": shape.stride, "pad": shape.padding}

        def to_numpy(out):
            return np.asarray(out).transpose(0, 3, 1, 2)

        def grads(g):
            dx, dw, db = (np.asarray(a) for a in g)
            return dx.transpose(0, 3, 1, 2), dw.transpose(3, 2, 0, 1), db.reshape(-1)

        return prepare, to_numpy, grads

    def prepare(x, w, b, shape):
        if api == "cs231n":
            return (x, w, b), {"stride": shape.stride, "pad": shape.padding}
        return (x, w, b), {"stride": shape.stride, "padding": shape.padding, "dilation": 1, "groups": 1}

    return prepare, np.asarray, lambda g: tuple(np.asarray(a) for a in g)


def candidate_backend(candidate: candidates.Candidate, api_name: str | None = None) -> Backend | str:
    """``candidate``'s conv2d as a backend, or why it cannot be one."""
    try:
        module = candidates.load_in_process(candidate)
    except Exception as exc:
        return f"{candidate.name}: failed to import: {type(exc).__name__}: {exc}"
    from gradproof.grading.worker import defined_names, parameter_counts

    names = defined_names(module)
    api = get_api(api_name) if api_name else detect(names, parameter_counts(module, names))
    if api.name == "bootcamp":
        # Its padding is "same" or "valid", and no benchmark shape's padding of 1 with stride 2 is either.
        return f"{candidate.name}: bootcamp API candidates are not benchmarked (padding 'same'/'valid' only)"
    binding = next((b for b in api.bindings if b.reference == "conv2d"), None)
    if binding is None or not set(binding.functions) <= set(vars(module)):
        return f"{candidate.name}: defines no conv2d forward and backward in the {api.name} API"
    spec = bind(binding, LocalExecutor(module, copy=False), name=candidate.name)
    prepare, to_numpy, grads = _layout(api.name)

    def forward(args):
        arrays, hparams = args
        return spec.forward(*arrays, **hparams)

    return Backend(
        candidate.name,
        "cpu",
        prepare,
        forward,
        spec.backward,
        lambda dout: np.ascontiguousarray(dout.transpose(0, 2, 3, 1)) if api.name == "coursera" else dout,
        lambda out: to_numpy(out),
        grads,
        kind="candidate",
        notes=[f"{api.name} API"],
    )
