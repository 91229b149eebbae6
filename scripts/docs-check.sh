#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The docs only point at things that exist: in README.md and docs/*.md,
# every relative link (and its #anchor) and every repository path written
# as code (`kmod/udb_buffer.c`, `tests/vm/run`) must exist in the tree.
# TAP: one line per file, then "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
exec python3 - README.md docs/*.md <<'PY'
import os, re, sys

ROOTS = ('kmod/', 'tests/', 'demo/', 'protocol/', 'scripts/', 'docs/',
         'packaging/', 'LICENSES/', '.ci/')
TOP = {'Makefile', 'README.md', 'CHANGELOG.md', 'LICENSE'}

def slug(h):
    h = re.sub(r'[^\w\- ]', '', h.strip().lower())
    return h.replace(' ', '-')

def anchors(path, cache={}):
    if path not in cache:
        out, fence = set(), False
        for line in open(path, encoding='utf-8'):
            if line.startswith('```'):
                fence = not fence
            elif not fence and line.startswith('#'):
                out.add(slug(line.lstrip('#')))
        cache[path] = out
    return cache[path]

def built(p):
    """A build product whose source is in the tree: X.ko named in the
    directory's Kbuild, or a program X built from X.c."""
    d, name = os.path.split(p)
    if name.endswith('.ko'):
        kb = os.path.join(d, 'Kbuild')
        return os.path.exists(kb) and name[:-3] + '.o' in open(kb).read()
    return '.' not in name and os.path.exists(p + '.c')

def problems(md):
    base = os.path.dirname(md)
    text = open(md, encoding='utf-8').read()
    # fenced blocks hold commands, not references
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    bad = []
    for m in re.finditer(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)', prose):
        t = m.group(1)
        if re.match(r'[a-z]+:', t):
            continue  # http:, https:, mailto:
        path, _, frag = t.partition('#')
        target = os.path.normpath(os.path.join(base, path)) if path else md
        if not os.path.exists(target):
            bad.append('link to missing %s' % t)
        elif frag and target.endswith('.md') and frag not in anchors(target):
            bad.append('link to missing anchor %s' % t)
    for m in re.finditer(r'`([^`\s]+)`', prose):
        p = m.group(1).rstrip('.,:;)')
        if not (p.startswith(ROOTS) or p in TOP):
            continue
        if re.search(r'[<>*$\[\]{}|=]', p) or re.search(r'\b[A-Z]{3,}\b', p):
            continue  # placeholders and globs: VERSION, NAME, <inode>, *.plan
        p = p.split(':')[0]
        if os.path.exists(p) or built(p):
            continue
        bad.append('path %s does not exist' % p)
    return bad

n = fail = 0
for md in sys.argv[1:]:
    n += 1
    bad = problems(md)
    if bad:
        fail += 1
        print('not ok %d - docs: %s: links and paths exist' % (n, md))
        for b in sorted(set(bad)):
            print('# %s' % b)
    else:
        print('ok %d - docs: %s: links and paths exist' % (n, md))
print('1..%d' % n)
print('%d passed, %d failed' % (n - fail, fail))
sys.exit(1 if fail else 0)
PY
