"The feature store: train/serve parity, no leakage, unknown entities, incremental materialization, Feast's CLI."
import os, subprocess
import numpy as np, pandas as pd, pytest
from conftest import first_run
from mlops_nb.modelfile import load_model
from mlops_nb.features import (TS, as_micro, definitions, get_features, historical, materialize, open_store, read_spec,
    write_repo)

RAW = ['carrier', 'flight', 'origin', 'dest', 'time_hour', 'sched_dep_time', 'sched_arr_time', 'distance']   # a request
KEYS = ['carrier', 'flight', 'origin', 'dest', 'time_hour']
START = pd.Timestamp('2013-01-01', tz='UTC')

pytestmark = pytest.mark.xdist_group('features')   # one replayed store for the module


def requests_as_json(rows):
    "Rows as a client would send them: plain values, times as ISO strings."
    return rows.assign(time_hour=rows.time_hour.dt.strftime('%Y-%m-%dT%H:%M:%SZ')).to_dict('records')


@pytest.fixture(scope='module')
def replay(slice_workspace, tmp_path_factory):
    """A fresh store from the slice run's spec, materialized hour by hour through 10 busy hours of March (after
    training), serving 50 flights at each hour as it comes."""
    run = first_run(slice_workspace)
    spec = read_spec(run)  # its sources' paths, resolved in this workspace
    store = open_store(write_repo(tmp_path_factory.mktemp('store'), spec['store']))
    store.apply(definitions(spec['store']))
    data = pd.read_parquet(run/'validated'/'data.parquet')
    march = data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')]
    busy = march.time_hour.value_counts()
    served = []
    for i, hour in enumerate(sorted(busy[busy >= 50].sample(10, random_state=0).index)):
        materialize(store, spec['store'], START, hour)
        requests = march[march.time_hour == hour].sample(50, random_state=i)[RAW]
        served.append((hour, requests, *get_features(requests_as_json(requests), run, store)))
    return run, spec, store, served


def test_serving_matches_training_for_500_flights(replay):
    run, spec, _, served = replay
    features = pd.read_parquet(run/'features.parquet')
    model = load_model(run/'model.skops')
    compared = 0
    for hour, requests, online_features, missing in served:
        trained = requests[KEYS].merge(features, on=KEYS, how='left',
                                       validate='one_to_one')[list(online_features.columns)]
        assert list(online_features.columns) == [*spec['numeric'], *spec['categorical']]
        assert online_features.dtypes.equals(trained.dtypes)
        a, b = online_features[spec['numeric']].to_numpy(float), trained[spec['numeric']].to_numpy(float)
        assert (np.isnan(a) == np.isnan(b)).all() and np.nanmax(np.abs(a - b)) <= 1e-9, hour
        assert online_features[spec['categorical']].equals(trained[spec['categorical']])
        assert not missing.any().any()
        assert (model.predict_proba(online_features) == model.predict_proba(trained)).all()
        compared += len(online_features)
    assert compared == 500


def test_materialization_is_incremental(replay):
    _, spec, store, served = replay
    hours = [hour for hour, *_ in served]
    for view in spec['store']['views']:
        intervals = store.get_feature_view(view['name']).materialization_intervals
        assert [end for _, end in intervals] == hours                          # one window per step...
        # ...each from the last end
        assert all(start == previous for (start, _), (_, previous) in zip(intervals[1:], intervals))


def test_unknown_airport_gets_missing_values_and_a_flag(replay):
    run, spec, store, served = replay
    request = served[-1][1].head(2).assign(origin=['XXX', 'JFK'], carrier=['ZZ', 'ZZ'])
    features, missing = get_features(requests_as_json(request), run, store)
    weather = [c for v in spec['store']['views'] if v['name'] == 'weather' for c in v['features']]
    assert features.loc[0, weather].isna().all() and features.loc[1, weather].notna().any()
    # never a silent zero
    assert np.isnan(features.loc[0, 'origin_late_rate_1d']) and features.loc[1, 'origin_labels_1d'] > 0
    assert missing.to_dict('list') == {'missing_weather': [True, False], 'stale_weather': [False, False],
                                       'missing_origin_rate_1d': [True, False], 'stale_origin_rate_1d': [False, False]}
    assert features.loc[:, 'carrier'].tolist() == ['ZZ', 'ZZ']  # an unseen category the model's encoder handles
    assert np.isfinite(load_model(run/'model.skops').predict_proba(features)).all()


def test_a_weather_row_stamped_after_the_hour_is_never_used(tmp_path):
    at = pd.Timestamp('2013-05-01 10:00', tz='UTC')
    weather = pd.DataFrame({
        'origin': ['JFK'] * 3, TS: as_micro(pd.Series([at - pd.Timedelta(hours=1), at, at + pd.Timedelta(minutes=1)])),
        'temp': [1.0, 2.0, 99.0]
    })
    spec = {
        'views': [{
            'name': 'weather', 'entities': ['origin'], 'features': ['temp'], 'ttl_hours': 1,
            'path': str(tmp_path / 'weather.parquet')
        }]
    }
    weather.to_parquet(tmp_path/'weather.parquet')
    store = open_store(write_repo(tmp_path/'repo', spec))
    store.apply(definitions(spec))
    flights = pd.DataFrame({'origin': ['JFK', 'JFK'], 'time_hour': [at, at - pd.Timedelta(minutes=30)]})
    assert historical(store, flights, spec).temp.tolist() == [2.0, 1.0]  # the row at 10:01 is never seen at 10:00


def test_feast_cli_works_on_the_workspace_repository(slice_workspace):
    env = {**os.environ, 'FEAST_USAGE': 'False'}
    listed = subprocess.run(['feast', '-c',
                             str(slice_workspace / 'feature_repo'), 'feature-views', 'list'], capture_output=True,
                            text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    assert 'weather' in listed.stdout and 'origin_rate_1d' in listed.stdout
