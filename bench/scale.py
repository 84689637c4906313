"""Scale-out, measured: validation, the point-in-time join and scoring of a generated partitioned dataset, in one
process against a LocalCluster of 2 workers that read their own parts.

    python bench/scale.py [--years 10 90] [--runs 1] [--workspace WS] [--data DIR] [--in-process-up-to 10]

The data is `mlops_nb.synthetic.synthetic_flights` (seed 0): 10 years are 3,367,760 flights, 90 years 30,309,840, a
Parquet file of flights and one of weather per year, written once into DIR and reused. WS is a workspace with a model
in production (default: a new one made with `mlops-nb run`). Per stage and engine it reports the wall time, the peak
RSS of the client and of each worker process, and the share of the CPU time spent on the workers ("left the client").

- validate: `mlops-nb validate DIR/flights --reference RUN [--dask local]`;
- features: the features stage's work on the flights as validation leaves them (DIR/validated, written once), with
  the default config (the weather as a view, each origin's late rate over a day): the views' sources, the training
  frame, the online store loaded and the labels seeded; in one process with Feast's join (the stage without
  `--dask`), or by the workers (`build_on_workers`: the stage with it);
- score: `mlops-nb score DIR/flights --out OUT.parquet [--dask local]`;
- score-sql: the same flights in an SQLite table (DIR/flights.db, an integer primary key `id`, made once), scored by
  `mlops-nb score sqlite:///DIR/flights.db --table flights --key id --out OUT.parquet [--dask local]`;
- run: the whole pipeline, `mlops-nb run -p source=DIR/flights -p "extra_sources={'weather': 'DIR/weather'}"
  [--dask local]` in a new workspace, validated on the first half of the last year and tested on its second half,
  with 2 trials fitting at most 1,000,000 rows each (`RUN`); the client is then the runner and each stage's kernel
  (the peak RSS of the largest), and the seconds of each stage are printed from its `run.json`; run-data: its
  first two stages alone, `--stages ingest,validate`, the stages that read the source;
- monitor: `mlops-nb monitor --data DIR/flights --window 4w -p drift_draws=50 [--dask local]`.

In-process runs stop at `--in-process-up-to` years: beyond it one process would need the whole table in memory.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import psutil

ENV = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline'), 'WANDB_SILENT': 'true'}
WEATHER = ['temp', 'dewp', 'humid', 'wind_speed', 'precip', 'visib']
KNOWN = 'minute + dep_delay + air_time + 60'    # the default config's: a label is known this many minutes on
# the run's search, bounded so that a 30M-row run fits a session: two trials, each fitting a million rows at most
RUN = ['-p', 'trials=2', '-p', 'max_fit_rows=1000000']


def measured(command, workspace):
    "Run `command`; return wall seconds, the client's peak RSS and CPU seconds, and each worker's."
    start, client, workers, log = time.perf_counter(), {'rss': 0, 'cpu': 0}, {}, tempfile.TemporaryFile('w+')
    # stderr to a file, not a pipe: a full pipe would stop the workers, which write to it too
    process = subprocess.Popen(command, env={**ENV, 'MLOPS_NB_WORKSPACE': str(workspace)}, stdout=subprocess.DEVNULL,
                               stderr=log, text=True)
    root, kernels = psutil.Process(process.pid), {}    # a run's stages: each a kernel, the client of its work
    while process.poll() is None:
        try:
            children = [c for c in root.children() if 'resource_tracker' not in ' '.join(c.cmdline())]
            for p in children: (kernels if 'ipykernel' in ' '.join(p.cmdline()) else workers).setdefault(
                p.pid, {'rss': 0, 'cpu': 0})
            for p, seen in [(root, client), *((c, {**workers, **kernels}[c.pid]) for c in children)]:
                with p.oneshot(): seen.update(rss=max(seen['rss'], p.memory_info().rss), cpu=sum(p.cpu_times()[:2]))
        except psutil.Error: pass
        time.sleep(0.1)
    if process.wait() not in (0, 1):
        log.seek(0)
        sys.exit(f"{' '.join(map(str, command))} failed:\n{log.read()[-3000:]}")
    client = {'rss': max([client['rss'], *(k['rss'] for k in kernels.values())]),
              'cpu': client['cpu'] + sum(k['cpu'] for k in kernels.values())}
    return time.perf_counter() - start, client, list(workers.values())


def validated_copy(data):
    "The dataset as the validate stage leaves it, written once: flights with UTC times and the label, a file a year."
    import pandas as pd
    from mlops_nb.ingest import parse_timestamp
    folder = Path(data)/'validated'
    if (folder/'weather.parquet').exists(): return folder
    (folder/'flights').mkdir(parents=True, exist_ok=True)
    for file in sorted((Path(data)/'flights').glob('*.parquet')):
        rows = parse_timestamp(pd.read_parquet(file), 'time_hour')
        rows.assign(late=(rows.arr_delay > 15).astype(float).where(rows.arr_delay.notna())).to_parquet(
            folder/'flights'/file.name, row_group_size=100_000)
    parse_timestamp(pd.read_parquet(Path(data)/'weather'), 'time_hour').to_parquet(folder/'.weather.parquet')
    (folder/'.weather.parquet').rename(folder/'weather.parquet')
    return folder


def features_child(engine, data, out):
    """The features stage's work on the validated copy, with the default config: the views (the weather, each origin's
    late rate over a day), the training frame, the online store loaded and the labels seeded; in one process with
    Feast's join as the stage without `--dask`, or by the workers as with it (`build_on_workers`)."""
    import pandas as pd
    from mlops_nb.engine import engine as dask_engine
    from mlops_nb.features import (add_calendar, arrivals, definitions, feature_frame, feature_spec, historical, hourly,
                                   materialize, open_store, store_views, write_repo)
    from mlops_nb.fresh import label_rows, seed_labels
    from mlops_nb.point_in_time import build_on_workers
    folder, out = validated_copy(data), Path(out)
    joins = [{'table': 'weather', 'keys': ['origin', 'time_hour'], 'columns': WEATHER}]
    aggregates, ids, known = [{'entity': 'origin', 'window_days': 1}], ['carrier', 'flight', 'origin', 'dest'], KNOWN
    spec = feature_spec(['sched_dep_time', 'sched_arr_time', 'distance'], ['carrier', 'origin', 'dest'], ['dayofweek'],
                        joins, 'late', 'time_hour', aggregates, 'America/New_York')
    if engine == 'dask':
        with dask_engine('local') as client:
            store_spec, built = build_on_workers(client, folder/'flights', {'weather': folder/'weather.parquet'},
                                                 joins, aggregates, spec, ids, known, out, out/'repo',
                                                 echo=lambda line: None)
    else:
        (out/'feature_sources').mkdir()
        rows = add_calendar(pd.read_parquet(folder/'flights'), 'time_hour', ['dayofweek'], 'America/New_York')
        tables = {'weather': pd.read_parquet(folder/'weather.parquet')}
        rows, views = store_views(rows, tables, joins, aggregates, known, 'time_hour', 'late', out/'feature_sources')
        store_spec = {'views': views}
    repo = write_repo(out/'repo', store_spec)
    store = open_store(repo)
    store.apply(definitions(store_spec))
    if engine != 'dask':
        rows = historical(store, rows, store_spec)
        feature_frame(rows, spec, ids).to_parquet(out/'features.parquet')
        built = {'first': rows.time_hour.min(), 'last': rows.time_hour.max(),
                 'labelled': [label_rows(arrivals(rows, 'time_hour', 'late', known), ['origin'], 'time_hour', ids,
                                         'late')]}
    hours = hourly(pd.Series([built['first'], built['last']]))
    materialize(store, store_spec, hours[0], hours[-1])
    seed_labels(repo, store_spec, built['labelled'], hours[-1])


