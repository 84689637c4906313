"""A short soak: one client sends predictions and truths for 40 seconds; after the first 10 the server's memory grows
by less than 10%, and nothing fails. The 30-minute soak across an hour boundary is `python bench/durability.py soak`."""
import time
from pathlib import Path
import httpx, pandas as pd
from conftest import copy_workspace
from mlops_nb.core import list_runs
from test_serving import LiveServer, as_requests

SECONDS, WARM, MOST = 40, 10, 20_000   # the soak's length, its warm-up, and its bound in requests


def rss_mb(pid): # a process id
    status = Path(f'/proc/{pid}/status').read_text().splitlines()
    return int(next(line for line in status if line.startswith('VmRSS')).split()[1]) / 1024


def test_a_short_soak_keeps_memory_flat_and_fails_nothing(trained, tmp_path):
    workspace = copy_workspace(trained, tmp_path/'ws')
    data = pd.read_parquet(list_runs(workspace)[0]/'validated'/'data.parquet')
    records = as_requests(data[data.time_hour >= pd.Timestamp('2013-03-01', tz='UTC')])
    server = LiveServer(workspace).start()
    failures, samples, sent = [], [], 0
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            began = time.monotonic()
            due = began + WARM
            while time.monotonic() - began < SECONDS and sent < MOST:
                answer = http.post('/predict', json=[records[sent % len(records)]])
                if answer.status_code != 200: failures.append(answer.text)
                elif sent % 10 == 0:
                    truth = http.post(
                        '/feedback',
                        json={'request_id': answer.json()['predictions'][0]['request_id'], 'truth': sent % 2})
                    if truth.status_code != 200: failures.append(truth.text)
                sent += 1
                if time.monotonic() >= due: samples.append(rss_mb(server.process.pid)); due += 5
    finally:
        server.stop()
    assert failures == [] and sent > 1000, (failures[:3], sent)
    assert max(
        samples) <= samples[0] * 1.10, f'RSS {samples[0]:.1f} MB after {WARM} s, then {[round(s, 1) for s in samples]}'
