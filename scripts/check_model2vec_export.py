"""Compares model2vec's vectors for an exported glossa student with `glossa embed`'s."""
import json
import sys

import numpy as np
from model2vec import StaticModel

model_dir, sentences_path, glossa_path, min_cos = sys.argv[1:5]
sentences = open(sentences_path, encoding="utf-8").read().split("\n")[:-1]
ours = np.array([json.loads(line)["embedding"] for line in open(glossa_path)], dtype=np.float64)
model = StaticModel.from_pretrained(model_dir)
theirs = model.encode(sentences).astype(np.float64)
assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
both_zero = (np.linalg.norm(ours, axis=1) == 0) & (np.linalg.norm(theirs, axis=1) == 0)
cos = np.where(both_zero, 1.0, (ours * theirs).sum(axis=1) / np.maximum(norms, 1e-30))
print(f"model2vec vs glossa embed: {len(sentences)} sentences, min cosine {cos.min():.7f}, "
      f"mean {cos.mean():.7f}")
worst = int(cos.argmin())
print(f"lowest: {sentences[worst]!r}")
ok = cos.min() >= float(min_cos)
print("PASS" if ok else f"FAIL (min cosine under {min_cos})")
sys.exit(0 if ok else 1)
