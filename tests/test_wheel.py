"""A plain `pip install` of the wheel, in a fresh virtual environment, runs a project's pipeline with the project's own
notebooks."""
import json, os, subprocess, sys
from pathlib import Path
import yaml
from conftest import QUARTER, SLICE

REPO = Path(__file__).parent.parent
MARKER = 'changed by the team in its own 04_train'


def run(command, cwd, env, timeout=900):
    "Run a command; fail the test with its output's tail if it fails."
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    return result


def test_wheel_in_a_fresh_venv_runs_the_project_with_its_own_notebooks(tmp_path):
    "Build the wheel, install it with its dependencies in a new venv, `init demo`, run a slice, change 04_train, rerun."
    run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
        str(tmp_path / 'dist'),
        str(REPO)
    ], tmp_path, os.environ)
    wheel = next((tmp_path/'dist').glob('mlops_nb-*.whl'))
    run([sys.executable, '-m', 'venv', str(tmp_path/'venv')], tmp_path, os.environ)
    bin_dir = tmp_path/'venv'/'bin'
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'MLOPS_NB_WORKSPACE', 'PROMETHEUS_MULTIPROC_DIR',
                     'MLOPS_NB_NOTEBOOK_TESTS')
    }
    env.update(PATH=f"{bin_dir}:{env['PATH']}", WANDB_MODE='offline', WANDB_SILENT='true',
               PIP_DISABLE_PIP_VERSION_CHECK='1')
    run([str(bin_dir/'pip'), 'install', '-q', '--no-compile', str(wheel)], tmp_path, env, timeout=1200)
    where = run([str(bin_dir / 'python'), '-c', 'import mlops_nb; print(mlops_nb.__file__)'], tmp_path,
                env).stdout.strip()
    assert where.startswith(str(tmp_path/'venv')), where            # the wheel's package, not the checkout's
    run([str(bin_dir/'mlops-nb'), 'init', 'demo'], tmp_path, env)
    demo = tmp_path/'demo'
    config = yaml.safe_load((demo/'mlops.yaml').read_text())
    config.update({k: (int(v) if v.isdigit() else v) for k, v in (p.split('=', 1) for p in SLICE[1::2])})
    config.update({k: yaml.safe_load(v) for k, v in (p.split('=', 1) for p in QUARTER[1::2])})   # cheaper
    (demo/'mlops.yaml').write_text(yaml.safe_dump(config, sort_keys=False))
    first = run([str(bin_dir/'mlops-nb'), 'run'], demo, env)
    runs = sorted((demo/'workspace'/'runs').iterdir())
    record = json.loads((runs[-1]/'run.json').read_text())
    assert record['status'] == 'succeeded' and record['config']['test_start'] == '2013-03-01', first.stderr
    # the team changes its own train notebook: a cell that prints a line into the executed notebook
    train = demo/'nbs'/'04_train.ipynb'
    notebook = json.loads(train.read_text())
    notebook['cells'].append({
        'cell_type': 'code', 'execution_count': None, 'id': 'teamcell', 'metadata': {}, 'outputs': [],
        'source': [f"import sys, mlops_nb\nprint({MARKER!r}, sys.executable, mlops_nb.__file__)"]
    })
    train.write_text(json.dumps(notebook))
    run([str(bin_dir/'mlops-nb'), 'run'], demo, env)
    latest = sorted((demo/'workspace'/'runs').iterdir())[-1]
    stages = {s['name']: s for s in json.loads((latest/'run.json').read_text())['stages']}
    # the changed notebook reran; the data stages were reused
    assert 'cached_from' not in stages['train'] and 'cached_from' in stages['ingest']
    executed = json.loads((latest/'notebooks'/'04_train.ipynb').read_text())
    printed = [''.join(o.get('text', '')) for c in executed['cells'] for o in c.get('outputs', [])]
    line = next(text for text in printed if MARKER in text)
    assert line.count(str(tmp_path/'venv')) == 2, line  # the kernel ran the venv's Python and the wheel's package
    before = json.loads((runs[-1]/'notebooks'/'04_train.ipynb').read_text())
    assert not any(MARKER in ''.join(c['source']) for c in before['cells'])
