"""The train stage's memory: the whole training frame read, against only its drawn rows (`mlops_nb.parts.read_rows`).

    python bench/sample_rows.py FILE.parquet [--rows 500000] [--runs 3]

Each way runs in a process of its own, `--runs` times; it prints each run's rows, seconds and peak RSS, then the
medians. FILE is any Parquet file of several row groups (bench/README.md used ten years of `synthetic_flights` in
one file of 100,000-row groups).
"""
import argparse, resource, statistics, subprocess, sys, time


def child(path, how, rows):
    "Read `path` whole, or `rows` of its rows drawn with seed 0; print rows, seconds and peak RSS in MiB."
    import numpy as np, pandas as pd, pyarrow.parquet as pq
    from mlops_nb.parts import read_rows
    total = pq.ParquetFile(path).metadata.num_rows
    keep = np.zeros(total, bool)
    keep[np.random.default_rng(0).choice(total, min(rows, total), replace=False)] = True
    start = time.perf_counter()
    frame = pd.read_parquet(path) if how == 'whole' else read_rows(path, keep)
    print(len(frame), time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main(path, rows, runs):
    for how in ('whole', 'drawn'):
        seen = [list(map(float, subprocess.run([sys.executable, __file__, path, '--child', how, '--rows', str(rows)],
                                               check=True, capture_output=True, text=True).stdout.split()))
                for _ in range(runs)]
        for n, seconds, mib in seen: print(f"{how}: {n:,.0f} rows, {seconds:.2f} s, {mib:,.0f} MiB")
        print(f"{how}, median: {statistics.median(s for _, s, _ in seen):.2f} s, "
              f"{statistics.median(m for *_, m in seen):,.0f} MiB peak")


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('path')
    parser.add_argument('--rows', type=int, default=500_000)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--child', choices=['whole', 'drawn'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child: child(args.path, args.child, args.rows)
    else: main(args.path, args.rows, args.runs)
