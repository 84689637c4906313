"""Fresh features: truths and source rows reach the store while a real server runs, a stream delivers them exactly once
through a real redis-server, a replay's served features match their point-in-time values, and skew is caught."""
import json, os, signal, socket, subprocess, threading, time
from pathlib import Path
import httpx, numpy as np, pandas as pd, pytest
from mlops_nb.compare import named_policy
from mlops_nb.core import list_runs, read_record
from mlops_nb.fresh import production_store
from mlops_nb.predlog import log_rows
from mlops_nb.simulate import replay_rows
from mlops_nb.skew import window_skew
from mlops_nb.registry import get_model_version
from mlops_nb.world import request_records
from conftest import SLICE, cli, copy_workspace
from test_serving import LiveServer, free_port

MODEL = 'flights_late'
pytestmark = pytest.mark.xdist_group('fresh')  # one server on one copy of the trained workspace, and one redis-server


@pytest.fixture(scope='module')
def workspace(trained, tmp_path_factory):
    "A copy of the trained slice workspace (January to March; its store loaded up to 1 April) for the module to change."
    return copy_workspace(trained, tmp_path_factory.mktemp('fresh')/'ws')


@pytest.fixture(scope='module')
def server(workspace):
    live = LiveServer(workspace).start()
    yield live
    live.stop()


@pytest.fixture(scope='module')
def april(workspace):
    "April's flights, as the replay reads them, with `known_at`: when each one's truth is known."
    config = read_record(list_runs(workspace)[0])['config']
    return replay_rows({**config, 'filter': 'month == 4 and day <= 3'})


def predict(server, rows, spec):
    "/predict the rows; their answers."
    response = httpx.post(f'{server.url}/predict', json=request_records(rows, spec['request'], spec['timestamp']),
                          timeout=60)
    assert response.status_code == 200, response.text
    return response.json()['predictions']


def served_rows(workspace, ids, timeout=20):
    "The prediction log's rows of these request ids, once the server's writer (every second) has written them."
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = log_rows(workspace, MODEL)
        rows = rows[rows.request_id.isin(ids)] if len(rows) else rows
        if len(rows) == len(ids): return rows.set_index('request_id').loc[list(ids)]
        time.sleep(0.3)
    raise AssertionError(f'{len(ids)} answers not in the log after {timeout} s')


def metric(server, name, **labels):
    "A sample's value in /metrics, or None."
    for line in httpx.get(f'{server.url}/metrics').text.splitlines():
        if line.startswith(name + '{') and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(' ', 1)[1])
    return None


def test_truths_at_feedback_become_the_next_answers_late_rate(server, workspace, april):
    "Before April's truths the origin's aggregate is past its TTL, served missing; after, exactly those truths' rate."
    spec, _ = production_store(workspace, MODEL)
    at, known, later = (pd.Timestamp(f'2013-04-02 {h}:00', tz='UTC') for h in (14, 18, 19))
    early = april[april.time_hour == at]
    one_each = april[april.time_hour == later].drop_duplicates('origin')
    [stale] = predict(server, one_each.head(1), spec)
    assert 'origin_rate_1d' in stale['missing'] and 'weather' in stale['missing']  # 41 hours after the store's newest
    assert metric(server, 'mlops_feature_stale_total', view='origin_rate_1d') >= 1
    assert metric(server, 'mlops_feature_age_max_seconds',
                  view='weather') > metric(server, 'mlops_feature_freshness_seconds', view='weather')
    answers = predict(server, early, spec)
    labelled = early.assign(request_id=[a['request_id'] for a in answers])[early.late.notna().to_numpy()]
    truths = [{'request_id': r, 'truth': float(t), 'known_at': known.isoformat()}
              for r, t in zip(labelled.request_id, labelled.late)]
    assert httpx.post(f'{server.url}/feedback', json=truths,
                      timeout=60).json() == {'stored': len(truths), 'repeated': [], 'replaced': []}
    fresh = predict(server, one_each, spec)
    assert all('origin_rate_1d' not in a['missing'] for a in fresh)
    logged = served_rows(workspace, [a['request_id'] for a in fresh])
    expected = labelled.groupby('origin').late.agg(['mean', 'count']).loc[one_each.origin]
    assert logged.origin_late_rate_1d.tolist() == expected['mean'].tolist() and logged.origin_labels_1d.tolist(
    ) == expected['count'].astype(float).tolist()
    again = httpx.post(f'{server.url}/feedback', json=truths[:3], timeout=60).json()  # repeated truths change nothing
    assert (
        again['stored'] == 0
        and served_rows(workspace, [a['request_id'] for a in predict(server, one_each, spec)]).origin_labels_1d.tolist()
        == expected['count'].astype(float).tolist()
    )


