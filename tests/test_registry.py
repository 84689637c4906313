"""The model registry: concurrent writers, tampered and untrusted files, stages, aliases and history, through the real
command."""
import json, os, sqlite3, subprocess, sys, time
import numpy as np, pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from mlops_nb.core import now_iso
from mlops_nb.modelfile import save_model
from mlops_nb.registry import get_model_version, load_registered, register_model
from conftest import cli

MODEL = LogisticRegression().fit(np.array([[0.], [1.], [2.], [3.]]), [0, 0, 1, 1])
WRITER = """
import sys, time
from mlops_nb.registry import register_model
workspace, path, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start: pass                       # both writers start at the same moment
print(' '.join(str(register_model(workspace, 'm', path, f'run-{i}')) for i in range(25)))
"""


@pytest.fixture
def model_file(tmp_path): return save_model(MODEL, tmp_path/'model.skops')


def test_two_processes_registering_at_once_get_distinct_versions(tmp_path, model_file):
    register_model(tmp_path, 'm', model_file)  # the database exists before the race
    start = time.time() + 3
    writers = [
        subprocess.Popen([sys.executable, '-c', WRITER,
                          str(tmp_path), str(model_file),
                          str(start)], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    versions = [int(v) for w in writers for v in w.communicate(timeout=120)[0].split()]
    assert all(w.returncode == 0 for w in writers)
    assert sorted(versions) == list(range(2, 52))  # 50 versions, none twice, none lost
    with sqlite3.connect(tmp_path/'registry.db') as conn:
        assert conn.execute('pragma integrity_check').fetchone()[0] == 'ok'
        assert conn.execute("select count(*) from events where kind = 'registered'").fetchone()[0] == 51


def test_a_model_file_with_one_byte_changed_is_refused(tmp_path, model_file):
    register_model(tmp_path, 'm', model_file)
    entry = get_model_version(tmp_path, 'm', 1)
    artifact = tmp_path/entry['artifact']
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    with pytest.raises(ValueError) as refused:
        load_registered(tmp_path, 'm', 1)
    assert str(refused.value) == f"{artifact}: sha256 is not the expected {entry['sha256']}; refusing to load"


def test_a_model_holding_a_type_outside_the_allow_list_is_not_registered(tmp_path):
    path = save_model(make_pipeline(FunctionTransformer(os.system), LogisticRegression()), tmp_path/'evil.skops')
    with pytest.raises(ValueError, match=r"evil.skops: refusing to load: it holds posix.system"):
        register_model(tmp_path, 'evil', path)


def state(workspace, at):
    result = cli('models', 'history', 'm', '--at', at, '--json', workspace=workspace)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)['state']


def test_history_answers_which_version_was_in_production(tmp_path, model_file):
    for run in ('r1', 'r2', 'r3'): register_model(tmp_path, 'm', model_file, run)
    before = now_iso('microseconds')
    steps = [('promote', 'm', '1', '--to', 'Production', '--reason', 'first model'),
             ('promote', 'm', '2', '--to', 'production', '--reason', 'AUC +0.01 over v1'),
             ('rollback', 'm', '--reason', 'v2 alerts on latency')]
    instants = []
    for step in steps:
        result = cli('models', *step, workspace=tmp_path)
        assert result.returncode == 0, result.stderr
        instants.append(now_iso('microseconds'))
    assert [state(tmp_path, t)['stages']['Production'] for t in [before, *instants]] == [[], [1], [2], [1]]
    assert [state(tmp_path, t)['aliases'] for t in instants] == [{'champion': 1}, {'champion': 2}, {'champion': 1}]
    assert state(tmp_path, instants[1])['stages']['Archived'] == [1]
    lines = cli('models', 'history', 'm', '--at', instants[2], workspace=tmp_path).stdout.splitlines()
    assert lines[0].startswith(f"Production at {instants[2]}: version 1 (since "
                               ) and 'rollback from version 2: v2 alerts on latency' in lines[0]
    log = cli('models', 'history', 'm', workspace=tmp_path).stdout
    assert 'version 2: Production -> Archived: replaced by version 1: rollback from version 2' in log
    assert f"  {os.environ.get('USER') or __import__('getpass').getuser()}  " in log
    shown = json.loads(cli('models', 'show', 'm:1', workspace=tmp_path).stdout)
    assert shown['stage'] == 'Production' and shown['aliases'] == ['champion']
    assert 'Production' in cli('models', 'list', workspace=tmp_path).stdout


@pytest.mark.parametrize('args, code, message', [
    (['promote', 'nope', '1', '--to', 'Staging', '--reason', 'x'], 1, "no model 'nope' in the registry (models: m)"),
    (['promote', 'm', '9', '--to', 'Staging', '--reason', 'x'], 1, "model 'm' has no version 9"),
    (['promote', 'm', '1', '--to', 'Live', '--reason', 'x'
      ], 2, "unknown stage 'Live' (stages: None, Staging, Production, Archived)"),
    (['promote', 'm', '1', '--to', 'Staging', '--reason', ''], 2, "a reason is required (--reason TEXT)"),
    (['history', 'm', '--at', 'last tuesday'
      ], 2, "--at 'last tuesday' is not an ISO 8601 time, e.g. 2026-11-23T14:02:00"),
    (['rollback', 'm'], 1, "model 'm' has no champion to roll back"),
    (['show', 'm:x'], 2, "version must be a number, got 'x'")
])
def test_registry_errors_are_one_clear_line(tmp_path, model_file, args, code, message):
    register_model(tmp_path, 'm', model_file)
    result = cli('models', *args, workspace=tmp_path)
    assert result.returncode == code and result.stderr.strip() == f"mlops-nb: error: {message}" and not result.stdout


def test_first_champion_cannot_be_rolled_back(tmp_path, model_file):
    register_model(tmp_path, 'm', model_file)
    assert cli('models', 'promote', 'm', '1', '--to', 'Production', '--reason', 'first',
               workspace=tmp_path).returncode == 0
    result = cli('models', 'rollback', 'm', workspace=tmp_path)
    assert (
        result.returncode == 1 and "version 1 is the first champion; there is nothing to roll back to" in result.stderr
    )
