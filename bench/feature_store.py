"""Feature store timings: historical retrieval for the full year, and online retrieval for one request.

    python bench/feature_store.py [--runs 3] [--calls 1000] [--workspace DIR]

Runs `mlops-nb run --stages ingest,validate,features` on the default (full-year) config into a scratch
workspace (or reuses DIR if it has such a run), then times, in-process against that run's store:
- `historical()`: the point-in-time join of every view for all labelled flights (median of --runs);
- one request through `get_features()` (online store + on-demand transforms + conform), and through
  Feast's `get_online_features` alone, p50 and p99 over --calls calls.
"""
import argparse, statistics, tempfile, time
import numpy as np, pandas as pd
from common import features_run


def percentiles(seconds): return np.percentile(seconds, 50) * 1e3, np.percentile(seconds, 99) * 1e3


def main(runs, calls, workspace):
    from mlops_nb.features import add_calendar, get_features, historical, open_store, read_spec
    run = features_run(workspace or tempfile.mkdtemp())
    spec = read_spec(run)
    store = open_store(spec['repo'])
    data = add_calendar(pd.read_parquet(run / 'validated' / 'data.parquet'), spec['timestamp'], spec['calendar'],
                        spec['timezone'])
    seconds = []
    for i in range(runs):
        start = time.perf_counter()
        historical(store, data, spec['store'], spec['timestamp'])
        seconds.append(time.perf_counter() - start)
        print(f"historical run {i + 1}/{runs}: {seconds[-1]:.2f}s", flush=True)
    request = data[['carrier', 'flight', 'origin', 'dest', 'time_hour', 'sched_dep_time', 'sched_arr_time',
                    'distance']].tail(1)
    record = request.assign(time_hour=request.time_hour.dt.strftime('%Y-%m-%dT%H:%M:%SZ')).to_dict('records')
    refs = [f"{v['name']}:{c}" for v in spec['store']['views'] for c in v['features']]
    entity = [{'origin': record[0]['origin'], 'carrier': record[0]['carrier']}]
    timings = {
        'get_features (online + on-demand + conform)': lambda: get_features(record, run, store),
        'Feast get_online_features alone': lambda: store.get_online_features(
            features=refs, entity_rows=entity
        ).to_dict(),
    }
    print(f"\n{len(data):,} labelled flights, {len(spec['store']['views'])} "
          f"views, {len(refs)} stored features; run {run.name}\n")
    print("historical retrieval, full year: median "
          f"{statistics.median(seconds):.2f}s over {runs} "
          f"({', '.join(f'{s:.2f}' for s in seconds)})")
    for name, call in timings.items():
        call()                                                   # warm up: first call opens the sqlite file
        lap = []
        for _ in range(calls):
            start = time.perf_counter(); call(); lap.append(time.perf_counter() - start)
        p50, p99 = percentiles(lap)
        print(f"{name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {calls} calls")


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--calls', type=int, default=1000)
    parser.add_argument('--workspace', default='')
    args = parser.parse_args()
    main(args.runs, args.calls, args.workspace)
