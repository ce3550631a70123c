"""glossa: small, fast multilingual sentence embeddings.

    import glossa
    model = glossa.load("runs/default/student")   # a directory, or a Hugging Face repo id
    vectors = model.encode(["Hello world", "Hallo Welt"], batch_size=64)  # numpy float32, (2, dim)

``encode`` takes the arguments of sentence-transformers' ``SentenceTransformer.encode`` that
apply to a CPU model returning numpy arrays, so glossa models drop in where it is used.
"""

from glossa._glossa import Model, load

__all__ = ["Model", "load"]
