"""Wall time of the project's Airflow pipeline DAG (`airflow dags test`, a task a stage on one run) against
`mlops-nb run`, on the same slice, each in a new project (so nothing is reused from a cache).

Run by hand:  python bench/airflow_dag.py [--runs 3] [--airflow ~/.cache/mlops_nb/airflow/bin/airflow]
Airflow lives in a venv of its own (the README's test command makes it). The runs alternate: `mlops-nb run`, then the
DAG. Prints each run, then the medians, their ratio, and the median seconds per stage of both (the run's record).
"""

import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import yaml

SLICE = {'filter': 'month <= 3', 'valid_start': '2013-02-15', 'test_start': '2013-03-01', 'trials': 4}  # the CI slice


def project(folder):
    "A new flights project whose config runs the slice."
    subprocess.run(['mlops-nb', 'init', str(folder)], check=True, capture_output=True)
    config = yaml.safe_load((folder/'mlops.yaml').read_text())
    (folder/'mlops.yaml').write_text(yaml.safe_dump({**config, **SLICE}, sort_keys=False))
    return folder


def timed(command, env, cwd):
    "Run the command; its wall seconds."
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return time.perf_counter() - start


def stage_seconds(folder):
    "Seconds per stage of the project's only run."
    from mlops_nb.core import list_runs, read_record
    [run] = list_runs(folder/'workspace')
    return {s['name']: s['seconds'] for s in read_record(run)['stages']}


def one_round(folder, airflow):
    "One `mlops-nb run` and one DAG run, each in a new project: ((wall, per stage) of each)."
    env = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    env.pop('MLOPS_NB_WORKSPACE', None)
    alone = project(folder/'run')
    run_wall = timed(['mlops-nb', 'run'], env, alone)
    dagged, home = project(folder/'dag'), folder/'airflow'
    airflow_env = {**env, 'AIRFLOW_HOME': str(home), 'AIRFLOW__CORE__DAGS_FOLDER': str(dagged/'dags'),
                   'AIRFLOW__CORE__LOAD_EXAMPLES': 'False', 'MLOPS_NB_RETRIES': '0',
                   'MLOPS_NB_COMMAND': str(Path(sys.executable).parent/'mlops-nb')}
    timed([airflow, 'db', 'migrate'], airflow_env, folder)
    dag_wall = timed([airflow, 'dags', 'test', 'mlops_nb_pipeline', '-c', json.dumps({'overrides': {}})], airflow_env,
                     folder)
    return (run_wall, stage_seconds(alone)), (dag_wall, stage_seconds(dagged))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--airflow', default=str(Path.home()/'.cache'/'mlops_nb'/'airflow'/'bin'/'airflow'))
    args = parser.parse_args()
    rounds = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            rounds.append(one_round(Path(folder), args.airflow))
        (run_wall, _), (dag_wall, _) = rounds[-1]
        print(f"round {i + 1}/{args.runs}: mlops-nb run {run_wall:.1f} s, the DAG {dag_wall:.1f} s", file=sys.stderr)
    median = statistics.median
    run_wall, dag_wall = median(r[0][0] for r in rounds), median(r[1][0] for r in rounds)
    print(f"median wall: mlops-nb run {run_wall:.1f} s, the DAG {dag_wall:.1f} s ({dag_wall / run_wall:.2f}x)")
    print(f"{'stage':<10} {'run s':>7} {'task s':>7}")
    for name in rounds[0][0][1]:
        print(f"{name:<10} {median(r[0][1][name] for r in rounds):7.1f} {median(r[1][1][name] for r in rounds):7.1f}")


if __name__ == '__main__':
    main()
