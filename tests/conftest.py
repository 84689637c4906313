"""Shared helpers: run the real `mlops-nb` command in a scratch workspace, and share trained workspaces across tests.

The suite runs on two pytest-xdist workers (`-n 2 --dist loadgroup`). What is expensive to make, a trained workspace,
is made once per test session by whichever worker asks first (`built_once`) and then only read; a test that changes a
workspace works on its own `copy_workspace` of it."""
import fcntl, os, shutil, subprocess
from pathlib import Path
# Two workers on two cores: one OpenMP thread each (scikit-learn's trees, OpenBLAS), set before numpy loads and
# inherited by every command a test starts. With two threads each the cores were oversubscribed: a slice run's
# train stage took 133 s instead of 20 while the other worker replayed.
if 'PYTEST_XDIST_WORKER' in os.environ: os.environ.setdefault('OMP_NUM_THREADS', '1')
# The notebooks' own tests (the examples under their definitions) run once, in the docs test's build. The commands the
# tests start run their stages without them, as a team's scheduled runs may: a slice run takes 29% less. The tests of
# what a user runs by default (the quick start, the wheel, a project's workflow, the docs) pass `WITH_NOTEBOOK_TESTS`.
os.environ.setdefault('MLOPS_NB_NOTEBOOK_TESTS', '0')
WITH_NOTEBOOK_TESTS = {'MLOPS_NB_NOTEBOOK_TESTS': '1'}
import numpy as np, pandas as pd, pytest, scipy.stats, whylogs as why
from mlops_nb.core import find_run, list_runs, read_record
from mlops_nb.drift import kll
from mlops_nb.suite import THRESHOLDS

# The first quarter of 2013, tested on March: small enough for CI, large enough for a fair comparison. Validation
# starts mid-February, so each trial is scored on two windows (Feb 1-14 and 15-28), and four trials keep it quick.
SLICE = ['-p', 'filter=month <= 3', '-p', 'valid_start=2013-02-15', '-p', 'test_start=2013-03-01', '-p', 'trials=4']
# Added to SLICE: a quarter of its rows, two trials, and gates any working model passes. For tests of what runs, what is
# reused and what is installed, not of how good the model is: each run costs about a third less.
QUARTER = ['-p', 'sample_fraction=0.25', '-p', 'trials=2',
           '-p', 'min_test_roc_auc=0.55', '-p', 'must_beat_baseline=false', '-p', 'slice_margin=1.0']


