"The whole default pipeline on the full year of flights, exactly as a new user runs it."
from conftest import cli, record


def test_default_run_reaches_the_roc_auc_floor(tmp_path):
    result = cli('run', workspace=tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr
    rec = record(tmp_path)
    assert rec['status'] == 'succeeded' and rec['config']['filter'] == '' and rec['config']['sample_fraction'] == 1.0
    assert rec['metrics']['rows'] + rec['metrics']['rows_without_target'] == 336776
    assert rec['metrics']['rows_without_target'] == 9430              # flights with no arr_delay: cancelled or diverted
    assert rec['metrics']['test_roc_auc'] >= 0.68                     # December 2013, trained on January to November
    assert rec['metrics']['test_roc_auc'] > rec['metrics']['baseline_test_roc_auc']
