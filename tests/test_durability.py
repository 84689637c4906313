"""Nothing acknowledged is lost: a server killed with SIGKILL under load, restarted, holds every prediction it answered
and every truth it answered `stored`; and a request the production model fails on is counted and logged, and fails
no other."""
import json, signal, threading, time
import httpx, pandas as pd, pytest
from conftest import cli, copy_workspace
from mlops_nb.predlog import log_rows
from test_serving import MODEL, LiveServer, as_requests, register, scraped, strict_model

REQUESTS, SECONDS = 3000, 60   # the load's bounds, per client


@pytest.fixture(scope='module')
def workspace(trained, tmp_path_factory):
    return copy_workspace(trained, tmp_path_factory.mktemp('durability')/'ws')


def client(url, records, answered, stored,
           stop):  # the server's address; requests to send; what it acknowledged; set to stop
    "Send single-record predictions and, for every fourth answer, its truth, until the server goes away."
    deadline = time.monotonic() + SECONDS
    with httpx.Client(base_url=url, timeout=10) as http:
        for i, record in enumerate(records[:REQUESTS]):
            if stop.is_set() or time.monotonic() > deadline: return
            try:
                [answer] = http.post('/predict', json=[record]).json()['predictions']
                answered.append(answer['request_id'])
                if i % 4 == 0:
                    truth = {'request_id': answer['request_id'], 'truth': i % 8 // 4}
                    if http.post('/feedback', json=[truth]).json()['stored'] == 1:
                        stored[answer['request_id']] = truth['truth']
            except (httpx.TransportError, ValueError): return      # killed mid-request: that one was never acknowledged


def test_kill_9_under_load_loses_no_answered_prediction_and_no_stored_truth(workspace, trained):
    from mlops_nb.core import list_runs
    data = pd.read_parquet(list_runs(workspace)[0]/'validated'/'data.parquet')
    records = as_requests(data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')])
    server = LiveServer(workspace).start()
    answered, stored, stop = [], {}, threading.Event()
    clients = [
        threading.Thread(target=client, args=(server.url, records[k::2], answered, stored, stop)) for k in range(2)
    ]
    for c in clients: c.start()
    while len(answered) < 400 and all(c.is_alive() for c in clients): time.sleep(0.05)
    server.stop(signal.SIGKILL)                                                         # mid-load, answers in flight
    stop.set()
    for c in clients: c.join(30)
    assert server.process.returncode == -signal.SIGKILL and len(answered) >= 400 and len(stored) >= 50, (len(answered),
                                                                                                         len(stored))
    server.start()  # recovers what the dead one journaled
    try:
        again = httpx.post(f'{server.url}/feedback',
                           json=[{'request_id': i, 'truth': 0} for i in answered if i not in stored])
        assert again.status_code == 200, again.text  # every answered id is known after the restart
        resent = httpx.post(f'{server.url}/feedback',
                            json=[{'request_id': i, 'truth': t} for i, t in stored.items()]).json()
        assert sorted(resent['repeated']) == sorted(stored)  # and every stored truth still counts as stored
    finally:
        server.stop()
    rows = log_rows(workspace, MODEL)
    production = rows[rows.route == 'production'].set_index('request_id')
    assert set(answered) <= set(
        production.index), f'{len(set(answered) - set(production.index))} answered predictions lost'
    assert production.truth.reindex(list(stored)).tolist() == list(stored.values())


def test_a_request_production_fails_on_is_counted_and_logged_and_fails_no_other(trained, tmp_path):
    from mlops_nb.core import list_runs
    workspace = copy_workspace(trained, tmp_path/'ws')
    run = list_runs(workspace)[0]
    strict = register(workspace, run, strict_model(run), tmp_path, 'strict')  # raises on a carrier it never saw
    assert cli('deploy', MODEL, strict, '--strategy', 'replace', workspace=workspace).returncode == 0
    data = pd.read_parquet(run/'validated'/'data.parquet')
    sent = as_requests(data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')].head(40))
    sent[7] = dict(sent[7], carrier='ZZ')
    server = LiveServer(workspace).start()
    try:
        statuses = {}
        with httpx.Client(base_url=server.url, timeout=30) as http:  # concurrent: scored in shared batches
            threads = [
                threading.Thread(target=lambda i=i: statuses.__setitem__(i, http.post('/predict', json=[sent[i]])))
                for i in range(len(sent))
            ]
            for t in threads: t.start()
            for t in threads: t.join()
        assert sorted(i for i, r in statuses.items() if r.status_code != 200) == [7]
        assert (
            statuses[7].status_code == 500
            and 'the production model failed on this request' in statuses[7].json()['message']
        )
        assert scraped(server, f'mlops_prediction_errors_total{{route="production",version="{strict}"}}') == 1
        assert scraped(server, f'mlops_predictions_total{{route="production",version="{strict}"}}') == 39
    finally:
        server.stop()
    rows = log_rows(workspace, MODEL)
    failed = rows[rows.error.notna()]
    assert len(rows) == 40 and len(failed) == 1 and json.loads(failed.request.iloc[0])['carrier'] == 'ZZ'
    assert 'Unknown Category' in failed.error.iloc[0] and failed.output.isna().all()
