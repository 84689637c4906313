"The offline W&B reader the tests rely on reads back a real offline run, once W&B has written it out."
from mlops_nb.tracking import start_tracking
from wandb_files import wandb_runs


def test_an_offline_run_reads_back_with_its_config_and_summary(tmp_path, monkeypatch):
    monkeypatch.setenv('WANDB_MODE', 'offline')
    run = start_tracking(tmp_path/'runs'/'r1', 'trial', {'learning_rate': 0.1}, name='r1-trial-0')
    run.summary.update({'valid_roc_auc': 0.75})
    run.finish()
    logged = wandb_runs(tmp_path)
    assert [(r['name'], r['group'], r['job_type']) for r in logged] == [('r1-trial-0', 'r1', 'trial')]
    assert logged[0]['config'] == {'learning_rate': 0.1} and logged[0]['summary'] == {'valid_roc_auc': 0.75}
    assert logged[0]['finished']
