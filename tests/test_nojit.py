"""The kernel bodies run as plain Python under NUMBA_DISABLE_JIT=1 (as stumpy's test.sh does),
so that their lines are exercised by coverage and can be stepped through in a debugger; the
equivalence with the reference must hold there too."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# a second pytest under NUMBA_DISABLE_JIT=1: all of this file takes the time
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_equivalence_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    tests = ["tests/test_equivalence.py::test_float64_matches_reference_every_sweep",
             "tests/test_equivalence.py::test_stage_responsibilities_match",
             "tests/test_equivalence.py::test_large_p_blas_path_matches_reference",
             "tests/test_equivalence.py::test_float32_matches_reference",
             "tests/test_bgm_full.py::test_small_problem_matches_the_reference"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
