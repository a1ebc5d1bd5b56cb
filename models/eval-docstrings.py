"""Retrieval set for models/eval-rerank.ts from the docstrings of a Python standard library.

usage: python3 eval-docstrings.py ROOT LIMIT [holdout] > set.json
query = a function's first docstring line, document = the remaining lines (>= 2),
with the function's own name removed from both. Queries or documents that occur
more than once are dropped; LIMIT items are chosen by a hash of path:line:name
(with 'holdout': every candidate NOT among those LIMIT instead).
"""
import ast, hashlib, json, os, re, sys
root = sys.argv[1]; limit = int(sys.argv[2])
SKIP = {'test', 'tests', 'idle_test', 'site-packages', 'dist-packages', '__pycache__', 'lib2to3'}
items = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in SKIP and not d.startswith('.'))
    for fn in sorted(filenames):
        if not fn.endswith('.py'): continue
        path = os.path.join(dirpath, fn)
        try: tree = ast.parse(open(path, encoding='utf-8').read())
        except Exception: continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
            doc = ast.get_docstring(node)
            if not doc: continue
            lines = doc.strip().split('\n')
            query = lines[0].strip()
            pat = re.compile(r'\b' + re.escape(node.name) + r'\b', re.I)
            rest = [pat.sub(' ', l).strip() for l in lines[1:]]
            rest = [l for l in rest if l]
            if len(rest) < 2 or len(query.split()) < 3: continue
            query = pat.sub(' ', query).strip()
            rel = os.path.relpath(path, root)
            items.append({'id': f'{rel}:{node.lineno}:{node.name}', 'query': query, 'doc': '\n'.join(rest)})
# a query or doc text seen twice is ambiguous: drop every copy
from collections import Counter
qc = Counter(i['query'].lower() for i in items); dc = Counter(i['doc'] for i in items)
items = [i for i in items if qc[i['query'].lower()] == 1 and dc[i['doc']] == 1]
total = len(items)
items.sort(key=lambda i: hashlib.sha256(i['id'].encode()).hexdigest())
holdout = len(sys.argv) > 3 and sys.argv[3] == 'holdout'
items = sorted(items[limit:] if holdout else items[:limit], key=lambda i: i['id'])
json.dump({'candidates': total, 'items': items}, sys.stdout)
