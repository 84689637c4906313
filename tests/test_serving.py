"""Serving: a real `mlops-nb serve` on loopback over a real pipeline run: faults, fuzzing, parity through HTTP, ONNX,
canary split, shadow, automatic rollback, hot swap under load, restart after SIGKILL, and batch scoring."""
import contextlib, json, os, re, signal, subprocess, threading, time
from pathlib import Path
import httpx, numpy as np, pandas as pd, pytest, schemathesis
from hypothesis import HealthCheck, settings
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from mlops_nb.core import list_runs
from mlops_nb.modelfile import load_model, save_model
from mlops_nb.features import read_spec
from mlops_nb.predlog import log_rows
from mlops_nb.registry import get_model_version, history, register_model
from mlops_nb.release import release_state, start_candidate, withdraw
from mlops_nb.train import make_model
from conftest import SLICE, cli, copy_workspace
from mlops_nb.simulate import free_port

MODEL = 'flights_late'
KEYS = ['carrier', 'flight', 'origin', 'dest', 'time_hour']
RAW = ['time_hour', 'origin', 'carrier', 'flight', 'dest', 'sched_dep_time', 'sched_arr_time', 'distance']

pytestmark = pytest.mark.xdist_group('serving')   # one server and one workspace for the module



class LiveServer:
    "`mlops-nb serve` in a subprocess on loopback: start, wait until ready, kill."
    def __init__(self, workspace, *options):
        self.workspace, self.options, self.process = workspace, options, None

    def start(self):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        env = {**os.environ, 'WANDB_MODE': 'offline'}
        self.process = subprocess.Popen([
            'mlops-nb', 'serve', '--workspace', self.workspace, '--port',
            str(self.port), *self.options
        ], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 180
        while time.time() < deadline:
            assert self.process.poll() is None, self.process.stderr.read()
            try:
                if httpx.get(f'{self.url}/ready', timeout=2).status_code == 200: return self
            except httpx.TransportError: pass
            time.sleep(0.5)
        raise AssertionError('the server did not become ready in 180 s')

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(60)

    def wait_for(self, check, timeout=20):
        "Poll /metadata until `check(metadata)` holds."
        deadline = time.time() + timeout
        while time.time() < deadline:
            metadata = httpx.get(f'{self.url}/metadata').json()
            if check(metadata): return metadata
            time.sleep(0.2)
        raise AssertionError(f'/metadata never satisfied the check: {metadata}')


def as_requests(rows):
    "Rows as a client sends them: the raw fields, plain values, times as ISO strings."
    rows = rows[RAW].assign(time_hour=rows.time_hour.dt.strftime('%Y-%m-%dT%H:%M:%SZ'))
    return [{k: (v.item() if hasattr(v, 'item') else v) for k, v in r.items()} for r in rows.to_dict('records')]


@pytest.fixture(scope='module')
def workspace(trained, tmp_path_factory):
    "A copy of the trained workspace: one run on the first quarter (March is the test month), its model in production."
    return copy_workspace(trained, tmp_path_factory.mktemp('serving')/'ws')


@pytest.fixture(scope='module')
def server(workspace):
    live = LiveServer(workspace, '--canary-min-requests', '40').start()
    yield live
    live.stop()


@pytest.fixture(scope='module')
def run(workspace): return list_runs(workspace)[0]


@pytest.fixture(scope='module')
def march(run):
    "The validated flights of the test month, as the ingest stage read them."
    data = pd.read_parquet(run/'validated'/'data.parquet')
    return data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')].reset_index(drop=True)


def predict(server, records):
    response = httpx.post(f'{server.url}/predict', json=records, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()['predictions']


# --- the server answers, and says what it serves ----------------------------------------------------------

def test_ready_and_metadata_name_the_inference_path(server):
    assert httpx.get(f'{server.url}/health').json() == {'status': 'ok'}
    metadata = httpx.get(f'{server.url}/metadata').json()
    [production] = metadata['versions']
    assert (production['version'], production['route'], metadata['release']['strategy']) == (1, 'production', 'replace')
    assert production['inference']['path'] == 'treelite'  # the compiled trees, exact within 1e-5...
    why = production['inference']['why']
    assert float(re.match(r'treelite: max \|diff\| (\S+) on ', why).group(1)) <= 1e-5, why
    # ...ONNX refused, the numpy path matched too
    assert "; onnx: refused (ValueError: Unable to create node 'TreeEnsembleClassifier'); numpy: max |diff|" in why
    assert production['lineage']['data_sha256'] and production['metrics']['test_roc_auc'] > 0.7


def test_openapi_documents_every_field_with_type_example_and_meaning(server):
    schemas = httpx.get(f'{server.url}/openapi.json').json()['components']['schemas']
    for name in ('Record', 'Answer', 'Truth', 'Stored', 'Problem', 'Readiness'):
        for field, spec in schemas[name]['properties'].items():
            assert (
                spec.get('description') and 'examples' in spec and ('type' in spec or 'anyOf' in spec or 'enum' in spec)
            ), (name, field)
    assert set(schemas['Record']['properties']) == set(RAW)  # the raw fields, not the engineered features


# --- a client's mistake is a 4xx naming the field -------------------------------------------------------------

GOOD = {
    'time_hour': '2013-03-20T14:00:00Z', 'origin': 'JFK', 'carrier': 'B6', 'flight': 1545, 'dest': 'MCO',
    'sched_dep_time': 955, 'sched_arr_time': 1250, 'distance': 944
}
FAULTS = {  # name: (raw body, status, text of the message)
    'malformed JSON': (b'{"time_hour": ', 422, 'body: not valid JSON'),
    'a string body': (b'"a flight"', 422, 'body: Input should be a valid dictionary'),
    'a number body': (b'5', 422, 'body: Input should be a valid dictionary'),
    'a missing field': (json.dumps({k: v for k, v in GOOD.items() if k != 'distance'}).encode(), 422,
                        'body.distance: Field required'),
    'an extra field': (json.dumps({**GOOD, 'tailnum': 'N1'}).encode(), 422,
                       'body.tailnum: Extra inputs are not permitted'),
    'a wrong type': (json.dumps({**GOOD, 'distance': '944 mi'}).encode(), 422,
                     'body.distance: Input should be a valid integer'),
    'NaN': (json.dumps({**GOOD, 'sched_dep_time': float('nan')}).encode(), 422, 'body.sched_dep_time'),
    'infinity': (json.dumps([GOOD, {**GOOD, 'distance': float('inf')}]).encode(), 422, 'body[1].distance'),
    'a time that is not a time': (json.dumps({**GOOD, 'time_hour': '2013-03-20 25:99'}).encode(), 422,
                                  "body.time_hour: Value error, '2013-03-20 25:99' is not an ISO 8601 time"),
    'a time as a number': (json.dumps({**GOOD, 'time_hour': 1363788000}).encode(), 422,
                           'body.time_hour: Value error, expected an ISO 8601 time as a string'),
    'an empty batch': (b'[]', 422, 'body: List should have at least 1 item'),
    'an oversized batch': (json.dumps([GOOD] * 1001).encode(), 413,
                           'body: a batch holds at most 1,000 records, this one has 1,001'),
    'a 401-digit integer': (json.dumps([GOOD, GOOD, {**GOOD, 'distance': int('9' * 401)}]).encode(), 422,
                            'body[2].distance: Input should be less than or equal to 9007199254740992'),
    'an integer past 2**53': (json.dumps({**GOOD, 'distance': 2**63}).encode(), 422,
                              'body.distance: Input should be less than or equal to'),
    'a number no model takes': (json.dumps({**GOOD, 'sched_dep_time': 1e308}).encode(), 422, 'body.sched_dep_time'),
}


@pytest.mark.parametrize('fault', FAULTS)
def test_a_fault_gets_its_status_and_names_the_field(server, fault):
    body, status, text = FAULTS[fault]
    response = httpx.post(f'{server.url}/predict', content=body, headers={'content-type': 'application/json'})
    assert response.status_code == status and text in response.json()['message'], response.text
    assert response.json()['detail'][0] == response.json()['message']


def test_unknown_categories_and_entities_take_the_missing_path_and_are_flagged(server):
    known, odd = predict(server, [GOOD, {**GOOD, 'origin': 'XXX', 'carrier': 'ZZ'}])
    assert (known['missing'], known['unknown_categories']) == ([], [])
    assert odd['missing'] == ['weather', 'origin_rate_1d'] and odd['unknown_categories'] == ['carrier', 'origin']
    assert 0 < odd['probability'] < 1 and odd['label'] in (0, 1) and odd['route'] == 'production'


def test_feedback_counts_an_id_once_and_names_unknown_ids(server):
    [answer] = predict(server, [GOOD])
    sent = httpx.post(
        f'{server.url}/feedback',
        json=[{'request_id': answer['request_id'], 'truth': 1}, {'request_id': answer['request_id'], 'truth': 1}],
    )
    assert sent.json() == {'stored': 1, 'repeated': [answer['request_id']], 'replaced': []}
    again = httpx.post(f'{server.url}/feedback', json={'request_id': answer['request_id'], 'truth': 0})
    assert again.json() == {'stored': 0, 'repeated': [answer['request_id']], 'replaced': []}
    unknown = httpx.post(f'{server.url}/feedback', json=[{'request_id': 'f' * 32, 'truth': 1}])
    assert unknown.status_code == 404 and unknown.json()['message'] == f"unknown request ids: {'f' * 32}"
    malformed = httpx.post(f'{server.url}/feedback', content=b'[{"request_id": "nope\\ud800", "truth": 1}]',
                           headers={'content-type': 'application/json'})
    assert malformed.status_code == 422 and malformed.json()['message'].startswith('body[0].request_id: ')


def test_a_truth_outside_the_labels_is_refused_and_a_correction_is_explicit(server, workspace):
    [answer, other] = predict(server, [GOOD, GOOD])
    poisoned = httpx.post(
        f'{server.url}/feedback',
        json=[{'request_id': other['request_id'], 'truth': 1}, {'request_id': answer['request_id'], 'truth': 7.5}],
    )
    assert poisoned.status_code == 422 and poisoned.json(
    )['message'] == 'body[1].truth: Value error, 7.5 is not a label (0 or 1)'
    # nothing of it was stored
    assert (
        httpx.post(f'{server.url}/feedback', json={'request_id': other['request_id'], 'truth': 1}).json()['stored'] == 1
    )
    corrected = httpx.post(f'{server.url}/feedback',
                           json={'request_id': other['request_id'], 'truth': 0, 'replace': True})
    assert corrected.json() == {'stored': 0, 'repeated': [], 'replaced': [other['request_id']]}
    server.wait_for(lambda m: m['log']['unwritten'] == 0)
    kept = pd.read_parquet(Path(workspace)/'predictions'/MODEL/'.parts'/'feedback')
    mine = kept[kept.request_id == other['request_id']].sort_values('at')
    # both kept, the correction says what it replaced
    assert mine[['truth', 'previous']].fillna(-1).values.tolist() == [[1, -1], [0, 1]]
    # monitoring reads the corrected one
    assert log_rows(workspace, MODEL).set_index('request_id').truth[other['request_id']] == 0


def test_metrics_count_requests_by_route_and_version(server):
    before = httpx.get(f'{server.url}/metrics').text
    predict(server, [GOOD] * 3)
    after = httpx.get(f'{server.url}/metrics').text
    count = lambda text: float(
        next((l.split()[-1] for l in text.splitlines()
              if l.startswith('mlops_predictions_total{route="production",version="1"}')), 0))
    assert count(after) == count(before) + 3
    assert 'mlops_request_latency_seconds_bucket{le="0.005",version="1"}' in after and 'mlops_batch_size_count' in after


@contextlib.contextmanager
def prometheus(server, folder, rules=None):
    "A real Prometheus on loopback scraping the server every second (with alerting rules, if given); its query call."
    port, config = free_port(), folder/'prometheus.yml'
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" +
        (f"rule_files: ['{rules}']\n" if rules else '') +
        f"scrape_configs:\n  - job_name: mlops_nb\n    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n")
    process = subprocess.Popen([
        'prometheus', f'--config.file={config}', f'--storage.tsdb.path={folder/"data"}',
        f'--web.listen-address=127.0.0.1:{port}'
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def query(q, path='query'):
        return httpx.get(f'http://127.0.0.1:{port}/api/v1/{path}', params={'query': q}).json()['data']
    def wait(q, timeout=60):
        "The result of query `q` once it has one."
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(1)
            try:
                if found := query(q)['result']: return found
            except httpx.TransportError: pass
        raise AssertionError(f'Prometheus never answered {q!r}')
    try: yield query, wait
    finally:
        process.terminate()
        process.wait(30)


def scraped(server, name, absent=None):
    "The value of one line of the server's own /metrics (`absent` when no line has it yet)."
    values = [float(l.split()[-1]) for l in httpx.get(f'{server.url}/metrics').text.splitlines() if l.startswith(name)]
    return values[0] if values or absent is None else absent


def eventually(check, timeout=120):
    "Poll `check()` until it holds; every wait in these tests is bounded."
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f'not within {timeout} s'
        time.sleep(0.2)


def test_prometheus_scrapes_the_metrics_and_reads_what_they_say(server, tmp_path):
    "A real Prometheus server on loopback scrapes /metrics every second; its queries return the server's own counts."
    predict(server, [GOOD] * 3)
    with prometheus(server, tmp_path) as (query, wait):
        found = wait('mlops_predictions_total{route="production",version="1"}')
        [target] = query('', 'targets')['activeTargets']
        assert (target['health'], target['lastError']) == ('up', '')
        assert float(found[0]['value'][1]) == scraped(server, 'mlops_predictions_total{route="production",version="1"}')
        [p99] = query('histogram_quantile(0.99, sum by (le) (mlops_request_latency_seconds_bucket))')['result']
        assert 0 < float(p99['value'][1]) < 10


# --- fuzzing: schemathesis against the server's own OpenAPI document ------------------------------------------

@pytest.fixture(scope='module')
def api_schema(server):
    "The server's own OpenAPI document; a client's invalid body is rejected with 422, or 413 when the batch is large."
    config = schemathesis.config.SchemathesisConfig.from_str(
        '[checks.negative_data_rejection]\nexpected-statuses = ["413", "422"]\n')
    return schemathesis.openapi.from_url(f'{server.url}/openapi.json', config=config)


schema = schemathesis.pytest.from_fixture('api_schema')


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_no_response_that_breaks_the_schema(case):
    case.call_and_validate()


# --- parity through the real path --------------------------------------------------------------------------------

def caught_up(server, spec, timeout=20):
    "Wait until the server's feature cache holds what the store holds: it looks every 50 ms, beside the answers."
    from mlops_nb.online import FeatureCache
    wanted = json.loads(json.dumps(FeatureCache(spec['repo'], spec['store']['views']).marker()))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if httpx.get(f'{server.url}/metadata').json()['features']['marker'] == wanted: return
        time.sleep(0.02)
    raise AssertionError(f'the server did not reload the store within {timeout} s')


@pytest.fixture(scope='module')
def replay(server, run, march):
    """The workspace's online store re-materialized at 10 busy hours of March, one after another, with 50 of each
    hour's flights sent through HTTP once the server's cache holds that hour: the cache follows the store."""
    from mlops_nb.features import open_store
    spec = read_spec(run)
    store, busy = open_store(spec['repo']), march.time_hour.value_counts()
    served = []
    for i, hour in enumerate(sorted(busy[busy >= 50].sample(10, random_state=0).index)):
        # each entity's latest
        store.materialize(start_date=pd.Timestamp('2013-01-01', tz='UTC').to_pydatetime(),
                          end_date=hour.to_pydatetime())
        # row up to the hour (an origin's late rate has rows where it changes: none in a quiet night's three hours)
        caught_up(server, spec)
        flights = march[march.time_hour == hour].sample(50, random_state=i)
        served.append((hour, flights, predict(server, as_requests(flights))))
    return spec, served


def test_500_flights_over_http_match_the_training_pipeline(replay, run):
    spec, served = replay
    features, model = pd.read_parquet(run/'features.parquet'), load_model(run/'model.skops')
    compared = 0
    for hour, flights, answers in served:
        trained = flights[KEYS].merge(features, on=KEYS, how='left', validate='one_to_one')
        expected = model.predict_proba(trained[[*spec['numeric'], *spec['categorical']]])[:, 1]
        got = np.array([a['probability'] for a in answers])
        assert np.abs(got - expected).max() <= 1e-6, (hour, np.abs(got - expected).max())
        assert all(a['missing'] == [] and a['version'] == 1 for a in answers)
        compared += len(answers)
    assert compared == 500


def test_batch_scoring_matches_predict(replay, march, tmp_path, workspace):
    _, served = replay
    hour, flights, answers = served[-1]  # the store holds this hour now, so /predict serves its values
    march[RAW].to_parquet(tmp_path/'march.parquet')
    result = cli('score', tmp_path/'march.parquet', '--out', tmp_path/'scored.parquet', workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"scored {len(march):,} records with {MODEL} version 1: {tmp_path/'scored.parquet'}"
    scored = pd.read_parquet(tmp_path/'scored.parquet')
    assert len(scored) == len(march) and scored.request_id.is_unique and (scored.version == 1).all()
    batch = flights[KEYS].merge(scored, on=KEYS, how='left', validate='one_to_one')
    assert np.abs(batch.probability.to_numpy() - np.array([a['probability'] for a in answers])).max() <= 1e-9


# --- releases: ONNX, canary, shadow, automatic rollback ---------------------------------------------------------

@pytest.fixture(scope='module')
def linear_version(workspace, run):
    "A second version, a linear model, trained by the pipeline from the train stage on: ONNX converts it exactly."
    result = cli('run', *SLICE, '--from', 'train', '-p', 'families=[logistic]', '-p', 'trials=1', '--base', run.name,
                 workspace=workspace)
    assert result.returncode == 0, result.stderr
    deployed = json.loads((list_runs(workspace)[-1]/'deploy.json').read_text())
    # not better than the champion: checked, not released
    assert (deployed['version'], deployed['strategy']) == (2, 'none')
    return deployed


def test_onnx_serves_a_model_it_converts_exactly(linear_version, server, workspace):
    assert linear_version['inference']['path'] == 'onnx' and linear_version['inference']['onnx']['max_abs_diff'] <= 1e-5
    result = cli('deploy', MODEL, 2, '--strategy', 'shadow', workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert 'served by the onnx path (treelite: refused (Unsupported: ' in result.stdout
    assert '; onnx: max |diff|' in result.stdout
    metadata = server.wait_for(lambda m: len(m['versions']) == 2)
    assert {v['version']: (v['route'], v['inference']['path'])
            for v in metadata['versions']} == {1: ('production', 'treelite'), 2: ('shadow', 'onnx')}
    # withdraws the shadow
    assert cli('models', 'rollback', MODEL, '--reason', 'shadow seen', workspace=workspace).returncode == 0
    server.wait_for(lambda m: len(m['versions']) == 1)


def records(march, n, seed=0):
    "n distinct flights of March as requests, each with a key of its own."
    return as_requests(march.sample(n, random_state=seed))


def test_a_canary_takes_its_share_and_a_key_always_takes_one_route(linear_version, server, workspace, march):
    assert cli('deploy', MODEL, 2, '--strategy', 'canary', '--percent', 5, workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'canary')
    sent = [dict(r, flight=10_000 + i) for i, r in enumerate(records(march, 10_000, seed=1))]  # 10,000 distinct keys
    routes = [a['route'] for chunk in range(0, len(sent), 1000) for a in predict(server, sent[chunk:chunk + 1000])]
    share = routes.count('canary') / len(routes)
    assert 0.04 <= share <= 0.06, share
    again = [a['route'] for a in predict(server, sent[:1000])]
    assert again == routes[:1000]                                                        # sticky per key
    assert cli('models', 'promote', MODEL, 2, '--to', 'Production', '--reason', 'the canary did well',
               workspace=workspace).returncode == 0
    server.wait_for(lambda m: (m['release']['strategy'], m['release']['production']) == ('replace', 2))
    assert {a['route'] for a in predict(server, sent[:1000])} == {'production'}
    assert cli('models', 'rollback', MODEL, '--reason', 'split measured', workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['production'] == 1)
    assert [e['version'] for e in history(workspace, MODEL) if e['kind'] == 'alias' and e['value'] == 'champion'
            ][-2:] == [2, 1]


def strict_model(run):
    "A real linear model whose encoder refuses categories it never saw: it raises on an unknown carrier."
    # every category of the quarter
    spec, features = json.loads((run/'feature_spec.json').read_text()), pd.read_parquet(run/'features.parquet')
    columns = ColumnTransformer([('categorical', OneHotEncoder(handle_unknown='error'), spec['categorical']),
                                 ('numeric', make_pipeline(SimpleImputer(), StandardScaler()), spec['numeric'])])
    return Pipeline([('columns', columns),
                     ('model', LogisticRegression(max_iter=300))]).fit(features, features.late.astype(int))


def register(workspace, run, model, tmp_path, name):
    "Register `model` as a version of the flights model, trained on `run`'s features."
    return register_model(workspace, MODEL, save_model(model, tmp_path / f'{name}.skops'), run.name,
                          {'params': {'task': 'classification'}})


def shadow_scored(server, version):
    "Records the shadow version scored or failed on, by the server's counters."
    return sum(
        scraped(server, f'{counter}_total{{route="shadow",version="{version}"}}', 0)
        for counter in ('mlops_predictions', 'mlops_prediction_errors'))


def test_a_failing_or_slow_shadow_never_changes_a_response(server, workspace, run, march, tmp_path):
    sent = records(march, 150, seed=2)
    sent[:50] = [dict(r, carrier='ZZ') for r in sent[:50]]        # the strict shadow raises on these...
    requests = [sent[i:i + 10] for i in range(0, len(sent), 10)]  # ...which come in requests of their own
    alone = [a for r in requests for a in predict(server, r)]
    failing = register(workspace, run, strict_model(run), tmp_path, 'strict')
    assert cli('deploy', MODEL, failing, '--strategy', 'shadow', workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'shadow')
    shadowed = [a for r in requests for a in predict(server, r)]
    assert [(a['probability'], a['route'], a['version']) for a in shadowed
            ] == [(a['probability'], a['route'], a['version']) for a in alone]
    eventually(lambda: shadow_scored(server, failing) == len(sent))  # the shadow catches up, behind the answers
    slow = register(
        workspace, run,
        make_model(json.loads((run / 'feature_spec.json').read_text()), family='random_forest', n_estimators=600).fit(
            pd.read_parquet(run / 'features.parquet').head(5000),
            pd.read_parquet(run / 'features.parquet').late.head(5000).astype(int)), tmp_path, 'slow')
    # served by scikit-learn: 600 trees per call
    start_candidate(workspace, MODEL, slow, 'shadow', 1.0, 'a slow shadow')
    server.wait_for(lambda m: any(v['version'] == slow for v in m['versions']))
    slowed, received = [], []
    for r in sent[:60]: slowed.append(predict(server, [r])[0]); received.append(pd.Timestamp.now(tz='UTC'))
    assert [a['probability'] for a in slowed] == [a['probability'] for a in alone[:60]]
    eventually(lambda: shadow_scored(server, slow) == 60)
    withdraw(workspace, MODEL, 'shadows seen')
    server.wait_for(lambda m: m['release']['strategy'] == 'replace' and m['log']['unwritten'] == 0)
    logged = pd.read_parquet(Path(workspace)/'predictions'/MODEL/'.parts'/'predictions')
    finished = logged[(logged.route == 'shadow') & (logged.version == slow)].set_index('request_id')['at']
    # each answer was out before its shadow was done
    assert all(got < finished[a['request_id']] for a, got in zip(slowed, received))
    shadow = logged[(logged.route == 'shadow') & (logged.version == failing)]
    assert len(shadow) == len(sent) and shadow.error.notna().sum() == 50 and shadow[shadow.error.notna()].request.map(
        lambda r: json.loads(r)['carrier']).eq('ZZ').all()
    assert shadow.error.dropna().str.contains('Unknown Category').all()


def test_a_failing_canary_is_withdrawn_automatically_with_its_reason(server, workspace, run, march, tmp_path):
    failing = register(workspace, run, strict_model(run), tmp_path, 'strict-canary')
    assert cli('deploy', MODEL, failing, '--strategy', 'canary', '--percent', 50, workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'canary')
    answers = [
        a for i in range(40) for a in predict(
            server, [dict(r, carrier='ZZ', flight=20_000 + 5 * i + k) for k, r in enumerate(records(march, 5, seed=i))])
    ]
    assert {a['route'] for a in answers} == {'production'}  # every failing canary record was answered by production...
    # ...and says so
    assert any(a['fallback'] and a['fallback'].startswith(f'canary version {failing} failed') for a in answers)
    server.wait_for(lambda m: m['release']['strategy'] == 'replace')
    withdrawn = [e for e in history(workspace, MODEL) if e['kind'] == 'release' and e['value'] == 'withdrawn'][-1]
    assert withdrawn['previous'] == str(failing) and withdrawn['reason'].startswith(
        f'automatic rollback: canary version {failing} failed 100.0% of ')
    assert release_state(workspace, MODEL)['candidate'] is None


def test_records_no_model_can_score_are_refused_and_never_held_against_a_canary(server, workspace, run, march):
    production = get_model_version(workspace, MODEL, release_state(workspace, MODEL)['production'])
    # the same bytes
    twin = register_model(workspace, MODEL,
                          Path(workspace) / production['artifact'], run.name, {'params': {'task': 'classification'}})
    assert cli('deploy', MODEL, twin, '--strategy', 'canary', '--percent', 20, workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'canary')
    bad = [dict(r, distance=int('9' * 401)) for r in records(march, 3000, seed=11)]
    statuses = {
        httpx.post(f'{server.url}/predict', json=bad[i:i + 100], timeout=30).status_code
        for i in range(0, len(bad), 100)
    }
    assert statuses == {422}
    good = predict(server, records(march, 200, seed=12))
    assert {a['route'] for a in good} == {'production', 'canary'} and not any(a['fallback'] for a in good)
    assert httpx.get(f'{server.url}/metadata').json()['release']['candidate'] == twin            # still in force
    withdraw(workspace, MODEL, 'the twin has been seen')
    server.wait_for(lambda m: m['release']['strategy'] == 'replace')


# --- hot swap under load, and a restart after SIGKILL --------------------------------------------------------------

def test_a_deploy_and_a_rollback_under_load_drop_or_fail_no_request(linear_version, server, workspace, march):
    sent, outcomes, stop = records(march, 400, seed=3), [], threading.Event()
    def client(k):
        with httpx.Client(base_url=server.url, timeout=30) as http:
            i = k
            while not stop.is_set():
                response = http.post('/predict', json=sent[i % len(sent)])
                outcomes.append(
                    (response.status_code,
                     response.json()['predictions'][0]['version'] if response.status_code == 200 else response.text))
                i += 4
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads: t.start()
    time.sleep(3)
    assert cli('deploy', MODEL, 2, '--strategy', 'replace', '--reason', 'swap under load',
               workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['production'] == 2)
    time.sleep(3)
    assert cli('models', 'rollback', MODEL, '--reason', 'back under load', workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['production'] == 1)
    time.sleep(3)
    stop.set()
    for t in threads: t.join(30)
    assert len(outcomes) > 200 and {status for status, _ in outcomes} == {200}, [o for o in outcomes if o[0] != 200][:3]
    assert {version for _, version in outcomes} == {1, 2} and outcomes[-1][1] == 1


def test_a_killed_server_restarts_with_the_same_routing_and_a_readable_log(server, workspace, march, linear_version):
    assert cli('deploy', MODEL, 2, '--strategy', 'canary', '--percent', 30, workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'canary')
    sent = records(march, 300, seed=4)
    answers = predict(server, sent)
    server.wait_for(lambda m: m['log'] == {'unwritten': 0, 'problem': None})  # the writer says all is on disk...
    server.stop(signal.SIGKILL)
    # every part is whole: it reads back
    logged = pd.read_parquet(Path(workspace)/'predictions'/MODEL/'.parts'/'predictions')
    assert {a['request_id'] for a in answers} <= set(logged.request_id)                  # ...and it is, after kill -9
    server.start()
    metadata = httpx.get(f'{server.url}/metadata').json()
    assert (metadata['release']['strategy'], metadata['release']['candidate'],
            metadata['release']['share']) == ('canary', 2, 0.3)
    assert [a['route'] for a in predict(server, sent)] == [a['route'] for a in answers]
    # the dead writer's parts, compacted at start
    compacted = list((Path(workspace)/'predictions'/MODEL).glob('*.parquet'))
    assert compacted and all(len(pd.read_parquet(p)) for p in compacted)


# --- monitoring the traffic above (issue 11) ---------------------------------------------------------------------

def test_monitor_reads_the_log_by_window_with_routes_feedback_health_and_alerts(server, workspace, run, march):
    answers = predict(server, records(march, 200, seed=7))
    sent = httpx.post(
        f'{server.url}/feedback',
        json=[
            {'request_id': a['request_id'], 'truth': int(t)}
            for a, t in zip(answers, march.sample(200, random_state=7).late)
        ],
    )
    assert sent.json()['stored'] == 200
    server.stop()  # a clean shutdown rolls every hour of the log
    try:
        result = cli('monitor', '--window', '1d', '-p', 'drift_draws=50', workspace=workspace)
        assert result.returncode in (0, 1) and 'window(s) of 1d' in result.stdout, result.stderr
        summary = json.loads((Path(workspace)/'monitoring'/MODEL/'latest.json').read_text())
        assert (result.returncode == 1) == bool(summary['alerts'])
        assert json.loads((Path(workspace)/'monitoring'/'alerts.json').read_text())['alerts'] == summary['alerts']
        logged = pd.read_parquet(Path(workspace)/'predictions'/MODEL)
        window = summary['windows'][-1]
        assert sum(w['rows'] for w in summary['windows']) == (logged.route != 'shadow').sum()
        spec = json.loads((run/'feature_spec.json').read_text())
        assert set(window['drift']['features']) == {*spec['numeric'], *spec['categorical']}
        assert all(f['threshold'] > 0 and f['p_value'] is not None for f in window['drift']['features'].values())
        assert {r['route'] for w in summary['windows'] for r in w['routes']} >= {'production', 'canary', 'shadow'}
        assert window['performance']['labels'] >= 200 and window['performance']['roc_auc'] is not None
        assert window['estimated']['roc_auc'] is not None and window['health']['latency_ms']['p99'] > 0
        assert window['prediction']['threshold'] > 0 and 0 <= window['prediction']['positive_share'] <= 1
    finally:
        server.start()


def test_monitor_a_file_measures_and_estimates_performance_per_window(workspace, march, tmp_path):
    march.to_parquet(tmp_path/'march.parquet')
    result = cli('monitor', '--data', tmp_path / 'march.parquet', '--window', '1w', '-p', 'drift_draws=50', '-p',
                 'alert_drift_share=0', workspace=workspace)
    assert 'window(s) of 1w' in result.stdout, result.stderr
    summary = json.loads((Path(workspace)/'monitoring'/MODEL/'latest.json').read_text())
    assert result.returncode == (1 if summary['alerts'] else
                                 0) and summary['source'].endswith('march.parquet'), result.stderr
    # weeks from Monday, UTC
    assert [w['start'][:10] for w in summary['windows']
            ] == ['2013-02-25', '2013-03-04', '2013-03-11', '2013-03-18', '2013-03-25', '2013-04-01']
    assert sum(w['rows'] for w in summary['windows']) == len(march)
    for window in summary['windows'][1:-1]:  # whole weeks: measured and estimated ROC AUC side by side
        assert (
            window['performance']['labels'] == window['rows']
            and abs(window['performance']['roc_auc'] - window['estimated']['roc_auc']) < 0.1
        ), window
    assert {a['rule'] for a in summary['alerts']} <= {'estimated_auc_drop', 'realised_auc_drop'}


@pytest.mark.parametrize('options, code, message', [
    # usage errors: 2
    (['--window', '1month'], 2, "window '1month': expected a number and a unit, such as 1h, 6h, 1d or 1w"),
    (['-p', 'drift_alpha=often'], 2, "parameter 'drift_alpha': expected float, got str 'often'"),
    (['--data', 'nowhere.csv'], 1, 'nowhere.csv: no such file'),  # a file that is not there: 1
])
def test_monitor_refuses_bad_input_in_one_line(workspace, options, code, message):
    result = cli('monitor', *options, workspace=workspace)
    assert result.returncode == code and message in result.stderr and len(
        result.stderr.strip().splitlines()) == 1, result.stderr


RULES = Path(__file__).parent.parent/'reports'/'prometheus'/'alerts.yml'


def test_promtool_accepts_the_shipped_alerting_rules():
    result = subprocess.run(['promtool', 'check', 'rules', str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0 and 'SUCCESS: 8 rules found' in result.stdout, result.stdout + result.stderr


def test_prometheus_reads_the_drift_and_estimated_performance_gauges_and_loads_the_rules(
        server, workspace, march, tmp_path):
    "After `monitor`, /metrics has the latest window's gauges; Prometheus scrapes them and evaluates the shipped rules."
    latest = json.loads((Path(workspace)/'monitoring'/MODEL/'latest.json').read_text())['windows'][-1]
    # the server was restarted by the monitor test: its counters start at zero
    predict(server, records(march, 20, seed=9))
    with prometheus(server, tmp_path, RULES) as (query, wait):
        [share] = wait('mlops_drift_share')
        assert float(share['value'][1]) == pytest.approx(latest['drift']['share']) and share['metric']['model'] == MODEL
        [estimated] = wait('mlops_estimated_roc_auc')
        assert float(estimated['value'][1]) == pytest.approx(latest['estimated']['roc_auc'])
        assert wait('mlops_predictions_total') and len(wait('mlops_feature_drift_ratio')) == len(
            latest['drift']['features']
        )
        groups = {g['name']: g for g in query('', 'rules')['groups']}
        assert set(groups) == {'mlops_nb_serving', 'mlops_nb_monitoring'}
        assert all(r['health'] == 'ok' for g in groups.values() for r in g['rules']), groups
