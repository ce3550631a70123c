#!/usr/bin/env python3
"""Near-duplicate check between Tatoeba (the test set) and a run's training corpus.

For each Tatoeba pair of the 12 default languages, finds the training text with the highest
token-set Jaccard similarity to its English side (among all English texts of the corpus) and to
its other side (among that language's translations); words for spaced scripts, character bigrams
for Japanese and Chinese. The candidates for a sentence are the texts sharing one of its two
rarest tokens: exact for sentences of up to nine tokens, a close lower bound for longer ones.
Prints, per language, how many test sentences have a training text at
Jaccard >= 0.8 on each side and on both. Exact matches are already dropped by the corpus filter;
this counts the near ones that remain.

Usage: scripts/near-duplicates.py RUN_DIR/corpus [EVAL_DIR=../shared/eval]
"""
import collections
import glob
import re
import sys

ISO = {"de":"deu","fr":"fra","es":"spa","it":"ita","nl":"nld","pt":"por","ru":"rus","pl":"pol","tr":"tur","ja":"jpn","zh":"cmn","ar":"ara"}
def toks(s, cjk):
    s = s.lower()
    if cjk:
        chars = [c for c in s if c.isalnum()]
        return frozenset(a+b for a,b in zip(chars, chars[1:])) or frozenset(chars)
    return frozenset(w for w in re.split(r'\W+', s) if w)
corpus = sys.argv[1]
eval_dir = sys.argv[2] if len(sys.argv) > 2 else "../shared/eval"
def index(texts, cjk):
    sets = [toks(t, cjk) for t in texts]
    df = collections.Counter(w for s in sets for w in s)
    inv = collections.defaultdict(list)
    for i, s in enumerate(sets):
        for w in s: inv[w].append(i)
    return sets, df, inv
def near(q, sets, df, inv, thr=0.8):
    if not q: return 0
    best = 0.0
    rare = sorted(q, key=lambda w: df.get(w, 0))[:2]
    for w in rare:
        for i in inv.get(w, ()):
            s = sets[i]
            j = len(q & s) / len(q | s)
            if j > best: best = j
    return best
en_all = set()
xx_of = {}
for f in glob.glob(f"{corpus}/train/*.tsv"):
    l = f.split('/')[-1][:-4]
    xs = set()
    for line in open(f, encoding='utf-8'):
        en, xx = line.rstrip('\n').split('\t', 1)
        en_all.add(en); xs.add(xx)
    xx_of[l] = list(xs)
en_list = list(en_all)
E = index(en_list, False)
tot = collections.Counter()
for l, iso in ISO.items():
    X = index(xx_of[l], l in ("ja", "zh"))
    eng = open(f"{eval_dir}/tatoeba/tatoeba.{iso}-eng.eng", encoding='utf-8').read().splitlines()
    xxs = open(f"{eval_dir}/tatoeba/tatoeba.{iso}-eng.{iso}", encoding='utf-8').read().splitlines()
    both = en80 = xx80 = 0
    for e, x in zip(eng, xxs):
        je = near(toks(e, False), *E) >= 0.8
        jx = near(toks(x, l in ("ja","zh")), *X) >= 0.8
        en80 += je; xx80 += jx; both += je and jx
    print(f"{iso}: {len(eng)} pairs; English side ≥0.8 Jaccard to a training text: {en80}; {iso} side: {xx80}; both: {both}", flush=True)
