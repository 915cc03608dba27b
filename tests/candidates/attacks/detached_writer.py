"""Attack: at definition time (a default argument is evaluated when the def runs), double-fork a
process into a new session that outlives the grade and then writes where the grader's results are."""

import os
import time


def _detach():
    target = os.environ.get("GRADPROOF_ATTACK_FILE", "/tmp/gradproof-attack-marker")
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(4)
            with open(target, "w") as f:
                f.write('{"score": 1000, "max_score": 1, "tests": []}')
            os._exit(0)
        os._exit(0)
    return None


def relu_forward(x, _unused=_detach()):
    return x * (x > 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