def sqlite_flights(data):
    "The dataset's flights in an SQLite table `flights` with an integer primary key `id`, written once."
    import sqlite3
    import pyarrow.parquet as pq
    db = Path(data)/'flights.db'
    if db.exists(): return db
    with sqlite3.connect(Path(data)/'flights.db.partial') as conn:
        first = 0
        for file in sorted((Path(data)/'flights').glob('*.parquet')):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=200_000):
                frame = batch.to_pandas()
                frame.insert(0, 'id', range(first, first + len(frame)))
                frame.to_sql('flights', conn, index=False, if_exists='append')
                first += len(frame)
        conn.execute('CREATE UNIQUE INDEX flights_id ON flights (id)')
    (Path(data)/'flights.db.partial').rename(db)
    return db


def stage_commands(stage, data, out, run, dask):
    "The command that runs `stage` on the dataset, in-process or on `--dask local`."
    extra = ['--dask', 'local'] if dask else []
    if stage == 'validate':
        return ['mlops-nb', 'validate', Path(data)/'flights', '--reference', run, '--out', out, *extra]
    if stage == 'score': return ['mlops-nb', 'score', Path(data)/'flights', '--out', Path(out)/'scored.parquet', *extra]
    if stage == 'score-sql':
        return ['mlops-nb', 'score', f'sqlite:///{sqlite_flights(data)}', '--table', 'flights', '--key', 'id', '--out',
                Path(out)/'scored.parquet', *extra]
    if stage in ('run', 'run-data'):     # the pipeline on the dataset, in a workspace of its own (`out`)
        last = 2013 + json.loads((Path(data)/'dataset.json').read_text())['years'] - 1
        return ['mlops-nb', 'run', '--workspace', out, '-p', f"source={Path(data)/'flights'}", '-p',
                f"extra_sources={{'weather': '{Path(data)/'weather'}'}}", '-p', f'valid_start={last}-01-01', '-p',
                f'test_start={last}-07-01', *RUN, *(['--stages', 'ingest,validate'] if stage == 'run-data' else []),
                *extra]
    if stage == 'monitor':
        return ['mlops-nb', 'monitor', '--data', Path(data)/'flights', '--window', '4w', '-p', 'drift_draws=50', *extra]
    return [sys.executable, __file__, '--features-child', 'dask' if dask else 'in-process', data, out]


