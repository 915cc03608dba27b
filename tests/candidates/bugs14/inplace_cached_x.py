"""Planted bug: batchnorm_backward centres the cached input in place (``x -= mu``).

The forward keeps the caller's own ``x`` in its cache (no copy, as the template's solutions do),
and the backward computes ``x - mu`` by subtracting in place. The gradients of the first backward
call are right; what goes wrong is that the caller's ``x`` is changed (and a second backward on the
same cache would centre it twice). The op that should lose points: batchnorm (backward).
"""
from builtins import range
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)

    N, D = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == 'train':
        mu = np.mean(x, axis=0)
        var = np.var(x, axis=0)
        x_hat = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x, mu, var, gamma, eps)
    elif mode == 'test':
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x, mu, var, gamma, eps = cache
    N = x.shape[0]

    xmu = x
    xmu -= mu  # BUG: in place, on the caller's x kept in the cache
    istd = 1.0 / np.sqrt(var + eps)
    x_hat = xmu * istd

    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * xmu, axis=0) * -0.5 * istd ** 3
    dmu = -np.sum(dx_hat * istd, axis=0) + dvar * np.mean(-2.0 * xmu, axis=0)
    dx = dx_hat * istd + dvar * 2.0 * xmu / N + dmu / N
    return dx, dgamma, dbeta
