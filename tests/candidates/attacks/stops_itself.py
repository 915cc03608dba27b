"""Attack: stop its own process (SIGSTOP) in the middle of a call, as if hung: a timeout of that
call, the worker killed and restarted, the grade not held up."""

import os
import signal


def relu_forward(x):
    os.kill(os.getpid(), signal.SIGSTOP)
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
