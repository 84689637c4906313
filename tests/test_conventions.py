"""The code's conventions, checked: each argument of a function documented on its own line. Line length (at most 120)
is ruff's, in the README's test command."""
import importlib, inspect
from pathlib import Path
import pytest, typer
from fastcore.docments import docments
import mlops_nb

PACKAGE = Path(mlops_nb.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob('*.py') if not p.name.startswith('_'))


def definitions(module):
    "The module's exported functions, and the methods of its exported classes, by name."
    for name in module.__all__:
        obj = getattr(module, name)
        if getattr(obj, '__module__', None) != module.__name__: continue
        if inspect.isfunction(obj): yield name, obj
        elif inspect.isclass(obj):
            yield from ((f'{name}.{k}', v) for k, v in vars(obj).items()
                        if inspect.isfunction(v) and (k == '__init__' or not k.startswith('__')))


def arguments(function):
    "The arguments a caller names: not self, not *args or **kwargs."
    return [
        p for p in inspect.signature(function).parameters.values()
        if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def undocumented(name, function):
    "The arguments of `function` without their own documentation: a comment (docments), or for a command its --help."
    params = arguments(function)
    if len(params) < 2: return []
    if all(isinstance(p.default, (typer.models.OptionInfo, typer.models.ArgumentInfo)) for p in params):
        return [f"{name}({p.name}): no help" for p in params if not p.default.help]
    docs = docments(function)
    return [f"{name}({p.name})" for p in params if not docs.get(p.name)]


@pytest.mark.parametrize('module', MODULES)
def test_every_argument_is_documented_on_its_own_line(module):
    mod = importlib.import_module(f'mlops_nb.{module}')
    missing = [line for name, function in definitions(mod) for line in undocumented(name, function)]
    assert not missing, ("arguments without their own comment (one argument per line, "
                         f"as fastcore's docments reads them): {missing}")


def test_the_check_sees_a_shared_trailing_comment(tmp_path):
    import importlib.util
    (tmp_path / 'sample.py'
     ).write_text("def shared(a, b): # a, then b\n    'doc'\n\ndef own(a, # a\n        b, # b\n       ):\n    'doc'\n")
    spec = importlib.util.spec_from_file_location('sample', tmp_path/'sample.py')
    sample = importlib.util.module_from_spec(spec); spec.loader.exec_module(sample)
    assert undocumented('shared', sample.shared) == ['shared(a)'] and undocumented('own', sample.own) == []

