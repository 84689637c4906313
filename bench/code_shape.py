"""Module sizes and function lengths of the package: `python bench/code_shape.py [--package DIR] [--json]`.

A function's length is its lines from `def` to its last line; its body is the same without the signature
(from the docstring on), so that writing one argument per line does not count as a longer function.
Methods count on their own. nbdev's generated `_modidx.py` is left out.
"""
import argparse, ast, json, statistics
from pathlib import Path

PACKAGE = Path(__file__).absolute().parent.parent/'mlops_nb'


def function_lengths(tree): # a parsed module
    "(whole, body) lengths in lines of every function and method in `tree`."
    return [(node.end_lineno - node.lineno + 1, node.end_lineno - node.body[0].lineno + 1)
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def spread(values): # numbers
    "Median and 90th percentile."
    return {'median': statistics.median(values), 'p90': statistics.quantiles(values, n=10)[-1]}


def shape(package=PACKAGE): # the package folder
    "Lines per module, and the median and 90th percentile of function lengths, whole and body."
    modules, lengths = {}, []
    for path in sorted(Path(package).glob('*.py')):
        if path.name.startswith('_'): continue
        text = path.read_text()
        modules[path.stem] = len(text.splitlines())
        lengths += function_lengths(ast.parse(text))
    return {
        'modules': modules, 'functions': len(lengths), 'whole': spread([w for w, _ in lengths]),
        'body': spread([b for _, b in lengths]), 'longest': max(w for w, _ in lengths)
    }


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--package', default=PACKAGE, help='the package folder [default: mlops_nb/ of this checkout]')
    parser.add_argument('--json', action='store_true', help='print JSON')
    args = parser.parse_args()
    result = shape(args.package)
    if args.json: print(json.dumps(result, indent=2))
    else:
        for name, lines in sorted(result['modules'].items(), key=lambda kv: -kv[1]):
            print(f"{name:<10} {lines:>4} lines")
        print(f"{sum(result['modules'].values())} lines in "
              f"{len(result['modules'])} modules; {result['functions']} "
              "functions: "
              f"median {result['whole']['median']} lines (body {result['body']['median']}), "
              f"90th percentile {result['whole']['p90']:.1f} (body "
              f"{result['body']['p90']:.1f}), longest {result['longest']}")
