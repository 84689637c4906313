"The whole default pipeline on the full year of flights, exactly as a new user runs it: the README's quick start."
import re, shlex
from pathlib import Path
from conftest import WITH_NOTEBOOK_TESTS, cli, record

README = Path(__file__).parent.parent/'README.md'


def quick_start():
    "The commands of the README's quick start, in order; `pip install -e . && ` left out (the tests run installed)."
    text = README.read_text().split('\n## Quick start\n')[1].split('\n## ')[0]
    lines = [line for block in re.findall(r'```bash\n(.*?)```', text, re.S) for line in block.splitlines()]
    return [shlex.split(line.removeprefix('pip install -e . && '), comments=True) for line in lines if line.strip()]


def test_the_quick_start_reaches_the_roc_auc_floor_and_monitors_december(tmp_path):
    (run, *run_args), (monitor, *monitor_args) = quick_start()
    assert (run, monitor, run_args, monitor_args[0]) == ('mlops-nb', 'mlops-nb', ['run'], 'monitor')
    # ./workspace and the notebooks' tests, as a user gets them
    result = cli(*run_args, cwd=tmp_path, timeout=1800, env=WITH_NOTEBOOK_TESTS)
    assert result.returncode == 0, result.stderr
    rec = record(tmp_path/'workspace')
    assert rec['status'] == 'succeeded' and rec['config']['filter'] == '' and rec['config']['sample_fraction'] == 1.0
    assert rec['metrics']['rows'] + rec['metrics']['rows_without_target'] == 336776
    assert rec['metrics']['rows_without_target'] == 9430              # flights with no arr_delay: cancelled or diverted
    assert rec['metrics']['test_roc_auc'] >= 0.68                     # December 2013, trained on January to November
    assert rec['metrics']['test_roc_auc'] > rec['metrics']['baseline_test_roc_auc']
    watched = cli(*monitor_args, cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr                    # December watched week by week: nothing harmful
    assert re.search(r'flights_late: 6 window\(s\) of 1w, 0 alert\(s\) in 0 incident\(s\)',
                     watched.stdout), watched.stdout
