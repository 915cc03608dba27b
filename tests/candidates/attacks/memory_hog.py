"""Attack: allocate far more memory than the grader's machine has (the address-space limit turns it
into a MemoryError in the worker, never the grader's out-of-memory death)."""

import numpy as np


def relu_forward(x):
    hog = np.ones((1 << 40,), dtype=np.uint8)  # 1 TiB
    return x * (x > 0) + hog[0] * 0, x


def relu_backward(dout, cache):
    return dout * (cache > 0)
