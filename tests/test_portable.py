"""A workspace is a folder you can move: a trained workspace copied elsewhere, its original deleted, serves, scores and
brings its store up to date on its own files."""
import shutil
import httpx, pandas as pd
from conftest import cli
from mlops_nb.core import list_runs
from test_serving import MODEL, LiveServer, as_requests


def test_a_copied_workspace_with_its_original_deleted_serves_and_scores_its_own_files(trained, tmp_path):
    original = shutil.copytree(trained, tmp_path/'original', symlinks=True)
    # as a CI artifact unpacked elsewhere
    moved = shutil.copytree(original, tmp_path/'elsewhere'/'moved', symlinks=True)
    shutil.rmtree(original)
    records = [*moved.glob('runs/*/*.json'), *moved.glob('feature_repo/*.json')]
    assert records and [p for p in records if str(original) in p.read_text()] == []      # no record names where it was
    data = pd.read_parquet(list_runs(moved)[0]/'validated'/'data.parquet')
    march = data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')].head(200)
    march.to_parquet(tmp_path/'march.parquet')
    scored = cli('score', tmp_path/'march.parquet', '--out', tmp_path/'scored.parquet', workspace=moved)
    assert scored.returncode == 0, scored.stderr
    assert len(pd.read_parquet(tmp_path/'scored.parquet')) == len(march)
    server = LiveServer(moved).start()
    try:
        answers = httpx.post(f'{server.url}/predict', json=as_requests(march.head(20)),
                             timeout=60).json()['predictions']
        assert [a['missing'] for a in answers] == [[]] * 20  # the features came from its own store
    finally:
        server.stop()
    assert (moved/'predictions'/MODEL).is_dir() and not original.exists()
    stored = cli('materialize', '--until', '2013-03-05T00:00:00Z', workspace=moved)
    assert stored.returncode == 0, stored.stderr
    assert not original.exists()
