"""The measured value of continuous training: March to December 2013 replayed month by month under four policies.

    python bench/retraining.py [--workspace WS] [--from 2013-03 --to 2013-12] [--step month]

Runs `mlops-nb simulate --compare never,monthly,drift,performance` (the same traffic, each policy in its own
workspace, from the same first model) unless WS already holds comparison.json, then prints the comparison as a
Markdown table (ROC AUC per month for each policy; retrains, promotions, compute seconds spent retraining, wall
time) with the versions that served each month, and draws the plot to bench/results/policy_comparison.png.

The flights config's gates are calibrated for December's test month on a year of training data; a replay's
first model has two months and its retrains a month of test period, so the bench lowers the ROC AUC floor to
0.6, lets a model that does not beat the linear baseline pass (the comparison with the champion still
decides), and widens the slice margin to 0.2. Every other setting is the flights config's and the default policy's.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent
GATES = ['-p', 'min_test_roc_auc=0.6', '-p', 'must_beat_baseline=false', '-p', 'slice_margin=0.2']


def replay(workspace, start, end, step):
    "Run the comparison; return its wall seconds."
    env = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    began = time.monotonic()
    subprocess.run([sys.executable, '-c', 'from mlops_nb.cli import main; main()', 'simulate', '--compare', 'never,monthly,drift,performance',
                    '--from', start, '--to', end, '--step', step, *GATES, '--workspace', str(workspace)], env=env, check=True)
    return time.monotonic() - began


def served_by(workspace, policy):
    "Per month, the versions that answered it: production v1, canary v2..."
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
        lines.append(f"| {step[:7]} | " + ' | '.join(f"{row[p]:.4f} ({served[p][step[:7]]})" for p in policies) + ' |')
    for key, label in (('mean_roc_auc', 'mean ROC AUC'), ('retrains', 'retrains'), ('promotions', 'promotions'),
                       ('retrain_seconds', 'compute seconds retraining'), ('wall_seconds', 'replay wall seconds')):
        lines.append(f"| **{label}** | " + ' | '.join(f"{totals[p][key]:.4f}" if key == 'mean_roc_auc' else f"{totals[p][key]:g}" for p in policies) + ' |')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace', default='bench-retraining', help='where the replays go (kept; reused if it holds comparison.json)')
    parser.add_argument('--from', dest='start', default='2013-03'); parser.add_argument('--to', dest='end', default='2013-12')
    parser.add_argument('--step', default='month')
    args = parser.parse_args()
    workspace = Path(args.workspace).absolute()
    if not (workspace/'comparison.json').exists(): print(f"replayed in {replay(workspace, args.start, args.end, args.step):.0f} s", file=sys.stderr)
    from mlops_nb.dashboards import comparison_plot, comparison_table, figure_png
    (HERE/'results').mkdir(exist_ok=True)
    (HERE/'results'/'policy_comparison.png').write_bytes(figure_png(comparison_plot(comparison_table(workspace)[0])))
    print(markdown(workspace))


if __name__ == '__main__': main()
