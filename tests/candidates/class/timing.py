"""Functions whose wall-clock time and CPU time differ, for the worker's CPU-time limit."""

import time


def waits(x):
    time.sleep(0.6)  # like a call whose process waits for a core on a loaded machine: no CPU used
    return x


def spins(x):
    while True:
        pass


def sleeps(x):
    time.sleep(600)


def quick(x):
    return x


def stops(x):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSTOP)  # as an attack on its own process would
    return x
