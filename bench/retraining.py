"""The measured value and cost of continuous training: March to December 2013 replayed month by month under
six policies.

    python bench/retraining.py [--workspace WS] [--from 2013-03 --to 2013-12] [--step month] [-p key=value ...]
                               [--dask local]

Runs `mlops-nb simulate --compare never,monthly,drift,performance,always,default` (the same traffic, each policy in
its own workspace, from the same first model) unless WS already holds comparison.json, then prints the comparison as
a Markdown table (ROC AUC per month for each policy, with the versions that served it; retrains, promotions, compute
seconds retraining, wall time, the wrong decisions' cost and the total cost with retrains priced, beside the hindsight
oracle's) and draws the plots to bench/results/policy_comparison.png and policy_cost.png.

Nothing is lowered by hand: the replay's first model is held to the policy's `first_model` gate, and every other
setting is the flights config's and the default policy's. `-p sample_fraction=0.25` replays a documented subset.
"""

import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent
POLICIES = os.environ.get('POLICIES', 'never,monthly,drift,performance,always,default')


def replay(workspace, start, end, step, extra):
    "Run the comparison; return its wall seconds."
    env = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    began = time.monotonic()
    subprocess.run([
        sys.executable, '-c', 'from mlops_nb.cli import main; main()', 'simulate', '--compare', POLICIES, '--from',
        start, '--to', end, '--step', step, *extra, '--workspace',
        str(workspace)
    ], env=env, check=True)
    return time.monotonic() - began


def served_by(workspace, policy):
    "Per month, the versions that answered it: production v1, canary v2..."
    if policy == 'oracle': return {}
    record = json.loads((Path(workspace)/'compare'/policy/'simulation.json').read_text())
    return {s['from'][:7]: ', '.join(sorted(s['final']['served'])) for s in record['steps']}


def markdown(workspace):
    "The comparison as Markdown tables."
    from mlops_nb.dashboards import comparison_table
    table, totals = comparison_table(workspace)
    policies = list(table.columns)
    lines = ['| month | ' + ' | '.join(policies) + ' |', '| --- |' + ' ---: |' * len(policies)]
    served = {p: served_by(workspace, p) for p in policies}
    for step, row in table.iterrows():
        lines.append(f"| {step[:7]} | " + ' | '.join(
            f"{row[p]:.4f}" + (f" ({served[p][step[:7]]})" if p != 'oracle' else '') for p in policies) + ' |')
    shown = lambda v, key: '-' if v is None or v != v else f"{v:.4f}" if key == 'mean_roc_auc' else f"{v:g}"
    for key, label in (('mean_roc_auc', 'mean ROC AUC'), ('retrains', 'retrains'), ('promotions', 'promotions'),
                       ('retrain_seconds', 'compute seconds retraining'), ('wall_seconds', 'replay wall seconds'),
                       ('decision_cost', 'wrong decisions, priced'), ('total_cost', 'total cost (retrains priced in)')):
        lines.append(f"| **{label}** | " + ' | '.join(shown(totals[p][key], key) for p in policies) + ' |')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace', default='bench-retraining',
                        help='where the replays go (kept; reused if it holds comparison.json)')
    parser.add_argument('--from', dest='start', default='2013-03')
    parser.add_argument('--to', dest='end', default='2013-12')
    parser.add_argument('--step', default='month')
    parser.add_argument('-p', dest='params', action='append', default=[],
                        help='a config override for the replay: -p sample_fraction=0.25')
    parser.add_argument('--dask', default='',
                        help="replay the policies on Dask workers: local, or a scheduler's address")
    args = parser.parse_args()
    workspace = Path(args.workspace).absolute()
    extra = [a for p in args.params for a in ('-p', p)] + (['--dask', args.dask] if args.dask else [])
    if not (workspace / 'comparison.json').exists():
        print(f"replayed in {replay(workspace, args.start, args.end, args.step, extra):.0f} s", file=sys.stderr)
    from mlops_nb.dashboards import comparison_plot, comparison_table, figure_png
    (HERE/'results').mkdir(exist_ok=True)
    (HERE/'results'/'policy_comparison.png').write_bytes(figure_png(comparison_plot(comparison_table(workspace)[0])))
    shutil.copy(workspace/'comparison.png', HERE/'results'/'policy_cost.png')
    print(markdown(workspace))


if __name__ == '__main__': main()
