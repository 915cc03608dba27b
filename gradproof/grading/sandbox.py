"""The sandbox a candidate's worker runs in: bubblewrap namespaces and resource limits.

A worker of the same user, in another process, keeps honest mistakes apart (a crash, a hang,
``sys.exit``), not a student who reads the grader's code. In the sandbox (``bwrap``, Debian's
``bubblewrap``) the worker has

* its own PID namespace: it cannot see or signal the grader, and everything it starts, a process
  that double-forked into a new session included, dies with it (``--die-with-parent``; the
  namespace's init takes every process with it);
* no network, its own IPC and host name (``--unshare-all``), a new session (``--new-session``: no
  terminal to inject keystrokes into) and an empty environment but for what NumPy needs;
* read-only the Python it runs on, NumPy and the worker's three modules (``worker.py``,
  ``wire.py``, ``loader.py``, copied into a folder of their own), and the candidate's file or
  folder alone: not the reference, not the course oracles, not the rest of the grader, not the
  folders around the submission. Other installed packages (torch) only where the API allows them
  (``packages=True``: the native API, whose shipped ``torch_backend`` uses torch);
* one writable place, an empty temporary directory that is its working directory;
* resource limits (:data:`LIMITS`): address space, file size, open files, core dumps.

Where ``bwrap`` is missing or cannot make namespaces (Docker's default seccomp profile, which
Gradescope's containers use) and the grader runs as root, the worker runs as a dedicated
unprivileged user, :data:`WORKER_USER` (made by ``gradproof worker-user``, which Gradescope's
``setup.sh`` runs): it cannot signal the grader's processes or write its files (the results
included), it reads the candidate from a copy, and it has the same limits plus a process count.
What it cannot be kept from is reading files every user may read; ``gradproof worker-user`` takes
that right away from the grader's own folders. Elsewhere the worker runs unsandboxed and the grade
says so; ``--require-sandbox`` refuses instead.
"""

from __future__ import annotations

import functools
import itertools
import os
import pwd
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LIMITS = {
    resource.RLIMIT_AS: 8 << 30,  # 8 GiB of address space: NumPy and torch map much more than they use
    resource.RLIMIT_FSIZE: 64 << 20,  # no file over 64 MiB
    resource.RLIMIT_NOFILE: 256,
    resource.RLIMIT_CORE: 0,
}
"""Limits set on the worker before it starts (inherited by everything it starts)."""

USER_LIMITS = {resource.RLIMIT_NPROC: 64}
"""More limits for a worker run under its own uid (a process count is per uid: in a namespace
the sandbox's own PID namespace bounds it instead)."""

WORKER_USER = "gradproof-worker"
"""The unprivileged user a root grader runs workers as where bubblewrap cannot run: its group is
theirs, and its existence says the set-up was done."""

UID_BASE = 1_500_000_000
"""Each worker runs under a uid of its own from here on (no account needed): a worker cannot
signal another one, of another candidate graded beside it, as it could under one shared uid."""
_uids = itertools.count()

WORKER_MODULES = ("worker.py", "wire.py", "loader.py")
SITE = "/gradproof/site"
CANDIDATE = "/candidate"
HOME = "/tmp/home"
PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LANG")
"""Environment variables the worker keeps (NumPy's BLAS needs the first two on some processors);
everything else of the grader's environment, a token say, stays outside."""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here."""


@dataclass(frozen=True)
class Launch:
    """How to start a worker: its command and environment, the candidate's target as the worker
    sees it, and what protection it has (for the report)."""

    argv: list[str]
    env: dict[str, str]
    target: str
    isolation: str
    """``"sandbox"``, ``"user"`` (run as :data:`WORKER_USER`) or ``"none"``."""
    user: tuple[int, int] | None = None
    """The uid and gid to run as."""
    cwd: str | None = None
    scratch: str | None = None
    """A folder made for this worker, removed when it stops."""


def apply_limits(extra: dict | None = None) -> None:
    """Set :data:`LIMITS` (and ``extra``) in this process (run between fork and exec)."""
    for which, value in {**LIMITS, **(extra or {})}.items():
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


@functools.cache
def bwrap() -> str | None:
    """The bwrap executable, when it exists and can make its namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 else None


