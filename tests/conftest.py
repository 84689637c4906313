"Shared helpers: run the real `mlops-nb` command in a scratch workspace."
import os, subprocess
import pytest
from mlops_nb.core import find_run, list_runs, read_record

# The first quarter of 2013, tested on March: small enough for CI, large enough for a fair comparison. Validation
# starts mid-February, so each trial is scored on two windows (Feb 1-14 and 15-28), and four trials keep it quick.
SLICE = ['-p', 'filter=month <= 3', '-p', 'valid_start=2013-02-15', '-p', 'test_start=2013-03-01', '-p', 'trials=4']


def cli(*args, workspace=None, timeout=900, cwd=None):
    "Run `mlops-nb ARGS` in a subprocess, in `cwd`; W&B is forced offline so tests never touch the network."
    env = {**os.environ, 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true'}
    if workspace: env['MLOPS_NB_WORKSPACE'] = str(workspace)
    return subprocess.run(['mlops-nb', *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)


def first_run(workspace):
    "The oldest run directory of the workspace."
    return list_runs(workspace)[0]


def record(workspace, run_id=None):
    "The run record of `run_id`, or of the newest run."
    return read_record(find_run(workspace, run_id or 'latest'))


@pytest.fixture(scope='session')
def slice_workspace(tmp_path_factory):
    "A workspace with two runs of the same sliced config, both executed (`--no-cache`), as two runs on two days would be."
    workspace = tmp_path_factory.mktemp('slice')
    for _ in range(2):
        result = cli('run', *SLICE, '--no-cache', workspace=workspace)
        assert result.returncode == 0, result.stderr
    return workspace
