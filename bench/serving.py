"""Serving speed, side by side on this machine over loopback: `mlops-nb serve`, a reference FastAPI app and MLflow.

    python bench/serving.py [--workspace DIR] [--runs 3] [--requests 2000] [--seconds 20] [--workers 1]
                            [--mlflow-venv DIR | --no-mlflow]

Without --workspace (or with one holding no deployed model) it first runs the default pipeline (the full year,
ingest to deploy) in a scratch workspace. Then, in each of --runs rounds:
- single-record /predict latency p50, p95, p99 over --requests sequential keep-alive requests, and the same
  server's /health p50 (the HTTP floor);
- throughput and p99 with 8 and with 32 concurrent keep-alive clients for --seconds each;
- the same for the reference (bench/reference_app.py: `pipeline.predict_proba` on a one-row DataFrame of
  the request's engineered features, no feature store, no batching, no log);
- the same for `mlflow models serve` of the same model version, logged and registered in MLflow's file store by
  bench/mlflow_model.py in a venv of its own (--mlflow-venv, made with MLflow 3.17.2 if missing: MLflow is never a
  dependency of mlops_nb), sent the engineered features as `dataframe_records`;
- each server's CPU milliseconds per request (its process and children, user + system), one client and 8.
Every server runs with OMP_NUM_THREADS=1: scikit-learn's threads pinned to one, for a fair comparison.
Once: in-process single-row latency of each inference path, of the feature path alone, and of Feast's own
`get_online_features`, and `mlops-nb score` rows per second on the full year. Figures are medians over rounds.

    python bench/serving.py --fresh [--workspace DIR] [--runs 3] [--requests 2000]

measures instead the same server idle and while the store is written under it, in each round: single-record
/predict p50 and p99 over --requests sequential requests with nothing else running, then again while another
client sends truths to /feedback (20 a request, known now, each pushing its origin's late rate) and `mlops-nb
materialize` runs in a loop, bringing the store up to now (each run writes the Feast registry, so the server reloads
its cache beside the answers).

    python bench/serving.py --grpc [--workspace DIR] [--runs 3] [--requests 2000] [--seconds 20]

measures instead one `mlops-nb serve --grpc-port` over both of its protocols, in each round: single-record p50 and
p99 over --requests sequential calls on one connection (httpx keep-alive; one gRPC channel), then the same with 8
concurrent clients, each on its own connection, for --seconds; REST and gRPC alternate, on the same records.
"""
import argparse, asyncio, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import httpx, numpy as np, pandas as pd, psutil
from common import free_port

HERE = Path(__file__).parent
RAW = ['time_hour', 'origin', 'carrier', 'flight', 'dest', 'sched_dep_time', 'sched_arr_time', 'distance']
MLFLOW = 'mlflow==3.17.2'


