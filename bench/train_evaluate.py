"""Tuning and evaluation timings on the full year of flights.

    python bench/train_evaluate.py [--trials 3] [--repeats 5] [--workspace DIR]

Runs `mlops-nb run --stages ingest,validate,features` on the default config into a scratch workspace
(or reuses DIR if it has such a run), then, in-process on that run's features:
- time per Optuna trial: the default config's gradient boosting trial and the linear family, each fit and
  scored on the two rolling-origin validation windows, with W&B on (offline) and disabled, alternating,
  in the same Optuna study (--trials of each kind and mode); the W&B cost is the median `log_seconds`;
- the paired bootstrap (`bootstrap_gain`, 1,000 resamples) on the December test month, median of --repeats,
  against the plain way (resample indices, call scikit-learn's `roc_auc_score` twice) on 100 resamples.
"""
import argparse, json, os, statistics, tempfile, time
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score
from common import features_run, flights_config


def trial_timings(run, trials):
    "Median fit and W&B seconds per trial kind, with W&B offline and disabled, alternating."
    import optuna
    from mlops_nb.train import FAMILIES, first_trial, objective, time_folds, time_split
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = flights_config()
    spec = json.loads((run/'feature_spec.json').read_text())
    features = pd.read_parquet(run/'features.parquet')
    features[spec['target']] = features[spec['target']].astype(int)
    split = time_split(features[spec['timestamp']], config['valid_start'], config['test_start'])
    folds = time_folds(features[spec['timestamp']], split, config['folds'])
    kinds = {
        'hist_gradient_boosting': first_trial(['hist_gradient_boosting'], 200, 0.05, 15),
        'logistic': {'family': 'logistic', 'C': 1.0}
    }
    study = optuna.create_study(direction='maximize')
    out = {}
    for i in range(trials):
        for kind, params in kinds.items():
            for mode in ('offline', 'disabled'):
                os.environ['WANDB_MODE'] = mode
                study.enqueue_trial(params)
                study.optimize(objective(spec, 'classification', features, folds, FAMILIES, 42, 0.3, run), n_trials=1)
                attrs = study.trials[-1].user_attrs
                out.setdefault((kind, mode), []).append((attrs['fit_seconds'], attrs['log_seconds']))
                print(f"trial {kind} W&B {mode}: fit {attrs['fit_seconds']:.2f}s, W&B {attrs['log_seconds']:.3f}s",
                      flush=True)
    return {k: (statistics.median(f for f, _ in v), statistics.median(l for _, l in v)) for k, v in out.items()}


def bootstrap_timings(run, repeats):
    "Median seconds of 1,000 paired-bootstrap resamples on the test month, and of the plain way per 1,000."
    from mlops_nb.evaluate import bootstrap_gain
    from mlops_nb.train import make_baseline, make_model, predict, time_split
    config = flights_config()
    spec = json.loads((run/'feature_spec.json').read_text())
    features = pd.read_parquet(run/'features.parquet')
    y = features[spec['target']].astype(int)
    split = time_split(features[spec['timestamp']], config['valid_start'], config['test_start'])
    fit, test = split != 'test', split == 'test'
    new = predict(make_model(spec, seed=42).fit(features[fit], y[fit]), features[test], 'classification')
    old = predict(make_baseline(spec, seed=42).fit(features[fit], y[fit]), features[test], 'classification')
    truth = y[test].to_numpy()
    ours = []
    for i in range(repeats):
        start = time.perf_counter()
        result = bootstrap_gain(truth, new, old, resamples=1000, seed=i)
        ours.append(time.perf_counter() - start)
        print(
            f"bootstrap {i + 1}/{repeats}: {ours[-1]:.2f}s, gain "
            f"{result['gain']:+.4f} [{result['low']:+.4f}, {result['high']:+.4f}]", flush=True)
    rng, n = np.random.default_rng(0), len(truth)
    start = time.perf_counter()
    for _ in range(100):
        index = rng.integers(0, n, n)
        roc_auc_score(truth[index], new[index]) - roc_auc_score(truth[index], old[index])
    plain = (time.perf_counter() - start) * 10
    return n, statistics.median(ours), plain, result


def main(trials, repeats, workspace):
    run = features_run(workspace or tempfile.mkdtemp())
    trial = trial_timings(run, trials)
    rows, ours, plain, result = bootstrap_timings(run, repeats)
    print(f"\n{os.cpu_count()} CPUs; features of run {run.name}")
    for (kind, mode), (fit, log) in trial.items():
        print(f"trial {kind:<24} W&B {mode:<9} median fit+score {fit:6.2f}s   W&B {log:.3f}s")
    for kind in ('hist_gradient_boosting', 'logistic'):
        on, off = trial[(kind, 'offline')], trial[(kind, 'disabled')]
        print(f"W&B cost per {kind} trial: {on[1] - off[1]:.3f}s, "
              f"{(on[1] - off[1]) / off[0]:.1%} of its fit and scoring with W&B "
              "disabled")
    print(f"bootstrap on {rows:,} December test rows: 1,000 resamples in {ours:.2f}s (median of {repeats}); "
          f"resampling with roc_auc_score: {plain:.2f}s per 1,000 ({plain / ours:.1f}x slower)")


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--trials', type=int, default=3, help="trials of each kind and W&B mode (default 3)")
    parser.add_argument('--repeats', type=int, default=5, help="bootstrap repeats (default 5)")
    parser.add_argument('--workspace', help="a workspace with a features run to reuse")
    main(**vars(parser.parse_args()))
