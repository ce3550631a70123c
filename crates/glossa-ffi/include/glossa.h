/*
 * glossa.h: the C ABI of glossa (crates/glossa-ffi), for apps that embed a model.
 *
 *   GlossaModel *m = glossa_load("runs/default/student");   // or "org/name"
 *   if (!m) { fprintf(stderr, "%s\n", glossa_last_error()); return 1; }
 *   size_t dim = glossa_dim(m);
 *   float *out = malloc(n * dim * sizeof(float));
 *   if (glossa_encode(m, texts, n, out, n * dim) != 0) { ... glossa_last_error() ... }
 *   glossa_free(m);
 *
 * Link with -lglossa_ffi. Texts are NUL-terminated UTF-8. Every function accepts NULL
 * pointers and invalid UTF-8 and answers with an error instead of crashing; no Rust panic
 * crosses this boundary. A model may be shared between threads (encode does not mutate it).
 */
#ifndef GLOSSA_H
#define GLOSSA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque loaded model. */
typedef struct GlossaModel GlossaModel;

/* Loads a glossa student directory, a Model2Vec directory, a teacher directory or a Hugging
 * Face repo id. Returns NULL on failure (see glossa_last_error). Free with glossa_free. */
GlossaModel *glossa_load(const char *path_or_repo_id);

/* Length of each vector the model returns; 0 when model is NULL. */
size_t glossa_dim(const GlossaModel *model);

/* Encodes texts[0..count) into out, row-major: count rows of glossa_dim(model) floats.
 * out_len is the capacity of out in floats and must be at least count * dim.
 * Returns 0 on success, -1 on failure (out is then left unspecified). */
int glossa_encode(const GlossaModel *model, const char *const *texts, size_t count,
                  float *out, size_t out_len);

/* Frees a model from glossa_load. NULL is ignored. */
void glossa_free(GlossaModel *model);

/* The last error on this thread, NUL-terminated UTF-8, or NULL when there was none. Valid
 * until the next glossa call on this thread; do not free it. */
const char *glossa_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* GLOSSA_H */