def start(command, env, ready):
    "Start a server process; return it once `ready` answers 200."
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None: sys.exit(f"server exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(ready, timeout=2).status_code == 200: return process
        except httpx.TransportError: pass
        time.sleep(0.5)
    process.kill()
    sys.exit(f"{command[0]} not ready after 300 s")


def deployed(workspace):
    "The workspace's production model (name, version) and its run, after a default `mlops-nb run` if there is none."
    from mlops_nb.release import default_model, release_state
    from mlops_nb.registry import get_model_version
    try:
        name = default_model(workspace)
        version = release_state(workspace, name)['production']
        if version is not None:
            return name, version, Path(workspace) / 'runs' / get_model_version(workspace, name, version)['run_id']
    except Exception: pass
    print('no deployed model: running the default pipeline (the full year) first...', file=sys.stderr, flush=True)
    subprocess.run(['mlops-nb', 'run', '--workspace', str(workspace)], check=True,
                   env={**os.environ, 'WANDB_MODE': os.environ.get('WANDB_MODE', 'offline')})
    return deployed(workspace)


def bodies(run, n):
    "n flights of the test month as requests: the raw fields for mlops-nb, the engineered features for the reference."
    config = json.loads((run/'run.json').read_text())['config']
    data = pd.read_parquet(run/'features.parquet')
    data = data[data.time_hour >= pd.Timestamp(config['test_start'], tz='UTC')].sample(
        n, random_state=0, replace=n > len(data)
    )
    spec = json.loads((run/'feature_spec.json').read_text())
    raw = data[RAW].assign(time_hour=data.time_hour.dt.strftime('%Y-%m-%dT%H:%M:%SZ'))
    plain = lambda frame: [{k: (v.item() if hasattr(v, 'item') else v)
                            for k, v in r.items()} for r in frame.to_dict('records')]
    features = data[spec['numeric']
                    + spec['categorical']].astype(object).where(data[spec['numeric'] + spec['categorical']].notna(),
                                                                None)
    return plain(raw), plain(features)


def sequential(url, path, sent, n):
    "Milliseconds of n requests one after another on one keep-alive connection."
    times = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for i in range(n):
            start = time.perf_counter()
            response = http.post(path, json=sent[i % len(sent)]) if sent else http.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
    return times


def cpu_seconds(process):
    "User and system CPU seconds so far of a server process and its children."
    tree = psutil.Process(process.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [tree, *tree.children(recursive=True)])


async def concurrent(url, path, sent, clients, seconds):
    "(milliseconds of each request, requests per second, failures) of `clients` clients on their own connections."
    times, failures, stop = [], 0, time.perf_counter() + seconds
    async def client(k):  # one httpx client each: a shared pool stalls at 32 connections
        nonlocal failures
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            i = k
            while time.perf_counter() < stop:
                start = time.perf_counter()
                response = await http.post(path, json=sent[i % len(sent)])
                times.append((time.perf_counter() - start) * 1000)
                failures += response.status_code != 200
                i += clients
    began = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return times, len(times) / (time.perf_counter() - began), failures


def http_round(url, path, sent, requests, seconds, process):
    "One round of HTTP figures for one server: `path` answers `sent` bodies, the server runs as `process`."
    cpu = cpu_seconds(process)
    predict = sequential(url, path, sent, requests)
    used = cpu_seconds(process) - cpu
    health = sequential(url, '/health', None, requests)
    figures = {
        'p50': np.percentile(predict, 50), 'p95': np.percentile(predict, 95), 'p99': np.percentile(predict, 99),
        'health_p50': np.percentile(health, 50), 'cpu_1': used * 1000 / requests
    }
    for clients in (8, 32):
        cpu = cpu_seconds(process)
        times, rate, failures = asyncio.run(concurrent(url, path, sent, clients, seconds))
        assert failures == 0, f"{failures} failed requests with {clients} clients"
        figures[f'rps_{clients}'], figures[f'p99_{clients}'] = rate, float(np.percentile(times, 99))
        figures[f'cpu_{clients}'] = (cpu_seconds(process) - cpu) * 1000 / len(times)
    return figures


def timed(call, n):
    "p50 and p99 milliseconds of n calls (after one warm-up call)."
    call(0)
    times = []
    for i in range(n):
        start = time.perf_counter(); call(i); times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def in_process(workspace, name, version, records, n):
    "Single-row ms (p50, p99) of the feature path, of Feast alone, of each inference path and of Served.predict."
    from mlops_nb.features import open_store
    from mlops_nb.inference import PATHS, SklearnPath, compiled_path, parity
    from mlops_nb.registry import load_registered
    from mlops_nb.server import Served
    served, model = Served(workspace, name, version), load_registered(workspace, name, version)
    spec, store = served.spec, open_store(served.spec['repo'])
    numbers, categories, *_ = served.features.assemble(records)
    refs = [f"{v['name']}:{c}" for v in spec['store']['views'] for c in v['features']]
    entities = [{e: r[e] for v in spec['store']['views'] for e in v['entities']} for r in records]
    one = lambda path: (
        lambda i: path.predict(
            numbers[i % len(records) : i % len(records) + 1], categories[i % len(records) : i % len(records) + 1]
        )
    )
    figures = {
        'feature path (cache + on-demand parts)': timed(lambda i: served.features.assemble([records[i % len(records)]]),
                                                        n),
        "Feast get_online_features alone": timed(
            lambda i: store.get_online_features(features=refs, entity_rows=[entities[i % len(records)]]).to_dict(), n)
    }
    paths = {'sklearn': SklearnPath(model, spec, served.task)}
    for kind in PATHS:
        try: paths[kind] = compiled_path(kind, model, spec, served.task)
        except Exception as e: figures[f'{kind} path'] = f"none: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    reference = paths['sklearn'].predict(numbers, categories)
    for key, path in paths.items():
        difference = parity(path, reference, numbers, categories)  # all rows in one call, and 100 one at a time
        figures[f"{key} path (max |diff| {difference:.1e}{', refused' if difference > 1e-5 else ''})"] = timed(
            one(path), n
        )
    figures[f"whole Served.predict, one record ({served.decision['path']} path in use)"] = timed(
        lambda i: served.predict([records[i % len(records)]]), n)
    return figures


def mlflow_venv(folder):
    "The python of a venv holding MLflow (the system's packages visible, so the same scikit-learn), made if missing."
    python = Path(folder)/'bin'/'python'
    if not (Path(folder)/'bin'/'mlflow').exists():
        print(f'making a venv with {MLFLOW} in {folder}...', file=sys.stderr, flush=True)
        subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', str(folder)], check=True)
        subprocess.run([str(python), '-m', 'pip', 'install', '-q', MLFLOW], check=True)
        # its own uvicorn script, so `mlflow models serve` starts uvicorn with the venv's python
        subprocess.run([str(python), '-m', 'pip', 'install', '-q', '--no-deps', '--force-reinstall', 'uvicorn'],
                       check=True)
    return python


def mlflow_server(folder, workspace, name, version, port, env):
    "(command, environment) serving the model version with `mlflow models serve`, once logged and registered there."
    python, tracking = mlflow_venv(folder), Path(workspace)/'mlflow'
    env = {**env, 'MLFLOW_ALLOW_FILE_STORE': 'true', 'MLFLOW_TRACKING_URI': tracking.resolve().as_uri(),
           'PATH': f"{python.parent}{os.pathsep}{env['PATH']}"}  # MLflow starts the venv's uvicorn by name
    script = [str(python), str(HERE/'mlflow_model.py'), str(workspace), name, str(version), str(tracking)]
    logged = subprocess.run(script, env=env, capture_output=True, text=True)
    if logged.returncode: sys.exit(f"logging the model to MLflow failed: {logged.stderr[-2000:]}")
    uri = logged.stdout.split()[-1]
    return [str(python.parent/'mlflow'), 'models', 'serve', '-m', uri, '--env-manager', 'local', '--host', '127.0.0.1',
            '--port', str(port), '--workers', '1'], env


def score_rate(workspace, run):
    "Rows per second of `mlops-nb score` on the run's validated data (the full year), wall time of the command."
    data = run/'validated'/'data.parquet'
    rows = len(pd.read_parquet(data, columns=['flight']))
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        subprocess.run([
            'mlops-nb', 'score',
            str(data), '--out', f'{scratch}/scores.parquet', '--workspace',
            str(workspace)
        ], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, 'WANDB_MODE': 'offline'})
        seconds = time.perf_counter() - start
    return rows, seconds


