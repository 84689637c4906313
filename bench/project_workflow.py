"""The default project end to end at full size: `mlops-nb init`, its CI workflow's steps in order (each timed), then
`mlops-nb readiness`. Prints each step's seconds and the ML Test Score test by test.

    python bench/project_workflow.py [--folder /tmp/flights-project] [--git]

--git commits the project to a new git repository first, as a team would, before the workflow runs."""
import argparse, os, shutil, subprocess, sys, time
from pathlib import Path
import yaml


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--folder', default='/tmp/flights-project', help="where to create the project (replaced)")
    parser.add_argument('--git', action='store_true', help="commit the project to git before running its workflow")
    args = parser.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(['mlops-nb', 'init', str(folder)], check=True)
    if args.git:
        for command in (
            ['git', 'init', '-q'], ['git', 'add', '.'],
            ['git', '-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-qm', 'init']):
            subprocess.run(command, cwd=folder, check=True)
    workflow = yaml.safe_load((folder/'.github'/'workflows'/'mlops.yml').read_text())
    env = {
        **os.environ, **workflow['env'], 'WANDB_SILENT': 'true',
        'PATH': f"{Path(sys.executable).parent}:{os.environ['PATH']}", 'GITHUB_ACTIONS': 'true', 'CI': 'true'
    }  # as GitHub's runner sets them: runs record their CI
    for name, job in workflow['jobs'].items():
        for step in job['steps']:
            if 'run' not in step or step['name'] == 'Install': continue
            started = time.perf_counter()
            done = subprocess.run(['bash', '-e', '-c', step['run']], cwd=folder, env=env, capture_output=True,
                                  text=True)
            print(f"{name:9} {time.perf_counter() - started:7.1f} s  exit {done.returncode}  {step['run']}", flush=True)
            if done.returncode: sys.exit(done.stderr[-3000:])
    subprocess.run(['mlops-nb', 'readiness'], cwd=folder, env=env, check=True)


if __name__ == '__main__': main()
