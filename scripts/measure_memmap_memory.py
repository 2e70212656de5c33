"""Peak memory of fitting a memory-mapped .npy larger than the fit's working set.

Writes an N x p float64 .npy in blocks (default N = 5e7, p = 2: an 800 MB file in /tmp), then
fits it in fresh subprocesses opened with ``np.load(path, mmap_mode="r")``, once from an
explicit start (means_init and explicit hyperparameters) and once with every default
(data-driven hyperparameters and k-means++ on a subsample), and, for contrast, once after
loading the whole file into memory. Each child samples its own ``/proc/self/status`` every
millisecond in a background thread (the kernels release the GIL, so the sampler runs during the
sweeps) and reports the peak of RssAnon (anonymous memory: what the fit allocates) and of
RssFile (file-backed pages: the mapped data, which the kernel can drop and re-read) above the
baseline taken after import and kernel compilation, plus tracemalloc's peak (every NumPy
allocation, exactly). The file is deleted at the end.

    python scripts/measure_memmap_memory.py                   # N = 5e7, p = 2, K = 5
    python scripts/measure_memmap_memory.py --n 1e6 --sweeps 3  # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

MODES = ("explicit", "defaults", "in-memory")


def write_npy(path, n_samples, n_features, n_components, seed=0, block=1_000_000):
    """An N x p float64 mixture written block by block (never N x p in memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                    shape=(n_samples, n_features))
    for start in range(0, n_samples, block):
        stop = min(n_samples, start + block)
        labels = rng.integers(n_components, size=stop - start)
        out[start:stop] = centres[labels] + rng.normal(size=(stop - start, n_features))
    out.flush()
    del out
    return centres


def _status_kib():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0])
    return fields


class Sampler(threading.Thread):
    """Peak RssAnon / RssFile of this process, sampled every `interval` seconds."""

    def __init__(self, interval=0.001):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak = _status_kib()

    def run(self):
        while not self.stop_event.is_set():
            now = _status_kib()
            for k in ("RssAnon", "RssFile"):
                self.peak[k] = max(self.peak[k], now[k])
            time.sleep(self.interval)

    def stop(self):
        self.stop_event.set()
        self.join()
        now = _status_kib()
        for k in ("RssAnon", "RssFile"):
            self.peak[k] = max(self.peak[k], now[k])
        self.peak["VmHWM"] = now["VmHWM"]
        return self.peak


def child(mode, path, n_components, sweeps):
    import tracemalloc
    import warnings

    from fastcavi import GaussianMixtureCAVI

    warnings.simplefilter("ignore")  # a fixed number of sweeps is the point, not convergence
    header = np.load(path, mmap_mode="r")
    n_features = header.shape[1]
    means_init = np.asarray(header[:n_components], dtype=np.float64)  # K rows only
    del header
    explicit = dict(means_init=means_init, prior_mean=0.0, prior_var=50.0, likelihood_var=1.0)
    kw = dict(n_components=n_components, max_iter=sweeps, tol=0, random_state=0)
    if mode == "explicit":
        kw.update(explicit)
    # Compile (or load) every kernel on tiny data first: the baseline includes Numba's code
    # and thread pool, and the measurement sees only what the fit itself allocates.
    tiny = np.random.default_rng(0).normal(size=(2000, n_features))
    GaussianMixtureCAVI(**dict(kw, **({} if mode != "explicit" else
                                      dict(means_init=tiny[:n_components])))).fit(tiny)
    base = _status_kib()
    sampler = Sampler()
    sampler.start()
    tracemalloc.start()
    t0 = time.perf_counter()
    X = np.load(path, mmap_mode="r")
    if mode == "in-memory":
        X = np.array(X)
    gm = GaussianMixtureCAVI(**kw).fit(X)
    elapsed = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = sampler.stop()
    print(json.dumps(dict(
        mode=mode, n_samples=int(X.shape[0]), n_features=int(n_features),
        n_components=n_components, sweeps=gm.n_iter_, seconds=round(elapsed, 2),
        baseline_rss_anon_mib=base["RssAnon"] / 1024,
        peak_rss_anon_above_baseline_mib=(peak["RssAnon"] - base["RssAnon"]) / 1024,
        peak_rss_file_above_baseline_mib=(peak["RssFile"] - base["RssFile"]) / 1024,
        tracemalloc_peak_mib=traced_peak / 2**20,
        file_mib=os.path.getsize(path) / 2**20,
        lower_bound=gm.lower_bound_)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=5e7, help="rows (default 5e7)")
    parser.add_argument("--p", type=int, default=2, help="features (default 2)")
    parser.add_argument("--k", type=int, default=5, help="components (default 5)")
    parser.add_argument("--sweeps", type=int, default=5, help="CAVI sweeps per fit")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the .npy goes")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated subset of {MODES}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.path, args.k, args.sweeps)
        return
    n = int(args.n)
    fd, path = tempfile.mkstemp(suffix=".npy", prefix="fastcavi-memmap-", dir=args.dir)
    os.close(fd)
    try:
        t0 = time.perf_counter()
        write_npy(path, n, args.p, args.k)
        print(f"wrote {path}: {n} x {args.p} float64, "
              f"{os.path.getsize(path) / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s",
              flush=True)
        for mode in args.modes.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--path", path, "--k", str(args.k),
                 "--sweeps", str(args.sweeps)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['mode']:>9}: {r['sweeps']} sweeps in {r['seconds']:6.2f} s | peak above "
                  f"baseline: RssAnon {r['peak_rss_anon_above_baseline_mib']:7.1f} MiB, "
                  f"RssFile {r['peak_rss_file_above_baseline_mib']:7.1f} MiB | tracemalloc "
                  f"peak {r['tracemalloc_peak_mib']:7.2f} MiB | baseline RssAnon "
                  f"{r['baseline_rss_anon_mib']:.0f} MiB", flush=True)
    finally:
        os.remove(path)


if __name__ == "__main__":
    main()