def fresh_round(url, workspace, sent, requests):
    "p50 and p99 of /predict idle, then while truths are pushed and materializations run; and how many of each ran."
    import threading
    idle = sequential(url, '/predict', sent, requests)
    done, counts = threading.Event(), {'truths': 0, 'materializations': 0}
    def feedback():
        with httpx.Client(base_url=url, timeout=60) as http:
            while not done.is_set():
                answers = http.post('/predict', json=sent[:20]).json()['predictions']
                known = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
                assert (
                    http.post(
                        '/feedback',
                        json=[
                            {'request_id': a['request_id'], 'truth': i % 2, 'known_at': known}
                            for i, a in enumerate(answers)
                        ],
                    ).status_code
                    == 200
                )
                counts['truths'] += len(answers)
    def materialize():
        while not done.is_set():
            subprocess.run(['mlops-nb', 'materialize', '--workspace', str(workspace)], check=True, capture_output=True)
            counts['materializations'] += 1
    threads = [threading.Thread(target=feedback), threading.Thread(target=materialize)]
    for t in threads: t.start()
    time.sleep(3)
    try: busy = sequential(url, '/predict', sent, requests)
    finally:
        done.set()
        for t in threads: t.join()
    return {
        'idle_p50': np.percentile(idle, 50), 'idle_p99': np.percentile(idle, 99), 'busy_p50': np.percentile(busy, 50),
        'busy_p99': np.percentile(busy, 99), **counts
    }


