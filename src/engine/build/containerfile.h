/* Containerfile (Dockerfile) parsing and the variable substitution of its
 * instructions. Pure code: no files, no store; unit tested and fuzzed.
 *
 * Parsing gives a list of instructions with their line numbers: parser
 * directives (`# escape=` at the top), comments, line continuations
 * (the escape character at the end of a line; comment lines inside a
 * continuation are dropped), the instruction word in any case, leading
 * `--flag=value` options, and the exec (JSON array) or shell form. Words
 * are split and variables expanded only when the build executes an
 * instruction, with the ARG and ENV values in force at that point
 * (nk_bf_words). */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>

enum nk_bf_kind {
        NK_BF_FROM,
        NK_BF_RUN,
        NK_BF_COPY,
        NK_BF_ADD,
        NK_BF_ENV,
        NK_BF_ARG,
        NK_BF_WORKDIR,
        NK_BF_USER,
        NK_BF_CMD,
        NK_BF_ENTRYPOINT,
        NK_BF_EXPOSE,
        NK_BF_LABEL,
        NK_BF_VOLUME,
        NK_BF_STOPSIGNAL,
        NK_BF_SHELL,
        NK_BF_HEALTHCHECK,
        NK_BF_ONBUILD,
        NK_BF_MAINTAINER,
};
/* "FROM", "RUN", ... */
const char *nk_bf_kind_name(enum nk_bf_kind k);

struct nk_bf_instr {
        enum nk_bf_kind kind;
        unsigned line;  /* of the instruction's first line, from 1 */
        char *text;     /* the whole instruction, continuations joined (progress, cache) */
        char **flags;   /* leading options, "name=value" without the dashes (NULL-terminated) */
        char *rest;     /* what follows the keyword and the options */
        bool exec_form; /* rest is a JSON array of strings: in argv */
        char **argv;    /* exec form's strings (NULL-terminated), else NULL */
};

struct nk_containerfile {
        char *file; /* the name errors give */
        char escape;
        struct nk_bf_instr *v;
        size_t n;
};

/* Parse text (len bytes, not necessarily NUL-terminated). Errors name
 * file:line. Instructions that need an argument get one; the first
 * instruction that is not ARG must be FROM. */
int nk_containerfile_parse(const char *text, size_t len, const char *file,
                           struct nk_containerfile *out, nk_error **err);
void nk_containerfile_clear(struct nk_containerfile *cf);

/* The value of a variable for expansion: NULL when unset. */
typedef const char *(*nk_bf_lookup_fn)(const char *name, void *data);

/* Shell-like words of s: whitespace separates words; single quotes keep
 * everything literally, double quotes keep whitespace and still expand;
 * the escape character makes the next character literal; with expand,
 * $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}, ${VAR-default}, ${VAR+alt}
 * are replaced (an unset VAR is empty). `whole`: one word (whitespace kept
 * as is; for WORKDIR, USER, the value of `ENV K V`). *out NULL-terminated. */
int nk_bf_words(const char *s, char escape, bool expand, bool whole, nk_bf_lookup_fn lookup,
                void *data, char ***out, nk_error **err);
/* Expand s as one word (nk_bf_words with whole). */
char *nk_bf_expand(const char *s, char escape, nk_bf_lookup_fn lookup, void *data, nk_error **err);
/* The value of option `name` among flags ("name=value"), or NULL. */
const char *nk_bf_flag(char *const *flags, const char *name);
