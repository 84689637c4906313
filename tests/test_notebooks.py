"""The stage notebooks run by hand, in order, as JupyterLab runs them: in nbs/, with their own defaults, nothing
injected."""
import nbformat, pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from mlops_nb.core import read_record
from mlops_nb.pipeline import STAGES, notebooks_dir, quiet_kernel_manager
from mlops_nb.registry import list_models

pytestmark = pytest.mark.xdist_group('notebooks')   # one dev run for the module


def execute(notebook, edit=''):
    "Run a notebook of nbs/ top to bottom in a fresh kernel, in nbs/; `edit` is a line added to its parameters cell."
    nb = nbformat.read(notebooks_dir()/notebook, as_version=4)
    if edit: next(c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])).source += f'\n{edit}'
    NotebookClient(nb, timeout=1200, kernel_name='python3', resources={'metadata': {'path': str(notebooks_dir())}},
                   # a kernel as JupyterLab starts it, without the heartbeat that can hang
                   kernel_manager_class=quiet_kernel_manager()).execute()


@pytest.fixture(scope='module')
def dev_workspace(tmp_path_factory):
    "The workspace of a dev run: the six stage notebooks executed in order with their defaults."
    workspace, env = tmp_path_factory.mktemp('dev'), pytest.MonkeyPatch()
    for name, value in [('MLOPS_NB_WORKSPACE', str(workspace)), ('WANDB_MODE', 'offline'), ('WANDB_SILENT', 'true')]:
        env.setenv(name, value)
    try:
        for notebook in STAGES.values(): execute(notebook)
        yield workspace
    finally: env.undo()  # a failed stage must not leave the variables set


def test_the_notebooks_defaults_make_a_dev_run_that_passes(dev_workspace):
    rec = read_record(dev_workspace/'runs'/'dev')
    assert [(s['name'], s['status']) for s in rec['stages']] == [(name, 'succeeded') for name in STAGES]
    assert rec['status'] == 'succeeded' and rec['failed_stage'] is None and rec['ended'] >= rec['started']
    assert rec['metrics']['test_roc_auc'] > rec['metrics']['baseline_test_roc_auc']
    [version] = list_models(dev_workspace)
    assert (version['run_id'], version['stage'], version['aliases']) == ('dev', 'Production', ['champion'])


def test_register_refuses_a_model_that_did_not_pass_its_gates(dev_workspace):
    # a person raises the floor
    with pytest.raises(CellExecutionError) as failed: execute(STAGES['evaluate'], 'min_test_roc_auc = 0.99')
    assert failed.value.ename == 'GateFailed' and failed.value.evalue.startswith('quality gate failed: test_roc_auc')
    # ...then runs register, as if nothing failed
    with pytest.raises(CellExecutionError) as refused: execute(STAGES['register'])
    assert refused.value.ename == 'NotEvaluated'
    assert refused.value.evalue.startswith('run dev: the model did not pass its quality gates (test_roc_auc ')
    assert refused.value.evalue.endswith(' is below the floor 0.99); nothing registered')
    assert len(list_models(dev_workspace)) == 1  # nothing registered, nothing promoted
    rec = read_record(dev_workspace/'runs'/'dev')
    assert {s['name']: s['status']
            for s in rec['stages']
            } == {**{name: 'succeeded'
                     for name in STAGES}, 'evaluate': 'failed', 'register': 'failed'}
    assert (rec['status'],
            rec['failed_stage']) == ('failed',
                                     'evaluate') and rec['error'].startswith('GateFailed: quality gate failed')
