"""How a worker is launched, with and without bubblewrap: in-process, no worker started."""

from __future__ import annotations

import pytest

from gradproof.grading import render, sandbox
from gradproof.grading.candidates import from_spec
from gradproof.grading.session import Options, Session
from tests.test_grading import HERE


def test_without_bubblewrap_the_worker_runs_unisolated_and_the_grade_says_so(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    monkeypatch.setattr(sandbox, "worker_user", lambda: None)  # not root, or no worker user made
    launch = sandbox.launch("path", str(HERE / "relu_only.py"), packages=False)
    assert launch.isolation == "none"
    assert launch.argv[1:] == ["-m", "gradproof.grading.worker"]
    session = Session([from_spec(str(HERE / "relu_only.py"))], Options())
    try:
        session.grades[0].worker.isolation = launch.isolation
        lines = [text for text, _ in render.table(session, markup=False)]
        assert any(line.startswith("  warning: graded without isolation: bubblewrap") for line in lines)
        tests = {t["name"]: t for t in render.gradescope(session, 0.0)["tests"]}
        assert tests["relu_only: isolation"]["status"] == "failed"
        assert "the code could read or change the grader" in tests["relu_only: isolation"]["output"]
    finally:
        session.close()


def test_require_sandbox_refuses_where_there_is_none(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    monkeypatch.setattr(sandbox, "worker_user", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="--require-sandbox: bubblewrap"):
        sandbox.launch("path", str(HERE / "relu_only.py"), packages=False, required=True)
    with pytest.raises(sandbox.SandboxUnavailable, match="a module candidate is imported as installed"):
        sandbox.launch("module", "candidates.naive", packages=True, required=True)


@pytest.mark.skipif(sandbox.bwrap() is None, reason="bubblewrap (bwrap) cannot run here")
def test_the_sandbox_binds_the_candidate_alone_and_no_grader_code():
    target = HERE / "relu_only.py"
    launch = sandbox.launch("path", str(target), packages=False)
    argv = launch.argv
    assert launch.isolation == "sandbox"
    assert launch.target == "/candidate/relu_only.py"
    binds = [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == "--ro-bind"]
    assert (str(target.resolve()), "/candidate/relu_only.py") in binds
    assert not any(
        source == str(HERE) or source.endswith(("/reference", "/gradproof")) for source, _ in binds
    )
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    # A course API's worker sees NumPy alone of the installed packages.
    assert all(
        "site-packages" not in inside for _, inside in binds if inside.startswith("/gradproof/packages")
    )
    assert any(inside == "/gradproof/packages/numpy" for _, inside in binds)


def test_as_root_without_bubblewrap_the_worker_user_is_the_fallback(monkeypatch, tmp_path):
    """Its launch, in-process: run as that user, from copies it can read, in a home of its own."""
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    monkeypatch.setattr(sandbox, "worker_user", lambda: (12345, 12345))
    monkeypatch.setattr(sandbox.os, "chown", lambda path, uid, gid: None)  # not root in every run
    launch = sandbox.launch("path", str(HERE / "relu_only.py"), packages=False, required=True)
    try:
        assert launch.isolation == "user"
        uid, gid = launch.user
        assert uid >= sandbox.UID_BASE  # a uid of its own, in the worker user's group
        assert gid == 12345
        assert launch.target != str(HERE / "relu_only.py")  # a copy in its own folder
        assert open(launch.target).read() == (HERE / "relu_only.py").read_text()
        assert launch.target.startswith(launch.scratch)
        assert launch.cwd.startswith(launch.scratch)
        assert "GRADPROOF" not in " ".join(launch.env)  # a clean environment
    finally:
        import shutil

        shutil.rmtree(launch.scratch)
