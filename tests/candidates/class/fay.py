import numpy as np


def relu_forward(x)
    return np.maximum(x, 0.0), x