def stage_seconds(workspace):
    "The seconds of each stage of the workspace's run, from its `run.json`."
    record = json.loads(next(Path(workspace).glob('runs/*/run.json')).read_text())
    return ', '.join(f"{s['name']} {s['seconds']:,.1f} s" for s in record['stages'])


def row(stage, years, engine, runs):
    "One line of the table: medians over the runs."
    med = lambda f: statistics.median(f(r) for r in runs)
    workers = [w for r in runs for w in r[2]]
    cpu_workers = med(lambda r: sum(w['cpu'] for w in r[2]))
    share = cpu_workers / (cpu_workers + med(lambda r: r[1]['cpu']))
    worker_rss = f"{max(w['rss'] for w in workers) / 2**20:,.0f}" if workers else ''
    return (f"| {stage} | {years} | {engine} | {med(lambda r: r[0]):,.1f} | {med(lambda r: r[1]['rss']) / 2**20:,.0f} "
            f"| {worker_rss} | {med(lambda r: r[1]['cpu']):,.1f} | {cpu_workers:,.1f} | {share:.0%} |")


def main(years, runs, workspace, data, in_process_up_to, stages):
    from mlops_nb.core import find_run
    from mlops_nb.synthetic import synthetic_flights
    if not workspace:
        workspace = Path(tempfile.mkdtemp())
        if set(stages) - {'features', 'run', 'run-data'}:     # the others validate against its run, or use its model
            subprocess.run(['mlops-nb', 'run'], env={**ENV, 'MLOPS_NB_WORKSPACE': str(workspace)}, check=True,
                           stdout=subprocess.DEVNULL)
    run = find_run(Path(workspace)).name if set(stages) - {'features', 'run', 'run-data'} else ''
    notes = []   # each run's stages' seconds
    print("| stage | years | engine | wall s | client peak RSS MiB | worker peak RSS MiB | client CPU s "
          "| workers CPU s | left the client |\n|---|---:|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in years:
        folder = Path(data)/f'years-{n}'
        synthetic_flights(folder, years=n, echo=lambda line: None)
        if 'features' in stages: validated_copy(folder)     # written once, before anything is measured
        for stage in stages:
            for dask in (False, True):
                if not dask and n > in_process_up_to: continue
                results = []
                for _ in range(runs):
                    with tempfile.TemporaryDirectory(dir=folder) as out:
                        results.append(measured(list(map(str, stage_commands(stage, folder, out, run, dask))),
                                                workspace))
                        if stage.startswith('run'): notes.append(f"{n} years, {'dask' if dask else 'in-process'}: " +
                                                        stage_seconds(out))
                print(row(stage, n, 'dask local (2 workers)' if dask else 'in-process', results), flush=True)
    print(*notes, sep='\n')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--years', type=int, nargs='+', default=[10, 90])
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--workspace', default='')
    parser.add_argument('--data', default=str(Path(tempfile.gettempdir())/'mlops_nb_scale'))
    parser.add_argument('--in-process-up-to', type=int, default=10)
    parser.add_argument('--stages', nargs='+', default=['validate', 'features', 'score'])
    parser.add_argument('--features-child', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.features_child: features_child(*args.features_child)
    else: main(args.years, args.runs, args.workspace, args.data, args.in_process_up_to, args.stages)
