/* Test program for the C ABI: embeds the lines of a file through glossa.h and prints one
 * vector a line (%.9g, enough digits to round-trip a float). Also checks that bad input is
 * answered with an error, not a crash. Usage: embed MODEL_DIR LINES_FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glossa.h"

static int fail(const char *what) {
    const char *err = glossa_last_error();
    fprintf(stderr, "FAIL %s: %s\n", what, err ? err : "(no error message)");
    return 1;
}

/* Each misuse must return an error with a message, and leave the model usable. */
static int check_misuse(GlossaModel *m, size_t dim) {
    float out[4096];
    const char *with_null[] = {"hello", NULL};
    const char *bad_utf8[] = {"ok", "\xff\xfe broken"};
    const char *one[] = {"hello"};
    if (glossa_encode(m, with_null, 2, out, 2 * dim) != -1 || !glossa_last_error())
        return fail("a NULL text was accepted");
    if (glossa_encode(m, bad_utf8, 2, out, 2 * dim) != -1 || !strstr(glossa_last_error(), "UTF-8"))
        return fail("invalid UTF-8 was accepted");
    if (glossa_encode(m, one, 1, out, dim - 1) != -1 || !strstr(glossa_last_error(), "room"))
        return fail("a short output buffer was accepted");
    if (glossa_encode(NULL, one, 1, out, dim) != -1)
        return fail("a NULL model was accepted");
    if (glossa_load(NULL) != NULL || glossa_load("\xff") != NULL)
        return fail("a NULL or non-UTF-8 path was accepted");
    glossa_free(NULL);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR LINES_FILE\n", argv[0]);
        return 2;
    }
    GlossaModel *m = glossa_load(argv[1]);
    if (!m) return fail("glossa_load");
    size_t dim = glossa_dim(m);
    if (dim == 0 || dim > 2048) return fail("glossa_dim");
    if (check_misuse(m, dim)) return 1;

    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    size_t count = 0, cap = 16;
    char **texts = malloc(cap * sizeof *texts);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (count == cap) texts = realloc(texts, (cap *= 2) * sizeof *texts);
        texts[count++] = strdup(line);
    }
    fclose(f);

    float *out = malloc(count * dim * sizeof *out);
    if (glossa_encode(m, (const char *const *)texts, count, out, count * dim) != 0)
        return fail("glossa_encode");
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < dim; j++) printf(j ? " %.9g" : "%.9g", out[i * dim + j]);
        printf("\n");
        free(texts[i]);
    }
    free(texts);
    free(out);
    glossa_free(m);
    return 0;
}