def test_a_truth_known_in_the_future_is_refused_with_one_line(server, workspace, april):
    spec, _ = production_store(workspace, MODEL)
    [answer] = predict(server, april.head(1), spec)
    response = httpx.post(f'{server.url}/feedback',
                          json={'request_id': answer['request_id'], 'truth': 1, 'known_at': '2150-01-01T00:00:00Z'})
    assert response.status_code == 422 and response.json()['message'].startswith(
        f"truth 0 ({answer['request_id']}): known_at 2150-01-01")


def test_the_server_answers_without_5xx_or_a_stall_while_a_materialization_runs(server, workspace, april):
    "`materialize` loads nine months of weather while a client predicts: all 200, none waits, new values are served."
    spec, _ = production_store(workspace, MODEL)
    records = request_records(april.head(20), spec['request'], spec['timestamp'])
    def round_trip():
        began = time.perf_counter()
        status = httpx.post(f'{server.url}/predict', json=records, timeout=60).status_code
        return status, time.perf_counter() - began
    idle = [round_trip()[1] for _ in range(100)]
    done, during = threading.Event(), []
    def client():
        while not done.is_set(): during.append(round_trip())
    thread = threading.Thread(target=client)
    thread.start()
    try: result = cli('materialize', '--until', '2013-12-31T00:00:00', workspace=workspace)
    finally: done.set(); thread.join()
    assert result.returncode == 0 and 'weather: 0 new rows; online up to 2013-12-31' in result.stdout, (
        result.stdout + result.stderr
    )
    statuses, seconds = [s for s, _ in during], np.array([t for _, t in during])
    assert len(during) >= 50 and set(statuses) == {200}
    assert seconds.max() <= max(0.25, 10 * np.percentile(idle, 99)), (seconds.max(), np.percentile(idle, 99))
    newest = httpx.get(f'{server.url}/metadata').json()['features']['newest']['weather']  # followed without a restart
    assert newest.startswith('2013-12-30')


