"A team's own project: `init`, its CI/CD workflow run step by step on a slice, its container, and `init --check`."
import fnmatch, json, os, re, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path
import kubernetes_validate, pytest, yaml
from conftest import QUARTER, SLICE, WITH_NOTEBOOK_TESTS, cli
from mlops_nb.core import list_runs, read_record
from mlops_nb.pipeline import STAGES
from mlops_nb.project import DOCKERIGNORE, dockerfile_text
from mlops_nb.release import release_state
from mlops_nb.simulate import free_port

SLICE_CONFIG = dict(pair.split('=', 1) for pair in SLICE[1::2])
AIRFLOW = Path(os.environ.get('MLOPS_NB_AIRFLOW', Path.home()/'.cache'/'mlops_nb'/'airflow'))/'bin'/'airflow'


def slice_project(folder):
    "A flights project whose mlops.yaml runs on the CI slice (the first quarter, tested on March)."
    result = cli('init', folder)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((folder/'mlops.yaml').read_text())
    config.update(SLICE_CONFIG, trials=int(SLICE_CONFIG['trials']))
    (folder/'mlops.yaml').write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def job_order(jobs):
    "The workflow's jobs in an order that respects `needs` (each of ours needs one job)."
    done = []
    while len(done) < len(jobs):
        done += [name for name, job in jobs.items() if name not in done and job.get('needs') in (None, *done)]
    return done


