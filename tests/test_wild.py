"""Student code as it is handed in (issue 7): notebook exports and notebooks whose top level must
never run, one function per file in a folder, digit-named files, Python 2, half-finished work. Each
is graded in a pytest run of its own, as `gradproof grade` would, and read back from results.json."""

from __future__ import annotations

import re

import pytest

from gradproof.grading import numpy_env
from tests.test_grading import HERE, by_name, grade


def test_notebook_export_and_notebook_run_their_definitions_only(pytester):
    results, run = grade(
        pytester,
        "wild/notebook_export.py",
        "wild/Convolution_model_Step_by_Step.ipynb",
        options=("-k", "zero_pad or conv2d"),
    )
    tests = by_name(results)
    output = run.stdout.str()
    assert "a failing test cell" not in output  # the export's `assert False` cell never ran
    for unit in ("zero_pad", "conv2d"):
        assert (
            tests[f"notebook_export: {unit}"]["score"] == tests[f"notebook_export: {unit}"]["max_score"] == 1
        )
    assert tests["Convolution_model_Step_by_Step: zero_pad"]["score"] == 1
    export = tests["notebook_export: how it was loaded"]["output"]
    assert "loaded its definitions only; 16 top-level statement(s) never ran" in export
    assert "line 15 `get_ipython().run_line_magic('matplotlib', 'inline')`" in export
    assert "`from public_tests import *` at line 13 failed (ModuleNotFoundError" in export
    notebook = tests["Convolution_model_Step_by_Step: how it was loaded"]["output"]
    assert "code cell 3 line 5 `assert x_pad.shape == (0,)`" in notebook
    assert (
        "IPython magics and shell lines ignored (code cell 1 line 1, code cell 1 line 2, code cell 3 line 4)"
        in notebook
    )
    assert "note: notebook_export.py: loaded its definitions only" in output  # the terminal table too


def test_a_folder_of_one_function_files_is_one_candidate(pytester):
    results, run = grade(pytester, "wild/split")
    tests = by_name(results)
    assert "coursera API" in run.stdout.str()
    # conv_forward.py and 2-conv_backward.py import zero_pad by its bare name.
    assert tests["split: conv2d"]["score"] == tests["split: conv2d"]["max_score"] == 1
    assert tests["split: zero_pad"]["score"] == 1
    assert "split: import" not in tests  # 0-main.py's SystemExit never ran
    loaded = tests["split: how it was loaded"]["output"]
    assert "0-main.py: loaded its definitions only; 5 top-level statement(s) never ran" in loaded


def test_python2_is_named_as_such(pytester):
    results, _ = grade(pytester, "wild/python2_layers.py", "wild/xrange_layers.py")
    tests = by_name(results)
    assert tests["python2_layers: import"]["status"] == "failed"
    assert (
        "cannot load python2_layers.py: Python 2 syntax at line 6 (a print statement: "
        '`print "affine_forward:", out.shape`); gradproof grades Python 3'
    ) in tests["python2_layers: import"]["output"]
    relu = tests["xrange_layers: relu"]
    assert relu["score"] < relu["max_score"]
    assert "raised NameError: name 'xrange' is not defined (xrange is Python 2" in relu["output"]


def test_half_finished_work_gets_credit_for_what_works(pytester):
    results, run = grade(pytester, "wild/half_finished.py")
    tests = by_name(results)
    affine, relu = tests["half_finished: affine"], tests["half_finished: relu"]
    assert 0 < affine["score"] < affine["max_score"]
    assert "forward: passed" in affine["output"]
    assert (
        "affine dw: returns all zeros: affine_backward never computes it (the template's placeholder is left "
        "as it was: not implemented yet)" in affine["output"]
    )
    assert relu["score"] == 0
    assert "relu forward: returned None instead of a NumPy array: not implemented yet" in relu["output"]
    assert "INTERNALERROR" not in run.stdout.str()


