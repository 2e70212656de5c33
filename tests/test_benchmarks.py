"""pytest-benchmark timings of the sweep and the fit, and a smoke test of ``fastcavi.bench.cavi``.

In the normal test run (``--benchmark-disable`` in pyproject's addopts) each benchmark runs its
function once, as a smoke test with a cheap check of the result. For real timings::

    pytest tests/test_benchmarks.py --benchmark-enable [--benchmark-only]

Tables are grouped by shape. The default shapes are small; set ``FASTCAVI_BENCH_N`` (e.g.
``1000000``) to time larger data. No test here ever asserts on a time.
"""

import json
import os

import numpy as np
import pytest

from fastcavi._registry import IMPLEMENTATIONS
from fastcavi._validation import as_kernel_array
from fastcavi.bench import cavi as bench
from fastcavi.bench import numpy_cavi as _numpy_cavi
from fastcavi.models.fixed import block_statistics, kernel_means, update_and_elbo

N = int(os.environ.get("FASTCAVI_BENCH_N", 5_000))
SHAPES = [(N, 2, 10), (N, 16, 16)]


def shape_params(extra=(None,)):
    """pytest params over SHAPES x extra, each in the benchmark group of its shape."""
    out = []
    for n, p, k in SHAPES:
        group = f"N={n} p={p} K={k}"
        for e in extra:
            values = (n, p, k) if e is None else (n, p, k, e)
            ident = f"N{n}-p{p}-K{k}" + ("" if e is None else f"-{e}")
            out.append(pytest.param(*values, id=ident,
                                    marks=pytest.mark.benchmark(group=group)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("n, p, k, dtype", shape_params(("float64", "float32")))
def test_sweep_fast(benchmark, n, p, k, dtype):
    X, means, mean_vars, hyper = bench.make_problem(n, p, k)
    Xk = as_kernel_array(X.astype(dtype))
    km = kernel_means(means, Xk.dtype)

    def sweep():
        stats = block_statistics(Xk, km, mean_vars, hyper.likelihood_var)
        return update_and_elbo(stats, km.astype(np.float64), hyper)

    sweep()  # compile or load from the cache outside the timing
    new_means, new_vars, elbo = benchmark(sweep)
    ref_means, ref_vars, ref_elbo, _ = bench.numpy_sweep(X, means, mean_vars, hyper, None)
    rtol = 1e-9 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(elbo, ref_elbo, rtol=rtol)
    np.testing.assert_allclose(new_vars, ref_vars, rtol=rtol)


@pytest.mark.parametrize("n, p, k", shape_params())
def test_sweep_numpy(benchmark, n, p, k):
    X, means, mean_vars, hyper = bench.make_problem(n, p, k)
    sq_norm = float(np.einsum("ij,ij->", X, X))
    new_means, new_vars, elbo, resp = benchmark(
        _numpy_cavi.sweep, X, means, mean_vars, prior_mean=hyper.prior_mean,
        prior_var=hyper.prior_var, likelihood_var=hyper.likelihood_var, sq_norm=sq_norm)
    assert resp.shape == (n, k) and np.isfinite(elbo)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)


# The pure-Python reference is left out: a sweep of it over thousands of points takes seconds.
@pytest.mark.slow
@pytest.mark.parametrize("n, p, k, name", shape_params(("numpy", "fast")))
def test_fit_fixed_iterations(benchmark, n, p, k, name):
    X, means, mean_vars, hyper = bench.make_problem(n, p, k)
    cavi = IMPLEMENTATIONS[name]
    kw = dict(prior_mean=hyper.prior_mean, prior_var=hyper.prior_var,
              likelihood_var=hyper.likelihood_var, n_iter=10)
    cavi(X[:64], means, mean_vars, **dict(kw, n_iter=1))  # compile outside the timing
    result = benchmark(cavi, X, means, mean_vars, **kw)
    assert result.lower_bounds.shape == (10,)
    assert np.all(np.diff(result.lower_bounds) >= -1e-9 * np.abs(result.lower_bounds[1:]))


@pytest.mark.slow
def test_bench_module_runs(tmp_path, capsys):
    """``python -m fastcavi.bench --quick`` on tiny data: every row measured, files written."""
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    assert bench.main(["--quick", "--n", "2000", "--k", "3", "--dtype", "both",
                       "--json", str(out_json), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "fastcavi float64" in text and "performance goals" in text
    result = json.loads(out_json.read_text())
    names = [r["name"] for r in result["rows"]]
    assert names[0].startswith("fastcavi float64")
    assert any(n.startswith("fastcavi float32") for n in names)
    assert any("NumPy CAVI" in n for n in names) and any("KMeans" in n for n in names)
    assert all(r["seconds"] is None or np.isfinite(r["seconds"]) for r in result["rows"])
    assert len(result["targets"]) == 5
    assert out_png.stat().st_size > 0


def test_bench_rejects_bad_sizes():
    with pytest.raises(SystemExit):
        bench.parse_args(["--k", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--n", "5", "--k", "10"])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_plugin_log_density_matches_sklearn(covariance_type):
    """The one held-out likelihood formula of the moves benchmark is scikit-learn's
    GaussianMixture.score_samples given the same weights, means and covariances."""
    from sklearn.mixture import GaussianMixture

    from fastcavi.bench.moves import plugin_log_density

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(4, 2, (40, 3)) @ rng.normal(
        0, 1, (3, 3))])
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    X_new = rng.normal(1, 3, (25, 3))
    ours = plugin_log_density(X_new, gm.weights_, gm.means_, gm.covariances_, covariance_type)
    np.testing.assert_allclose(ours, gm.score_samples(X_new), rtol=1e-10)


def test_plugin_log_density_rejects_bad_input():
    from fastcavi.bench.moves import plugin_log_density

    X, w, m = np.zeros((4, 2)), np.array([0.5, 0.5]), np.zeros((2, 2))
    with pytest.raises(ValueError, match="expected \\(2, 2, 2\\)"):
        plugin_log_density(X, w, m, np.ones((2, 2)), "full")
    with pytest.raises(ValueError, match="component 1 is not positive definite"):
        plugin_log_density(X, w, m, np.array([np.eye(2), -np.eye(2)]), "full")
    with pytest.raises(ValueError, match="non-negative"):
        plugin_log_density(X, np.array([1.5, -0.5]), m, np.ones(2), "spherical")


def test_moves_bench_mixtures_meet_their_rules():
    """The synthetic problems have what the module promises: weights >= 0.5 / K, eigenvalues
    in [1, 10], every pair of means at pooled Mahalanobis distance >= c, N = 200 K."""
    from scipy.spatial.distance import mahalanobis

    from fastcavi.bench.moves import make_mixture

    for K, p, seed in [(6, 2, 0), (4, 5, 1)]:
        X, labels, truth = make_mixture(K, p, seed, separation=3.0)
        assert X.shape == (200 * K, p) and set(labels) == set(range(K))
        assert truth["weights"].min() >= 0.5 / K and np.isclose(truth["weights"].sum(), 1)
        eig = np.linalg.eigvalsh(truth["covariances"])
        assert eig.min() > 1 - 1e-9 and eig.max() < 10 + 1e-9
        mu, S = truth["means"], truth["covariances"]
        for i in range(K):
            for j in range(i):
                VI = np.linalg.inv((S[i] + S[j]) / 2)
                assert mahalanobis(mu[i], mu[j], VI) >= 3.0


@pytest.mark.slow
def test_moves_bench_quick_prints_three_tables(capsys):
    """``python -m fastcavi.bench.moves --quick`` runs and prints its three tables."""
    from fastcavi.bench import moves

    assert moves.main(["--quick"]) == 0
    text = capsys.readouterr().out
    assert "Synthetic recovery" in text and "exactly right" in text
    assert "Real data" in text and "iris" in text and "sklearn DP C x10" in text
    assert "Time: N = 5,000" in text and "MixtureSelection K=1..4 x 4 types" in text
    assert "MixtureSelection K=1..4 x 4 types, batch" in text  # the grid's default, and batch
    for arm in ["fastcavi DP", "sklearn DP", "sklearn BIC"] + (
            ["moves K0=1", "moves K0=2K"] if moves.moves_available() else []):
        assert arm in text


def test_moves_bench_rejects_bad_separation():
    from fastcavi.bench import moves

    with pytest.raises(SystemExit):
        moves.main(["--separation", "0"])


def test_moves_bench_real_sets_are_split_and_standardised_on_the_training_part():
    from fastcavi.bench.moves import real_set

    Xtr, Xte, ytr, yte, C = real_set("iris", 0)
    assert (Xtr.shape, Xte.shape, C) == ((105, 4), (45, 4), 3)
    np.testing.assert_allclose(Xtr.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xtr.std(axis=0), 1)
    assert np.bincount(ytr).tolist() == [35, 35, 35]  # stratified
    Xtr, Xte, _, _, C = real_set("digits-pca10", 1)
    assert (Xtr.shape, Xte.shape, C) == ((1257, 10), (540, 10), 10)
    Xtr, _, _, _, _ = real_set("digits", 1)
    assert Xtr.std(axis=0).min() > 0.5  # features constant in the training part are dropped


def test_gm_bench_runs_quick_and_times_the_iteration_scikit_learn_runs(capsys):
    """``python -m fastcavi.bench.gm --quick``: every row of every type measured and reported
    (no time asserted); the iteration it times, from its start, is scikit-learn's one EM
    iteration from the same weights, means and precisions."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    from fastcavi.bench import gm as gm_bench

    assert gm_bench.main(["--quick", "--k", "3"]) == 0
    text = capsys.readouterr().out
    for ctype in ("full", "tied", "diag", "spherical"):
        assert f"fastcavi {ctype} float32, per iter" in text
        assert f"{ctype}: " in text and "faster than scikit-learn" in text  # or n/a
    assert "the matmul floor" in text
    X = bench.make_problem(500, 3, 3)[0]
    for ctype in ("full", "diag"):
        initial = gm_bench.start(X, 3, ctype)
        params, _ = gm_bench.fastcavi_iteration(as_kernel_array(X), 3, ctype, initial)()
        sk = GaussianMixture(3, covariance_type=ctype, weights_init=initial[0],
                             means_init=initial[1], precisions_init=initial[2], max_iter=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk.fit(X)
        np.testing.assert_allclose(params.means, sk.means_, rtol=1e-9)
        np.testing.assert_allclose(params.covariances, sk.covariances_, rtol=1e-9)


def test_gm_bench_pairs_its_ratios_round_by_round(capsys, monkeypatch):
    """``--paired R``: R rounds per type, each timing fastcavi and then scikit-learn, and the
    median of their R ratios (checked on stand-in timings: no time is asserted; a line per
    type even when noise leaves no round with a positive scikit-learn time)."""
    from fastcavi.bench import gm as gm_bench

    assert gm_bench.main(["--quick", "--k", "3", "--types", "diag", "--paired", "1"]) == 0
    assert "diag, paired: " in capsys.readouterr().out
    ours = iter([0.01, 0.02, 0.01])
    theirs = iter([0.3, 0.8, 0.5])
    monkeypatch.setattr(gm_bench.bench, "measure", lambda fn, repeats: (next(ours), repeats))
    monkeypatch.setattr(gm_bench, "sklearn_gm_per_iter", lambda *a: (next(theirs), 1))
    ratios = gm_bench.paired_ratios(200, 2, 3, "spherical", 3)
    assert ratios == pytest.approx([30.0, 40.0, 50.0])
    monkeypatch.undo()
    monkeypatch.setattr(gm_bench, "paired_ratios", lambda *a: [])
    assert gm_bench.main(["--quick", "--k", "3", "--types", "tied", "--paired", "2"]) == 0
    assert "tied, paired: n/a" in capsys.readouterr().out


def test_gm_bench_rejects_bad_sizes():
    from fastcavi.bench import gm as gm_bench

    with pytest.raises(SystemExit):
        gm_bench.main(["--k", "0"])
    with pytest.raises(SystemExit):
        gm_bench.main(["--n", "5", "--k", "10"])


def test_time_to_fit_bench_reports_every_algorithm(capsys):
    """python -m fastcavi.bench.algorithms --quick: a line per estimator, the time each
    algorithm takes to come within 1e-6 per point of the batch run's best bound (batch gets
    there by definition), where each run ended against it, and partial_fit's throughput."""
    from fastcavi.bench import algorithms as bench

    rows = bench.run(4000, (2,), 4, 12, 1000, log=print, tol=0.0)
    out = capsys.readouterr().out
    assert len(rows) == 3 and out.count("within 1e-06/point of batch's best ELBO") == 3
    assert out.count("floor: batch's first pass ends at") == 3
    for row in rows:
        assert row["batch_s"] is not None and row["batch_end_per_point"] <= 0.0
        # the floor: batch's first pass, which no run can beat to a bound
        assert 0.0 < row["first_pass_s"] <= row["batch_s"]
        for a in bench.ALGORITHMS:
            assert row[f"{a}_iterations"] == 12
            assert row[f"{a}_s"] is None or row[f"{a}_s"] <= row[f"{a}_total_s"]
            if row[f"{a}_end_per_point"] >= -bench.WITHIN:  # it ended within the target
                assert row[f"{a}_s"] is not None
    with pytest.raises(ValueError, match="must include 'batch'"):
        bench.run(4000, (2,), 4, 2, 1000, algorithms=("accelerated",))
    assert bench.time_to([(1.0, -5.0), (2.0, -3.0), (3.0, -1.0)], -3.0) == 2.0
    assert bench.time_to([(1.0, -5.0)], -3.0) is None


def test_scaling_bench_times_every_row_at_every_thread_count(capsys):
    """``python -m fastcavi.bench.scaling``: a row per covariance type, the fixed-variance
    sweep and the stream of X, a column per thread count (1, 2, 4, ... and the most)."""
    from fastcavi.bench import scaling

    assert scaling.thread_counts(1) == [1]
    assert scaling.thread_counts(6) == [1, 2, 4, 6]
    assert scaling.thread_counts(16) == [1, 2, 4, 8, 16]
    assert scaling.main(["--n", "3000", "--p", "3", "--k", "4", "--repeats", "1",
                         "--threads", "2"]) == 0
    table = capsys.readouterr().out.split("Per iteration")[1].splitlines()
    rows = [line for line in table if "ms (" in line]
    names = [f"BayesianGaussianMixture {t}" for t in ("full", "tied", "diag", "spherical")]
    assert [r.split("  ")[0] for r in rows] == names + ["fixed-variance sweep",
                                                        "stream X once (memory floor)"]
    assert all(r.count("ms (") == 2 and "1.0x 100%" in r for r in rows)
    for bad in (["--k", "0"], ["--n", "5", "--k", "10"], ["--threads", "0"]):
        with pytest.raises(SystemExit):
            scaling.main(bad)


def test_shapes_bench_reports_every_type_against_its_floor(capsys):
    """``python -m fastcavi.bench.shapes``: a line per covariance type with fastcavi's float64
    and float32 iteration, each over its floor; the floors count the dense products."""
    from fastcavi.bench import shapes

    assert shapes.floor_flops("full", 10, 3, 2) == 4 * 10 * 2 * 9
    assert shapes.floor_flops("diag", 10, 3, 2) == 8 * 10 * 3 * 2
    assert shapes.floor_flops("kmeans", 10, 3, 2) == 2 * 10 * 3 * 2
    assert shapes.main(["--n", "2000", "--p", "4", "--k", "3", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.split("Per iteration")[1].splitlines()
    for ctype in ("full", "tied", "diag", "spherical"):
        row = next(line for line in lines if line.startswith(ctype))
        ratios = [float(cell[:-1]) for cell in row.split() if cell.endswith("x")]
        # per dtype: over the products, then over the products and the exps (a larger floor;
        # equal where the exps round away), each ratio a number of its own at any width
        assert len(ratios) == 4 and ratios[1] <= ratios[0] and ratios[3] <= ratios[2]
    for ctype in ("spherical", "diag"):  # and the floor at their skinny products' own rate
        line = next(line for line in lines if line.startswith(f"{ctype} at its products'"))
        assert line.count("x it with the exps") == 2, line
    # ratios far wider than their columns (a tiny shape's floor) still read as numbers
    rows = [dict(name="exps", seconds=1e-6)] + [
        dict(name=f"{who} {ctype} {dt}", seconds=0.5 if who == "fastcavi" else 1e-7)
        for ctype in ("full", "tied", "diag", "spherical") for dt in ("float64", "float32")
        for who in ("fastcavi", "floor")]
    row = shapes.report(rows, (2000, 4, 3)).splitlines()[2]
    assert [float(c[:-1]) for c in row.split() if c.endswith("x")] == [
        5e6, pytest.approx(454545.45), 5e6, pytest.approx(454545.45)]
    with pytest.raises(SystemExit):
        shapes.main(["--k", "0"])


def test_family_bench_reports_both_types_even_when_a_time_is_noise(capsys):
    """``python -m fastcavi.bench.family`` at a tiny shape, where a time taken by difference
    can come out not positive: each type's line says n/a there instead of failing."""
    from fastcavi.bench import family

    assert family.main(["--n", "3000", "--p", "3", "--k", "3", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    assert "spherical: " in text and "diag: " in text and "faster than scikit-learn" in text
    # each type against its products at the BLAS rate, and those against KMeans' distances
    assert text.count("its products at the BLAS rate") == 2
    assert text.count("those and its N K exps") == 2
    assert "products are 2x KMeans' distances" in text
    assert "products are 4x KMeans' distances" in text
    with pytest.raises(SystemExit):
        family.main(["--n", "2", "--k", "3"])


def test_asv_timeraw_benchmarks_print_nothing(tmp_path):
    """asv times a ``timeraw_`` benchmark in a fresh process and reads that process's output as
    the time: the timed code and its setup must print nothing (the command line's fit prints a
    summary; its benchmark sends it to a buffer)."""
    import subprocess
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "asv_benchmarks"))
    try:
        from benchmarks.bench_cavi import ColdStart
    finally:
        sys.path.pop(0)
    names = [name for name in dir(ColdStart) if name.startswith("timeraw_")]
    assert "timeraw_command_fit" in names
    for name in names:
        code, setup = getattr(ColdStart(), name)()
        done = subprocess.run([sys.executable, "-c", setup + "\n" + code], capture_output=True,
                              text=True, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "", (name, done.stdout)
