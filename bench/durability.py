"""What the server keeps and what it costs: /predict latency with and without the journal, answers lost to kill -9,
and memory over a long soak. Run from a clone, on a workspace with a model in production (a copy is served, never it):

    python bench/durability.py latency --workspace WS --before OLD_CHECKOUT [--runs 5] [--requests 2000]
    python bench/durability.py kill --workspace WS [--before OLD_CHECKOUT] [--trials 3]
    python bench/durability.py soak --workspace WS [--minutes 30] [--sample-seconds 10]

`latency`: single-record /predict p50 over --requests sequential keep-alive requests, this checkout against
--before (a checkout of the package before the journal), alternating servers round by round; medians and ratio.
`kill`: two clients send predictions and every fourth answer's truth; after 400 answers the server is killed with
SIGKILL, restarted (it recovers), and every answered prediction and stored truth is looked for in the log.
`soak`: one client sends predictions (and every tenth answer's truth) for --minutes; the server's RSS, requests and
errors every --sample-seconds go to bench/results/soak.csv and soak_rss.png; growth is measured from the first minute.
"""
import argparse, datetime, os, shutil, signal, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path
import httpx, pandas as pd
from common import free_port

HERE = Path(__file__).parent
RAW = ['time_hour', 'origin', 'carrier', 'flight', 'dest', 'sched_dep_time', 'sched_arr_time', 'distance']


