"""Project-wide pytest configuration of this repository (gradproof's own plugin is loaded through its
pytest11 entry point and needs nothing here)."""

# The harness's own tests drive pytest runs in temporary directories; pytester must be enabled in
# the root conftest.
pytest_plugins = ["pytester"]
