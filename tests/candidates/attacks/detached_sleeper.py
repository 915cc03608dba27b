"""Attack: at definition time, double-fork a process into a new session that sleeps past the end of
the grade (then would write a forged results file): nothing of it may be running once the grade
is over, in the sandbox or as the fallback's worker user."""

import os
import time


def _detach():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
            with open("/tmp/gradproof-attack-late-marker", "w") as f:
                f.write('{"score": 1000, "max_score": 1, "tests": []}')
            os._exit(0)
        os._exit(0)
    return None


def relu_forward(x, _unused=_detach()):
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
