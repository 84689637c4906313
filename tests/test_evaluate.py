"Champion/challenger statistics: the paired bootstrap and McNemar's test on synthetic and real flights."
import json
import numpy as np, pandas as pd
from hypothesis import given, settings, strategies as st
from scipy.stats import norm
from mlops_nb.core import list_runs
from mlops_nb.modelfile import load_model
from mlops_nb.evaluate import bootstrap_gain, mcnemar, recommend
from mlops_nb.registry import get_model_version
from mlops_nb.train import predict
from conftest import first_run


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 400), st.integers(0, 2**32 - 1), st.sampled_from(['classification', 'regression']),
       st.floats(0, 0.05))
def test_a_model_against_itself_is_never_recommended(n, seed, task, min_effect):
    rng = np.random.default_rng(seed)
    y = np.r_[0, 1, rng.integers(0, 2, n)]                        # both classes present
    p = rng.uniform(size=len(y)).round(rng.integers(1, 4))        # with and without ties
    comparison = bootstrap_gain(y, p, p, task, resamples=50, seed=seed)
    assert comparison['low'] == comparison['high'] == comparison['gain'] == 0
    assert not recommend(comparison, min_effect)[0]


def binormal(n, rng, separation):
    "Labels and scores whose ROC AUC is norm.cdf(separation / sqrt(2)) in the population."
    y = rng.integers(0, 2, n)
    return y, y * separation + rng.normal(size=n)


def test_interval_coverage_on_a_known_difference():
    rng = np.random.default_rng(1)
    strong, weak = 1.2, 0.9
    truth = norm.cdf(strong / np.sqrt(2)) - norm.cdf(weak / np.sqrt(2))          # 0.064
    covered = []
    for i in range(150):
        y, new = binormal(1000, rng, strong)
        # correlated with `new`, as two models are
        old = y * weak + 0.6 * (new - y * strong) + 0.8 * rng.normal(size=1000)
        result = bootstrap_gain(y, new, old, resamples=400, seed=i)
        covered.append(result['low'] <= truth <= result['high'])
    assert 0.89 <= np.mean(covered) <= 0.99, np.mean(covered)                    # nominal 0.95


def test_real_model_beats_its_weakened_copy_on_a_test_month(slice_workspace):
    run = first_run(slice_workspace)
    features = pd.read_parquet(run/'features.parquet')
    test = features[pd.read_parquet(run/'split.parquet').split.values == 'test']
    p = predict(load_model(run/'model.skops'), test, 'classification')
    weakened = p + np.random.default_rng(0).normal(scale=0.15, size=len(p))     # the same model, blurred
    comparison = bootstrap_gain(test.late.astype(int), p, weakened, resamples=1000)
    assert 0 < comparison['low'] < comparison['gain'] < comparison['high']
    assert recommend(comparison, 0.005)[0]
    reverse = bootstrap_gain(test.late.astype(int), weakened, p, resamples=1000)
    assert reverse['high'] < 0 and not recommend(reverse)[0]
    decisions = mcnemar(test.late.astype(int), p, weakened, 0.3)
    assert decisions['b'] > decisions['c'] and decisions['p_value'] < 0.05


def test_identical_retrain_is_compared_and_not_promoted(slice_workspace):
    first, second = list_runs(slice_workspace)[:2]
    assert json.loads((first/'comparison.json').read_text())['reason'] == 'no champion yet'
    decision = json.loads((second/'comparison.json').read_text())
    assert decision['comparison']['champion_version'] == 1 and not decision['recommended']
    assert decision['comparison']['gain'] == decision['comparison']['low'] == 0          # the same model, bit for bit
    # only the first is released
    assert [json.loads((run/'deploy.json').read_text())['strategy'] for run in (first, second)] == ['replace', 'none']
    assert [get_model_version(slice_workspace, 'flights_late', v)['stage'] for v in (1, 2)] == ['Production', 'Staging']
