"""Scale-out, measured: validation, the point-in-time join and scoring of a generated partitioned dataset, in one
process against a LocalCluster of 2 workers that read their own parts.

    python bench/scale.py [--years 10 90] [--runs 1] [--workspace WS] [--data DIR] [--in-process-up-to 10]

The data is `mlops_nb.synthetic.synthetic_flights` (seed 0): 10 years are 3,367,760 flights, 90 years 30,309,840, a
Parquet file of flights and one of weather per year, written once into DIR and reused. WS is a workspace with a model
in production (default: a new one made with `mlops-nb run`). Per stage and engine it reports the wall time, the peak
RSS of the client and of each worker process, and the share of the CPU time spent on the workers ("left the client").

- validate: `mlops-nb validate DIR/flights --reference RUN [--dask local]`;
- features: the join of every flight with its weather as of its time (TTL one hour), in-process by Feast's offline
  store over all the rows in memory (what the features stage does without `--dask`), on Dask by `join_on_workers`
  (each worker reads its parts and writes its part of the training frame);
- score: `mlops-nb score DIR/flights --out OUT.parquet [--dask local]`;
- score-sql: the same flights in an SQLite table (DIR/flights.db, an integer primary key `id`, made once), scored by
  `mlops-nb score sqlite:///DIR/flights.db --table flights --key id --out OUT.parquet [--dask local]`;
- monitor: `mlops-nb monitor --data DIR/flights --window 4w -p drift_draws=50 [--dask local]`.

In-process runs stop at `--in-process-up-to` years: beyond it one process would need the whole table in memory.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import psutil

ENV = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline'), 'WANDB_SILENT': 'true'}
WEATHER = ['temp', 'dewp', 'humid', 'wind_speed', 'precip', 'visib']


def measured(command, workspace):
    "Run `command`; return wall seconds, the client's peak RSS and CPU seconds, and each worker's."
    start, client, workers, log = time.perf_counter(), {'rss': 0, 'cpu': 0}, {}, tempfile.TemporaryFile('w+')
    # stderr to a file, not a pipe: a full pipe would stop the workers, which write to it too
    process = subprocess.Popen(command, env={**ENV, 'MLOPS_NB_WORKSPACE': str(workspace)}, stdout=subprocess.DEVNULL,
                               stderr=log, text=True)
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            children = [c for c in root.children() if 'resource_tracker' not in ' '.join(c.cmdline())]
            for p, seen in [(root, client), *((c, workers.setdefault(c.pid, {'rss': 0, 'cpu': 0})) for c in children)]:
                with p.oneshot(): seen.update(rss=max(seen['rss'], p.memory_info().rss), cpu=sum(p.cpu_times()[:2]))
        except psutil.Error: pass
        time.sleep(0.1)
    if process.wait() not in (0, 1):
        log.seek(0)
        sys.exit(f"{' '.join(map(str, command))} failed:\n{log.read()[-3000:]}")
    return time.perf_counter() - start, client, list(workers.values())


def join_child(engine, flights, repo, out):
    "The features stage's join of `flights` with the store in `repo`: Feast's in one process, or on Dask workers."
    from mlops_nb.engine import engine as dask_engine
    from mlops_nb.features import historical, open_store
    spec = json.loads((Path(repo)/'bench_spec.json').read_text())
    if engine == 'in-process':
        import pandas as pd
        rows = pd.read_parquet(flights)
        rows = rows.assign(time_hour=pd.to_datetime(rows.time_hour, utc=True))
        historical(open_store(repo), rows, spec).to_parquet(out)
        return
    from mlops_nb.point_in_time import join_on_workers
    with dask_engine('local') as client: join_on_workers(client, flights, spec, out, echo=lambda line: None)


def weather_store(data, folder):
    "A Feast repository whose one view is the dataset's weather, keyed by origin, TTL one hour."
    import pandas as pd
    from mlops_nb.features import TS, as_micro, definitions, open_store, write_repo
    repo = Path(folder)/'repo'
    if (repo/'bench_spec.json').exists(): return repo
    weather = pd.read_parquet(Path(data)/'weather', columns=['origin', 'time_hour', *WEATHER])
    source = Path(folder)/'weather_source.parquet'
    weather.assign(**{TS: as_micro(pd.to_datetime(weather.time_hour, utc=True))}).drop(
        columns='time_hour').to_parquet(source, row_group_size=50_000)
    spec = {'views': [{'name': 'weather', 'entities': ['origin'], 'features': WEATHER, 'ttl_hours': 1,
                       'path': str(source)}]}
    write_repo(repo, spec)
    open_store(repo).apply(definitions(spec))
    (repo/'bench_spec.json').write_text(json.dumps(spec))
    return repo


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


def stage_commands(stage, data, repo, out, run, dask):
    "The command that runs `stage` on the dataset, in-process or on `--dask local`."
    extra = ['--dask', 'local'] if dask else []
    if stage == 'validate':
        return ['mlops-nb', 'validate', Path(data)/'flights', '--reference', run, '--out', out, *extra]
    if stage == 'score': return ['mlops-nb', 'score', Path(data)/'flights', '--out', Path(out)/'scored.parquet', *extra]
    if stage == 'score-sql':
        return ['mlops-nb', 'score', f'sqlite:///{sqlite_flights(data)}', '--table', 'flights', '--key', 'id', '--out',
                Path(out)/'scored.parquet', *extra]
    if stage == 'monitor':
        return ['mlops-nb', 'monitor', '--data', Path(data)/'flights', '--window', '4w', '-p', 'drift_draws=50', *extra]
    return [sys.executable, __file__, '--join-child', 'dask' if dask else 'in-process', Path(data)/'flights', repo,
            Path(out)/('joined' if dask else 'joined.parquet')]


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
        subprocess.run(['mlops-nb', 'run'], env={**ENV, 'MLOPS_NB_WORKSPACE': str(workspace)}, check=True,
                       stdout=subprocess.DEVNULL)
    run = find_run(Path(workspace)).name
    print("| stage | years | engine | wall s | client peak RSS MiB | worker peak RSS MiB | client CPU s "
          "| workers CPU s | left the client |\n|---|---:|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in years:
        folder = Path(data)/f'years-{n}'
        synthetic_flights(folder, years=n, echo=lambda line: None)
        repo = weather_store(folder, folder)
        for stage in stages:
            for dask in (False, True):
                if not dask and n > in_process_up_to: continue
                results = []
                for _ in range(runs):
                    with tempfile.TemporaryDirectory(dir=folder) as out:
                        results.append(measured(list(map(str, stage_commands(stage, folder, repo, out, run, dask))),
                                                workspace))
                print(row(stage, n, 'dask local (2 workers)' if dask else 'in-process', results), flush=True)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--years', type=int, nargs='+', default=[10, 90])
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--workspace', default='')
    parser.add_argument('--data', default=str(Path(tempfile.gettempdir())/'mlops_nb_scale'))
    parser.add_argument('--in-process-up-to', type=int, default=10)
    parser.add_argument('--stages', nargs='+', default=['validate', 'features', 'score'])
    parser.add_argument('--join-child', nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.join_child: join_child(*args.join_child)
    else: main(args.years, args.runs, args.workspace, args.data, args.in_process_up_to, args.stages)
