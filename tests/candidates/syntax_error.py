def relu_forward(x)
    return x