def cli(*args, workspace=None, timeout=900, cwd=None, env=None):
    """Run `mlops-nb ARGS` in a subprocess, in `cwd`, with `env` added to the environment; W&B is forced offline so
    tests never touch the network."""
    env = {**os.environ, **(env or {}), 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true'}
    if workspace: env['MLOPS_NB_WORKSPACE'] = str(workspace)
    return subprocess.run(['mlops-nb', *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=cwd)


def first_run(workspace):
    "The oldest run directory of the workspace."
    return list_runs(workspace)[0]


def record(workspace, run_id=None):
    "The run record of `run_id`, or of the newest run."
    return read_record(find_run(workspace, run_id or 'latest'))


def shared_folder(tmp_path_factory):
    "The folder all xdist workers of this session share (the session's base); without xdist, the session's own."
    base = tmp_path_factory.getbasetemp()
    return base.parent if 'PYTEST_XDIST_WORKER' in os.environ else base


def built_once(tmp_path_factory, # pytest's tmp_path_factory
               name,             # the folder's name in the shared folder
               build,            # called with the new folder to fill it
              ):
    """The folder `name`, filled by `build` once per test session: the first worker to ask builds it under a lock, the
    others wait for it and reuse it. A failed build is reported to every later asker, not tried again."""
    root = shared_folder(tmp_path_factory)
    folder, done, failed = root/name, root/f'{name}.done', root/f'{name}.failed'
    with open(root/f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                      # released when the file closes, or the process dies
        if failed.exists(): pytest.fail(failed.read_text(), pytrace=False)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try: build(folder)
            except BaseException as e:
                failed.write_text(f'the shared workspace {name!r} could not be built: {e}')
                raise
            done.touch()
    return folder


def written_once(path): # a file's path inside a workspace, relative to it
    "Whether the file is never written again: a stage's data, model or profile, or a content-addressed artifact."
    return path.parts[0] == 'artifacts' or (path.parts[0] == 'runs' and path.suffix in ('.parquet', '.skops', '.bin'))


def copy_workspace(source, # a workspace
                   target, # the folder to make
                  ):
    """A workspace of its own for a test that changes it: files written once are hard links, as the stage cache links
    a reused stage's outputs; records, databases, the feature store and logs are copies. The copy's runs serve from the
    copy's own feature store (`features.read_spec`)."""
    source, target = Path(source), Path(target)
    def link_or_copy(src, dst):
        if written_once(Path(src).relative_to(source)): os.link(src, dst)
        else: shutil.copy2(src, dst)
    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)    # W&B's latest-run stays a link
    return target


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    "A workspace with one pipeline run on the slice, made once per test session and only read: copy it to change it."
    def build(workspace):
        result = cli('run', *SLICE, workspace=workspace)
        assert result.returncode == 0, result.stderr
    return built_once(tmp_path_factory, 'trained', build)


@pytest.fixture(scope='session')
def slice_workspace(tmp_path_factory, trained):
    """The trained workspace and a second run of the same config, executed again (`--no-cache`), as two runs on two days
    would be. Made once per test session and only read: a test that runs commands which write into it takes a copy."""
    def build(workspace):
        copy_workspace(trained, workspace/'ws')
        result = cli('run', *SLICE, '--no-cache', workspace=workspace/'ws')
        assert result.returncode == 0, result.stderr
    return built_once(tmp_path_factory, 'slice', build)/'ws'


@pytest.fixture
def slice_copy(slice_workspace, tmp_path):
    "A copy of the slice workspace for one test to change."
    return copy_workspace(slice_workspace, tmp_path/'ws')


def rank_error():
    "How far a whylogs KLL sketch's CDF may be from the data's (99% confidence), for the k whylogs uses."
    return kll(why.log(pd.DataFrame({'x': [0.0]})).view().get_column('x')).normalized_rank_error(False)


def near(value, limit, tolerance):
    "Whether `value` is within `tolerance` of `limit`: where a noisy statistic may land on either side."
    return abs(value - limit) <= tolerance


def p_band(observed): # a KS check's observation: {'p_value', 'statistic'}
    "The p-values the sketches' noise allows (the statistic within twice the rank error), lowest and highest."
    root_n = scipy.stats.kstwobign.isf(observed['p_value']) / observed['statistic']        # the sample size, recovered
    return tuple(
        float(scipy.stats.kstwobign.sf(max(observed['statistic'] + d, 0) * root_n))
        for d in (2 * rank_error(), -2 * rank_error()))


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
            low, high = p_band(one['observed'])
            assert one['status'] == two['status'] or low <= THRESHOLDS['p_value'] <= high, (one, two, low, high)
        # on March's converted distance (few distinct values), PSI had std 0.007 over 30 sketches
        elif one['check'] == 'psi':
            tolerance = 0.05*max(1, one['observed'])               # of the same rows (median 0.83): ~5 std
            assert abs(one['observed'] - two['observed']) <= tolerance, (one, two)
            assert one['status'] == two['status'] or near(one['observed'], THRESHOLDS['psi'], tolerance), (one, two)
        elif one['check'] == 'chi2':  # counts of frequent items, exact while they fit the sketch
            assert abs(one['observed']['statistic'] - two['observed']['statistic']) <= 0.01 * max(
                1, one['observed']['statistic']
            )
            assert one['status'] == two['status'], (one, two)
        else: assert (one['status'], one['observed']) == (two['status'], two['observed']), (one, two)


# The work units xdist schedules (a group, or a test on its own), heaviest first; units not listed follow in collection
# order. Seconds of each, setup included, on two workers of the 2-core machine (`--durations=0`, 2026-12-05):
# serving 245, cache 220, cluster 224, replay 198, wheel 173, default run 164, change 122, workflow 113, crash 110,
# january 83, killed run 78, worse canary 78, alert rate at 300,000 rows 78, ten years 72, notebooks 71, regression 62,
# SQL table 55. The cluster's tests come third, not second: they need the slice workspace, which needs the trained
# one that serving's setup is making, and xdist hands each worker two units at the start.
# docs: not beside the serving unit's latency checks
HEAVY = ['serving', 'test_cache_reuses_only_what_did_not_change', 'cluster', 'replay', 'docs',
         'change', 'weather', 'compare', 'fresh',
         'test_wheel_in_a_fresh_venv_runs_the_project_with_its_own_notebooks',
         'test_default_run_reaches_the_roc_auc_floor', 'workflow', 'crash', 'january',
         'test_a_run_killed_in_train_resumes_to_the_same_model', 'test_a_worse_canary_is_rolled_back',
         'test_windows_drawn_from_the_reference_alert_at_about_the_configured_rate[300000-100]',
         'test_validating_ten_years_keeps_the_client_small', 'notebooks', 'test_regression_task_runs_end_to_end',
         'test_sql_table_runs_the_whole_pipeline']


def work_unit(item): # a collected test
    "The unit xdist schedules the test in: its `xdist_group`, or the test alone."
    mark = item.get_closest_marker('xdist_group')
    return mark.args[0] if mark else item.name


def pytest_configure(config):
    "Keep the order `HEAVY` gives: xdist would otherwise sort its units by their number of tests."
    if hasattr(config.option, 'loadscopereorder'): config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    "Heaviest unit first, each unit's tests in their order: the longest work starts first, both workers end together."
    rank = {unit: i for i, unit in enumerate(HEAVY)}
    items.sort(key=lambda item: rank.get(work_unit(item), len(HEAVY)))


def detection_and_recovery(record, change):
    """The steps' ROC AUC, the first step whose checks fired, and how many steps after it the served ROC AUC came back
    within 0.05 of its mean before the change (None: it did not)."""
    steps = record['steps']
    auc = {pd.Timestamp(s['from']): s['final']['roc_auc'] for s in steps}
    fired = [pd.Timestamp(s['from']) for s in steps if any(c['fired'] for c in s['checks'])]
    before = np.mean([v for t, v in auc.items() if t < change])
    first = min(fired) if fired else None
    back = [t for t, v in auc.items() if first is not None and t > first and v >= before - 0.05]
    delay = sum(1 for t in auc if first is not None and first < t <= min(back)) if back else None
    print(f"ROC AUC per step: {[round(v, 3) for v in auc.values()]}; before "
          f"the change {before:.3f}; first firing {first}; "
          "detection delay "
          f"{(first - change).days if first is not None else None} days; "
          f"recovery {delay} step(s) after it")
    return fired, first, delay
