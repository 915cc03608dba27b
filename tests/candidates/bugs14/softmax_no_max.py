"""Planted bug: softmax_loss does not subtract the row maximum before exponentiating.

Mathematically the same function, but ``np.exp`` overflows to inf for logits around 1e3 (the
loss and dx become nan), and loses precision well before that. The op that should lose points:
softmax_loss. svm_loss is correct.
"""
from builtins import range
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    correct_class_scores = x[np.arange(N), y]
    margins = np.maximum(0, x - correct_class_scores[:, np.newaxis] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(N), y] -= num_pos
    dx /= N
    return loss, dx


def softmax_loss(x, y):
    N = x.shape[0]
    exp_scores = np.exp(x)  # BUG: no x - max(x, axis=1) first
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