def run_step(command, cwd, env):
    "Run a step's script as a CI runner does (bash -e), then end whatever it left running, as a runner ends a job's."
    process = subprocess.Popen(['bash', '-e', '-c', command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try: out, err = process.communicate(timeout=900)
    finally:
        try: os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError: pass
    return process.returncode, out, err


@pytest.fixture(scope='module')
def workflow_project(tmp_path_factory):
    "A slice project after its workflow's steps ran in order: the step results, by job."
    project = slice_project(tmp_path_factory.mktemp('team')/'flights')
    workflow = yaml.safe_load((project/'.github'/'workflows'/'mlops.yml').read_text())
    env = {
        **os.environ, **workflow['env'], **WITH_NOTEBOOK_TESTS, 'WANDB_SILENT': 'true',
        'PATH': f"{Path(sys.executable).parent}:{os.environ['PATH']}", 'GITHUB_ACTIONS': 'true', 'CI': 'true'
    }  # as GitHub's runner sets them for every step
    results = []
    for job in job_order(workflow['jobs']):
        for step in workflow['jobs'][job]['steps']:
            # `uses:` steps move files between CI machines; this package is installed
            if 'run' not in step or step['name'] == 'Install': continue
            code, out, err = run_step(step['run'], project, env)
            results.append((job, step['run'], code, out, err))
            if code: break
    return project, results


def test_generated_workflow_passes_actionlint(tmp_path):
    "The workflow `init` writes is valid GitHub Actions (actionlint), and actionlint does catch a broken one."
    project = slice_project(tmp_path/'p')
    path = project/'.github'/'workflows'/'mlops.yml'
    result = subprocess.run(['actionlint', str(path)], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, ''), result.stdout
    path.write_text(path.read_text().replace('needs: data', 'needs: dataa', 1))
    broken = subprocess.run(['actionlint', str(path)], capture_output=True, text=True)
    assert broken.returncode == 1 and 'dataa' in broken.stdout


@pytest.mark.xdist_group('workflow')   # one project after its workflow ran
def test_workflow_steps_run_in_order_on_a_slice(workflow_project):
    "Each job's `mlops-nb` steps, in the jobs' order, succeed: data validation, pipeline, gates, staging, canary."
    project, results = workflow_project
    for job, command, code, out, err in results: assert code == 0, f"{job}: {command}: {err[-2000:]}"
    assert [job for job, *_ in results] == ['data', 'pipeline', 'gates', 'staging', 'canary']
    assert all(command.startswith('mlops-nb ') for _, command, *_ in results)
    workspace = project/'workspace'
    smoke = json.loads((workspace/'staging'/'smoke.json').read_text())
    assert (smoke['requests'], smoke['wrong'], smoke['version']) == (200, 0, 1)
    assert smoke['latency_ms']['p95'] <= smoke['max_p95_ms']
    # the first version: no production to put a canary beside
    assert release_state(workspace, 'flights_late')['production'] == 1
    assert release_state(workspace/'staging', 'flights_late')['production'] == 1
    deployed = json.loads((sorted((workspace/'runs').iterdir())[-1]/'deploy.json').read_text())
    assert deployed['strategy'] == 'replace'    # a canary needs production beside it: the first version replaces


@pytest.mark.xdist_group('workflow')   # one project after its workflow ran
def test_dockerfile_passes_hadolint_and_what_it_copies_serves(workflow_project, tmp_path):
    "hadolint passes the Dockerfile; after a run each file it copies exists, and a server on those alone answers."
    project, results = workflow_project
    assert all(code == 0 for *_, code, _, _ in results)
    for dockerfile in (project/'Dockerfile', Path(__file__).parent.parent/'Dockerfile'):
        result = subprocess.run(['hadolint', str(dockerfile)], capture_output=True, text=True)
        assert (result.returncode, result.stdout) == (0, ''), result.stdout
    text = (project/'Dockerfile').read_text()
    assert text == dockerfile_text() and (project/'.dockerignore').read_text() == DOCKERIGNORE
    copies = [line.split()[-2] for line in text.splitlines() if line.startswith('COPY ')]
    assert copies == ['workspace/registry.db', 'workspace/artifacts', 'workspace/runs', 'workspace/feature_repo']
    for source in copies: assert (project/source).exists(), source
    # the build context after .dockerignore: exclude everything, then add back its `!` patterns
    keep = [p[1:].rstrip('/') for p in DOCKERIGNORE.splitlines() if p.startswith('!')]
    image = tmp_path/'image'
    for path in (project/'workspace').rglob('*'):
        relative = str(path.relative_to(project))
        if path.is_file() and any(fnmatch.fnmatch(relative, k) or fnmatch.fnmatch(relative, k + '/*') for k in keep):
            (image/relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, image/relative)
    runs = image/'workspace'/'runs'
    kept = {p.relative_to(runs).parts[1] for p in runs.rglob('*.parquet') if p.is_file()}
    assert kept == {'feature_sources'}  # the data snapshots stay out; the store's sources go in, parts and all
    port = free_port()
    (tmp_path/'token').write_text('a-token-mounted-as-a-secret\n')  # as the Dockerfile's secret is mounted
    env = {
        **os.environ, 'MLOPS_NB_WORKSPACE': str(image / 'workspace'), 'WANDB_MODE': 'offline',
        'MLOPS_NB_TOKEN_FILE': str(tmp_path / 'token')
    }
    assert 'MLOPS_NB_TOKEN_FILE=/run/secrets/mlops_nb_token' in text
    server = subprocess.Popen(['mlops-nb', 'serve', '--host', '127.0.0.1', '--port', str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline, status = time.monotonic() + 180, None
        while time.monotonic() < deadline and status != 200:
            try: status = urllib.request.urlopen(f'http://127.0.0.1:{port}/ready', timeout=5).status
            except OSError: time.sleep(0.5)
            assert server.poll() is None, server.stderr.read()
        assert status == 200
        spec = json.loads(next((image/'workspace'/'runs').glob('*/feature_spec.json')).read_text())
        record = {name: info['example'] for name, info in spec['request'].items()}
        request = urllib.request.Request(f'http://127.0.0.1:{port}/predict',
                                         json.dumps([record]).encode(), {'content-type': 'application/json'})
        # the token is required
        with pytest.raises(urllib.error.HTTPError, match='401'): urllib.request.urlopen(request, timeout=30)
        request.add_header('Authorization', 'Bearer a-token-mounted-as-a-secret')
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())['predictions'][0]
        assert 0 <= answer['probability'] <= 1 and answer['version'] == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


def test_init_check_names_each_problem_in_one_line(tmp_path):
    "With a parameter or report removed, `init --check` names each in one line, exits 1; a changed Dockerfile: a note."
    project = slice_project(tmp_path/'p')
    result = cli('init', '--check', cwd=project/'nbs')
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('same as the shipped notebook') == 9
    assert "reports/monitoring.ipynb: same as the package's" in result.stdout.splitlines()
    assert "Dockerfile: same as the package's" in result.stdout.splitlines()
    train = project/'nbs'/'04_train.ipynb'
    notebook = json.loads(train.read_text())
    cell = next(c for c in notebook['cells'] if 'parameters' in c['metadata'].get('tags', []))
    cell['source'] = [line for line in cell['source'] if not line.startswith('trials ')]
    train.write_text(json.dumps(notebook))
    (project/'reports'/'monitoring.ipynb').unlink()
    (project/'Dockerfile').write_text((project/'Dockerfile').read_text().replace('3.11-slim', '3.12-slim'))
    result = cli('init', '--check', cwd=project)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if 'missing' in line]
    assert problems == [
        "nbs/04_train.ipynb: parameter 'trials' is missing from the parameters cell (the package's default: 4)",
        "reports/monitoring.ipynb: missing; the commands need it (a new `mlops-nb init` folder has it)"
    ]
    assert "nbs/04_train.ipynb: differs from the shipped notebook" in result.stdout
    assert "Dockerfile: differs from the package's (yours is used)" in result.stdout.splitlines()
    assert result.stderr.startswith('mlops-nb: error: 2 problems in ') and len(result.stderr.splitlines()) == 1



KUBERNETES = '1.30'   # the oldest Kubernetes the manifests are checked against (every field they use is older)


def test_kubernetes_manifests_pass_the_schemas_and_init_check_notices_a_change(tmp_path):
    """Every document `init` writes in k8s/ passes Kubernetes' schemas (strict: no unknown field), a broken one does
    not; the jobs run commands the CLI has, the server the Dockerfile's; `init --check` notes a changed manifest."""
    project = slice_project(tmp_path/'p')
    docs = [d for path in sorted((project/'k8s').glob('*.yaml')) for d in yaml.safe_load_all(path.read_text())]
    assert [d['kind'] for d in docs] == ['CronJob'] * 3 + ['Deployment', 'Service', 'PersistentVolumeClaim']
    for doc in docs: kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    server = docs[3]['spec']['template']['spec']['containers'][0]
    broken = json.loads(json.dumps(docs[3]))
    broken['spec']['template']['spec']['containers'][0]['readinessProbe']['httpGet']['paht'] = '/ready'
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    assert server['command'] == yaml.safe_load(dockerfile_text().rsplit('\nCMD ', 1)[1])   # the image's own command
    for job in docs[:3]:
        command = job['spec']['jobTemplate']['spec']['template']['spec']['containers'][0]['command']
        result = cli(*command[1:], '--help')
        assert command[0] == 'mlops-nb' and result.returncode == 0, (command, result.stderr)
    result = cli('init', '--check', cwd=project)
    assert "k8s/server.yaml: same as the package's" in result.stdout.splitlines()
    (project/'k8s'/'jobs.yaml').write_text((project/'k8s'/'jobs.yaml').read_text().replace('15 * * * *', '0 * * * *'))
    result = cli('init', '--check', cwd=project)
    assert result.returncode == 0 and "k8s/jobs.yaml: differs from the package's (yours is used)" in result.stdout


def airflow(*args, home, project):
    "Run `airflow ARGS` from its own venv, its home and the project's dags/ given; each task's mlops-nb is ours."
    env = {
        **os.environ, 'AIRFLOW_HOME': str(home), 'AIRFLOW__CORE__DAGS_FOLDER': str(project/'dags'),
        'AIRFLOW__CORE__LOAD_EXAMPLES': 'False', 'MLOPS_NB_RETRIES': '0', 'WANDB_MODE': 'offline',
        'WANDB_SILENT': 'true', 'MLOPS_NB_WORKSPACE': str(project/'workspace'),
        'MLOPS_NB_COMMAND': str(Path(sys.executable).parent/'mlops-nb'),
    }
    return subprocess.run([str(AIRFLOW), *args], capture_output=True, text=True, env=env, timeout=900)


def test_the_airflow_dag_runs_each_stage_as_a_task_of_one_run_and_a_failing_stage_fails_its_task(tmp_path):
    """Airflow itself (`airflow dags test`) runs the generated pipeline DAG on the CI slice, its params reaching the
    notebooks as -p: one run, every stage done by its own task; then a gate no model passes fails `evaluate` with the
    stage's one-line error, and `register` and `deploy` never run."""
    project, home = slice_project(tmp_path/'p'), tmp_path/'airflow'
    assert airflow('db', 'migrate', home=home, project=project).returncode == 0
    parsed = airflow('dags', 'reserialize', home=home, project=project)             # the file imports: both DAGs
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    listed = airflow('dags', 'list', '-o', 'plain', home=home, project=project)
    assert {'mlops_nb_pipeline', 'mlops_nb_production'} <= set(listed.stdout.split()), listed.stdout + listed.stderr
    quarter = dict(pair.split('=', 1) for pair in QUARTER[1::2])
    result = airflow('dags', 'test', 'mlops_nb_pipeline', '-c', json.dumps({'overrides': quarter}), home=home,
                     project=project)
    assert result.returncode == 0 and 'state=success' in result.stdout + result.stderr, result.stderr[-3000:]
    [run] = list_runs(project/'workspace')
    done = read_record(run)
    assert done['status'] == 'succeeded' and done['plan'] == list(STAGES), done
    assert [(s['name'], s['status']) for s in done['stages']] == [(name, 'succeeded') for name in STAGES]
    assert len(done['resumed']) == len(STAGES) - 1 and done['config']['sample_fraction'] == 0.25    # a -p value
    failing = json.dumps({'overrides': {**quarter, 'min_test_roc_auc': 0.99}})
    result = airflow('dags', 'test', 'mlops_nb_pipeline', '-c', failing, home=home, project=project)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and 'state=failed' in said, said[-3000:]
    assert re.search(r"AirflowException: mlops-nb: error: stage 'evaluate' failed: GateFailed: quality gate failed: "
                     r"test_roc_auc [0-9.]+ is below the floor 0.99 \(traceback in ", said), said[-3000:]
    failed = read_record(list_runs(project/'workspace')[-1])
    assert (failed['status'], failed['failed_stage']) == ('failed', 'evaluate')
    assert [s['name'] for s in failed['stages']] == list(STAGES)[:5]                  # register and deploy never ran


ALERT_TESTS = {
    'Data invariants hold for inputs', 'Models are not too stale', 'Computing performance has not regressed',
    'Prediction quality has not regressed'
}


def readiness_report(project):
    "`mlops-nb readiness --json` in the project."
    result = cli('readiness', '--json', workspace=project/'workspace', cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.xdist_group('workflow')   # one project after its workflow ran
def test_readiness_scores_28_tests_with_evidence_and_removing_the_alert_rules_lowers_exactly_theirs(workflow_project):
    "The default project after its workflow: 28 tests with evidence; without alert rules, exactly theirs drop."
    project, _ = workflow_project
    report = readiness_report(project)
    assert len(report['tests']) == 28 and {t['section']
                                           for t in report['tests']
                                           } == {'data', 'model', 'infrastructure', 'monitoring'}
    assert all(t['evidence'] and t['score'] in (0, 0.5, 1) and (t['score'] == 1 or t['raise']) for t in report['tests'])
    assert report['score'] == min(report['sections'].values()) == min(
        sum(t['score'] for t in report['tests'] if t['section'] == s) for s in report['sections'])
    scores = {t['test']: t['score'] for t in report['tests']}
    assert scores['Training is reproducible'] == 0.5           # one training only: seeded, not yet shown to repeat
    assert scores['The ML pipeline is integration tested'] == 1  # the CI's runs went from ingest to evaluate
    # the first version had no production beside it: released whole
    assert scores['Models are canaried before serving'] == 0
    assert scores['The data pipeline has appropriate privacy controls'] == 0
    # neither was exercised
    assert scores['Serving models can be rolled back'] == scores['Offline and online metrics correlate'] == 0
    # not in git yet: level 1 needs version control
    assert report['google']['level'] == 2 and report['four_level']['level'] == 0
    # saved for the pipeline dashboard
    assert json.loads((project/'workspace'/'readiness.json').read_text())['score'] == report['score']
    rules = project/'reports'/'prometheus'/'alerts.yml'
    saved = rules.read_text()
    rules.unlink()
    try: without = readiness_report(project)
    finally: rules.write_text(saved)
    lowered = {t['test'] for t, before in zip(without['tests'], report['tests']) if t['score'] < before['score']}
    raised = {t['test'] for t, before in zip(without['tests'], report['tests']) if t['score'] > before['score']}
    assert (lowered, raised) == (
        {'Computing performance has not regressed', 'Prediction quality has not regressed'},
        set(),
    )
    # the other two also need monitored windows or retraining, which the
    # workflow does not run: without them, no credit to lose
    assert all('alerts' in t['reads'] for t in report['tests'] if t['test'] in ALERT_TESTS)
    assert not any('alerts' in t['reads'] for t in report['tests'] if t['test'] not in ALERT_TESTS)
