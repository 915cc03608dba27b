"""Planted bug: spatial group norm with the 2019 template's ``(C,)`` gamma and beta whose dgamma
sums over the wrong axes: over the channels of a group as well as over N, H and W (as if gamma
were shared by the channels of a group), then repeated to shape (C,). Right only when every group
has one channel (G == C). The forward, dx and dbeta are correct. The op that should lose points:
spatial_groupnorm (backward, dgamma).
"""
from builtins import range
import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get('eps', 1e-5)
    N, C, H, W = x.shape
    x_group = x.reshape(N, G, C // G, H, W)
    mu = np.mean(x_group, axis=(2, 3, 4), keepdims=True)
    var = np.var(x_group, axis=(2, 3, 4), keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = ((x_group - mu) / std).reshape(N, C, H, W)
    out = gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
    cache = (x_hat, std, gamma, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    x_hat, std, gamma, G = cache
    N, C, H, W = dout.shape
    M = (C // G) * H * W

    dbeta = np.sum(dout, axis=(0, 2, 3))
    prod = (dout * x_hat).reshape(N, G, C // G, H, W)
    dgamma = np.repeat(np.sum(prod, axis=(0, 2, 3, 4)), C // G)  # BUG: also sums over channels

    dx_hat = (dout * gamma.reshape(1, C, 1, 1)).reshape(N, G, C // G, H, W)
    x_hat_g = x_hat.reshape(N, G, C // G, H, W)
    dx = (M * dx_hat
          - np.sum(dx_hat, axis=(2, 3, 4), keepdims=True)
          - x_hat_g * np.sum(dx_hat * x_hat_g, axis=(2, 3, 4), keepdims=True)) / (M * std)
    dx = dx.reshape(N, C, H, W)
    return dx, dgamma, dbeta
