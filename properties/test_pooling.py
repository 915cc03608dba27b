"""Max pooling's tie convention, pinned: the gradient properties draw distinct values, so this is
the one place where ties are tested.

Convention (PyTorch's, on the CPU): when several elements of a window share its maximum, the first
in row-major order within the window is selected and receives the whole gradient of that window.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradproof.grading.courses import tie_rules as ties
from reference.pooling import max_pool2d_backward, max_pool2d_forward

TIES = {
    "one window, all equal": (np.ones((1, 1, 2, 2)), {"kernel_size": 2}, [[1, 0], [0, 0]]),
    "tie across a row": (
        np.array([[[[0.0, 5.0, 5.0], [1.0, 2.0, 3.0]]]]),
        {"kernel_size": (2, 3)},
        [[0, 1, 0], [0, 0, 0]],
    ),
    "tie across a column": (np.array([[[[1.0, 0.0], [1.0, 0.0]]]]), {"kernel_size": 2}, [[1, 0], [0, 0]]),
    # Overlapping windows (stride 1 < kernel 2): the middle column's 4s tie in both windows; each
    # window picks its first, and the top one collects both windows' gradients.
    "overlapping windows": (
        np.array([[[[0.0, 4.0, 0.0], [0.0, 4.0, 0.0]]]]),
        {"kernel_size": 2, "stride": 1},
        [[0, 2, 0], [0, 0, 0]],
    ),
}


@pytest.mark.parametrize("case", TIES, ids=list(TIES))
def test_max_pool_tie_goes_to_the_first_element_of_the_window(case):
    x, hparams, expected = TIES[case]
    out, cache = max_pool2d_forward(x, **hparams)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], expected)

    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    F.max_pool2d(x_torch, **hparams).sum().backward()
    np.testing.assert_array_equal(x_torch.grad.numpy(), dx, err_msg="PyTorch's tie convention changed")


@pytest.mark.parametrize("case", TIES, ids=list(TIES))
def test_the_tie_rules_graders_name(case):
    """The rules of gradproof.grading.courses.tie_rules, which the graders use to pin a course's convention
    (cs231n: first; Coursera: every) and to name a student's: "first" is the reference's own."""
    x, hparams, _ = TIES[case]
    kernel = hparams["kernel_size"]
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    stride = hparams.get("stride", kernel[0])
    out, cache = max_pool2d_forward(x, **hparams)
    dout = np.arange(1.0, out.size + 1).reshape(out.shape)
    first = ties.max_pool_backward(x, dout, kernel, stride, "first")
    np.testing.assert_array_equal(first, max_pool2d_backward(dout, cache))
    every = ties.max_pool_backward(x, dout, kernel, stride, "every")
    split = ties.max_pool_backward(x, dout, kernel, stride, "split")
    last = ties.max_pool_backward(x, dout, kernel, stride, "last")
    # Each window hands out its dout once by first, last and split, once per tied maximum by every.
    for dx in (first, last, split):
        assert dx.sum() == pytest.approx(dout.sum())
    counts = [count for *_, count in ties.tied_windows(x, kernel, stride)]
    assert every.sum() > dout.sum() if counts else every.sum() == dout.sum()
    assert not np.array_equal(first, last)  # every case has a tie whose first and last differ
