"Shared helpers: run the real `mlops-nb` command in a scratch workspace."
import os, subprocess
import pandas as pd, pytest, whylogs as why
from mlops_nb.core import find_run, list_runs, read_record
from mlops_nb.drift import kll
from mlops_nb.suite import THRESHOLDS

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


def rank_error():
    "How far a whylogs KLL sketch's CDF may be from the data's (99% confidence), for the k whylogs uses."
    return kll(why.log(pd.DataFrame({'x': [0.0]})).view().get_column('x')).normalized_rank_error(False)


def near(value, limit, tolerance):
    "Whether `value` is within `tolerance` of `limit`: where a noisy statistic may land on either side."
    return abs(value - limit) <= tolerance


def same_report(report, other):
    """Two validations of the same rows agree: the verdict, the counts, and every check in the same order.

    KS and PSI of numbers are read from whylogs' KLL sketches, whose compaction is random, so two validations differ a
    little even in one process: their statistics agree within the sketches' noise, and their status may differ only
    for a value that near its limit. Every other check is exact: the same status and the same observation."""
    assert (other['status'], other['rows']) == (report['status'], report['rows'])
    assert [(c['check'], c['column']) for c in other['checks']] == [(c['check'], c['column']) for c in report['checks']]
    for one, two in zip(report['checks'], other['checks']):
        if one['check'] == 'ks':                                   # each CDF off by at most the rank error
            assert abs(one['observed']['statistic'] - two['observed']['statistic']) <= 2*rank_error(), (one, two)
            assert one['status'] == two['status'] or near(one['observed']['p_value'], THRESHOLDS['p_value'], THRESHOLDS['p_value']/2), (one, two)
        elif one['check'] == 'psi':   # on March's converted distance (few distinct values), PSI had std 0.007 over 30 sketches
            tolerance = 0.05*max(1, one['observed'])               # of the same rows (median 0.83): ~5 std
            assert abs(one['observed'] - two['observed']) <= tolerance, (one, two)
            assert one['status'] == two['status'] or near(one['observed'], THRESHOLDS['psi'], tolerance), (one, two)
        elif one['check'] == 'chi2':                               # counts of frequent items, exact while they fit the sketch
            assert abs(one['observed']['statistic'] - two['observed']['statistic']) <= 0.01*max(1, one['observed']['statistic'])
            assert one['status'] == two['status'], (one, two)
        else: assert (one['status'], one['observed']) == (two['status'], two['observed']), (one, two)