def fresh_main(args, workspace, name, version, run, raw):
    "The --fresh figures."
    env = {**os.environ, 'WANDB_MODE': 'offline', 'MLOPS_NB_WORKSPACE': str(workspace)}
    port = free_port()
    server = start(['mlops-nb', 'serve', '--port', str(port)], env, f'http://127.0.0.1:{port}/ready')
    rounds = []
    try:
        for i in range(args.runs):
            rounds.append(fresh_round(f'http://127.0.0.1:{port}', workspace, raw, args.requests))
            print(f"round {i + 1}/{args.runs}: " + ', '.join(f"{k} {v:.2f}" for k, v in rounds[-1].items()),
                  file=sys.stderr, flush=True)
    finally: server.terminate(); server.wait(60)
    m = lambda k: statistics.median(r[k] for r in rounds)
    print(f"\n/predict, one record, {args.requests} sequential requests, medians of "
          f"{args.runs} rounds (model {name} version {version}, {os.cpu_count()} cores)")
    print(f"idle:                                         p50 {m('idle_p50'):.2f} ms, p99 {m('idle_p99'):.2f} ms")
    print(f"truths pushed and materializations running:   p50 {m('busy_p50'):.2f} ms, p99 {m('busy_p99'):.2f} ms "
          f"({m('truths'):.0f} truths, {m('materializations'):.0f} materializations a round)")
    print(f"ratios busy / idle: p50 {m('busy_p50') / m('idle_p50'):.2f}, p99 {m('busy_p99') / m('idle_p99'):.2f}")


def grpc_requests(records):
    "Each record as a Predictor.Predict request of one record."
    from google.protobuf import json_format, struct_pb2
    from mlops_nb.grpc_service import messages
    return [messages()[0](records=[json_format.ParseDict(r, struct_pb2.Struct())]) for r in records]


def grpc_sequential(address, sent, n):
    "Milliseconds of n Predict calls one after another on one channel."
    import grpc
    from mlops_nb.grpc_service import predict_stub
    times = []
    with grpc.insecure_channel(address) as channel:
        call = predict_stub(channel)
        for i in range(n):
            start = time.perf_counter(); call(sent[i % len(sent)], timeout=30)
            times.append((time.perf_counter() - start) * 1000)
    return times


async def grpc_concurrent(address, sent, clients, seconds):
    "(milliseconds of each call, calls per second) of `clients` clients, each on its own channel, for `seconds`."
    import grpc
    from mlops_nb.grpc_service import predict_stub
    times, stop = [], time.perf_counter() + seconds
    async def client(k):
        async with grpc.aio.insecure_channel(address) as channel:
            call, i = predict_stub(channel), k
            while time.perf_counter() < stop:
                start = time.perf_counter(); await call(sent[i % len(sent)], timeout=30)
                times.append((time.perf_counter() - start) * 1000); i += clients
    began = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return times, len(times) / (time.perf_counter() - began)


def grpc_round(url, address, raw, requests, seconds):
    "One round: REST and gRPC, one client then 8, on the same records."
    sent, figures = grpc_requests(raw), {}
    for name, times in (('rest', sequential(url, '/predict', raw, requests)),
                        ('grpc', grpc_sequential(address, sent, requests))):
        figures[f'{name}_p50'], figures[f'{name}_p99'] = np.percentile(times, 50), np.percentile(times, 99)
    rest, rest_rate, failures = asyncio.run(concurrent(url, '/predict', raw, 8, seconds))
    assert failures == 0, f"{failures} failed requests with 8 clients"
    rpc, rpc_rate = asyncio.run(grpc_concurrent(address, sent, 8, seconds))
    for name, times, rate in (('rest', rest, rest_rate), ('grpc', rpc, rpc_rate)):
        figures[f'{name}_p50_8'], figures[f'{name}_p99_8'] = np.percentile(times, 50), np.percentile(times, 99)
        figures[f'{name}_rps_8'] = rate
    return figures


