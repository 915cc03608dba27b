def relu_backward(dout, cache):
    return dout * (cache > 0)
