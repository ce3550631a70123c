#!/usr/bin/env python3
"""Writes a run's held-out dev pairs in Tatoeba's file layout, so `glossa eval --eval-dir DIR
--tatoeba deu,...` scores translation retrieval on them: the set to tune on (never tune on
the test sets in ../shared/eval).

Usage: scripts/dev-retrieval-set.py RUN_DIR/corpus OUT_DIR [PAIRS_PER_LANGUAGE=1000]
Pairs are picked in a fixed hash order; a pair whose English or translation repeats is skipped
(retrieval needs each side distinct)."""
import hashlib, os, sys

ISO3 = {"de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld", "pt": "por",
        "ru": "rus", "pl": "pol", "tr": "tur", "ja": "jpn", "zh": "cmn", "ar": "ara"}
corpus, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
tatoeba = os.path.join(out, "tatoeba")
os.makedirs(tatoeba, exist_ok=True)
for name in sorted(os.listdir(os.path.join(corpus, "dev"))):
    lang = name.removesuffix(".tsv")
    if lang not in ISO3:
        continue
    with open(os.path.join(corpus, "dev", name), encoding="utf-8") as f:
        pairs = [line.rstrip("\n").split("\t") for line in f if "\t" in line]
    pairs.sort(key=lambda p: hashlib.sha1("\t".join(p).encode()).hexdigest())
    seen_en, seen_xx, kept = set(), set(), []
    for en, xx in pairs:
        if en.lower() in seen_en or xx.lower() in seen_xx:
            continue
        seen_en.add(en.lower()); seen_xx.add(xx.lower()); kept.append((en, xx))
        if len(kept) == n:
            break
    code = ISO3[lang]
    with open(os.path.join(tatoeba, f"tatoeba.{code}-eng.{code}"), "w", encoding="utf-8") as f:
        f.writelines(xx + "\n" for _, xx in kept)
    with open(os.path.join(tatoeba, f"tatoeba.{code}-eng.eng"), "w", encoding="utf-8") as f:
        f.writelines(en + "\n" for en, _ in kept)
    print(f"{code}: {len(kept)} dev pairs", file=sys.stderr)
