"""Time batch mode's two products, ``X @ w + b`` and ``X.T @ r``, on 1 and 2 threads.

Everything runs in one process on the generated, seeded data of
``bench_modes.py``:

* dense 200,000 x 100 float64, C-ordered;
* sparse CSR 500,000 x 262,144 float64, about 50 nonzeros per row.

For each data set it prints the time of one pair (``X @ w`` then
``X.T @ r``):

* with NumPy/SciPy (``X @ w``, ``X.T @ r``): SciPy's sparse products run
  on one thread, NumPy's dense ones in the (threaded) BLAS;
* with skgd's :class:`skgd._modes.Data` (``matvec`` then ``rmatvec``: the
  compiled products of :mod:`skgd._products_fast` for CSR data, NumPy's
  BLAS for dense data), limited to 1 and to 2 threads (OpenMP and BLAS) by
  ``threadpoolctl.threadpool_limits``;

and one batch-mode iteration (:meth:`skgd._modes.BatchRunner.epoch` of a
squared-error regressor, set-up excluded, as in ``bench_modes.py``) on 1
and 2 threads, each with its ratio to the NumPy/SciPy pair.  Targets (2
threads, issue 12): at most 0.7x SciPy's pair on the sparse data, at most
1.1x NumPy's pair on the dense data.

Timings are wall-clock, the best (minimum) of ``--repeat`` rounds (5 by
default); the cases are interleaved, one run of each per round.  Two CPU
columns follow (best of the rounds too): the process time (all threads,
spinning OpenMP threads included) and the CPU time of the busiest thread
(Linux ``/proc``, clock-tick resolution), with its ratio to the busiest
thread of the NumPy/SciPy pair.  On a loaded machine, where a second
thread waits for a free core, wall-clock times of 2 threads say little; the
busiest thread's time estimates the wall-clock time on idle cores, on the
high side (a thread spinning at the end of a parallel loop, while the other
one waits for a core, counts).  A pair's
figure is the mean over ``--iters`` pairs.  ``--quick`` divides the
number of rows by 10.  On a machine shared with other processes the
2-thread figures suffer most (a thread waits for a free core): the header
and the footer print the load average.

Usage::

    python benchmarks/bench_products.py [--quick] [--repeat 5] [--only sparse]
"""

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_modes import SEED, load_line, make_dense, make_sparse  # noqa: E402

import skgd  # noqa: E402
from skgd import GDRegressor  # noqa: E402
from skgd._compat import effective_n_threads  # noqa: E402
from skgd._modes import BatchRunner, Data, Problem  # noqa: E402

TARGETS = {"sparse": 0.7, "dense": 1.1}
THREADS = (1, 2)
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_times():
    """CPU seconds of each thread of this process (Linux), else {}."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


class Clock:
    """Wall-clock time, process CPU time and the busiest thread's CPU time."""

    def __enter__(self):
        self.t0, self.c0, self.threads0 = (time.perf_counter(), time.process_time(),
                                           thread_times())
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        after = thread_times()
        self.busiest = max((after[k] - self.threads0.get(k, 0.0) for k in after),
                           default=float("nan"))

    def per(self, iters):
        return self.wall / iters, self.cpu / iters, self.busiest / iters


def vectors(X):
    rng = np.random.default_rng(SEED + 1)
    return rng.standard_normal(X.shape[1]), rng.standard_normal(X.shape[0])


def reference_case(X, iters):
    """``iters`` NumPy/SciPy pairs; returns the mean."""
    w, r = vectors(X)

    def run():
        with Clock() as clock:
            for _ in range(iters):
                X @ w + 0.5
                X.T @ r
        return clock.per(iters)

    return run


def skgd_case(data, iters, n_threads):
    """``iters`` pairs of ``data.matvec`` and ``data.rmatvec``; returns the mean."""
    w, r = vectors(data.X)

    def run():
        with threadpool_limits(n_threads), Clock() as clock:
            for _ in range(iters):
                data.matvec(w, 0.5)
                data.rmatvec(r)
        return clock.per(iters)

    return run


