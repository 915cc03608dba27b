"""Attack: read the grading process's memory and command line through /proc (its parent, and every
process it can see), to find the expected answers or a token."""

import os


def relu_forward(x):
    found = []
    for pid in [os.getppid(), *range(1, 200)]:
        for what in ("cmdline", "environ", "mem"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    data = f.read(4096)
                if b"GRADPROOF" in data or b"pytest" in data:
                    found.append(f"{pid}/{what}")
            except OSError:
                pass
    if found:
        raise ValueError(f"read the grader: {found[:5]}")
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
