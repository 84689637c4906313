"""Authenticated changes: a server with a token refuses every route but the probes without it (401), answers with it,
and refuses a Host header that is not its own, whatever the token."""
import json, os
from pathlib import Path
import httpx, pytest
from conftest import copy_workspace
from test_serving import LiveServer

TOKEN = 'a-token-of-the-tests-0123456789'
DOCUMENTED = Path(__file__).parent.parent/'docs'/'openapi.json'   # the docs site's HTTP reference is written from it

pytestmark = pytest.mark.xdist_group('auth')   # one guarded server for the module


@pytest.fixture(scope='module')
def guarded(trained, tmp_path_factory):
    "A server on loopback with MLOPS_NB_TOKEN set: the token is then required there too."
    workspace = copy_workspace(trained, tmp_path_factory.mktemp('auth')/'ws')
    os.environ['MLOPS_NB_TOKEN'] = TOKEN
    try: live = LiveServer(workspace).start()
    finally: del os.environ['MLOPS_NB_TOKEN']
    yield live
    live.stop()


def test_every_route_but_the_probes_takes_the_token(guarded):
    for path in ('/health', '/ready'):
        assert httpx.get(f'{guarded.url}{path}').status_code == 200
    for method, path in (('GET', '/metadata'), ('GET', '/metrics'), ('GET', '/docs'), ('GET', '/openapi.json'),
                         ('POST', '/predict'), ('POST', '/feedback'), ('GET', '/nowhere')):
        bare = httpx.request(method, f'{guarded.url}{path}', json=[])             # refused before the body is read
        assert bare.status_code == 401 and bare.headers['www-authenticate'] == 'Bearer', (path, bare.text)
        assert bare.json()['message'] == f"{path}: no bearer token: send the header 'Authorization: Bearer <token>'"
        wrong = httpx.request(method, f'{guarded.url}{path}', headers={'Authorization': 'Bearer ' + 'x' * len(TOKEN)})
        assert wrong.status_code == 401 and wrong.json()['message'] == f"{path}: the bearer token is not this server's"
    for path in ('/metadata', '/metrics', '/docs'):
        assert httpx.get(f'{guarded.url}{path}', headers={'Authorization': f'Bearer {TOKEN}'}).status_code == 200


def test_the_schema_says_which_operations_take_the_token(guarded):
    schema = httpx.get(f'{guarded.url}/openapi.json', headers={'Authorization': f'Bearer {TOKEN}'}).json()
    assert schema['components']['securitySchemes'] == {'bearer': {'type': 'http', 'scheme': 'bearer'}}
    secured = {
        path
        for path, operations in schema['paths'].items()
        if all(o.get('security') == [{'bearer': []}] for o in operations.values())
    }
    assert secured == set(schema['paths']) - {'/health', '/ready'}


def test_a_foreign_host_header_is_refused_even_with_the_token(guarded):
    headers = {'Authorization': f'Bearer {TOKEN}'}
    assert httpx.get(f'{guarded.url}/metadata',
                     headers={**headers, 'Host': f'localhost:{guarded.port}'}).status_code == 200
    rebound = httpx.get(f'{guarded.url}/metadata', headers={**headers, 'Host': f'attacker.example:{guarded.port}'})
    assert rebound.status_code == 400  # a page that rebinds its name to 127.0.0.1
    assert httpx.get(f'{guarded.url}/health', headers={'Host': 'attacker.example'}).status_code == 400


def test_the_documented_schema_is_the_servers(guarded):
    "docs/openapi.json is what a guarded server serves, so the HTTP reference cannot drift from the API."
    served = httpx.get(f'{guarded.url}/openapi.json', headers={'Authorization': f'Bearer {TOKEN}'}).json()
    if os.environ.get('MLOPS_NB_WRITE_OPENAPI'):
        DOCUMENTED.write_text(json.dumps(served, indent=1, sort_keys=True) + '\n')
    assert json.loads(DOCUMENTED.read_text()) == served, (
        "docs/openapi.json is not the server's schema: "
        "`MLOPS_NB_WRITE_OPENAPI=1 pytest tests/test_auth.py -k documented` "
        "writes it"
    )