@functools.cache
def _worker_site() -> str:
    """A folder holding the worker's own modules, and nothing else of gradproof."""
    site = Path(tempfile.mkdtemp(prefix="gradproof-worker-site-"))
    here = Path(__file__).parent
    package = site / "gradproof"
    (package / "grading").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "grading" / "__init__.py").write_text("")
    for name in WORKER_MODULES:
        shutil.copyfile(here / name, package / "grading" / name)
    # Readable by every user (the fallback's unprivileged workers import it too), writable by none.
    for path in [site, *site.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(site)


def _site_packages() -> list[Path]:
    """The folders NumPy (and, where allowed, every other package) is imported from."""
    import numpy

    return [Path(numpy.__file__).resolve().parent.parent]


def _numpy_from(folder: Path) -> list[str]:
    """Bubblewrap's arguments that bind NumPy (and its libraries) of ``folder`` at /gradproof/packages."""
    argv = []
    for name in ("numpy", "numpy.libs"):
        if (folder / name).exists():
            argv += ["--ro-bind", str(folder / name), f"/gradproof/packages/{name}"]
    return argv


def _environment() -> dict[str, str]:
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
    env.update({"HOME": HOME, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp"})
    return env


def launch(
    kind: str, target: str, *, packages: bool, required: bool = False, numpy: Path | None = None
) -> Launch:
    """How to start the worker of a candidate (``kind`` and ``target`` as in
    :class:`~gradproof.grading.candidates.Candidate`), sandboxed where bubblewrap works.

    ``packages``: the candidate may import installed packages beyond NumPy (torch). ``numpy``: a
    folder holding another NumPy for the worker (:mod:`gradproof.grading.numpy_env`). Raises
    :class:`SandboxUnavailable` when there is no sandbox and ``required``.
    """
    executable = bwrap()
    if executable is None or kind == "module":
        user = worker_user() if kind != "module" else None
        if user is not None:
            return _as_user(target, user, packages=packages, numpy=numpy)
        if required:
            why = "bubblewrap (bwrap) is not installed or cannot create namespaces here"
            if kind == "module":
                why = "a module candidate is imported as installed, outside the sandbox"
            raise SandboxUnavailable(f"--require-sandbox: {why}")
        return _unsandboxed(target, numpy)
    base = Path(sys.base_prefix).resolve()
    site = Path(_worker_site())
    argv = [
        executable,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--dir", HOME,
        "--ro-bind", str(base), str(base),
        "--ro-bind", str(site), SITE,
    ]  # fmt: skip
    path = [SITE]
    if numpy is not None:  # first on the path, before any installed package's NumPy
        argv += _numpy_from(numpy)
        path.append("/gradproof/packages")
    for packages_dir in _site_packages():
        if packages:
            argv += ["--ro-bind", str(packages_dir), str(packages_dir)]
            # A non-editable install of gradproof holds the reference: hidden.
            for hidden in ("gradproof", "reference"):
                if (packages_dir / hidden).is_dir():
                    argv += ["--tmpfs", str(packages_dir / hidden)]
            path.append(str(packages_dir))
        elif numpy is None:
            argv += _numpy_from(packages_dir)
            path.append("/gradproof/packages")
    source = Path(target).resolve()
    inside = f"{CANDIDATE}/{source.name}"
    argv += ["--ro-bind", str(source), inside, "--chdir", HOME]
    for key, value in _environment().items():
        argv += ["--setenv", key, value]
    python = str(Path(sys.executable).resolve())
    boot = f"import sys; sys.path[:0] = {path!r}; from gradproof.grading.worker import main; main()"
    argv += ["--", python, "-S", "-E", "-s", "-c", boot]
    return Launch(argv, {}, inside, "sandbox")


def _unsandboxed(target: str, numpy: Path | None = None) -> Launch:
    env = dict(os.environ)
    paths = [os.getcwd(), *sys.path]  # module candidates import as they would from here
    if numpy is not None:
        paths.insert(0, str(numpy))
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    env.pop("PYTEST_ADDOPTS", None)
    return Launch([sys.executable, "-m", "gradproof.grading.worker"], env, target, "none")


# -- the dedicated user -------------------------------------------------------------------------------


def worker_user() -> tuple[int, int] | None:
    """The uid and gid of :data:`WORKER_USER`, where this process is root, the user exists, and it
    can run a Python of this version and read NumPy; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(WORKER_USER)
    except KeyError:
        return None
    if _user_python() is None or not _others_may_enter(_site_packages()[0]):
        return None
    return entry.pw_uid, entry.pw_gid


def _others_may_enter(path: Path) -> bool:
    """Whether a user other than the owner may reach ``path`` (every folder above it lets others in)."""
    real = path.resolve()
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [*real.parents, real] if parent.is_dir())


def _user_python() -> str | None:
    """This Python, or the system's of the same version where this one sits in a folder others may
    not enter (pyenv's under /root)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.executable).resolve(), Path("/usr/bin") / version):
        if (
            candidate.is_file()
            and candidate.stat().st_mode & stat.S_IXOTH
            and _others_may_enter(candidate.parent)
        ):
            return str(candidate)
    return None


def _readable_copy(source: Path, destination: Path) -> None:
    """``source`` (a file or folder) copied to ``destination``, readable by every user."""
    if source.is_dir():
        shutil.copytree(source, destination, symlinks=False)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    for path in [destination, *(destination.rglob("*") if destination.is_dir() else [])]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _as_user(target: str, user: tuple[int, int], *, packages: bool, numpy: Path | None) -> Launch:
    """The worker as :data:`WORKER_USER`: the candidate copied into a folder of its own (the user
    may not read it where it is), the worker's modules from their readable folder, a home it alone
    may write, a clean environment, the limits and a process count."""
    scratch = Path(tempfile.mkdtemp(prefix="gradproof-user-"))
    scratch.chmod(0o711)
    site = _worker_site()
    source = Path(target).resolve()
    copy = scratch / "candidate" / source.name
    _readable_copy(source, copy)
    (scratch / "candidate").chmod(0o755)
    # A uid of this worker's own (this grader's block of 256, then the next free one of it).
    user = (UID_BASE + (os.getpid() % 65536) * 256 + next(_uids) % 256, user[1])
    home = scratch / "home"
    home.mkdir(mode=0o700)
    os.chown(home, *user)
    path = [site]
    if numpy is not None:
        path.append(str(numpy))
    path += [str(p) for p in _site_packages()]  # NumPy; the worker refuses the rest for a course
    env = _environment()
    env.update({"HOME": str(home), "TMPDIR": str(home)})
    boot = f"import sys; sys.path[:0] = {path!r}; from gradproof.grading.worker import main; main()"
    argv = [_user_python(), "-S", "-E", "-s", "-c", boot]
    return Launch(argv, env, str(copy), "user", user=user, cwd=str(home), scratch=str(scratch))


def make_worker_user() -> tuple[int, int]:
    """Create :data:`WORKER_USER` (a system user with no home and no shell) unless it exists; its
    uid and gid. Needs root."""
    try:
        entry = pwd.getpwnam(WORKER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", WORKER_USER],
            check=True,
        )
        entry = pwd.getpwnam(WORKER_USER)
    return entry.pw_uid, entry.pw_gid


def protect(paths: list[Path]) -> list[Path]:
    """Take every other user's rights away from ``paths`` (the grader's own folders: its source,
    the reference, the course oracles), so that the worker user cannot read them; the folders it
    needs (Python, NumPy) are left alone. The paths changed."""
    changed = []
    for path in paths:
        path = path.resolve()
        if path.exists():
            path.chmod(path.stat().st_mode & ~0o007)
            changed.append(path)
    return changed