def batch_case(data, y, iters, n_threads):
    """``iters`` batch-mode iterations of a squared-error regressor; returns the mean.

    A fresh runner (from ``w = 0``) per round, so that every timed
    iteration is one of the first few of a fit; its set-up (initial
    objective, smoothness estimate) and one warm-up iteration are not timed.
    """
    n, d = data.X.shape
    est = GDRegressor(mode="batch", tol=None)
    loss = est._loss()
    problem = Problem(data, y, np.ones(n), loss, est._penalty(), True, np.arange(n))

    def run():
        with threadpool_limits(n_threads):
            runner = BatchRunner(problem, np.zeros(d), 0.0, est._schedule(loss), 1)
            runner.epoch()
            with Clock() as clock:
                for _ in range(iters):
                    runner.epoch()
        return clock.per(iters)

    return run


def best_of_interleaved(cases, repeat):
    """Each case's best (wall, CPU, busiest thread's CPU) times over the rounds."""
    best = {key: (np.inf,) * 3 for key in cases}
    for _ in range(repeat):
        for key, run in cases.items():
            best[key] = tuple(map(min, best[key], run()))
    return best


def check_equal(data, X):
    """1 and 2 threads give the same bits; both agree with NumPy/SciPy."""
    w, r = vectors(X)
    out = {}
    for nt in THREADS:
        with threadpool_limits(nt):
            out[nt] = data.matvec(w, 0.5), data.rmatvec(r)
    same = all(np.array_equal(a, b) for a, b in zip(out[1], out[2]))
    ref = (X @ w + 0.5, X.T @ r)
    err = max(float(np.max(np.abs(a - b) / (np.abs(b) + 1e-300)))
              for a, b in zip(out[2], ref))
    return same, err


def bench(name, X, y, args):
    ref_name = "SciPy" if name == "sparse" else "NumPy"
    data = Data(X)
    cases = {"ref": reference_case(X, args.iters)}
    for nt in THREADS:
        cases[f"skgd{nt}"] = skgd_case(data, args.iters, nt)
        cases[f"batch{nt}"] = batch_case(data, y, args.iters, nt)
    best = best_of_interleaved(cases, args.repeat)
    same, err = check_equal(data, X)
    target = TARGETS[name]
    t_ref = best["ref"][0]
    print(f"\n{name}: {type(X).__name__} {X.shape[0]:,} x {X.shape[1]:,} {X.dtype}"
          + (f", {X.nnz:,} nonzeros" if name == "sparse" else "")
          + (f"; {len(data.products.bounds) - 1} row blocks for X.T @ r"
             if data.products is not None else "; skgd uses NumPy's BLAS"))
    print(f"  {'case':<36s}{'seconds':>9s}{'ratio':>7s}{'CPU s':>9s}"
          f"{'busiest':>9s}{'ratio':>7s}")
    b_ref = best["ref"][2]

    def row(label, key, verdict=""):
        t, c, b = best[key]
        print(f"  {label:<36s}{t:9.4f}{t / t_ref:7.2f}{c:9.4f}{b:9.4f}{b / b_ref:7.2f}"
              f"{verdict}")

    row(f"{ref_name} pair X@w+b, X.T@r", "ref")
    for nt in THREADS:
        t = best[f"skgd{nt}"][0]
        verdict = f"  (target <= {target}: {'OK' if t / t_ref <= target else 'MISS'})" \
            if nt == 2 else ""
        row(f"skgd pair, {nt} thread" + "s" * (nt > 1), f"skgd{nt}", verdict)
    for nt in THREADS:
        row(f"skgd batch iteration, {nt} thread" + "s" * (nt > 1), f"batch{nt}")
    print(f"  1 thread == 2 threads bit for bit: {same}; "
          f"max relative difference to {ref_name}: {err:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer rows")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (best of)")
    parser.add_argument("--iters", type=int, default=4, help="pairs per timing")
    parser.add_argument("--only", choices=["sparse", "dense"])
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    print(f"skgd {skgd.__version__}; {os.cpu_count()} CPUs; "
          f"effective OpenMP threads {effective_n_threads()}")
    for info in threadpool_info():
        print(f"  {info['user_api']}: {info['internal_api']} "
              f"{os.path.basename(info['filepath'])}, {info['num_threads']} threads")
    print(load_line("load average at start"))
    if args.only in (None, "sparse"):
        X, _, y = make_sparse(500_000 // scale)
        bench("sparse", X, y, args)
        del X
    if args.only in (None, "dense"):
        X, _, y = make_dense(200_000 // scale)
        bench("dense", X, y, args)
    print(load_line("\nload average at end"))


if __name__ == "__main__":
    main()
