"""Wall time of the default `mlops-nb run` (every stage executed: `--no-cache`), split per stage into cell time and
papermill/kernel overhead.

Run by hand:  python bench/pipeline_time.py [--runs 3] [-- extra mlops-nb run args]
Prints the median over the runs of each stage's wall seconds, the seconds spent executing its cells,
and the difference (kernel start-up, papermill's reading/writing of the notebook, injected parameters).
"""

import argparse, os, statistics, subprocess, sys, tempfile, time


def one_run(workspace, extra):
    "Time one `mlops-nb run`; return (wall seconds, run record)."
    env = {**os.environ, 'MLOPS_NB_WORKSPACE': str(workspace), 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')}
    start = time.perf_counter()
    subprocess.run(['mlops-nb', 'run', '--no-cache', *extra], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    from mlops_nb.core import find_run, read_record
    return wall, read_record(find_run(workspace))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('extra', nargs='*', help='arguments passed to mlops-nb run')
    args = parser.parse_args()
    walls, stages = [], {}
    with tempfile.TemporaryDirectory() as workspace:
        for i in range(args.runs):
            wall, record = one_run(workspace, args.extra)
            walls.append(wall)
            for s in record['stages']: stages.setdefault(s['name'], []).append((s['seconds'], s['cell_seconds']))
            print(
                f"run {i + 1}/{args.runs}: {wall:.1f}s, test_roc_auc "
                f"{record['metrics'].get('test_roc_auc', float('nan')):.4f}", file=sys.stderr)
    median = statistics.median
    print(f"{'stage':<10} {'wall s':>8} {'cells s':>8} {'overhead s':>10}")
    for name, times in stages.items():
        wall, cells = median(t[0] for t in times), median(t[1] for t in times)
        print(f"{name:<10} {wall:8.1f} {cells:8.1f} {wall - cells:10.1f}")
    total_stages = sum(median(t[0] for t in times) for times in stages.values())
    total_cells = sum(median(t[1] for t in times) for times in stages.values())
    print(f"{'stages':<10} {total_stages:8.1f} {total_cells:8.1f} {total_stages - total_cells:10.1f}")
    print(f"command wall time, median of {args.runs}: {median(walls):.1f}s "
          f"(runs: {', '.join(f'{w:.1f}' for w in walls)}); "
          f"outside stages (CLI start, reading parameters): {median(walls) - total_stages:.1f}s")


if __name__ == '__main__': main()
