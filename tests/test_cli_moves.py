"""``fastcavi fit --model bgm --moves``: the number of clusters found by the fit on the command
line, the same fit as in Python, saved and used by predict; bad options are clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastcavi
from fastcavi import BayesianGaussianMixture

from .test_cli import assert_clean_error, blobs, call


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    d = tmp_path_factory.mktemp("moves")
    X, labels = blobs(n=1600, p=2, K=4, seed=8)
    np.savetxt(d / "four.csv", X, delimiter=",", header="x,y", comments="")
    return d, X, labels


def test_fit_from_one_component_finds_four_and_predict_uses_them(four, capsys):
    d, X, labels = four
    model, out_labels = d / "m.npz", d / "labels.csv"
    status, out, err = call(["fit", d / "four.csv", "--model", "bgm", "-k", "1", "--moves",
                             "--random-state", "0", "-o", model, "-q"], capsys)
    assert status == 0, err
    assert "K = 4, 4 with weight > 1% (started at 1; moves made: 3 births" in out
    saved = fastcavi.load(model)
    assert saved.n_components_ == 4 and saved.n_components == 1
    python = BayesianGaussianMixture(n_components=1, moves=True, random_state=0,
                                     tol=1e-5 * len(X)).fit(X)
    np.testing.assert_allclose(saved.means_, python.means_, rtol=1e-10)
    status, out, err = call(["predict", model, d / "four.csv", "-o", out_labels], capsys)
    assert status == 0, err
    got = np.loadtxt(out_labels, delimiter=",", skiprows=1, dtype=np.int64)[:, 1]  # row,label
    assert len(np.unique(got)) == 4
    # each true cluster is one predicted cluster
    for c in range(4):
        assert len(np.unique(got[labels == c])) == 1


def test_moves_by_name_and_a_cap(four, capsys):
    d, _, _ = four
    status, out, err = call(["fit", d / "four.csv", "--model", "bgm", "-k", "1", "--moves",
                             "birth", "--max-components", "2", "--random-state", "0", "-q",
                             "-o", d / "capped.npz"], capsys)
    assert status == 0, err
    assert "K = 2," in out and "moves made: 1 birth," in out


@pytest.mark.parametrize(("argv", "pattern"), [
    (["-k", "2", "--moves"], r"--moves is an option of --model bgm, not of --model cavi"),
    (["-k", "3", "--model", "bgm", "--moves", "--max-components", "2"],
     r"max_components must be None or an int >= n_components \(3\), got 2"),
])
def test_bad_move_options_are_clear_errors(four, capsys, argv, pattern):
    d, _, _ = four
    before = sorted(os.listdir(d))
    status, _, err = call(["fit", d / "four.csv", *argv, "-o", d / "never.npz"], capsys)
    assert_clean_error((status, err), pattern, d, before)


@pytest.mark.parametrize(("argv", "pattern"), [
    (["--moves", "split"], "argument --moves: unknown move 'split'"),
    (["--moves", "--max-components", "0"], "argument --max-components: must be at least 1"),
])
def test_bad_move_values_are_usage_errors(four, capsys, argv, pattern):
    d, _, _ = four
    status, _, err = call(["fit", d / "four.csv", "-k", "2", "--model", "bgm", *argv], capsys)
    assert status == 2 and pattern in err.strip().splitlines()[-1]
    assert "Traceback" not in err
