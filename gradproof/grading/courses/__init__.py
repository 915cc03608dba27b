"""The course APIs gradproof grades: each module of this package is one API, its bindings beside
the oracle that implements its conventions over the reference (``<course>_oracle.py``)."""

from __future__ import annotations

import importlib

from gradproof.grading.binding import Api, course_of

APIS = ("native", "cs231n", "coursera", "bootcamp")


def check_conventions(names) -> None:
    """Each ``--convention`` value names an API with conventions, at most once, and parses
    (ValueError if not)."""
    for name in names:
        course = course_of(name)
        api = get_api(course) if course in APIS else None
        if api is None or api.convention is None:
            with_years = [n for n in APIS if get_api(n).convention is not None]
            raise ValueError(
                f"--convention {name}: no course {course!r} with conventions; write one of "
                + ", ".join(f"{n}-YEAR" for n in with_years)
            )
        mine = [other for other in names if course_of(other) == course]
        if len(mine) > 1:
            raise ValueError(f"--convention: more than one given for {course}: {', '.join(mine)}")
        api.convention(name)


def get_api(name: str) -> Api:
    if name not in APIS:
        raise ValueError(f"unknown candidate API {name!r}; choose one of {', '.join(APIS)}")
    return importlib.import_module(f"gradproof.grading.courses.{name}").api()


def detect(names, params: dict | None = None) -> Api:
    """The API whose functions the candidate defines most of (native on a tie)."""
    apis = [get_api(name) for name in APIS]
    return max(apis, key=lambda api: (api.score(names, params), api.name == "native"))
