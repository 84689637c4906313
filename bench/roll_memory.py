"""The memory an hour's roll leaves in the process that rolls it: N answer rows written as parts (20 feature columns,
the request, the output), flushed, then rolled; RSS before and after. Run it with each checkout first on PYTHONPATH:

    cd /tmp && PYTHONPATH=CHECKOUT python /path/to/bench/roll_memory.py 130000
"""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from mlops_nb.predlog import PredictionLog, now_utc
def rss(): return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
rows_total, rng = int(sys.argv[1]), np.random.default_rng(0)
features = [f'f{i}' for i in range(20)]
with tempfile.TemporaryDirectory() as d:
    log = PredictionLog(d, 'm', features=features, flush_seconds=3600)
    for start in range(0, rows_total, 200):
        at = now_utc()
        log.write(
            [
                {
                    'request_id': f'{start + k:032x}',
                    'at': at,
                    'model': 'm',
                    'version': 1,
                    'route': 'production',
                    'request': json.dumps(
                        {
                            'time_hour': '2013-03-01T10:00:00Z',
                            'origin': 'JFK',
                            'carrier': 'B6',
                            'flight': 1545,
                            'dest': 'MCO',
                            'distance': 944,
                        }
                    ),
                    'output': float(rng.random()),
                    'label': 0,
                    'latency_ms': 1.0,
                    'batch': 1,
                    'error': None,
                    'event_time': '2013-03-01T10:00:00Z',
                    **{f: float(rng.random()) for f in features},
                }
                for k in range(200)
            ]
        )
        if start % 20000 == 0: log.flush()
    log.flush()
    before = rss()
    log.roll(everything=True)
    after = rss()
    print(f"{rows_total:,} rows in {len(list(Path(d).glob('predictions/m/*.parquet')))} hour file(s): RSS "
          f"{before:.0f} MB before the roll, {after:.0f} MB after ({(after / before - 1) * 100:+.1f}%)")
    log.stopping.set()
