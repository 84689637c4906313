"A user's own table runs through the same pipeline by config alone: CSV, Parquet and SQL sources."
import json, sqlite3
import numpy as np, pandas as pd, pytest, yaml
from conftest import cli, record


def machine_readings(rows=6000, seed=0):
    "A generated sensor table: failures depend non-linearly on temperature, vibration and site."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        'reading_id': np.arange(rows),
        'ts': pd.date_range('2024-01-01', periods=rows, freq='h').strftime('%Y-%m-%d %H:%M:%S'),
        'machine': rng.choice([f'm{i}' for i in range(20)], rows),
        'site': rng.choice(['north', 'south', 'east'], rows),
        'temperature': rng.normal(60, 10, rows).round(2),
        'vibration': rng.gamma(2, 1, rows).round(3),
        'load': rng.uniform(0, 1, rows).round(3)})
    risk = 1.5 * np.sin(df.temperature / 5) + (df.vibration > 3) * 1.5 * (df.site == 'north') + df.load - 1
    df['failed'] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-2 * risk))).astype(int)
    df['repair_cost'] = df.failed * rng.uniform(100, 500, rows)   # known only after the fact
    return df


def user_config(source, **extra):
    return {
        'model_name': 'machines',
        'seed': 7,
        'source': source,
        'extra_sources': {},
        'filter': '',
        'sample_fraction': 1.0,
        'timestamp': 'ts',
        'target': 'failed',
        'target_expression': '',
        'target_requires': [],
        'id_columns': ['reading_id', 'machine'],
        'numeric': ['temperature', 'vibration', 'load'],
        'categorical': ['site', 'machine'],
        'calendar': ['hour'],
        'timezone': '',
        'joins': [],
        'leakage': ['repair_cost'],
        # a Feast view, by config alone
        'aggregates': [{'entity': 'machine', 'window_days': 7}],
        'label_known_minutes': '60',
        'valid_start': '',
        'test_start': '',
        'min_test_roc_auc': 0.7,
        'must_beat_baseline': True,
        **extra
    }


def write_config(path, config):
    path.write_text(yaml.safe_dump(config))
    return path


def test_sql_table_runs_the_whole_pipeline(tmp_path):
    data = machine_readings()
    with sqlite3.connect(tmp_path/'plant.db') as conn: data.to_sql('readings', conn, index=False)
    config = write_config(tmp_path/'machines.yaml', user_config(f"sqlite:///{tmp_path/'plant.db'}", table='readings'))
    result = cli('run', '--config', config, workspace=tmp_path/'ws')
    assert result.returncode == 0, result.stderr
    rec = record(tmp_path/'ws')
    assert rec['status'] == 'succeeded' and rec['metrics']['rows'] == len(data)
    assert rec['metrics']['test_roc_auc'] > rec['metrics']['baseline_test_roc_auc']
    assert rec['metrics']['test_roc_auc'] >= 0.7
    spec = json.loads((tmp_path/'ws'/'runs'/rec['run_id']/'feature_spec.json').read_text())
    assert spec['numeric'] == [
        'temperature', 'vibration', 'load', 'machine_failed_rate_7d', 'machine_labels_7d', 'hour'
    ]
    assert 'repair_cost' not in spec['numeric']
    assert [v['name'] for v in spec['store']['views']] == ['machine_rate_7d']  # a Feast view from config alone
    shown = json.loads(cli('models', 'show', 'machines:1', workspace=tmp_path/'ws').stdout)
    assert shown['run_id'] == rec['run_id']


@pytest.mark.parametrize('suffix', ['csv', 'parquet'])
def test_file_sources_ingest_and_validate(tmp_path, suffix):
    data = machine_readings()
    path = tmp_path/f'readings.{suffix}'
    data.to_csv(path, index=False) if suffix == 'csv' else data.to_parquet(path)
    config = write_config(tmp_path/'machines.yaml', user_config(str(path)))
    result = cli('run', '--config', config, '--stages', 'ingest,validate', workspace=tmp_path/'ws')
    assert result.returncode == 0, result.stderr
    rec = record(tmp_path/'ws')
    assert [s['name'] for s in rec['stages']] == ['ingest', 'validate'] and rec['metrics']['rows'] == len(data)


def test_leaky_feature_in_user_config_fails(tmp_path):
    data = machine_readings(1000)
    data.to_csv(tmp_path/'r.csv', index=False)
    config = write_config(tmp_path/'m.yaml', user_config(str(tmp_path/'r.csv'), numeric=['temperature', 'repair_cost']))
    result = cli('run', '--config', config, '--stages', 'ingest,validate,features', workspace=tmp_path/'ws')
    assert result.returncode == 1 and "stage 'features' failed: LeakageError" in result.stderr


# --- relative paths mean what the user means ----------------------------------------------------------

def test_relative_paths_are_read_from_the_config_file_or_the_current_directory(tmp_path):
    for folder in ('data', 'conf', 'elsewhere'): (tmp_path/folder).mkdir()
    data = machine_readings(500)
    data.to_csv(tmp_path/'data'/'tiny.csv', index=False)
    with sqlite3.connect(tmp_path/'data'/'plant.db') as conn: data.to_sql('readings', conn, index=False)
    write_config(tmp_path/'conf'/'machines.yaml', user_config('../data/tiny.csv'))  # relative to the config file
    runs = {
        'config': (tmp_path / 'elsewhere', ['--config', '../conf/machines.yaml']),
        # -p: relative to here
        'csv': (tmp_path / 'data', ['--config', '../conf/machines.yaml', '-p', 'source=tiny.csv']),
        'sqlite': (tmp_path / 'data',
                   ['--config', '../conf/machines.yaml', '-p', 'source=sqlite:///plant.db', '-p', 'table=readings'])
    }
    expected = {
        'config': str(tmp_path / 'data' / 'tiny.csv'), 'csv': str(tmp_path / 'data' / 'tiny.csv'),
        'sqlite': f"sqlite:///{tmp_path/'data'/'plant.db'}"
    }
    for name, (cwd, args) in runs.items():
        result = cli('run', *args, '--stages', 'ingest', '--workspace', tmp_path/'ws', cwd=cwd)
        assert result.returncode == 0, (name, result.stderr)
        rec = record(tmp_path/'ws')
        # the absolute path is recorded
        assert rec['config']['source'] == expected[name] and rec['metrics']['rows'] == len(data), name
    result = cli('run', '--config', '../conf/machines.yaml', '-p', 'source=missing.csv', '--stages', 'ingest',
                 '--workspace', tmp_path / 'ws', cwd=tmp_path / 'elsewhere')
    errors = [l for l in result.stderr.splitlines() if l.startswith('mlops-nb: error:')]
    assert result.returncode == 1 and len(
        errors) == 1 and f"{tmp_path/'elsewhere'/'missing.csv'}: no such file" in errors[0]
