"""Train/serve skew of a replay without retraining: what the server served against the point-in-time features.

    python bench/skew.py [--workspace WS] [--from 2013-03 --to 2013-05] [--frozen]

Replays the months through a real server under the `never` policy (every trigger off, so version 1 serves
throughout; `mlops-nb simulate --policy never.yaml --step month`) unless WS already holds simulation.json; `--frozen`
replays with `--features frozen` (nothing refreshes the online store after the features stage). Then:

- the point-in-time features of every served row, from a reference store that the features stage's own functions
  build from the whole source (the world as it happened: every weather hour, every label when it was known);
- per store feature, the share of served rows whose value differs from that (by more than 1e-9; missing equals
  missing) and the median absolute difference;
- per month, ROC AUC of the logged answers against the same model's answers on the point-in-time features, with the
  bootstrap SD of the difference (200 draws).

Prints Markdown and writes bench/results/skew[-frozen].json. Uses the flights config with the retraining bench's
gates (bench/retraining.py).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from retraining import GATES


def replay(workspace, start, end, frozen):
    "The replay under the never policy; its wall seconds."
    from mlops_nb.compare import named_policy
    workspace.mkdir(parents=True, exist_ok=True)
    policy = named_policy('never', folder=workspace)
    env = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    began = time.monotonic()
    fresh = ['--features', 'frozen'] if frozen else []
    subprocess.run([
        sys.executable, '-c', 'from mlops_nb.cli import main; main()', 'simulate', '--policy',
        str(policy), '--from', start, '--to', end, '--step', 'month', *fresh, *GATES, '--workspace',
        str(workspace)
    ], env=env, check=True)
    return time.monotonic() - began


def reference_features(rows, spec, config):
    "Point-in-time values of the store's features for `rows`, from a store built from the whole source."
    from mlops_nb import features as F
    from mlops_nb.ingest import derive_target, parse_timestamp, read_table
    data = parse_timestamp(read_table(config['source']), config['timestamp'])
    data = derive_target(data, config['target'], config.get('target_expression', ''), config.get('target_requires', []))
    tables = {t: parse_timestamp(read_table(s), config['timestamp']) for t, s in config['extra_sources'].items()}
    with tempfile.TemporaryDirectory() as folder:
        _, views = F.store_views(data, tables, config['joins'], config['aggregates'], config['label_known_minutes'],
                                 config['timestamp'], config['target'], folder)
        store_spec = {'views': views}
        store = F.open_store(F.write_repo(Path(folder)/'repo', store_spec))
        store.apply(F.definitions(store_spec))
        keys = [e for v in views for e in v['entities']]
        return F.historical(store, rows[[*dict.fromkeys(keys), config['timestamp']]], store_spec,
                            config['timestamp']), store_spec


def differs(a, b):
    "Where two columns differ by more than 1e-9; missing equals missing."
    a, b = a.to_numpy(float), b.to_numpy(float)
    return ~((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= 1e-9))


def measure(workspace):
    "The skew figures of the replay in `workspace`."
    from mlops_nb.core import read_record
    from mlops_nb.features import conform, read_spec
    from mlops_nb.performance import labelled_metrics
    from mlops_nb.predlog import log_rows
    from mlops_nb.registry import get_model_version, load_registered
    record = json.loads((workspace/'simulation.json').read_text())
    rows = log_rows(workspace, record['model'])
    rows = rows[(rows.route == 'production') & (rows.version == 1)].reset_index(drop=True)
    run = workspace/'runs'/get_model_version(workspace, record['model'], 1)['run_id']
    spec, config = read_spec(run), read_record(run)['config']
    time = config['timestamp']
    rows[time] = pd.to_datetime(rows.event_time, utc=True)
    reference, store_spec = reference_features(rows, spec, config)
    stored = [c for v in store_spec['views'] for c in v['features']]
    feature_table = {
        c: {
            'differ_share': float(differs(rows[c], reference[c]).mean()),
            'median_abs_diff': float(np.nanmedian(np.abs(rows[c].to_numpy(float) - reference[c].to_numpy(float))))
        }
        for c in stored
    }
    model = load_registered(workspace, record['model'], 1)
    pit = rows.assign(**{c: reference[c].to_numpy() for c in stored})
    pit_output = model.predict_proba(conform(pit, spec))[:, 1]
    rescored = model.predict_proba(conform(rows, spec))[:, 1]
    labelled = rows.truth.notna().to_numpy()
    months, rng = {}, np.random.default_rng(0)
    for month, index in rows[labelled].groupby(rows[time][labelled].dt.strftime('%Y-%m')).groups.items():
        truth, served, point = rows.truth[index].to_numpy(), rows.output[index].to_numpy(), pit_output[index]
        gaps = []
        for _ in range(200):
            draw = rng.integers(0, len(truth), len(truth))
            if truth[draw].min() != truth[draw].max():
                gaps.append(
                    labelled_metrics(truth[draw], point[draw])['roc_auc']
                    - labelled_metrics(truth[draw], served[draw])['roc_auc']
                )
        months[month] = {'rows': int(len(index)), 'served_roc_auc': labelled_metrics(truth, served)['roc_auc'],
                         'pit_roc_auc': labelled_metrics(truth, point)['roc_auc'], 'gap_sd': float(np.std(gaps))}
    any_differs = np.column_stack([differs(rows[c], reference[c]) for c in stored]).any(axis=1)
    return {
        'rows': int(len(rows)), 'rows_any_feature_differs': float(any_differs.mean()), 'features': feature_table,
        'months': months, 'rescoring_reproduces_log': float(np.abs(rescored - rows.output.to_numpy()).max()),
        'steps_seconds': [s['seconds'] for s in record['steps']]
    }


def markdown(result):
    "The figures as Markdown."
    lines = [
        f"{result['rows']:,} served rows; any store feature differs from "
        f"point-in-time in {result['rows_any_feature_differs']:.2%}", '',
        '| feature | rows differing | median abs. difference |', '| --- | --- | --- |'
    ]
    lines += [f"| {c} | {f['differ_share']:.2%} | {f['median_abs_diff']:.4g} |" for c, f in result['features'].items()]
    lines += [
        '', '| month | rows | served ROC AUC | point-in-time ROC AUC | difference | bootstrap SD |',
        '| --- | --- | --- | --- | --- | --- |'
    ]
    lines += [
        f"| {m} | {v['rows']:,} | {v['served_roc_auc']:.4f} | {v['pit_roc_auc']:.4f} | "
        f"{v['pit_roc_auc'] - v['served_roc_auc']:+.4f} | {v['gap_sd']:.4f} |" for m, v in result['months'].items()
    ]
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace', type=Path, default=None,
                        help='the replay workspace (default: a new one in /tmp)')
    parser.add_argument('--from', dest='start', default='2013-03')
    parser.add_argument('--to', dest='end', default='2013-05')
    parser.add_argument('--frozen', action='store_true', help='replay with --features frozen')
    args = parser.parse_args()
    workspace = (args.workspace or Path(tempfile.mkdtemp(prefix='skew-'))).absolute()
    seconds = None if (workspace/'simulation.json').exists() else replay(workspace, args.start, args.end, args.frozen)
    result = {'workspace': str(workspace), 'replay_seconds': seconds, **measure(workspace)}
    out = HERE/'results'/f"skew{'-frozen' if args.frozen else ''}.json"
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    print(f"\nreplay {seconds and round(seconds)} s; written to {out}")


if __name__ == '__main__':
    main()
