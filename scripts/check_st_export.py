"""Compares sentence-transformers' vectors of a glossa Transformer student with glossa's own
(`glossa embed`), text by text; exits 0 when the smallest cosine is >= 0.999."""
import argparse
import json
import sys
import time

import numpy as np
from sentence_transformers import SentenceTransformer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--texts", required=True)
p.add_argument("--glossa", required=True)
p.add_argument("--threshold", type=float, default=0.999)
a = p.parse_args()

with open(a.texts, encoding="utf-8") as f:
    texts = f.read().split("\n")
if texts and texts[-1] == "":
    texts.pop()
with open(a.glossa, encoding="utf-8") as f:
    ours = np.array([json.loads(line)["embedding"] for line in f], dtype=np.float32)
assert len(ours) == len(texts), f"{len(ours)} glossa vectors for {len(texts)} texts"

model = SentenceTransformer(a.model, device="cpu")
print(f"loaded {a.model}: {model}", file=sys.stderr)
start = time.time()
theirs = model.encode(texts, batch_size=32, convert_to_numpy=True)
print(f"sentence-transformers encoded {len(texts)} texts in {time.time() - start:.1f}s", file=sys.stderr)

def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1, n)

cos = (unit(ours) * unit(theirs)).sum(1)
# An empty text (no tokens besides [CLS]/[SEP]) still has a vector on both sides.
worst = int(np.argmin(cos))
print(f"texts {len(texts)}  min cosine {cos.min():.6f}  mean {cos.mean():.6f}  "
      f"max |diff| {np.abs(unit(ours) - unit(theirs)).max():.2e}  (worst: {texts[worst][:60]!r})")
ok = cos.min() >= a.threshold
print("PASS" if ok else f"FAIL: min cosine below {a.threshold}")
sys.exit(0 if ok else 1)
