"""Model files that carry code: crafted archives, each live (skops would run or reach its code), each refused before any
of it runs."""
import builtins, hashlib, io, json, sqlite3, zipfile
import numpy as np, pandas as pd, pytest
import skops.io as sio
from pathlib import Path
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from mlops_nb.core import list_runs
from mlops_nb.modelfile import ModelFileError, load_model, model_types, save_model
from mlops_nb.registry import get_model_version, load_registered, register_model
from conftest import cli, copy_workspace

X, Y = np.array([[0.], [1.], [2.], [3.]]), [0, 0, 1, 1]
MODEL = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)


def node(loader, module, name, **rest):
    "A schema node, with an id no saved node has."
    node.ids = getattr(node, 'ids', 10_000) + 1
    return {'__loader__': loader, '__module__': module, '__class__': name, '__id__': node.ids, **rest}


def attrs(schema, *path): # a saved object's node; step indexes or attribute names down to the object wanted
    "The attribute dict of an object in the schema: `attrs(s)` the pipeline's, `attrs(s, 0)` its first step's."
    found = schema
    for step in path: found = found['content']['content']['steps']['content'][step]['content'][1]
    return found['content']['content']


def text(value): return node('JsonNode', 'builtins', 'str', content=json.dumps(value), is_json=True)


def crafted(path, edit): # a saved model's file; a function changing its schema in place
    "The file with its schema edited, every other member as it was."
    source = zipfile.ZipFile(path)
    schema = json.loads(source.read('schema.json'))
    edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(schema) if name == 'schema.json' else source.read(name))
    Path(path).write_bytes(out.getvalue())
    return Path(path)


def exec_as_memory(marker): # the file the code would write
    "Pipeline.memory as a call of builtins.exec: skops calls it while loading."
    code = f"open({str(marker)!r}, 'w').write('ran')"
    call = node(
        'ConstructorFromReduceNode',
        'builtins',
        'exec',
        content=node('TupleNode', 'builtins', 'tuple', content=[text(code)]),
    )
    return lambda schema: attrs(schema).__setitem__('memory', call)


def method_of_pipeline(schema):
    "A step whose `func` is a method of an allowed class, reached by name (CVE-2025-54413's kind)."
    attrs(schema, 0)['func'] = node('MethodNode', 'sklearn.pipeline', 'Pipeline',
                                    content={'obj': json.loads(json.dumps(schema)), 'func': '__init__'})


def operator_function(schema):
    "A step whose `func` is an operator function built from data (CVE-2025-54412's kind): methodcaller('system', ...)."
    arguments = node('TupleNode', 'builtins', 'tuple', content=[text('system'), text('id')])
    attrs(schema, 0)['func'] = node('OperatorFuncNode', 'operator', 'methodcaller', attrs=arguments)


def with_function_step(tmp_path, name):
    return save_model(
        make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(X, Y), tmp_path / f'{name}.skops')


def as_before(data): # an archive's bytes
    "What the package's loader did before: every type under builtins., numpy., sklearn. (and a few more) trusted."
    prefixes = ('sklearn.', 'numpy.', 'builtins.', 'collections.', 'mlops_nb.')
    untrusted = sio.get_untrusted_types(data=data)
    assert all(t.startswith(prefixes) or t == 'functools.partial' for t in untrusted), untrusted
    return sio.loads(data, trusted=untrusted)


def test_a_pipeline_whose_memory_calls_exec_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path/'ran'
    path = crafted(save_model(MODEL, tmp_path/'evil.skops'), exec_as_memory(marker))
    as_before(path.read_bytes())
    assert marker.read_text() == 'ran'  # the file is live: the old check let it run
    marker.unlink()
    with pytest.raises(ModelFileError,
                       match=r"evil.skops: refusing to load: it holds a ConstructorFromReduceNode \(builtins.exec\)"):
        load_model(path)
    with pytest.raises(ModelFileError, match='ConstructorFromReduceNode'):
        register_model(tmp_path/'ws', 'evil', path)                                  # not even registered
    assert not marker.exists()


def test_a_step_calling_exec_is_refused(tmp_path):
    path = save_model(make_pipeline(FunctionTransformer(builtins.exec), LogisticRegression()), tmp_path/'step.skops')
    assert as_before(path.read_bytes()).steps[0][1].func is builtins.exec  # it loaded, to run at the first prediction
    with pytest.raises(ModelFileError, match=r"refusing to load: it holds builtins.exec \(TypeNode\)"):
        load_model(path)


