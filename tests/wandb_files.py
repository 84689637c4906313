"""Read W&B's offline run files back, without the network: what the tests check was logged.

Offline, a W&B run is a `run-<id>.wandb` file that `wandb sync` uploads later. It is a log of protobuf records
in LevelDB's log format: a 7-byte header, then 32 KiB blocks of records, each with a 7-byte header (crc,
length, type: full, first, middle or last). W&B 0.31 ships no Python reader for it, so these few lines read one.
W&B's service writes the file after `run.finish()` returns, so a run just finished may still be a bare header;
`wandb_runs` waits until each file holds its `exit` record.
"""
import json, time
from pathlib import Path


def wandb_records(path,        # a .wandb file
                  block=32768, # the log's block size
                 ):
    "The raw protobuf records of a W&B run file."
    data, pos, parts = Path(path).read_bytes(), 7, b''
    while pos + 7 <= len(data):
        if block - pos % block < 7: pos += block - pos % block; continue    # a block's tail too short for a header
        length, kind = int.from_bytes(data[pos + 4:pos + 6], 'little'), data[pos + 6]
        parts, pos = parts + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4): yield parts; parts = b''                           # a full record, or the last piece of one


def read_wandb_run(path): # a .wandb file
    "A W&B run file's name, group, job type, config and summary."
    from wandb.proto import wandb_internal_pb2
    out = {'path': str(path), 'config': {}, 'summary': {}, 'finished': False}
    values = lambda items: {i.key: json.loads(i.value_json) for i in items if i.key and not i.key.startswith('_')}
    for data in wandb_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof('record_type')
        if kind == 'run':
            out.update(name=record.run.display_name, group=record.run.run_group, job_type=record.run.job_type)
            out['config'].update(values(record.run.config.update))
        elif kind == 'config': out['config'].update(values(record.config.update))
        elif kind == 'summary': out['summary'].update(values(record.summary.update))
        elif kind == 'exit': out['finished'] = True
    return out


def wandb_runs(workspace,    # the workspace
               timeout=10.0, # seconds to wait for W&B to finish writing
              ):
    "Every W&B run stored offline in the workspace, oldest first, once W&B has written them out (or `timeout` passed)."
    deadline = time.monotonic() + timeout
    while True:
        runs = [read_wandb_run(p) for p in sorted(Path(workspace, 'wandb').glob('offline-run-*/run-*.wandb'))]
        if all(r['finished'] for r in runs) or time.monotonic() > deadline: return runs
        time.sleep(0.1)
