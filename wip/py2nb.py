"Convert percent-format sources in /tmp/src/*.py to notebooks in nbs/ (dev helper, not committed)."
import sys, re, hashlib, nbformat
from pathlib import Path
def convert(src, dst):
    text = Path(src).read_text()
    parts = re.split(r'^# %%(.*)$', text, flags=re.M)
    cells = []
    for i in range(1, len(parts), 2):
        head, body = parts[i].strip(), parts[i+1].strip('\n')
        cid = hashlib.sha1(f'{Path(src).stem}-{len(cells)}'.encode()).hexdigest()[:8]
        if head.startswith('[markdown]'): c = nbformat.v4.new_markdown_cell(body)
        else:
            c = nbformat.v4.new_code_cell(body)
            if body.startswith('#| parameters'):
                c = nbformat.v4.new_code_cell(body.split('\n', 1)[1]); c.metadata['tags'] = ['parameters']
        c.id = cid; cells.append(c)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    nbformat.write(nb, dst)
for s in (sys.argv[1:] or sorted(Path('/tmp/src').glob('*.py'))):
    s = Path(s); d = Path('/work/main/nbs')/(s.stem+('.ipynb' if s.parent.name=='src' else '.ipynb'))
    if s.parent.name == 'reports': d = Path('/work/main/reports')/(s.stem+'.ipynb')
    convert(s, d); print('wrote', d)
