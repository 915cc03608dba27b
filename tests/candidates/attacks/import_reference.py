"""Attack: delegate every function to the grader's own reference and oracle (cs231n API)."""


def affine_forward(x, w, b):
    from gradproof.grading.courses.cs231n_oracle import affine_forward as answer

    return answer(x, w, b)


def affine_backward(dout, cache):
    from reference.linear import affine_backward as answer

    return answer(dout, cache)


def relu_forward(x):
    import torch  # a NumPy assignment solved with PyTorch

    return torch.relu(torch.from_numpy(x)).numpy(), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