def test_the_convention_year_is_assumed_said_and_chosen(pytester):
    """cs231n_2017.py is right for 2016-17 (dropout p drops a unit, Adam's t starts at 1)."""
    results, run = grade(pytester, "wild/cs231n_2017.py")
    tests = by_name(results)
    assumed = tests["cs231n_2017: convention"]["output"]
    assert assumed.startswith("convention cs231n-2019 (assumed)")
    assert "use --convention cs231n-YEAR (2016, 2017, 2021, ...)" in assumed
    assert "convention cs231n-2019 (assumed)" in run.stdout.str()  # the terminal table says it too
    dropout, adam = tests["cs231n_2017: dropout"], tests["cs231n_2017: adam"]
    assert dropout["status"] == adam["status"] == "failed"
    assert (
        "dropout: your p is the probability of dropping a unit, as in cs231n-2016, cs231n-2017, not "
        "cs231n-2019" in dropout["output"]
    )
    assert "adam: matches the convention of cs231n-2017 (Adam's t starts at 1)" in adam["output"]
    assert "adam config['t']" in adam["output"]  # and the difference itself

    results, run = grade(pytester, "wild/cs231n_2017.py", options=("--convention=cs231n-2017",))
    tests = by_name(results)
    assert tests["cs231n_2017: dropout"]["status"] == tests["cs231n_2017: adam"]["status"] == "passed"
    # The denominator is the assignment's: 2017's layers.py (no layer or group norm) and optim.py.
    assert (results["score"], results["max_score"]) == (2, 14)
    assert tests["cs231n_2017: relu"]["output"] == "not implemented"
    assert "cs231n_2017: layernorm" not in tests
    assert tests["cs231n_2017: convention"]["output"].startswith("convention cs231n-2017: dropout p is")
    assert "(assumed)" not in run.stdout.str()


def test_an_unknown_convention_is_a_usage_error(pytester):
    run = pytester.runpytest_subprocess("--convention=cs231n-17", "--collect-only")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*unknown cs231n convention 'cs231n-17': write cs231n-YEAR*"])
    run = pytester.runpytest_subprocess("--convention=coursera-2018", "--collect-only")
    run.stderr.fnmatch_lines(["*--convention coursera-2018: no course 'coursera' with conventions*"])
    both = ("--convention=cs231n-2017", "--convention=cs231n-2019")
    run = pytester.runpytest_subprocess(*both, "--collect-only")
    run.stderr.fnmatch_lines(["*--convention: more than one given for cs231n: cs231n-2017, cs231n-2019*"])


def test_a_harmless_shape_variant_is_a_warning_unless_strict(pytester):
    """batchnorm_keepdims.py is right, but returns dgamma, dbeta and the running statistics as (1, D)."""
    results, run = grade(pytester, "wild/batchnorm_keepdims.py")
    batchnorm = by_name(results)["batchnorm_keepdims: batchnorm"]
    assert batchnorm["score"] == batchnorm["max_score"] == 1
    for quantity in ("dgamma", "dbeta", "running_mean", "running_var"):
        warning = f"warning: batchnorm {quantity}: returns (1, D); the template asks for (D,)"
        assert warning in batchnorm["output"]
    assert "warning: batchnorm dgamma: returns (1, D)" in run.stdout.str()
    assert "  convention cs231n" not in run.stdout.str()  # no dropout or Adam: the year changes nothing

    results, _ = grade(pytester, "wild/batchnorm_keepdims.py", options=("--strict-shapes",))
    batchnorm = by_name(results)["batchnorm_keepdims: batchnorm"]
    assert batchnorm["score"] == 0
    # Shrunk to D = 1, where (1, 1) for (1,) is all the message can show.
    strict = r"batchnorm (dgamma|dbeta|running_\w+): returns \(1, .*\(--strict-shapes\)"
    assert re.search(strict, batchnorm["output"])


def test_max_pool_ties_follow_each_course_and_are_explained(pytester):
    """cs231n pins the first maximum (np.argmax); the Coursera notebook's mask x == np.max(x) sends
    the gradient to every tied maximum. The courses' own checks never produce a tie, so a solution
    following another rule keeps its points with a note naming the rule; --strict-ties deducts it."""
    files = ("wild/pool_every_tie.py", "wild/pool_argmax.py", "wild/coursera_pool.py")
    results, run = grade(pytester, *files)
    tests = by_name(results)
    assert tests["coursera_pool: max_pool2d"]["score"] == tests["coursera_pool: avg_pool2d"]["score"] == 1
    every = tests["pool_every_tie: max_pool2d"]
    assert every["score"] == every["max_score"] == 1
    assert (
        "note: max_pool2d dx: differs only where a pooling window's maximum is tied, which is a convention, "
        "not a gradient: your backward sends all of it to every tied maximum (the mask x == np.max(x)); "
        "cs231n's convention sends it to the first maximum in row-major order (as np.argmax picks it). "
        "Away from ties your backward is right. Here x[0, 0, " in every["output"]
    )
    assert (
        "    note: max_pool2d dx: differs only where a pooling window's maximum is tied" in run.stdout.str()
    )
    argmax = tests["pool_argmax: max_pool2d"]
    assert argmax["score"] == 1
    assert (
        "note: max_pool2d dA_prev: differs only where a pooling window's maximum is tied" in argmax["output"]
    )
    assert "your backward sends it to the first maximum in row-major order" in argmax["output"]
    assert "the notebook's create_mask_from_window sends all of it to every tied maximum" in argmax["output"]
    assert "Here A_prev[0, " in argmax["output"]  # the notebook's layout: (m, n_H, n_W, n_C)

    results, _ = grade(pytester, *files, options=("--strict-ties",))
    tests = by_name(results)
    every = tests["pool_every_tie: max_pool2d"]["output"]
    assert "forward: passed" in every
    assert "backward vs own forward: passed" in every
    assert "backward: FAILED\nmax_pool2d dx: differs only where a pooling window's maximum is tied" in every
    assert "(deducted under --strict-ties)" in every
    assert tests["pool_argmax: max_pool2d"]["score"] == 0.75  # 3 of 4 checks: only the tie
    assert tests["coursera_pool: max_pool2d"]["score"] == 1


