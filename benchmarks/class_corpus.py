"""A class of 20 submissions built from the planted student files, for ``gradproof grade-class``
by hand and for ``test_class_throughput.py``: copies and variants, a notebook, a zip, folders of
one-function files, one that hangs and some that cannot load.

    python benchmarks/class_corpus.py /tmp/class20      # then: gradproof grade-class /tmp/class20 --out ...
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANTED = ROOT / "tests" / "candidates"

COPIES = {
    "s01_naive.py": ROOT / "candidates" / "naive.py",  # native API, every op, correct
    "s02_vectorised.py": ROOT / "candidates" / "vectorised.py",
    "s03_cs231n_bugs.py": PLANTED / "cs231n_bugs.py",  # cs231n, a classic bug per function
    "s04_cs231n_2017.py": PLANTED / "wild" / "cs231n_2017.py",
    "s05_batchnorm_template.py": PLANTED / "wild" / "cs231n_batchnorm_template.py",
    "s06_batchnorm_keepdims.py": PLANTED / "wild" / "batchnorm_keepdims.py",
    "s07_pool_argmax.py": PLANTED / "wild" / "pool_argmax.py",
    "s08_pool_every_tie.py": PLANTED / "wild" / "pool_every_tie.py",
    "s09_half_finished.py": PLANTED / "wild" / "half_finished.py",
    "s10_notebook_export.py": PLANTED / "wild" / "notebook_export.py",
    "s11_coursera_bugs.py": PLANTED / "coursera_bugs.py",
    "s12_coursera_pool.py": PLANTED / "wild" / "coursera_pool.py",
    "s13_conv_step_by_step.ipynb": PLANTED / "wild" / "Convolution_model_Step_by_Step.ipynb",
    "s14_python2_layers.py": PLANTED / "wild" / "python2_layers.py",  # cannot load under Python 3
    "s15_syntax_error.py": PLANTED / "syntax_error.py",  # cannot load
    "s16_misbehaving.py": PLANTED / "misbehaving.py",  # one op hangs, others crash or exit
}
FOLDERS = {
    "s17_split": PLANTED / "wild" / "split",  # one function per file (Coursera's split export)
    "s18_bootcamp": PLANTED / "wild" / "bootcamp",
}


def build(folder: Path) -> Path:
    """Write the 20 submissions into ``folder`` (created)."""
    folder.mkdir(parents=True)
    for name, source in COPIES.items():
        shutil.copy(source, folder / name)
    for name, source in FOLDERS.items():
        shutil.copytree(source, folder / name)
    # A zip of a folder holding a copy of the cs231n bugs, as a student's upload.
    with zipfile.ZipFile(folder / "s19_zipped.zip", "w") as zf:
        zf.write(PLANTED / "cs231n_bugs.py", "assignment2/layers.py")
    # A variant: the correct native file with relu's backward mask dropped.
    naive = (ROOT / "candidates" / "naive.py").read_text()
    variant = naive.replace("    dx[cache <= 0] = 0\n", "", 1)
    assert variant != naive, "candidates/naive.py changed: update the planted variant"
    (folder / "s20_naive_relu_bug.py").write_text(variant)
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
