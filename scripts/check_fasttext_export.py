"""Compare the `fasttext` module's sentence vectors of an exported student with glossa's.

Usage: check_fasttext_export.py GLOSSA STUDENT_DIR MODEL_BIN SENTENCES_TSV [MIN_COS]
SENTENCES_TSV holds lang<TAB>sentence lines. Prints per-language min/mean cosine and length
ratio, then the overall numbers and PASS/FAIL (min cosine >= MIN_COS, default 0.999) and, when
TIME_SECONDS > 0 (default 2), sentences/s on one thread for both: fastText's
get_sentence_vector from Python (called once per sentence, as users call it) and `glossa embed`
(whose time includes writing JSON lines; process start-up is subtracted).
"""

import json
import os
import subprocess
import sys
import time

import fasttext
import numpy as np


def run(cmd, text, env=None):
    r = subprocess.run(cmd, input=text, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def main():
    glossa, student, model_bin, sentences_tsv = sys.argv[1:5]
    min_cos = float(sys.argv[5]) if len(sys.argv) > 5 else 0.999
    rows = [l.rstrip("\n").split("\t", 1) for l in open(sentences_tsv, encoding="utf-8")]
    rows = [r for r in rows if len(r) == 2 and r[1].strip()]
    langs = [r[0] for r in rows]
    texts = [r[1].replace("\r", " ") for r in rows]
    joined = "".join(t + "\n" for t in texts)

    # glossa's tokens joined by spaces, unknown CJK bigrams as stand-ins: the text fastText must
    # see (docs/interop.md).
    tokens = run([glossa, "tokenize", "--fasttext", "--model", student], joined).split("\n")[: len(texts)]
    want = np.array(
        [json.loads(l)["embedding"] for l in run([glossa, "embed", "--model", student], joined).splitlines()],
        dtype=np.float64,
    )
    ft = fasttext.load_model(model_bin)
    got = np.array([ft.get_sentence_vector(t) for t in tokens], dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)

    cos, ratio = [], []
    for g, w in zip(got, want):
        ng, nw = np.linalg.norm(g), np.linalg.norm(w)
        if ng == 0 and nw == 0:
            cos.append(1.0)  # no known feature on either side: both are the zero vector
            ratio.append(1.0)
        else:
            cos.append(float(g @ w / max(ng * nw, 1e-30)))
            ratio.append(float(ng / max(nw, 1e-30)))
    cos, ratio = np.array(cos), np.array(ratio)
    print(f"{'lang':6} {'n':>4} {'min cos':>10} {'mean cos':>10} {'min |ft|/|glossa|':>18}")
    for lang in sorted(set(langs)):
        m = np.array([l == lang for l in langs])
        print(f"{lang:6} {m.sum():4d} {cos[m].min():10.6f} {cos[m].mean():10.6f} {ratio[m].min():18.4f}")
    exact = np.abs(got - want).max(axis=1) <= 1e-5 * np.maximum(np.abs(want).max(axis=1), 1e-30)
    worst = int(cos.argmin())
    print(
        f"all    {len(cos):4d} {cos.min():10.6f} {cos.mean():10.6f} {ratio.min():18.4f}"
        f"   ({exact.sum()} of {len(cos)} sentences equal to 1e-5 relative)"
    )
    print(f"lowest cosine: [{langs[worst]}] {texts[worst][:60]!r} -> {tokens[worst][:60]!r}")

    seconds = float(os.environ.get("TIME_SECONDS", "2"))
    if seconds > 0:
        # fastText: one call per sentence, as users call it; the C++ side is single-threaded.
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for t in tokens:
                ft.get_sentence_vector(t)
            n += len(tokens)
        ft_rate = n / (time.perf_counter() - start)
        # glossa: embed on one thread; start-up (loading the model) timed separately and removed.
        env = dict(os.environ, RAYON_NUM_THREADS="1")
        reps = max(1, int(ft_rate * seconds / len(texts)))
        t0 = time.perf_counter()
        run([glossa, "embed", "--model", student], texts[0] + "\n", env)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        run([glossa, "embed", "--model", student], joined * reps, env)
        g_time = max(time.perf_counter() - t0 - startup, 1e-9)
        print(
            f"speed, 1 thread, these {len(texts)} sentences: fasttext get_sentence_vector "
            f"{ft_rate:,.0f} sentences/s (pre-tokenized input); glossa embed "
            f"{reps * len(texts) / g_time:,.0f} sentences/s (raw text, JSON output included)"
        )

    ok = cos.min() >= min_cos
    print(f"{'PASS' if ok else 'FAIL'}: min cosine {cos.min():.6f} (threshold {min_cos})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
