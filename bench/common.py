"Helpers the benchmarks share."
import os, socket, subprocess


def features_run(workspace):
    "The newest run in `workspace` with a features stage, made with `mlops-nb run` on the default config if none."
    from mlops_nb.core import ConfigError, find_run
    try:
        return find_run(
            workspace,
            test=lambda record: any(s['name'] == 'features' and s['status'] == 'succeeded' for s in record['stages']))
    except ConfigError: pass
    env = {**os.environ, 'MLOPS_NB_WORKSPACE': str(workspace), 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    subprocess.run(['mlops-nb', 'run', '--stages', 'ingest,validate,features'], env=env, check=True)
    return features_run(workspace)


def flights_config():
    "The config `mlops-nb run` uses when given none: the notebooks' defaults with the full-year flights values."
    from mlops_nb.pipeline import default_config, stage_parameters
    return default_config(stage_parameters())


def free_port():
    "A port on loopback that nothing listens on."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
