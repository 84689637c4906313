"Model cards of real versions: every section, and permutation importances that are the evaluate stage's (also in W&B)."
import json
import pandas as pd, pytest
from conftest import cli
from wandb_files import wandb_runs
from mlops_nb.card import SECTIONS
from mlops_nb.registry import get_model_version


def table_after(markdown, heading):
    "The rows of the first Markdown table under `heading`, as lists of cells."
    section = markdown.split(f'## {heading}\n', 1)[1].split('\n## ', 1)[0]
    lines = [l for l in section.splitlines() if l.startswith('| ')]
    return [[c.strip() for c in l.strip('|').split('|')] for l in lines]


def test_model_card_holds_every_section_and_the_evaluate_stage_importances(slice_workspace, tmp_path):
    "`models card` of the default model: each section, its snapshot hash and periods, and evaluate's importances."
    result = cli('models', 'card', 'flights_late:1', workspace=slice_workspace)
    assert result.returncode == 0, result.stderr
    card = result.stdout
    for title in SECTIONS: assert f'\n## {title}\n' in card, title
    entry = get_model_version(slice_workspace, 'flights_late', 1)
    run = slice_workspace/'runs'/entry['run_id']
    assert entry['lineage']['data_sha256'] in card and entry['sha256'] in card
    assert 'Training period: 2013-01' in card and 'test period: 2013-03-01' in card
    evaluation = json.loads((run/'metrics.json').read_text())
    metrics = {row[0]: row for row in table_after(card, 'Metrics')[1:]}
    low, high = evaluation['intervals']['test_roc_auc']
    assert metrics['roc_auc'][1] == f"{evaluation['metrics']['test_roc_auc']:.4f}" and metrics['roc_auc'][
        2] == f'{low:.4f} to {high:.4f}'
    assert low < evaluation['metrics']['test_roc_auc'] < high
    importance = pd.read_csv(run/'importance.csv')
    rows = table_after(card, 'What drives its predictions')[1:]
    assert [r[0] for r in rows] == list(importance.feature)
    assert [r[1] for r in rows] == [f'{v:.4f}' for v in importance.importance]
    assert importance.importance.iloc[0] > 0.005 and set(importance.feature) == {
        *json.loads((run / 'feature_spec.json').read_text())['numeric'],
        *json.loads((run / 'feature_spec.json').read_text())['categorical'],
    }
    # the register stage wrote a card for every version, and the evaluate stage logged the importances to W&B
    for version in (1, 2):
        written = (
            slice_workspace
            / 'runs'
            / get_model_version(slice_workspace, 'flights_late', version)['run_id']
            / 'model_card.md'
        ).read_text()
        assert all(f'\n## {title}\n' in written for title in SECTIONS)
    logged = [r for r in wandb_runs(slice_workspace) if r['group'] == entry['run_id'] and r['job_type'] == 'evaluate']
    assert len(logged) == 1
    assert {k[len('importance/'):]: v
            for k, v in logged[0]['summary'].items() if k.startswith('importance/')
            } == pytest.approx(dict(zip(importance.feature, importance.importance)), rel=1e-9)
    out = tmp_path/'card.html'
    result = cli('models', 'card', 'flights_late', '--html', out, workspace=slice_workspace)
    assert result.returncode == 0 and out.read_text().count(
        '<table>') >= 5 and '<h2>What drives its predictions</h2>' in out.read_text()
    bad = cli('models', 'card', 'flights_late:99', workspace=slice_workspace)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1 and 'version 99' in bad.stderr