def test_a_bootcamp_folder_is_graded_in_its_own_api(pytester):
    """One function per digit-named file, NHWC with explicit arguments: told from the Coursera
    notebook's functions of the same names by their parameters."""
    results, run = grade(pytester, "wild/bootcamp")
    tests = by_name(results)
    assert "bootcamp API" in run.stdout.str()
    for unit in ("conv2d", "max_pool2d", "avg_pool2d", "Adam"):
        assert tests[f"bootcamp: {unit}"]["score"] == tests[f"bootcamp: {unit}"]["max_score"] == 1, unit
    momentum = tests["bootcamp: momentum"]  # 5-momentum.py forgets the (1 - beta1) factor
    assert momentum["score"] == 0
    assert "momentum next_w: yours differs from reference" in momentum["output"]
    # The optimization project's RMSProp is missing from the folder: it counts, at 0.
    assert tests["bootcamp: RMSProp"]["output"] == "not implemented"
    assert (tests["bootcamp: RMSProp"]["score"], tests["bootcamp: RMSProp"]["max_score"]) == (0, 1)
    assert "bootcamp: not implemented" not in tests


def test_a_template_faithful_batchnorm_gets_full_marks(pytester):
    """The cs231n template leaves the cache None in test mode and never backpropagates through it:
    test mode is graded on the forward (and running statistics) alone."""
    results, _ = grade(pytester, "wild/cs231n_batchnorm_template.py")
    tests = by_name(results)
    for op in ("batchnorm", "batchnorm_alt"):
        assert tests[f"cs231n_batchnorm_template: {op}"]["status"] == "passed", tests[
            f"cs231n_batchnorm_template: {op}"
        ]["output"][:3000]
    assert results["score"] == 2


NUMPY1 = "1.26.4"


def test_code_written_for_numpy1_is_graded_as_it_ran_and_keeps_its_backward_on_numpy_2(pytester):
    """The Coursera notebook's `float(b)` on a (1, 1, 1) b raises under NumPy 2 only. The course ran
    NumPy 1, which grades its candidates where `gradproof numpy-env` installed it (the set-up does):
    full marks, with a line saying so. With `--candidate-numpy=grader` (NumPy 2), the backward is
    graded on the cache the notebook documents, (A_prev, W, b, hparameters), so it keeps its points
    (and a wrong one still loses them) without the forward."""
    try:
        numpy_env.find(NUMPY1)
    except ValueError as exc:
        pytest.fail(f"{exc}: the README's set-up and .ci/run install it")
    results, run = grade(pytester, "wild/coursera_numpy1.py")
    assert results["score"] == results["max_score"] == 4
    assert f"graded with NumPy {NUMPY1} in the candidate's process (the course's;" in run.stdout.str()

    source = (HERE / "wild" / "coursera_numpy1.py").read_text()
    crop = "dA_prev[i, :, :, :] = da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]"
    assert crop in source
    # The template's own hint, wrong at pad = 0 (an empty slice): planted beside the correct file.
    wrong = crop.replace("pad : pad + n_H_prev, pad : pad + n_W_prev", "pad:-pad, pad:-pad")
    (pytester.path / "coursera_crop.py").write_text(source.replace(crop, wrong))
    options = ("--candidate-numpy=grader",)
    results, _ = grade(
        pytester, "wild/coursera_numpy1.py", str(pytester.path / "coursera_crop.py"), options=options
    )
    tests = by_name(results)
    conv = tests["coursera_numpy1: conv2d"]
    assert conv["score"] == 0.25  # the backward's check, of four
    assert "\nbackward: passed" in conv["output"]
    assert "conv_forward raised TypeError: only 0-dimensional arrays can be converted" in conv["output"]
    assert "(fails on this NumPy only: NumPy 2" in conv["output"]
    assert f"--numpy {NUMPY1}" in conv["output"]
    crop_conv = tests["coursera_crop: conv2d"]
    assert crop_conv["score"] == 0
    assert re.search(
        r"conv2d backward: conv_backward raised ValueError: could not broadcast input array from "
        r"shape \(0,0,\d+\)",
        crop_conv["output"],
    )