def grpc_main(args, workspace, name, version, raw):
    "The --grpc figures."
    env = {**os.environ, 'WANDB_MODE': 'offline', 'MLOPS_NB_WORKSPACE': str(workspace), 'OMP_NUM_THREADS': '1'}
    port, rpc = free_port(), free_port()
    server = start(['mlops-nb', 'serve', '--port', str(port), '--grpc-port', str(rpc)], env,
                   f'http://127.0.0.1:{port}/ready')
    rounds = []
    try:
        for i in range(args.runs):
            rounds.append(grpc_round(f'http://127.0.0.1:{port}', f'127.0.0.1:{rpc}', raw, args.requests, args.seconds))
            print(f"round {i + 1}/{args.runs}: " + ', '.join(f"{k} {v:.2f}" for k, v in rounds[-1].items()),
                  file=sys.stderr, flush=True)
    finally: server.terminate(); server.wait(60)
    m = lambda k: statistics.median(r[k] for r in rounds)
    print(f"\n/predict and Predictor.Predict, one record a request, medians of {args.runs} rounds (model {name} "
          f"version {version}, {os.cpu_count()} cores)")
    print(f"{'protocol':<9} {'1 client p50':>12} {'p99':>7} {'8 clients p50':>13} {'p99':>7} {'calls/s':>8}")
    for k in ('rest', 'grpc'):
        print(f"{k:<9} {m(k + '_p50'):12.2f} {m(k + '_p99'):7.2f} {m(k + '_p50_8'):13.2f} {m(k + '_p99_8'):7.2f} "
              f"{m(k + '_rps_8'):8.0f}")
    print(f"gRPC / REST: p50 {m('grpc_p50') / m('rest_p50'):.2f}, p99 {m('grpc_p99') / m('rest_p99'):.2f}; "
          f"8 clients p99 {m('grpc_p99_8') / m('rest_p99_8'):.2f}, throughput {m('grpc_rps_8') / m('rest_rps_8'):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace',
                        help='a workspace with a deployed model; default: a scratch one with a fresh default run')
    parser.add_argument('--runs', type=int, default=3, help='rounds of the HTTP figures; medians are reported')
    parser.add_argument('--requests', type=int, default=2000, help='sequential requests per latency figure')
    parser.add_argument('--seconds', type=float, default=20, help='seconds per concurrency level')
    parser.add_argument('--workers', type=int, default=1, help='uvicorn workers of mlops-nb serve')
    parser.add_argument('--mlflow-venv', default=str(Path.home()/'.cache'/'mlops_nb'/'bench-mlflow'),
                        help=f'a venv with MLflow, made with {MLFLOW} if missing')
    parser.add_argument('--no-mlflow', action='store_true', help='leave `mlflow models serve` out')
    parser.add_argument('--fresh', action='store_true',
                        help='measure the server idle and while truths are pushed and materializations run')
    parser.add_argument('--grpc', action='store_true', help="measure the server's gRPC beside its REST")
    args = parser.parse_args()
    workspace = Path(args.workspace or tempfile.mkdtemp(prefix='bench-serving-'))
    name, version, run = deployed(workspace)
    raw, features = bodies(run, max(args.requests, 5000))
    if args.fresh: return fresh_main(args, workspace, name, version, run, raw)
    if args.grpc: return grpc_main(args, workspace, name, version, raw)
    env = {
        **os.environ, 'WANDB_MODE': 'offline', 'MLOPS_NB_WORKSPACE': str(workspace), 'REFERENCE_MODEL': name,
        'REFERENCE_VERSION': str(version), 'PYTHONPATH': str(HERE), 'OMP_NUM_THREADS': '1'
    }
    ours, reference, mlflow = free_port(), free_port(), free_port()
    url = lambda port: f'http://127.0.0.1:{port}'
    servers = {
        'mlops-nb serve': (start(['mlops-nb', 'serve', '--port', str(ours), '--workers', str(args.workers)], env,
                                 f'{url(ours)}/ready'), url(ours), '/predict', raw),
        'reference': (start([sys.executable, '-m', 'uvicorn', '--factory', 'reference_app:app', '--port',
                             str(reference), '--log-level', 'warning'], env, f'{url(reference)}/health'),
                      url(reference), '/predict', features)
    }
    if not args.no_mlflow:
        command, mlflow_env = mlflow_server(args.mlflow_venv, workspace, name, version, mlflow, env)
        servers['mlflow'] = (start(command, mlflow_env, f'{url(mlflow)}/health'), url(mlflow), '/invocations',
                             [{'dataframe_records': [f]} for f in features])
    rounds = {server: [] for server in servers}
    try:
        for i in range(args.runs):
            for server, (process, address, path, sent) in servers.items():
                rounds[server].append(http_round(address, path, sent, args.requests, args.seconds, process))
            print(
                f"round {i + 1}/{args.runs}: " + '; '.join(
                    f"{k} p50 {r[-1]['p50']:.2f} ms, 8 clients {r[-1]['rps_8']:.0f}/s" for k, r in rounds.items()),
                file=sys.stderr, flush=True)
    finally:
        for process, *_ in servers.values(): process.terminate(); process.wait(60)
    median = lambda key, server: statistics.median(r[key] for r in rounds[server])
    metadata = f"model {name} version {version}, run {run.name}, {args.workers} worker(s), {os.cpu_count()} cores"
    print(f"\nHTTP over loopback, medians of {args.runs} rounds ({metadata}); CPU: the server's ms a request")
    print(f"{'server':<16} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'/health p50':>11} {'CPU':>6} "
          f"{'8 clients/s':>11} {'p99 ms':>7} {'CPU':>6} {'32 clients/s':>12} {'p99 ms':>7}")
    for server in rounds:
        m = lambda k: median(k, server)
        print(f"{server:<16} {m('p50'):7.2f} {m('p95'):7.2f} {m('p99'):7.2f} {m('health_p50'):11.2f} {m('cpu_1'):6.2f} "
              f"{m('rps_8'):11.0f} {m('p99_8'):7.1f} {m('cpu_8'):6.2f} {m('rps_32'):12.0f} {m('p99_32'):7.1f}")
    ours_m, ref_m = (lambda k: median(k, 'mlops-nb serve')), (lambda k: median(k, 'reference'))
    print("targets: /predict p50 / /health p50 = "
          f"{ours_m('p50') / ours_m('health_p50'):.2f} (<= 1.5); /predict p99 = "
          f"{ours_m('p99'):.2f} ms (<= 10); server CPU a /predict = {ours_m('cpu_1'):.2f} ms (<= 0.3); "
          f"8-client throughput / reference = {ours_m('rps_8') / ref_m('rps_8'):.1f}x "
          f"(>= 10); 32 clients: {ours_m('rps_32') / ref_m('rps_32'):.1f}x")
    if 'mlflow' in rounds:
        mlflow_m = lambda k: median(k, 'mlflow')
        print(f"against mlflow models serve: 8-client throughput {ours_m('rps_8') / mlflow_m('rps_8'):.1f}x (>= 20), "
              f"p50 {mlflow_m('p50') / ours_m('p50'):.1f}x lower, "
              f"CPU a request {mlflow_m('cpu_1') / ours_m('cpu_1'):.1f}x less "
              f"(one client; {mlflow_m('cpu_8') / ours_m('cpu_8'):.1f}x with 8)")
    print(f"\nin process, one row, {args.requests} calls (ms):")
    for label, figure in in_process(workspace, name, version, raw, args.requests).items():
        print(f"  {label:<70} " +
              (f"p50 {figure[0]:6.3f}  p99 {figure[1]:6.3f}" if isinstance(figure, tuple) else figure))
    rows, seconds = score_rate(workspace, run)
    print(f"\nmlops-nb score, the full year: {rows:,} rows in {seconds:.1f} s = "
          f"{rows / seconds:,.0f} rows/s (command wall time, start-up included)")


if __name__ == '__main__': main()
