"""bootcamp API: update rules with the catalogue's mistakes (tests/test_grading.py)."""

import numpy as np


def update_variables_momentum(alpha, beta1, var, grad, v):
    v = beta1 * v + grad  # the (1 - beta1) factor is missing
    return var - alpha * v, v


def update_variables_Adam(alpha, beta1, beta2, epsilon, var, grad, v, s, t):
    v = beta1 * v + (1 - beta1) * grad
    s = beta2 * s + (1 - beta2) * grad**2
    return var - alpha * v / (np.sqrt(s) + epsilon), v, s  # no bias correction
