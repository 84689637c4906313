"End-to-end: the pipeline on a slice of the real flights, run by the real command."
import hashlib, json
from mlops_nb.core import list_runs
from mlops_nb.drift import read_profile
from wandb_files import wandb_runs
from conftest import SLICE, cli, record

STAGES = ['ingest', 'validate', 'features', 'train', 'evaluate', 'register', 'deploy']
LEAKAGE = {'dep_time', 'dep_delay', 'arr_time', 'arr_delay', 'air_time'}


def test_run_record_lists_every_stage_with_hashed_outputs(slice_workspace):
    run_dir = list_runs(slice_workspace)[0]
    rec = json.loads((run_dir/'run.json').read_text())
    assert rec['status'] == 'succeeded' and rec['failed_stage'] is None and rec['error'] is None
    assert rec['run_id'] == run_dir.name and rec['started'] <= rec['ended']
    assert [s['name'] for s in rec['stages']] == STAGES
    for stage in rec['stages']:
        assert stage['status'] == 'succeeded' and stage['seconds'] > 0 and stage['outputs']
        assert (run_dir/stage['notebook']).is_file()
        for out in stage['outputs'].values():
            assert hashlib.sha256((run_dir/out['path']).read_bytes()).hexdigest() == out['sha256']
    assert rec['config']['filter'] == 'month <= 3'
    assert rec['lineage']['data_sha256'] == rec['stages'][0]['outputs']['data']['sha256']
    assert len(rec['lineage']['git_sha']) == 40 and isinstance(rec['lineage']['git_dirty'], bool)


def test_model_beats_baseline_on_held_out_month(slice_workspace):
    metrics = record(slice_workspace, list_runs(slice_workspace)[0].name)['metrics']
    assert metrics['test_roc_auc'] > metrics['baseline_test_roc_auc'] > 0.6
    assert metrics['test_rows'] > 20000


def test_cancelled_flights_are_counted_and_kept(slice_workspace):
    import pandas as pd
    run_dir = list_runs(slice_workspace)[0]
    metrics = json.loads((run_dir/'run.json').read_text())['metrics']
    unlabelled = pd.read_parquet(run_dir/'unlabelled.parquet')
    assert metrics['rows_without_target'] == len(unlabelled) > 1000
    assert unlabelled.arr_delay.isna().all()
    assert metrics['rows'] + metrics['rows_without_target'] == 80789   # every Q1 2013 flight, none dropped


def test_features_hold_no_leakage(slice_workspace):
    spec = json.loads((list_runs(slice_workspace)[0]/'feature_spec.json').read_text())
    assert not LEAKAGE & set(spec['numeric'] + spec['categorical'])
    assert {'temp', 'visib', 'dayofweek', 'carrier'} <= set(spec['numeric'] + spec['categorical'])


def test_same_config_and_seed_give_same_metrics_and_model(slice_workspace):
    first, second = (record(slice_workspace, r.name) for r in list_runs(slice_workspace)[:2])
    assert first['run_id'] != second['run_id']
    versus = ('champion_', 'promotion_')     # the second run is compared with the first, which is now the champion
    same = lambda rec: {k: v for k, v in rec['metrics'].items() if not k.startswith(versus)}
    assert same(first) == same(second) and second['metrics']['champion_version'] == 1
    model = lambda rec: rec['stages'][3]['outputs']['model']['sha256']
    assert model(first) == model(second)
    assert [s.get('cached_from') for s in second['stages']] == [None] * 7  # `--no-cache` executed every stage again


def test_whylogs_profile_of_validated_data(slice_workspace):
    run_dir = list_runs(slice_workspace)[0]
    profile = read_profile(run_dir/'profile.bin').to_pandas()
    metrics = json.loads((run_dir/'run.json').read_text())['metrics']
    assert profile.loc['distance',
                       'counts/n'] == metrics['rows'] + metrics['rows_without_target'] - metrics['rows_quarantined']


