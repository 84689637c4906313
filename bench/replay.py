"""A replay's wall time, this checkout against another, round by round. Run from a clone:

    python bench/replay.py --workspace WS [--before OLD_CHECKOUT] [--runs 3] [--from 2013-03-01] [--to 2013-03-01]
                           [--step week] [--policy never]

`mlops-nb simulate --compare POLICY` trains the first model once (it stays in WS/compare/start); each round replays
the steps under the policy again, in a fresh copy of that start, with one checkout's package first on PYTHONPATH (so
the server and the stage notebooks are that checkout's too), alternating the checkouts. The wall seconds and
retrains of each round come from WS/comparison.json; medians, and the ratio of this checkout's to the other's.
"""
import argparse, json, os, shutil, statistics, subprocess, time
from pathlib import Path

HERE = Path(__file__).parent


def replay(workspace, code, args):
    "One replay with `code` first on PYTHONPATH: (wall seconds of the replay, retrains, seconds of the command)."
    shutil.rmtree(Path(workspace)/'compare'/args.policy, ignore_errors=True)
    env = {**os.environ, 'PYTHONPATH': str(code), 'WANDB_MODE': 'offline'}
    started = time.perf_counter()
    subprocess.run(['mlops-nb', 'simulate', '--compare', args.policy, '--from', args.start, '--to', args.end,
                    '--step', args.step, '--workspace', str(workspace)], env=env, check=True, stdout=subprocess.DEVNULL)
    total = json.loads((Path(workspace)/'comparison.json').read_text())['totals'][args.policy]
    return total['wall_seconds'], total['retrains'], time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workspace', type=Path, required=True, help='a workspace (its compare/start is reused)')
    parser.add_argument('--before', type=Path, help='a checkout of the package to compare with')
    parser.add_argument('--runs', type=int, default=3, help='rounds for each checkout')
    parser.add_argument('--from', dest='start', default='2013-03-01', help="the first step's start")
    parser.add_argument('--to', dest='end', default='2013-03-01', help="the last step's start")
    parser.add_argument('--step', default='week', help='day, week or month')
    parser.add_argument('--policy', default='never', help='the policy replayed')
    args = parser.parse_args()
    codes = {'after': HERE.parent.absolute(), **({'before': args.before.absolute()} if args.before else {})}
    walls = {label: [] for label in codes}
    for r in range(args.runs):
        for label, code in codes.items():
            wall, retrains, seconds = replay(args.workspace.absolute(), code, args)
            walls[label].append(wall)
            print(f"round {r + 1} {label}: replay {wall:.1f} s, {retrains} retrains (command {seconds:.1f} s)",
                  flush=True)
    medians = {label: statistics.median(w) for label, w in walls.items()}
    print(', '.join(f"{label} {m:.1f} s" for label, m in medians.items()) + f" (medians of {args.runs})" +
          (f"; after/before {medians['after'] / medians['before']:.3f}" if 'before' in medians else ''))


if __name__ == '__main__':
    main()