@pytest.fixture(scope='module')
def redis(tmp_path_factory):
    "A redis-server on loopback, started and stopped by its pid; its URL."
    folder, port = tmp_path_factory.mktemp('redis'), free_port()
    process = subprocess.Popen([
        'redis-server', '--port',
        str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir',
        str(folder)
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0: break
        time.sleep(0.1)
    yield f'redis://127.0.0.1:{port}/0'
    os.kill(process.pid, signal.SIGTERM)
    process.wait(20)


def consumer(redis, server, workspace, stream, *options):
    "`mlops-nb consume` in its own process."
    return subprocess.Popen([
        'mlops-nb', 'consume', '--redis', redis, '--server', server.url, '--stream', stream, '--consumer', 'c1',
        '--workspace',
        str(workspace), *options
    ], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_stream_events_are_applied_exactly_once_when_the_consumer_is_killed_mid_batch(redis, server, workspace, april):
    "Rows and truths via redis-server: the consumer SIGKILLed mid-batch, restarted, and every event takes effect once."
    import redis as client
    spec, _ = production_store(workspace, MODEL)
    broker, stream = client.Redis.from_url(redis), 'exactly-once'
    # after the store's newest: each origin's last reaches the online store
    hours = pd.date_range('2014-01-01 00:00', periods=100, freq='h', tz='UTC')
    rows = [{'origin': o, 'time_hour': h.isoformat(), **{c: 1000.0 + i for c in spec['store']['views'][0]['features']}}
            for i, (h, o) in enumerate((h, o) for h in hours for o in ('EWR', 'JFK', 'LGA'))]
    answers = predict(server, april[april.late.notna()].head(100), spec)
    truths = [{'request_id': a['request_id'], 'truth': float(i % 2), 'known_at': '2013-04-03T12:00:00Z'}
              for i, a in enumerate(answers)]
    for row in rows: broker.xadd(stream, {'kind': 'source', 'data': json.dumps({'view': 'weather', 'row': row})})
    for truth in truths: broker.xadd(stream, {'kind': 'feedback', 'data': json.dumps(truth)})
    killed = 0
    for attempt in range(5):  # kill it while a batch is delivered and not acknowledged
        process = consumer(redis, server, workspace, stream, '--batch', '10')
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            pending = broker.xpending(
                stream, 'mlops_nb')['pending'] if broker.exists(stream) and broker.xinfo_groups(stream) else 0
            acked = sum(g['entries-read'] or 0 for g in broker.xinfo_groups(stream)) - pending if pending else 0
            if pending and acked: break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL); process.wait()
        if broker.xpending(stream, 'mlops_nb')['pending']: killed += 1; break
    assert killed, 'the consumer was never caught mid-batch'
    restarted = consumer(redis, server, workspace, stream, '--batch', '10', '--idle-exit', '2')
    out, err = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, err
    assert broker.xpending(stream, 'mlops_nb')['pending'] == 0
    view = next(v for v in spec['store']['views'] if v['name'] == 'weather')
    source = pd.read_parquet(view['path'])
    pushed = source[source.temp >= 1000]
    assert len(pushed) == len(rows) and not source.duplicated(['origin', 'event_timestamp']).any()
    assert sorted(pushed.temp) == sorted(r['temp'] for r in rows)
    assert httpx.get(f'{server.url}/metadata').json()['features']['newest']['weather'] == hours[-1].isoformat()
    stored = httpx.post(f'{server.url}/feedback',
                        json=[{'request_id': t['request_id'], 'truth': t['truth']} for t in truths]).json()
    # every truth arrived, once
    assert stored == {'stored': 0, 'repeated': [t['request_id'] for t in truths], 'replaced': []}


def test_bad_events_get_a_line_each_are_counted_kept_aside_and_the_consumer_goes_on(redis, server, workspace, april):
    import redis as client
    spec, _ = production_store(workspace, MODEL)
    broker, stream = client.Redis.from_url(redis), 'bad-events'
    [answer] = predict(server, april[april.late.notna()].head(1), spec)
    good = {'origin': 'JFK', 'time_hour': '2013-06-01T10:00:00Z', 'temp': 71.0}
    events = [{'kind': 'source', 'data': json.dumps({'view': 'weather', 'row': {**good, 'origin': None}})},
              {'kind': 'feedback', 'data': json.dumps({'request_id': 'f' * 32, 'truth': 1})},
              {'kind': 'source', 'data': '{"view": "weather", "row": '},
              {'kind': 'source', 'data': json.dumps({'view': 'weather', 'row': good})},
              {'kind': 'feedback', 'data': json.dumps({'request_id': answer['request_id'], 'truth': 1})}]
    for event in events: broker.xadd(stream, event)
    process = consumer(redis, server, workspace, stream, '--idle-exit', '2')
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and '1 source rows and 1 truths applied, 3 events rejected' in out, out + err
    rejected = pd.read_parquet(Path(spec['repo'])/'data'/'rejected'/'stream.parquet')
    reasons = rejected.set_index('entry').reason.loc[[e.decode() for e, _ in broker.xrange(stream)][:3]].tolist()
    assert reasons[0] == 'no origin' and reasons[1].startswith(
        f"/feedback answered 404: unknown request ids: {'f' * 32}") and reasons[2] == 'data is not JSON'
    view = next(v for v in spec['store']['views'] if v['name'] == 'weather')
    source = pd.read_parquet(view['path'])
    assert source[(source.origin == 'JFK') &
                  (source.event_timestamp == pd.Timestamp('2013-06-01T10:00:00Z'))].temp.tolist() == [71.0]


def replay_skew(workspace, tmp_path, features):
    """Replay two days of April under the never policy with `--features`, from 04:00 UTC on 1 April (the training data's
    last flights left the store at 03:00); each store feature's skew over every served row, and the monitor's alerts."""
    policy = named_policy('never', folder=tmp_path)
    result = cli('simulate', '--policy', policy, '--from', '2013-04-01T04:00', '--to', '2013-04-02T04:00', '--step',
                 'day', '--features', features, *SLICE, '-p', 'filter=month <= 4', workspace=workspace)
    assert result.returncode == 0, result.stderr
    rows = log_rows(workspace, MODEL)
    skew = window_skew(workspace, rows, get_model_version(workspace, MODEL, 1), sample=len(rows))
    alerts = [
        a for w in sorted((Path(workspace) / 'monitoring' / MODEL / 'windows' / '1w').glob('*.json'))
        for a in json.loads(w.read_text())['alerts']
    ]
    return rows, skew, alerts


def test_a_replay_serves_point_in_time_values_and_the_skew_monitor_stays_quiet(trained, tmp_path):
    "Two April days moment by moment: 99.9%+ of served store features equal point-in-time values; no skew alert."
    rows, skew, alerts = replay_skew(copy_workspace(trained, tmp_path/'ws'), tmp_path, 'fresh')
    assert skew['rows'] == len(rows) >= 1500
    assert all(f['differ_share'] <= 0.001 for f in skew['features'].values()), skew['features']
    assert not skew['skewed'] and not [a for a in alerts if a['rule'] == 'skew']


def test_with_the_store_left_frozen_the_skew_monitor_alerts_and_names_the_stale_features(trained, tmp_path):
    rows, skew, alerts = replay_skew(copy_workspace(trained, tmp_path/'ws'), tmp_path, 'frozen')
    weather = read_record(list_runs(tmp_path/'ws')[0])['config']['joins'][0]['columns']
    # rain and visibility are often the same hour to hour
    assert set(weather) - {'precip', 'visib'} <= set(skew['skewed'])
    [alert] = [a for a in alerts if a['rule'] == 'skew'][:1]
    assert 'temp' in alert['message'] and 'differ' in alert['message']
