"""Attack: flood the output (the grader's log of the worker, and the report it quotes) with far
more text than any report can hold: the file-size limit stops the worker, and the report keeps
only a few lines of it."""

import sys


def relu_forward(x):
    line = "flood " * 1000 + "\n"
    for _ in range(100_000):  # 600 MB
        sys.stdout.write(line)
        sys.stderr.write(line)
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
