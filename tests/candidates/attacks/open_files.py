"""Attack: open file descriptors until none is left, then keep them: the open-files limit makes it
an OSError in the worker, and the grader's own descriptors are not the worker's to exhaust."""

import os

_kept = []


def relu_forward(x):
    while True:
        _kept.append(os.open(os.devnull, os.O_RDONLY))
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
