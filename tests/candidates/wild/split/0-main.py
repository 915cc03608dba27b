#!/usr/bin/env python3
"""The checker's main file: top-level test code, never run by gradproof."""
import numpy as np
conv_forward = __import__('conv_forward').conv_forward

np.random.seed(0)
A = np.random.randn(2, 5, 5, 3)
print(conv_forward(A, np.ones((3, 3, 3, 2)), np.zeros((1, 1, 1, 2)), {"stride": 1, "pad": 1})[0].shape)
raise SystemExit("0-main.py ran: it must not")
