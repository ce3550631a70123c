"""Checks the wheel against the CLI: for each model, `glossa.load(model).encode(texts)` must give
the vectors `glossa embed --model model` gives (cosine >= 0.99999) on Tatoeba sentences in 12
languages plus English, and the Python API must behave as documented. Exits non-zero on any
failure; prints one line per check and a closing 'N passed, N failed' line.

    python check_vectors.py --glossa target/release/glossa --eval-dir ../shared/eval MODEL...
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import glossa

LANGUAGES = ["deu", "fra", "spa", "ita", "nld", "por", "rus", "pol", "tur", "jpn", "cmn", "ara"]
MIN_COSINE = 0.99999


def tatoeba_texts(eval_dir: Path, per_language: int) -> list[str]:
    tatoeba = eval_dir / "tatoeba"
    texts = []
    for lang in LANGUAGES:
        path = tatoeba / f"tatoeba.{lang}-eng.{lang}"
        lines = path.read_text(encoding="utf-8").splitlines()[:per_language]
        if len(lines) < per_language:
            raise SystemExit(f"{path}: {len(lines)} lines, expected at least {per_language}")
        texts += lines
    texts += (tatoeba / "tatoeba.deu-eng.eng").read_text(encoding="utf-8").splitlines()[:per_language]
    return texts + ["", "a"]


def cli_vectors(glossa_bin: str, model: str, texts: list[str]) -> np.ndarray:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as f:
        f.write("\n".join(texts) + "\n")
        f.flush()
        with open(f.name, "rb") as stdin:
            out = subprocess.run([glossa_bin, "embed", "--model", model], stdin=stdin,
                                 capture_output=True, check=True).stdout
    rows = [json.loads(line)["embedding"] for line in out.decode().splitlines()]
    return np.asarray(rows, dtype=np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    zero = (na == 0) & (nb == 0)  # an empty text may have no direction in either
    cos = (a * b).sum(axis=1) / np.maximum(na * nb, 1e-30)
    return float(np.where(zero, 1.0, cos).min())


def check_model(model: str, args, results: list) -> None:
    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {model}: {name} {detail}".rstrip(), flush=True)

    texts = tatoeba_texts(Path(args.eval_dir), args.per_language)
    m = glossa.load(model)
    got = m.encode(texts, batch_size=7)
    check("shape and dtype", got.shape == (len(texts), m.dim) and got.dtype == np.float32,
          f"{got.shape} {got.dtype}, dim {m.dim}")
    expected = cli_vectors(args.glossa, model, texts)
    worst = min_cosine(got, expected)
    check(f"same vectors as glossa embed on {len(texts)} texts in {len(LANGUAGES) + 1} languages",
          expected.shape == got.shape and worst >= MIN_COSINE, f"(min cosine {worst:.7f})")
    one = m.encode(texts[0])
    check("one string gives one 1-D vector", one.shape == (m.dim,) and min_cosine(one[None], got[:1]) >= MIN_COSINE)
    unit = m.encode(texts[:5], normalize_embeddings=True)
    check("normalize_embeddings gives unit vectors", bool(np.allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5)))
    check("sentence-transformers' dimension name", m.get_sentence_embedding_dimension() == m.dim)
    try:
        m.encode([1, 2])
        check("a list of numbers is refused", False)
    except TypeError as e:
        check("a list of numbers is refused", "list of strings" in str(e))


def check_missing_model(results: list) -> None:
    try:
        glossa.load("./no-such-glossa-model")
        ok = False
    except ValueError as e:
        ok = "no-such-glossa-model" in str(e)
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} a missing model raises ValueError naming it", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--glossa", required=True, help="the glossa binary")
    parser.add_argument("--eval-dir", required=True)
    parser.add_argument("--per-language", type=int, default=40)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    results: list[bool] = []
    check_missing_model(results)
    for model in args.models:
        check_model(model, args, results)
    failed = results.count(False)
    print(f"check-python: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
