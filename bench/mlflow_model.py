"""Log and register a workspace's model version in MLflow, for bench/serving.py's side-by-side run.

Run by bench/serving.py with the python of the venv that holds MLflow (never a dependency of mlops_nb):
    python mlflow_model.py WORKSPACE NAME VERSION TRACKING_DIR
with MLFLOW_ALLOW_FILE_STORE=true. Prints the registered model's URI (models:/NAME/VERSION).
The model goes in with MLflow's skops format, told the types the mlops_nb registry trusts for it, a signature
inferred from the test month's engineered features (numbers as doubles: a request may lack one), and
`predict_proba` as its pyfunc, so both servers return the probability of a late arrival for the same features.
"""
import json, sys
from pathlib import Path
import mlflow, pandas as pd
from mlflow.models import infer_signature


def main():
    workspace, name, version, tracking = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    from mlops_nb.registry import get_model_version, load_registered
    entry, model = get_model_version(workspace, name, version), load_registered(workspace, name, version)
    run = Path(workspace)/'runs'/entry['run_id']
    spec = json.loads((run/'feature_spec.json').read_text())
    rows = pd.read_parquet(run/'features.parquet').tail(200)[spec['numeric'] + spec['categorical']]
    rows = rows.astype({c: 'float64' for c in spec['numeric']})  # a number may be missing in a request
    mlflow.set_tracking_uri(tracking.resolve().as_uri())
    mlflow.set_experiment('bench-serving')
    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(model, name='model', serialization_format='skops',
                                          skops_trusted_types=entry['types'], pyfunc_predict_fn='predict_proba',
                                          signature=infer_signature(rows, model.predict_proba(rows)))
    registered = mlflow.register_model(logged.model_uri, name)
    print(f"models:/{name}/{registered.version}")


if __name__ == '__main__': main()
