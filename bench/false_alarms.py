"""How often the monitor's alerts and the retraining triggers fire on data with no change: the declared false-alarm
rate, measured.

    python bench/false_alarms.py [--workspace WS] [--draws 200] [--sizes 200,1000,6000]

WS holds a trained flights model (made with `mlops-nb run` if it has none: the full year, tested on December). For
each window size, windows are drawn from the model's test period by whole days (`08e_decisions.block_windows`) and
judged as monitored windows by the retraining triggers (`09_retrain.trigger_checks`) with the least drops set to 0.001,
so the fitted limit alone decides:

- `same days`: the limits fitted on the whole test period, the windows drawn from it (the issue's "resampled from the
  reference");
- `held-out days`: the limits fitted on the odd days of the test period, the windows drawn from the even days, which
  the fit never saw: the stricter figure.

And windows of the training rows themselves, profiled as the server profiles traffic, against the version's calibrated
drift thresholds (`drift_alpha` 1%): how often any feature drifts. Prints a Markdown table.
"""

import argparse, os, subprocess, sys
from pathlib import Path
import numpy as np, scipy.stats


def trained(workspace):
    "The production version of flights_late in the workspace, trained first if there is none."
    from mlops_nb.registry import alias_version, get_model_version
    if alias_version(workspace, 'flights_late', 'champion') is None:
        subprocess.run([
            sys.executable, '-c', 'from mlops_nb.cli import main; main()', 'run', '--workspace',
            str(workspace)
        ], env={**os.environ, 'WANDB_MODE': 'offline'}, check=True)
    return get_model_version(workspace, 'flights_late', alias_version(workspace, 'flights_late', 'champion'))


def trigger_rates(fit, held, size, draws, rate):
    "Share of `draws` windows of `held` that fire each ROC AUC trigger, against limits fitted on `fit`."
    from mlops_nb.decisions import block_windows, fitted_limits
    from mlops_nb.performance import estimated_metrics, labelled_metrics
    from mlops_nb.policy import default_policy, merged
    from mlops_nb.retrain import trigger_checks
    limits = fitted_limits(fit, size, rate)
    policy = merged(
        default_policy(),
        {
            'false_alarm_rate': rate,
            'triggers': {'realised_auc_drop': 0.001, 'estimated_auc_drop': 0.001, 'drift_share': 0},
        },
    )
    fired = {'realised_auc_drop': 0, 'estimated_auc_drop': 0}
    for index in block_windows(held.day.to_numpy(), size, draws, np.random.default_rng(size + 1)):
        rows = held.iloc[index]
        window = {
            'start': str(rows.day.min()), 'test_roc_auc': None, 'performance': labelled_metrics(rows.truth, rows.score),
            'estimated': estimated_metrics(rows.score), 'drift': None
        }
        before_labels = {**window, 'performance': {'labels': 0}}          # the estimate counts only until labels come
        for check in [
                *trigger_checks(policy, [window], None, 0, lambda w, r: limits),
                *trigger_checks(policy, [before_labels], None, 0, lambda w, r: limits)
        ]:
            if check['trigger'] in fired: fired[check['trigger']] += check['fired']
    return {k: v / draws for k, v in fired.items()}, limits


def drift_rate(workspace, entry, size, draws):
    "Share of `draws` windows of the training rows in which any feature drifts, against the calibrated thresholds."
    from mlops_nb.drift import profile_frame
    from mlops_nb.monitor import Reference, feature_drift
    reference = Reference(workspace, entry['name'], entry['version'])
    rows, (thresholds, _) = reference.training(), reference.thresholds(size)
    rng = np.random.default_rng(size)
    return np.mean([
        bool(
            feature_drift(profile_frame(rows.iloc[rng.integers(0, len(rows), size)]), reference.view, reference.kinds,
                          thresholds)['drifted']) for _ in range(draws)
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace', default='bench-false-alarms',
                        help='a workspace with a trained model (trained here if it has none)')
    parser.add_argument('--draws', type=int, default=200, help='windows drawn per size')
    parser.add_argument('--sizes', default='200,1000,6000', help='window sizes, in labelled rows')
    parser.add_argument('--rate', type=float, default=0.01, help='the declared false-alarm rate')
    args = parser.parse_args()
    from mlops_nb.decisions import reference_outcomes
    workspace = Path(args.workspace).absolute()
    entry = trained(workspace)
    outcomes = reference_outcomes(workspace, entry)
    days = np.sort(outcomes.day.unique())
    odd, even = outcomes[outcomes.day.isin(days[::2])], outcomes[outcomes.day.isin(days[1::2])].reset_index(drop=True)
    bound = lambda: scipy.stats.binom.ppf(0.995, args.draws, args.rate) / args.draws
    print(f"model {entry['name']} v{entry['version']}, test period {len(outcomes):,} "
          f"rows over {len(days)} days; declared rate {args.rate:.0%}, "
          f"{args.draws} windows per cell (binomial 99.5% bound {bound():.1%})\n")
    print('| window (labelled rows) | realised, same days | estimated, same days | realised, '
          'held-out days | estimated, held-out days | realised limit | any feature drifts |')
    print('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for size in map(int, args.sizes.split(',')):
        same, limits = trigger_rates(outcomes, outcomes, size, args.draws, args.rate)
        held, _ = trigger_rates(odd, even, size, args.draws, args.rate)
        drift = drift_rate(workspace, entry, size, args.draws)
        print(f"| {size:,} | {same['realised_auc_drop']:.1%} | "
              f"{same['estimated_auc_drop']:.1%} | "
              f"{held['realised_auc_drop']:.1%} | "
              f"{held['estimated_auc_drop']:.1%} | {limits['realised_auc_drop']['limit']:.4f} | {drift:.1%} |")


if __name__ == '__main__': main()