@pytest.mark.parametrize('edit, loader', [(method_of_pipeline, 'MethodNode'), (operator_function, 'OperatorFuncNode')])
def test_harmless_looking_types_that_reach_code_are_refused(tmp_path, edit, loader):
    path = crafted(with_function_step(tmp_path, loader), edit)
    with pytest.raises(ModelFileError, match=f"refusing to load: it holds a {loader}"):
        load_model(path)


def test_every_family_saves_and_loads_within_the_allow_list(tmp_path):
    from mlops_nb.train import FAMILIES, make_model
    rng = np.random.default_rng(0)
    data = pd.DataFrame({'c': rng.choice(['a', 'b', None], 300), 'x': rng.normal(size=300),
                         'y': np.where(rng.random(300) < .1, np.nan, rng.normal(size=300))})
    spec = {'categorical': ['c'], 'numeric': ['x', 'y']}
    for task, target in (('classification', (data.x > 0).astype(int)), ('regression', data.x * 2)):
        for family in FAMILIES:
            model = make_model(spec, task, family,
                               **({'n_estimators': 5} if family == 'random_forest' else {})).fit(data, target)
            path = save_model(model, tmp_path/f'{task}-{family}.skops')
            version = register_model(tmp_path/'ws', f'{task}-{family}', path)
            assert model_types(path.read_bytes()) == get_model_version(tmp_path / 'ws', f'{task}-{family}',
                                                                       version)['types']
            loaded = load_registered(tmp_path/'ws', f'{task}-{family}')
            # the same parameters; a regression's sums may round differently from call to call (BLAS threads)
            np.testing.assert_allclose(loaded.predict(data), model.predict(data), rtol=1e-12, atol=0)


def test_a_registered_file_replaced_with_its_row_updated_is_refused(tmp_path):
    register_model(tmp_path, 'm', save_model(MODEL, tmp_path/'model.skops'))
    entry = get_model_version(tmp_path, 'm', 1)
    artifact = tmp_path/entry['artifact']
    evil = save_model(LogisticRegression().fit(X, Y), tmp_path/'other.skops')          # another model, of allowed types
    artifact.unlink(); artifact.write_bytes(evil.read_bytes())
    with sqlite3.connect(tmp_path/'registry.db') as conn:  # whoever can write the workspace
        conn.execute("update model_versions set sha256 = ?, types = ? where name = 'm'",
                     (hashlib.sha256(evil.read_bytes()).hexdigest(), json.dumps(model_types(evil.read_bytes()))))
    with pytest.raises(ModelFileError, match='its signature does not match'):
        load_registered(tmp_path, 'm', 1)
    with sqlite3.connect(tmp_path/'registry.db') as conn: conn.execute("update model_versions set signature = null")
    with pytest.raises(ModelFileError, match='has no signature'):  # and no way around it by dropping it
        load_registered(tmp_path, 'm', 1)


def test_score_on_a_tampered_production_model_exits_with_one_line_and_runs_nothing(trained, tmp_path):
    workspace = copy_workspace(trained, tmp_path/'ws')
    entry = get_model_version(workspace, 'flights_late', 1)
    marker, artifact = tmp_path/'ran', workspace/entry['artifact']
    data = crafted(save_model(MODEL, tmp_path/'evil.skops'), exec_as_memory(marker)).read_bytes()
    artifact.unlink(); artifact.write_bytes(data)  # a hard link in the copy: replaced, not written through
    with sqlite3.connect(workspace/'registry.db') as conn:
        conn.execute("update model_versions set sha256 = ? where name = 'flights_late' and version = 1",
                     (hashlib.sha256(data).hexdigest(),))
    run = list_runs(workspace)[0]
    pd.read_parquet(run/'validated'/'data.parquet').head(50).to_parquet(tmp_path/'rows.parquet')
    result = cli('score', tmp_path/'rows.parquet', '--out', tmp_path/'scored.parquet', workspace=workspace)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert len(
        result.stderr.strip().splitlines()) == 1 and 'its signature does not match' in result.stderr, result.stderr
    assert not marker.exists() and not (tmp_path/'scored.parquet').exists()
