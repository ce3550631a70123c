#!/usr/bin/env python3
"""Write the tiny BERT fixture of crates/glossa/tests/tiny_bert.rs: a random 2-layer, 8-wide BERT
in sentence-transformers layout with a word-level tokenizer, plus reference vectors computed here
by an independent float64 numpy forward pass (not glossa's code, not the tokenizers library).

Run once (scripts/make-tiny-bert.sh); the output is committed. Usage:
  make_tiny_bert.py OUT_DIR          writes OUT_DIR/{config.json, model.safetensors, tokenizer.json,
                                     modules.json, 1_Pooling/config.json, sentence_bert_config.json}
                                     and OUT_DIR/reference.jsonl
"""
import json
import math
import os
import struct
import sys

import numpy as np

HIDDEN, HEADS, LAYERS, FFN, POSITIONS, MAX_SEQ = 8, 2, 2, 16, 16, 12
EPS = 1e-12
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the cat sat on mat a dog ran in park hello world is blue sky green "
         "grass red apple").split()
VOCAB = SPECIALS + WORDS
# Empty text, casing (the tokenizer lowercases), unknown words, and one text longer than
# max_seq_length (truncated to MAX_SEQ tokens, [CLS] and [SEP] included).
SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "hello world",
    "",
    "The Sky Is BLUE",
    "zebra unicorn the",
    "the red apple is on the green grass in the park and a dog sat on the mat",
]


def tensors(rng):
    """Weights in HF BERT names; Linear weights [out, in]. Rounded to f32, the file's dtype.
    Layer matrices are small (sd 0.25) so tokens keep distinct states through both layers and
    mean, CLS and max pooling give clearly different vectors."""
    t = {}
    def normal(*shape, scale=0.5):
        return rng.normal(0.0, scale, shape)
    t["embeddings.word_embeddings.weight"] = normal(len(VOCAB), HIDDEN)
    t["embeddings.position_embeddings.weight"] = normal(POSITIONS, HIDDEN)
    t["embeddings.token_type_embeddings.weight"] = normal(2, HIDDEN)
    t["embeddings.LayerNorm.weight"] = 1.0 + normal(HIDDEN, scale=0.1)
    t["embeddings.LayerNorm.bias"] = normal(HIDDEN, scale=0.1)
    for i in range(LAYERS):
        p = "encoder.layer.%d." % i
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            t[p + name + ".weight"] = normal(HIDDEN, HIDDEN, scale=0.25)
            t[p + name + ".bias"] = normal(HIDDEN, scale=0.1)
        t[p + "intermediate.dense.weight"] = normal(FFN, HIDDEN, scale=0.25)
        t[p + "intermediate.dense.bias"] = normal(FFN, scale=0.1)
        t[p + "output.dense.weight"] = normal(HIDDEN, FFN, scale=0.25)
        t[p + "output.dense.bias"] = normal(HIDDEN, scale=0.1)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"] = 1.0 + normal(HIDDEN, scale=0.1)
            t[p + ln + ".bias"] = normal(HIDDEN, scale=0.1)
    return {k: v.astype(np.float32) for k, v in t.items()}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def tokenize(text):
    """Lowercase, split on whitespace, word → id ([UNK] else), [CLS] … [SEP], at most MAX_SEQ."""
    ids = [VOCAB.index(w) if w in VOCAB else VOCAB.index("[UNK]") for w in text.lower().split()]
    return [VOCAB.index("[CLS]")] + ids[:MAX_SEQ - 2] + [VOCAB.index("[SEP]")]


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def forward(t, ids):
    """Token states [n, HIDDEN] of one text, in float64: BERT with post-layer-norm blocks."""
    w = {k: v.astype(np.float64) for k, v in t.items()}
    linear = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]
    n = len(ids)
    h = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    d = HIDDEN // HEADS
    for i in range(LAYERS):
        p = "encoder.layer.%d." % i
        q, k, v = (linear(h, p + "attention.self." + s).reshape(n, HEADS, d).transpose(1, 0, 2)
                   for s in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attn = (scores / scores.sum(-1, keepdims=True)) @ v
        attn = attn.transpose(1, 0, 2).reshape(n, HIDDEN)
        h = layer_norm(linear(attn, p + "attention.output.dense") + h,
                       w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        ff = linear(gelu(linear(h, p + "intermediate.dense")), p + "output.dense")
        h = layer_norm(ff + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return h


def tokenizer_json():
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {s: i for i, s in enumerate(VOCAB)},
                  "unk_token": "[UNK]"},
    }


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main(out):
    t = tensors(np.random.default_rng(20261129))
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json())
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": HIDDEN, "intermediate_size": FFN, "layer_norm_eps": EPS,
        "max_position_embeddings": POSITIONS, "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "pad_token_id": 0, "position_embedding_type": "absolute",
        "type_vocab_size": 2, "vocab_size": len(VOCAB)})
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False})
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": MAX_SEQ, "do_lower_case": False})
    with open(os.path.join(out, "reference.jsonl"), "w", encoding="utf-8") as f:
        for text in SENTENCES:
            ids = tokenize(text)
            h = forward(t, ids)
            mean = h.mean(0)
            row = {"text": text, "ids": ids, "mean": mean, "cls": h[0], "max": h.max(0),
                   "mean_normalized": mean / np.linalg.norm(mean)}
            row = {k: [float("%.9g" % x) for x in v] if isinstance(v, np.ndarray) else v
                   for k, v in row.items()}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print("wrote %s (%d tensors, %d sentences)" % (out, len(t), len(SENTENCES)), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
