"Prototype of the Feast feature store for issue 4 (to become nbs/03_features)."
import datetime as dt, json, os
from pathlib import Path
os.environ.setdefault('FEAST_USAGE', 'False')          # Feast's telemetry: no network at run time
import numpy as np, pandas as pd

TS = 'event_timestamp'


def as_micro(times): return times.astype('datetime64[us, UTC]')   # duckdb 2 cannot cast TIMESTAMPTZ_NS


def arrivals(df, timestamp='time_hour', target='late', allowance_minutes=60):
    "Labelled flights stamped when their label became known: actual departure + air time + a taxi allowance."
    done = df[df[target].notna()]
    known = done[timestamp] + pd.to_timedelta(done['minute'] + done['dep_delay'] + done['air_time'] + allowance_minutes, unit='min')
    return done.assign(known_at=known)


def window_rate(events, entity, hours, window_days=28, target='late'):
    "Per entity and hour h, the late rate and count of labels known in (h - window, h]: a dense hourly table."
    name, count = f'{entity}_late_rate_{window_days}d', f'{entity}_flights_{window_days}d'
    window, parts = pd.Timedelta(days=window_days), []
    for key, group in events.sort_values('known_at').groupby(entity):
        times, late = group['known_at'].values, np.concatenate([[0], group[target].cumsum().values])
        upto, start = np.searchsorted(times, hours.values, 'right'), np.searchsorted(times, (hours - window).values, 'right')
        n = upto - start
        parts.append(pd.DataFrame({entity: key, TS: hours, name: np.where(n > 0, (late[upto] - late[start]) / np.maximum(n, 1), np.nan), count: n.astype(float)}))
    return pd.concat(parts, ignore_index=True)


def with_route(df): return df.assign(route=df['origin'] + '-' + df['dest'])


def on_demand(df, timestamp='time_hour', timezone='America/New_York'):
    "Request-time features, the same code offline and online: local hour, day of week, days to the nearest US holiday."
    from pandas.tseries.holiday import USFederalHolidayCalendar
    local = df[timestamp].dt.tz_convert(timezone)
    days = local.dt.tz_localize(None).dt.normalize()
    holidays = USFederalHolidayCalendar().holidays(days.min() - pd.Timedelta(days=400), days.max() + pd.Timedelta(days=400))
    gaps = np.abs(days.values[:, None] - holidays.values[None, :]).min(axis=1) if len(days) else np.array([], 'timedelta64[ns]')
    return df.assign(hour_local=local.dt.hour.astype('int64'), dayofweek=local.dt.dayofweek.astype('int64'),
                     days_to_holiday=(gaps / np.timedelta64(1, 'D')).astype('int64'))


def store_yaml(project='mlops_nb', online=None, offline=None):
    "feature_store.yaml for a local repository: sqlite online store, duckdb over Parquet offline."
    import yaml
    return yaml.safe_dump({'project': project, 'registry': 'data/registry.db', 'provider': 'local',
                           'online_store': online or {'type': 'sqlite', 'path': 'data/online.db'},
                           'offline_store': offline or {'type': 'duckdb'}, 'entity_key_serialization_version': 3}, sort_keys=False)


def definitions(spec):
    "Feast entities and feature views from a plain spec."
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64
    entities = {e: Entity(name=e, join_keys=[e], value_type=ValueType.STRING) for v in spec['views'] for e in v['entities']}
    views = [FeatureView(name=v['name'], entities=[entities[e] for e in v['entities']], ttl=dt.timedelta(hours=v['ttl_hours']),
                         schema=[Field(name=c, dtype=Float64) for c in v['features']], online=True,
                         source=FileSource(name=f"{v['name']}_source", path=v['path'], timestamp_field=TS))
             for v in spec['views']]
    return [*entities.values(), *views]


def open_store(repo):
    from feast import FeatureStore
    return FeatureStore(repo_path=str(repo))


def feature_refs(spec): return [f"{v['name']}:{c}" for v in spec['views'] for c in v['features']]


def historical(store, df, spec, timestamp='time_hour'):
    "Point-in-time features for every row of `df` as of its `timestamp`, one query per view over its distinct keys and times."
    out = df.assign(**{TS: as_micro(df[timestamp])})
    for view in spec['views']:
        query = out[[*view['entities'], TS]].drop_duplicates()
        found = store.get_historical_features(entity_df=query, features=[f"{view['name']}:{c}" for c in view['features']]).to_df()
        found[TS] = as_micro(found[TS])
        out = out.merge(found, on=[*view['entities'], TS], how='left', validate='many_to_one')
    return out.drop(columns=TS)


def online(store, df, spec):
    "The latest materialized features for every row of `df` from the online store, with a flag per view for unknown entities."
    keys = sorted({e for v in spec['views'] for e in v['entities']})
    rows = df[keys].to_dict('records')
    found = store.get_online_features(features=feature_refs(spec), entity_rows=rows).to_df()
    values = found[[c for v in spec['views'] for c in v['features']]].astype('float64')
    missing = pd.DataFrame({f"missing_{v['name']}": values[v['features']].isna().all(axis=1) for v in spec['views']})
    return pd.concat([df.reset_index(drop=True), values.reset_index(drop=True)], axis=1), missing
