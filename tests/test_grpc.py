"""gRPC beside REST: a real `mlops-nb serve --grpc-port` on loopback over a real pipeline run, asked with a real gRPC
client: the test month answered and logged as /predict answers and logs it, REST's one-line errors as gRPC status
codes, and a canary that routes each record the same way over both."""
import re
from pathlib import Path
import grpc, httpx, pandas as pd, pytest
from google.protobuf import json_format, struct_pb2
from mlops_nb.api import Answer
from mlops_nb.core import list_runs
from mlops_nb.grpc_service import CODES, messages, predict_stub
from mlops_nb.registry import get_model_version, register_model
from mlops_nb.release import release_state
from mlops_nb.simulate import free_port
from conftest import cli, copy_workspace
from test_serving import MODEL, LiveServer, as_requests

pytestmark = pytest.mark.xdist_group('grpc')   # one server and one workspace for the module
BATCH = 250


@pytest.fixture(scope='module')
def workspace(trained, tmp_path_factory):
    "A copy of the trained workspace: one run on the first quarter (March is the test month), its model in production."
    return copy_workspace(trained, tmp_path_factory.mktemp('grpc')/'ws')


@pytest.fixture(scope='module')
def server(workspace):
    "`mlops-nb serve` with REST and gRPC on loopback, and a gRPC channel to it."
    port = free_port()
    live = LiveServer(workspace, '--grpc-port', str(port), '--max-batch', str(BATCH), '--canary-min-requests',
                      '100000').start()
    live.channel = grpc.insecure_channel(f'127.0.0.1:{port}')
    yield live
    live.channel.close()
    live.stop()


@pytest.fixture(scope='module')
def march(workspace):
    "The validated flights of the test month as a client sends them."
    data = pd.read_parquet(list_runs(workspace)[0]/'validated'/'data.parquet')
    return as_requests(data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')].reset_index(drop=True))


def over_rest(server, records):
    "The answers of /predict, BATCH records a request."
    answers = []
    for i in range(0, len(records), BATCH):
        response = httpx.post(f'{server.url}/predict', json=records[i:i + BATCH], timeout=60)
        assert response.status_code == 200, response.text
        answers += response.json()['predictions']
    return answers


def over_grpc(server, records, batch=BATCH):
    "The answers of Predictor.Predict, `batch` records a call, as dicts with REST's fields (None for an unset one)."
    PredictRequest, answers = messages()[0], []
    for i in range(0, len(records) or 1, batch):                                 # an empty request is sent too
        request = PredictRequest(records=[json_format.ParseDict(r, struct_pb2.Struct()) for r in records[i:i + batch]])
        reply = predict_stub(server.channel)(request, timeout=60)
        answers += [json_format.MessageToDict(a, preserving_proto_field_name=True,
                                              always_print_fields_with_no_presence=True) for a in reply.predictions]
    return [{name: a.get(name) for name in Answer.model_fields} for a in answers]


def answered_count(server):
    "The records the server answered, by its Prometheus counter."
    text = httpx.get(f'{server.url}/metrics').text
    return sum(float(v) for v in re.findall(r'^mlops_predictions_total\{route="production"[^}]*\} (\S+)', text, re.M))


def without_ids(answers): return [{k: v for k, v in a.items() if k != 'request_id'} for a in answers]


def test_grpc_answers_and_logs_the_test_month_as_rest_does(server, workspace, march):
    sent = march[:3000]
    before = answered_count(server)
    rest, rpc = over_rest(server, sent), over_grpc(server, sent)
    assert len(rpc) == len(sent) and without_ids(rpc) == without_ids(rest)        # the same answers, field by field
    assert {a['route'] for a in rpc} == {'production'} and len({a['request_id'] for a in rest + rpc}) == 2 * len(sent)
    assert answered_count(server) - before == 2 * len(sent)                     # both counted in the same metrics
    server.wait_for(lambda m: m['log']['unwritten'] == 0)
    logged = pd.read_parquet(Path(workspace)/'predictions'/MODEL/'.parts'/'predictions').set_index('request_id')
    same = [c for c in logged.columns if c not in ('at', 'latency_ms')]      # all but when, and how long it took
    by_rest = logged.loc[[a['request_id'] for a in rest], same].reset_index(drop=True)
    by_grpc = logged.loc[[a['request_id'] for a in rpc], same].reset_index(drop=True)
    assert len(same) > 8 and {'output', 'label', 'request'} <= set(same)
    pd.testing.assert_frame_equal(by_grpc, by_rest)                            # the same log rows


def test_bad_input_gets_rests_one_line_as_a_grpc_status_code(server, march):
    first = march[0]
    bad = {
        'a string for an integer': [first, {**first, 'distance': 'far'}],
        'a field it does not know': [{**first, 'tail': 'N14228'}],
        'a field missing': [{k: v for k, v in first.items() if k != 'origin'}],
        'a time that is not one': [{**first, 'time_hour': 'yesterday'}],
        'no record': [],
        'too many records': march[:BATCH + 1],
    }
    for case, records in bad.items():
        rest = httpx.post(f'{server.url}/predict', json=records, timeout=60)
        with pytest.raises(grpc.RpcError) as refused: over_grpc(server, records, batch=len(records) or 1)
        expected = (CODES[rest.status_code], rest.json()['message'])
        assert (refused.value.code(), refused.value.details()) == expected, case
        assert '\n' not in refused.value.details()
    assert over_grpc(server, [first])[0]['route'] == 'production'             # and it goes on answering


def test_a_canary_routes_each_record_the_same_way_over_grpc_and_rest(server, workspace, march):
    production = get_model_version(workspace, MODEL, release_state(workspace, MODEL)['production'])
    twin = register_model(workspace, MODEL, Path(workspace)/production['artifact'], production['run_id'],
                          {'params': {'task': 'classification'}})
    assert cli('deploy', MODEL, twin, '--strategy', 'canary', '--percent', 30, workspace=workspace).returncode == 0
    server.wait_for(lambda m: m['release']['strategy'] == 'canary')
    sent = march[3000:4000]
    rest, rpc = over_rest(server, sent), over_grpc(server, sent)
    routes = [(a['route'], a['version']) for a in rpc]
    assert routes == [(a['route'], a['version']) for a in rest]                # record by record
    assert {r for r, _ in routes} == {'production', 'canary'}
    assert 0.2 < sum(r == 'canary' for r, _ in routes) / len(sent) < 0.4       # about the 30% deployed