def test_wandb_offline_runs_hold_data_model_and_metrics(slice_workspace):
    logged = wandb_runs(slice_workspace)
    logs = [p.read_bytes() for p in (slice_workspace/'wandb').glob('offline-run-*/*.wandb')]
    for run in list_runs(slice_workspace)[:2]:
        mine = {r['job_type']: r for r in logged if r['group'] == run.name and r['job_type'] != 'trial'}
        assert sorted(mine) == ['evaluate', 'ingest', 'train']  # one W&B run per tracked stage, grouped by the run id
        assert mine['train']['config']['family'] and mine['train']['summary']['trials'] == 4
        assert mine['evaluate']['summary']['test_roc_auc'] == record(slice_workspace,
                                                                     run.name)['metrics']['test_roc_auc']
        assert any(run.name.encode() in log and b'data.parquet' in log for log in logs)    # the data snapshot artifact
        assert any(run.name.encode() in log and b'model.skops' in log for log in logs)     # the model artifact
    assert any((slice_workspace/'wandb'/'data').rglob('*'))   # staged artifact files stay in the workspace


def test_registry_finds_latest_model_with_lineage(slice_workspace):
    shown = cli('models', 'show', 'flights_late', workspace=slice_workspace)
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    latest = record(slice_workspace, list_runs(slice_workspace)[1].name)
    assert entry['version'] == 2 and entry['run_id'] == latest['run_id']
    assert entry['lineage']['data_sha256'] == latest['lineage']['data_sha256']
    assert entry['lineage']['params']['seed'] == 42 and 'git_sha' in entry['lineage']
    assert (slice_workspace/entry['artifact']).is_file()
    listed = cli('models', 'list', workspace=slice_workspace)
    assert listed.stdout.count('flights_late:') == 2


def test_failing_stage_stops_the_pipeline(slice_copy):
    before = len(list_runs(slice_copy))
    result = cli('run', *SLICE, '--from', 'features', '-p', 'numeric=[distance, dep_delay]', workspace=slice_copy)
    assert result.returncode == 1
    error_lines = [l for l in result.stderr.splitlines() if l.startswith('mlops-nb: error')]
    assert len(error_lines) == 1 and "stage 'features' failed" in error_lines[0] and 'LeakageError' in error_lines[0]
    assert 'notebooks/03_features.ipynb' in error_lines[0]
    run_dir = list_runs(slice_copy)[before]
    rec = json.loads((run_dir/'run.json').read_text())
    assert rec['status'] == 'failed' and rec['failed_stage'] == 'features' and 'dep_delay' in rec['error']
    assert [s['name'] for s in rec['stages']] == ['ingest', 'validate', 'features']   # no later stage ran
    assert (run_dir/'data.parquet').is_file()                                          # earlier outputs stay
    executed = json.loads((run_dir/'notebooks/03_features.ipynb').read_text())
    errors = [o for c in executed['cells'] for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert errors[0]['ename'] == 'LeakageError' and errors[0]['traceback']
    assert not (run_dir/'notebooks/04_train.ipynb').exists()


def test_failed_gate_registers_nothing(slice_copy):
    result = cli('run', *SLICE, '--from', 'evaluate', '-p', 'min_test_roc_auc=0.99', workspace=slice_copy)
    assert result.returncode == 1 and "stage 'evaluate' failed: GateFailed" in result.stderr
    assert record(slice_copy)['stages'][-1]['name'] == 'evaluate'
    assert cli('models', 'list', workspace=slice_copy).stdout.count('flights_late:') == 2


def test_validation_quarantines_the_bad_weather_row_and_trains_without_it(slice_workspace):
    import pandas as pd
    run_dir = list_runs(slice_workspace)[0]
    rec = json.loads((run_dir/'run.json').read_text())
    quarantined = pd.read_parquet(run_dir/'quarantine_weather.parquet')
    assert len(quarantined) == rec['metrics']['rows_quarantined_weather'] == 1      # EWR, 2013-02-12: 1,048 mph
    assert quarantined._reason[0] == 'wind_speed: 1048.36058 > max 150'
    weather = pd.read_parquet(run_dir/'validated'/'weather.parquet')
    assert weather.wind_speed.max() < 150 and len(weather) == 26115 - 1
    report = json.loads((run_dir/'validation.json').read_text())
    assert report['status'] == 'warn' and report['suite']['sha256'] == rec['lineage']['suite_sha256']
    assert rec['stages'][1]['outputs']['suite']['sha256'] == rec['lineage']['suite_sha256']
