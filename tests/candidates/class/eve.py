import time

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    while True:  # never returns
        time.sleep(1)
