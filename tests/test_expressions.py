"""Config expressions are data: what reached pandas' query and eval (and ran commands) is refused with one line, and
nothing runs."""
import pytest
from conftest import cli

SINK = "month == 12 and @pd.io.common.os.system('touch ran') == 0"


@pytest.mark.parametrize('key, expression, refused', [
    ('filter', SINK, "filter: \"" + SINK + "\" is not an expression: `@` (a Python variable) is not allowed"),
    ('filter', "pd.io.common.os.system('touch ran') == 0",
     "filter: `pd.io.common.os.system('touch ran')` is not allowed"),
    ('target_expression', "__import__('os').system('touch ran')",
     "target_expression: `__import__('os').system('touch ran')` is not allowed"),
    ('label_known_minutes', "arr_delay.__class__.__init__",
     "label_known_minutes: `arr_delay.__class__.__init__` is not allowed"),
])
def test_an_expression_that_is_code_is_refused_before_any_stage_runs(tmp_path, key, expression, refused):
    result = cli('run', '-p', f'{key}={expression}', workspace=tmp_path/'ws', cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr   # a usage error
    assert result.stderr.startswith(f'mlops-nb: error: {refused}'), result.stderr
    assert not (tmp_path/'ran').exists() and not list((tmp_path/'ws').glob('runs/*'))


def test_the_replay_refuses_it_too(tmp_path):
    result = cli('simulate', '--from', '2013-03', '--to', '2013-04', '-p',
                 "label_known_minutes=__import__('os').system('touch ran')", workspace=tmp_path / 'ws', cwd=tmp_path)
    assert result.returncode == 2 and "label_known_minutes: " in result.stderr and 'Traceback' not in result.stderr, (
        result.stderr
    )
    assert not (tmp_path/'ran').exists()


def test_a_filter_naming_a_missing_column_fails_its_stage_with_one_line(tmp_path):
    result = cli('run', '--stages', 'ingest', '-p', 'filter=month == 1 and nope > 3', workspace=tmp_path / 'ws',
                 cwd=tmp_path)
    assert result.returncode == 1 and "filter: no column 'nope' in the data" in result.stderr, result.stderr
