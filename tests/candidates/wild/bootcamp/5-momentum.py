#!/usr/bin/env python3
"""Gradient descent with momentum, its bias forgotten the other way round"""


def update_variables_momentum(alpha, beta1, var, grad, v):
    """Updates a variable using gradient descent with momentum"""
    v = beta1 * v + grad  # the (1 - beta1) factor is missing
    return var - alpha * v, v