class Server:
    "`mlops-nb serve` of a checkout (its package first on PYTHONPATH) on loopback."
    def __init__(self, workspace, code):
        self.workspace, self.code = workspace, code

    def start(self):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        env = {**os.environ, 'WANDB_MODE': 'offline', 'PYTHONPATH': str(self.code)}
        self.process = subprocess.Popen(
            [
                sys.executable, '-c', 'from mlops_nb.cli import main; main()', 'serve', '--workspace',
                str(self.workspace), '--port',
                str(self.port)
            ],
            # `-c` puts the cwd first on sys.path
            env=env,
            cwd=self.code,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.process.poll() is not None: sys.exit(f"server exited: {self.process.stderr.read()[-2000:]}")
            try:
                if httpx.get(f'{self.url}/ready', timeout=2).status_code == 200: return self
            except httpx.TransportError: pass
            time.sleep(0.5)
        sys.exit('server not ready after 300 s')

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        self.process.wait(120)

    def rss_mb(self):
        return int(
            next(l for l in Path(f'/proc/{self.process.pid}/status').read_text().splitlines()
                 if l.startswith('VmRSS')).split()[1]) / 1024


def requests_of(workspace):
    "The test month's flights as requests, from the newest run's validated data."
    sys.path.insert(0, str(HERE.parent))
    from mlops_nb.core import list_runs, read_record
    run = list_runs(workspace)[0]
    data = pd.read_parquet(run/'validated'/'data.parquet')
    data = data[data.time_hour >= pd.Timestamp(read_record(run)['config']['test_start'], tz='UTC')]
    data = data[RAW].assign(time_hour=data.time_hour.dt.strftime('%Y-%m-%dT%H:%M:%SZ'))
    return [{k: (v.item() if hasattr(v, 'item') else v) for k, v in r.items()} for r in data.to_dict('records')]


def copy_of(workspace, scratch, name):
    return shutil.copytree(workspace,
                           Path(scratch) / name, symlinks=True,
                           ignore=shutil.ignore_patterns('predictions', 'feedback', 'profiles', 'wandb'))


def p50(server, records, n):
    times = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for i in range(n + 100):                                             # 100 to warm up
            start = time.perf_counter()
            assert http.post('/predict', json=[records[i % len(records)]]).status_code == 200
            if i >= 100: times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def latency(args, records, scratch):
    figures = {'before': [], 'after': []}
    for r in range(args.runs):
        for label, code in (('before', args.before), ('after', HERE.parent)):
            server = Server(copy_of(args.workspace, scratch, f'{label}-{r}'), code).start()
            try: figures[label].append(p50(server, records, args.requests))
            finally: server.stop()
            print(f"round {r + 1} {label}: /predict p50 {figures[label][-1]:.3f} ms", flush=True)
    before, after = statistics.median(figures['before']), statistics.median(figures['after'])
    print(f"/predict p50, median of {args.runs} rounds of {args.requests:,}: before "
          f"{before:.3f} ms, after {after:.3f} ms, ratio {after / before:.3f}")


def load(url, records, answered, stored, stop, every=4, failures=None):
    "Predictions, and the truth of every `every`-th answer, until the server goes or `stop` is set; non-200s: failures."
    failures = [] if failures is None else failures
    with httpx.Client(base_url=url, timeout=10) as http:
        for i, record in enumerate(records):
            if stop.is_set(): return
            try:
                response = http.post('/predict', json=[record])
                if response.status_code != 200: failures.append(response.text); continue
                [answer] = response.json()['predictions']
                answered.append(answer['request_id'])
                if i % every == 0:
                    response = http.post('/feedback', json=[{'request_id': answer['request_id'], 'truth': i % 2}])
                    if response.status_code != 200: failures.append(response.text)
                    elif response.json()['stored'] == 1: stored[answer['request_id']] = i % 2
            except httpx.TransportError: return


def lost(workspace, answered, stored, code):
    "(answered predictions, stored truths) the log does not hold, read by the checkout's own `log_rows`."
    script = ("import json, sys; from mlops_nb.predlog import log_rows; rows = log_rows(sys.argv[1], sys.argv[2]);"
              "p = rows[rows.route == 'production']; print(json.dumps({'ids': p.request_id.tolist(), "
              "'truth': p.dropna(subset=['truth'])[['request_id', 'truth']].values.tolist()}))")
    from mlops_nb.release import default_model
    out = subprocess.run([sys.executable, '-c', script,
                          str(workspace), default_model(workspace)], env={**os.environ, 'PYTHONPATH': str(code)},
                         cwd=code, capture_output=True, text=True, check=True).stdout
    import json
    found = json.loads(out)
    truths = {i: t for i, t in found['truth']}
    return len(set(answered) - set(found['ids'])), sum(truths.get(i) != t for i, t in stored.items())


def kill(args, records, scratch):
    for label, code in (('after', HERE.parent), *((('before', args.before),) if args.before else ())):
        for trial in range(args.trials):
            server = Server(copy_of(args.workspace, scratch, f'kill-{label}-{trial}'), code).start()
            answered, stored, stop = [], {}, threading.Event()
            clients = [
                threading.Thread(target=load, args=(server.url, records[k::2], answered, stored, stop))
                for k in range(2)
            ]
            for c in clients: c.start()
            while len(answered) < 400 + 200 * trial and all(c.is_alive() for c in clients): time.sleep(0.01)
            server.stop(signal.SIGKILL); stop.set()
            for c in clients: c.join(30)
            server.start(); server.stop()                                    # recovers, then writes the log out
            predictions, truths = lost(server.workspace, answered, stored, code)
            print(
                f"{label} trial {trial + 1}: killed after {len(answered):,} answers and "
                f"{len(stored):,} stored truths; lost {predictions} predictions, {truths} truths", flush=True)


def soak(args, records, scratch):
    server = Server(copy_of(args.workspace, scratch, 'soak'), HERE.parent).start()
    answered, stored, stop, errors = [], {}, threading.Event(), []
    def client():
        while not stop.is_set(): load(server.url, records, answered, stored, stop, every=10, failures=errors)
    thread = threading.Thread(target=client)
    began = time.time()
    thread.start()
    samples = []
    try:
        while time.time() - began < args.minutes * 60:
            time.sleep(args.sample_seconds)
            samples.append({
                'seconds': round(time.time() - began), 'rss_mb': server.rss_mb(), 'requests': len(answered),
                'truths': len(stored), 'errors': len(errors),
                'hour': datetime.datetime.now(datetime.timezone.utc).strftime('%H')
            })
            print(samples[-1], flush=True)
    finally:
        stop.set(); thread.join(60); server.stop()
    frame = pd.DataFrame(samples)
    (HERE/'results').mkdir(exist_ok=True)
    frame.to_csv(HERE/'results'/'soak.csv', index=False)
    base = frame[frame.seconds >= 60].rss_mb.iloc[0]
    growth = (frame.rss_mb.iloc[-1] / base - 1) * 100
    print(f"soak {args.minutes} min: {frame.requests.iloc[-1]:,} requests, "
          f"{frame.errors.iloc[-1]} errors; RSS {base:.1f} MB at 1 min, "
          f"{frame.rss_mb.iloc[-1]:.1f} MB at the end ({growth:+.1f}%), max "
          f"{frame.rss_mb.max():.1f} MB; hours {'→'.join(dict.fromkeys(frame.hour))} UTC")
    from matplotlib.figure import Figure
    figure = Figure(figsize=(8, 3.5))
    axes = figure.add_subplot()
    axes.plot(frame.seconds / 60, frame.rss_mb)
    axes.set(xlabel='minutes', ylabel='server RSS (MB)',
             title=f'Soak: one client, {frame.requests.iloc[-1]:,} requests, {frame.errors.iloc[-1]} errors')
    figure.savefig(HERE/'results'/'soak_rss.png', dpi=100, bbox_inches='tight')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('what', choices=['latency', 'kill', 'soak'])
    parser.add_argument('--workspace', type=Path, required=True,
                        help='a workspace with a model in production (copied, never changed)')
    parser.add_argument('--before', type=Path, help='a checkout of the package to compare with')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--requests', type=int, default=2000)
    parser.add_argument('--trials', type=int, default=3)
    parser.add_argument('--minutes', type=float, default=30)
    parser.add_argument('--sample-seconds', type=float, default=10)
    args = parser.parse_args()
    if args.what == 'latency' and not args.before: parser.error('latency needs --before')
    records = requests_of(args.workspace)
    with tempfile.TemporaryDirectory() as scratch:
        {'latency': latency, 'kill': kill, 'soak': soak}[args.what](args, records, scratch)


if __name__ == '__main__':
    main()
