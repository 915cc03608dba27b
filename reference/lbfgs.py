r"""L-BFGS with an optional strong-Wolfe line search, transliterated from ``torch.optim.LBFGS`` (itself
a port of minFunc and torch7's ``lbfgs.lua`` / ``lswolfe.lua``) so that trajectories compare step
for step.

Unlike the first-order optimizers, a step takes a *closure* ``closure(x) -> (loss, grad)`` over a
flat parameter vector, because one step evaluates the function several times.
"""

from __future__ import annotations

import math

import numpy as np


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    r"""The minimiser of the cubic through :math:`(x_1, f_1, g_1)` and :math:`(x_2, f_2, g_2)`,
    clamped to ``bounds``; the bounds' midpoint when the cubic has no minimum."""
    xmin_bound, xmax_bound = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along ``d`` from ``x`` for a step ``t`` meeting the strong Wolfe conditions:
    a bracketing phase, then a zoom by cubic interpolation. Returns ``(f, g, t, evaluations)``."""
    d_norm = np.max(np.abs(d))
    f_new, g_new = obj(x, t, d)
    evals = 1
    gtd_new = g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = (
                [t_prev, t],
                [f_prev, f_new],
                [g_prev, g_new],
                [gtd_prev, gtd_new],
            )
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = (
                [t_prev, t],
                [f_prev, f_new],
                [g_prev, g_new],
                [gtd_prev, gtd_new],
            )
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        t, t_prev = (
            _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)),
            t,
        )
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # Too close to an end of the bracket twice running (or outside it): move a tenth inside.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                t = (
                    max(bracket) - eps
                    if abs(t - max(bracket)) < abs(t - min(bracket))
                    else min(bracket) + eps
                )
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def lbfgs_init(param):
    """State of :func:`lbfgs_step`: no history yet."""
    return {
        "n_iter": 0,
        "func_evals": 0,
        "d": None,
        "t": None,
        "old_dirs": [],
        "old_stps": [],
        "ro": [],
        "H_diag": 1.0,
        "prev_flat_grad": None,
        "prev_loss": None,
    }


def lbfgs_step(
    param,
    closure,
    state,
    *,
    lr=1.0,
    max_iter=20,
    max_eval=None,
    tolerance_grad=1e-7,
    tolerance_change=1e-9,
    history_size=100,
    line_search_fn=None,
):
    r"""One ``torch.optim.LBFGS.step``: up to ``max_iter`` L-BFGS iterations on ``closure``.

    Each iteration takes the direction :math:`d = -H g`, with :math:`H` the inverse-Hessian estimate
    of the two-loop recursion over the last ``history_size`` pairs :math:`(s, y)` (a pair is kept
    only when :math:`y^\top s > 10^{-10}`) scaled by :math:`y^\top s / y^\top y`. The step along
    :math:`d` is ``lr`` (the first iteration's :math:`\min(1, 1/\|g\|_1)\,` lr), or the strong-Wolfe
    line search's with ``line_search_fn='strong_wolfe'``. It stops at ``max_iter`` iterations,
    ``max_eval`` evaluations (default ``1.25 max_iter``), a gradient below ``tolerance_grad`` in
    max-norm, or changes of the step or loss below ``tolerance_change``.

    Parameters
    ----------
    param : ndarray of shape (D,)
    closure : callable
        ``closure(x) -> (loss, grad)``, loss a float and grad of shape (D,).
    state : dict from :func:`lbfgs_init` or a previous step

    Returns
    -------
    new_param : ndarray of shape (D,)
    new_state : dict
    loss : float
        The loss at ``param``, before the step (as ``LBFGS.step`` returns).
    """
    if line_search_fn not in (None, "strong_wolfe"):
        raise ValueError(f"lbfgs: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
    state = {
        **state,
        "old_dirs": list(state["old_dirs"]),
        "old_stps": list(state["old_stps"]),
        "ro": list(state["ro"]),
    }
    x = param.astype(np.float64).copy()
    orig_loss, flat_grad = closure(x)
    loss = float(orig_loss)
    current_evals = 1
    state["func_evals"] += 1
    if np.max(np.abs(flat_grad)) <= tolerance_grad:
        return x, state, orig_loss

    d, t = state["d"], state["t"]
    old_dirs, old_stps, ro, h_diag = state["old_dirs"], state["old_stps"], state["ro"], state["H_diag"]
    prev_flat_grad, prev_loss = state["prev_flat_grad"], state["prev_loss"]
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        state["n_iter"] += 1
        if state["n_iter"] == 1:
            d = -flat_grad
            old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
        else:
            y = flat_grad - prev_flat_grad
            s = d * t
            ys = y @ s
            if ys > 1e-10:
                if len(old_dirs) == history_size:
                    old_dirs.pop(0)
                    old_stps.pop(0)
                    ro.pop(0)
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / (y @ y)
            alphas = [0.0] * len(old_dirs)
            q = -flat_grad
            for i in range(len(old_dirs) - 1, -1, -1):
                alphas[i] = (old_stps[i] @ q) * ro[i]
                q = q - alphas[i] * old_dirs[i]
            d = q * h_diag
            for i in range(len(old_dirs)):
                beta = (old_dirs[i] @ d) * ro[i]
                d = d + (alphas[i] - beta) * old_stps[i]
        prev_flat_grad = flat_grad.copy()
        prev_loss = loss
        t = min(1.0, 1.0 / np.sum(np.abs(flat_grad))) * lr if state["n_iter"] == 1 else lr
        gtd = flat_grad @ d
        if gtd > -tolerance_change:
            break

        evals = 0
        if line_search_fn == "strong_wolfe":
            start = x.copy()

            def obj(x0, step, direction):
                value, grad = closure(x0 + step * direction)
                return float(value), grad

            loss, flat_grad, t, evals = _strong_wolfe(
                obj, start, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
            )
            x = x + t * d
            optimal = np.max(np.abs(flat_grad)) <= tolerance_grad
        else:
            x = x + t * d
            optimal = False
            if n_iter != max_iter:
                # Not on the last iteration: the next step evaluates there anyway.
                value, flat_grad = closure(x)
                loss = float(value)
                optimal = np.max(np.abs(flat_grad)) <= tolerance_grad
                evals = 1
        current_evals += evals
        state["func_evals"] += evals
        if n_iter == max_iter or current_evals >= max_eval or optimal:
            break
        if np.max(np.abs(d * t)) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
            break

    state.update(
        d=d,
        t=t,
        old_dirs=old_dirs,
        old_stps=old_stps,
        ro=ro,
        H_diag=h_diag,
        prev_flat_grad=prev_flat_grad,
        prev_loss=prev_loss,
    )
    return x, state, orig_loss
