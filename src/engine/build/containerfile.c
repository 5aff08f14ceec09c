/* Containerfile parsing and word expansion (see containerfile.h). */
#include "engine/build/containerfile.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[] = {
        [NK_BF_FROM] = "FROM",       [NK_BF_RUN] = "RUN",
        [NK_BF_COPY] = "COPY",       [NK_BF_ADD] = "ADD",
        [NK_BF_ENV] = "ENV",         [NK_BF_ARG] = "ARG",
        [NK_BF_WORKDIR] = "WORKDIR", [NK_BF_USER] = "USER",
        [NK_BF_CMD] = "CMD",         [NK_BF_ENTRYPOINT] = "ENTRYPOINT",
        [NK_BF_EXPOSE] = "EXPOSE",   [NK_BF_LABEL] = "LABEL",
        [NK_BF_VOLUME] = "VOLUME",   [NK_BF_STOPSIGNAL] = "STOPSIGNAL",
        [NK_BF_SHELL] = "SHELL",     [NK_BF_HEALTHCHECK] = "HEALTHCHECK",
        [NK_BF_ONBUILD] = "ONBUILD", [NK_BF_MAINTAINER] = "MAINTAINER",
};

const char *nk_bf_kind_name(enum nk_bf_kind k)
{
        return (size_t)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

/* ---- a growing string --------------------------------------------------- */

struct buf {
        char *s;
        size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->s, cap);
                if (!p)
                        return -1;
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = '\0';
        return 0;
}

static int buf_ch(struct buf *b, char c)
{
        return buf_add(b, &c, 1);
}

/* ---- words and variables ------------------------------------------------ */

struct lex {
        const char *s;
        size_t i;
        char esc;
        bool expand;
        nk_bf_lookup_fn lookup;
        void *data;
        nk_error **err;
};

static bool name_char(char c, bool first)
{
        return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

static int expand_into(const char *s, size_t n, struct lex *parent, struct buf *out);

/* ${NAME...}: at lx->s[lx->i] just after "${". */
static int braced(struct lex *lx, struct buf *out)
{
        const char *s = lx->s;
        size_t start = lx->i;
        while (name_char(s[lx->i], lx->i == start))
                lx->i++;
        if (lx->i == start)
                return nk_error_set(lx->err, 0, "bad substitution in `%s`", s);
        _cleanup_free_ char *name = strndup(s + start, lx->i - start);
        if (!name)
                return nk_error_set(lx->err, ENOMEM, "expand");
        const char *val = lx->lookup ? lx->lookup(name, lx->data) : NULL;
        if (s[lx->i] == '}') {
                lx->i++;
                return val && buf_add(out, val, strlen(val)) < 0 ? -1 : 0;
        }
        bool colon = s[lx->i] == ':';
        if (colon)
                lx->i++;
        char op = s[lx->i];
        if (op != '-' && op != '+')
                return nk_error_set(lx->err, 0, "unsupported modifier in ${%s...} of `%s`", name,
                                    s);
        size_t wstart = ++lx->i;
        int depth = 1;
        for (; s[lx->i]; lx->i++) {
                if (s[lx->i] == lx->esc && s[lx->i + 1]) {
                        lx->i++;
                        continue;
                }
                if (s[lx->i] == '{')
                        depth++;
                else if (s[lx->i] == '}' && --depth == 0)
                        break;
        }
        if (s[lx->i] != '}')
                return nk_error_set(lx->err, 0, "missing `}` in `%s`", s);
        size_t wend = lx->i++;
        bool set = val && (!colon || *val);
        bool use_word = op == '-' ? !set : set;
        if (!use_word)
                return op == '-' && buf_add(out, val, strlen(val)) < 0 ? -1 : 0;
        return expand_into(s + wstart, wend - wstart, lx, out);
}

/* At '$': a variable, or a literal '$'. */
static int dollar(struct lex *lx, struct buf *out)
{
        const char *s = lx->s;
        lx->i++;
        if (s[lx->i] == '{') {
                lx->i++;
                return braced(lx, out);
        }
        if (!name_char(s[lx->i], true))
                return buf_ch(out, '$');
        size_t start = lx->i;
        while (name_char(s[lx->i], false))
                lx->i++;
        _cleanup_free_ char *name = strndup(s + start, lx->i - start);
        if (!name)
                return nk_error_set(lx->err, ENOMEM, "expand");
        const char *val = lx->lookup ? lx->lookup(name, lx->data) : NULL;
        return val ? buf_add(out, val, strlen(val)) : 0;
}

/* The word of a ${X:-word}: expanded with quotes removed. */
static int expand_into(const char *s, size_t n, struct lex *parent, struct buf *out)
{
        _cleanup_free_ char *sub = strndup(s, n);
        if (!sub)
                return nk_error_set(parent->err, ENOMEM, "expand");
        _cleanup_strv_ char **w = NULL;
        if (nk_bf_words(sub, parent->esc, true, true, parent->lookup, parent->data, &w,
                        parent->err) < 0)
                return -1;
        return w && w[0] && buf_add(out, w[0], strlen(w[0])) < 0 ? -1 : 0;
}

static int push_word(char ***out, struct buf *w, bool *started)
{
        int r = nk_strv_push(out, w->s ? w->s : "");
        w->len = 0;
        if (w->s)
                w->s[0] = '\0';
        *started = false;
        return r;
}

static int lex_words(struct lex *lx, bool whole, char ***out)
{
        struct buf w = {0};
        char quote = 0;
        bool started = false;
        int r = 0;
        const char *s = lx->s;
        while (r == 0 && s[lx->i]) {
                char c = s[lx->i];
                if (!whole && !quote && isspace((unsigned char)c)) {
                        if (started)
                                r = push_word(out, &w, &started);
                        lx->i++;
                        continue;
                }
                started = true;
                if (quote != '\'' && c == lx->esc && s[lx->i + 1]) {
                        char next = s[lx->i + 1];
                        /* in double quotes the escape only takes what is special there */
                        if (quote == '"' && next != '"' && next != '$' && next != lx->esc)
                                r = buf_ch(&w, c);
                        if (r == 0)
                                r = buf_ch(&w, next);
                        lx->i += 2;
                } else if ((c == '\'' || c == '"') && (!quote || quote == c)) {
                        quote = quote ? 0 : c;
                        lx->i++;
                } else if (c == '$' && lx->expand && quote != '\'') {
                        r = dollar(lx, &w);
                } else {
                        r = buf_ch(&w, c);
                        lx->i++;
                }
        }
        if (r == 0 && quote)
                r = nk_error_set(lx->err, 0, "unterminated %s quote in `%s`",
                                 quote == '"' ? "double" : "single", s);
        if (r == 0 && (started || (whole && !*out)))
                r = push_word(out, &w, &started);
        free(w.s);
        return r;
}

int nk_bf_words(const char *s, char escape, bool expand, bool whole, nk_bf_lookup_fn lookup,
                void *data, char ***out, nk_error **err)
{
        struct lex lx = {.s = s,
                         .esc = escape,
                         .expand = expand,
                         .lookup = lookup,
                         .data = data,
                         .err = err};
        char **v = NULL;
        nk_error *e = NULL;
        lx.err = &e;
        int r = lex_words(&lx, whole, &v);
        if (r < 0 || !v) {
                nk_strv_free(v);
                if (e)
                        return nk_error_pass(err, e);
                if (r < 0)
                        return nk_error_set(err, ENOMEM, "expand");
                v = calloc(1, sizeof(char *));
                if (!v)
                        return nk_error_set(err, ENOMEM, "expand");
        }
        *out = v;
        return 0;
}

char *nk_bf_expand(const char *s, char escape, nk_bf_lookup_fn lookup, void *data, nk_error **err)
{
        char **w = NULL;
        if (nk_bf_words(s, escape, true, true, lookup, data, &w, err) < 0)
                return NULL;
        char *r = strdup(w[0] ? w[0] : "");
        nk_strv_free(w);
        if (!r)
                nk_error_set(err, ENOMEM, "expand");
        return r;
}

const char *nk_bf_flag(char *const *flags, const char *name)
{
        size_t n = strlen(name);
        for (; flags && *flags; flags++)
                if (strncmp(*flags, name, n) == 0 && ((*flags)[n] == '=' || !(*flags)[n]))
                        return (*flags)[n] ? *flags + n + 1 : "";
        return NULL;
}

/* ---- lines -------------------------------------------------------------- */

struct reader {
        const char *p, *end;
        unsigned line; /* of the line last read */
};

/* The next physical line (without \n or a trailing \r); false at the end. */
static bool next_line(struct reader *r, const char **s, size_t *n)
{
        if (r->p >= r->end)
                return false;
        const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        const char *e = nl ? nl : r->end;
        *s = r->p;
        *n = (size_t)(e - r->p);
        if (*n && (*s)[*n - 1] == '\r')
                (*n)--;
        r->p = nl ? nl + 1 : r->end;
        r->line++;
        return true;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        return i;
}

static bool blank_or_comment(const char *s, size_t n)
{
        size_t i = skip_ws(s, n, 0);
        return i == n || s[i] == '#';
}

/* "# escape=`" at the top: *escape changed; false once a line is no
 * directive (directives end there). */
static bool directive(const char *s, size_t n, char *escape)
{
        size_t i = skip_ws(s, n, 0);
        if (i == n || s[i] != '#')
                return false;
        i = skip_ws(s, n, i + 1);
        size_t k = i;
        while (i < n && isalpha((unsigned char)s[i]))
                i++;
        size_t klen = i - k;
        i = skip_ws(s, n, i);
        if (klen == 0 || i == n || s[i] != '=')
                return false;
        i = skip_ws(s, n, i + 1);
        size_t vend = n;
        while (vend > i && isspace((unsigned char)s[vend - 1]))
                vend--;
        if (klen == 6 && strncasecmp(s + k, "escape", 6) == 0 && vend == i + 1 &&
            (s[i] == '\\' || s[i] == '`'))
                *escape = s[i];
        return true;
}

/* Does the line continue (ends with the escape character, trailing
 * whitespace aside)? *n is cut to drop it. */
static bool continues(const char *s, size_t *n, char escape)
{
        size_t e = *n;
        while (e > 0 && isspace((unsigned char)s[e - 1]))
                e--;
        if (e == 0 || s[e - 1] != escape)
                return false;
        *n = e - 1;
        return true;
}

/* One logical line starting with first (already read); NULL on ENOMEM. */
static char *logical_line(struct reader *r, const char *first, size_t n, char escape)
{
        struct buf b = {0};
        bool more = continues(first, &n, escape);
        if (buf_add(&b, first, n) < 0)
                goto oom;
        const char *s;
        while (more && next_line(r, &s, &n)) {
                if (blank_or_comment(s, n))
                        continue; /* comment and empty lines inside a continuation */
                more = continues(s, &n, escape);
                if (buf_add(&b, s, n) < 0)
                        goto oom;
        }
        return b.s;
oom:
        free(b.s);
        return NULL;
}

/* ---- instructions ------------------------------------------------------- */

static bool takes_flags(enum nk_bf_kind k)
{
        return k == NK_BF_FROM || k == NK_BF_RUN || k == NK_BF_COPY || k == NK_BF_ADD ||
               k == NK_BF_HEALTHCHECK;
}

static bool json_form_kind(enum nk_bf_kind k)
{
        return k == NK_BF_RUN || k == NK_BF_CMD || k == NK_BF_ENTRYPOINT || k == NK_BF_SHELL ||
               k == NK_BF_COPY || k == NK_BF_ADD || k == NK_BF_VOLUME;
}

static int parse_kind(const char *word, size_t n, enum nk_bf_kind *k)
{
        for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
                if (strlen(kind_names[i]) == n && strncasecmp(word, kind_names[i], n) == 0) {
                        *k = (enum nk_bf_kind)i;
                        return 0;
                }
        return -1;
}

/* A JSON array of strings: argv; else NULL (shell form). */
static char **json_argv(const char *rest)
{
        if (rest[0] != '[')
                return NULL;
        json_t *a = json_loads(rest, JSON_DECODE_ANY, NULL);
        char **v = NULL;
        size_t i;
        json_t *x;
        bool ok = json_is_array(a);
        json_array_foreach (a, i, x)
                ok = ok && json_is_string(x) &&
                     strlen(json_string_value(x)) == json_string_length(x);
        if (ok) {
                v = calloc(json_array_size(a) + 1, sizeof(char *));
                for (i = 0; v && i < json_array_size(a); i++)
                        v[i] = strdup(json_string_value(json_array_get(a, i)));
        }
        json_decref(a);
        return v;
}

static int split_flags(struct nk_bf_instr *in, const char **rest)
{
        const char *p = *rest;
        while (p[0] == '-' && p[1] == '-') {
                size_t n = strcspn(p, " \t");
                _cleanup_free_ char *f = strndup(p + 2, n - 2);
                if (!f || nk_strv_push(&in->flags, f) < 0)
                        return -1;
                p += n;
                while (*p == ' ' || *p == '\t')
                        p++;
        }
        *rest = p;
        return 0;
}

static int parse_instr(char *text, const char *file, unsigned line, struct nk_bf_instr *in,
                       nk_error **err)
{
        in->line = line;
        in->text = text;
        char *p = text;
        while (*p == ' ' || *p == '\t')
                p++;
        size_t wn = strcspn(p, " \t");
        if (parse_kind(p, wn, &in->kind) < 0)
                return nk_error_set(err, 0, "%s:%u: unknown instruction `%.*s`", file, line,
                                    (int)(wn > 64 ? 64 : wn), p);
        const char *rest = p + wn;
        while (*rest == ' ' || *rest == '\t')
                rest++;
        if (takes_flags(in->kind) && split_flags(in, &rest) < 0)
                return nk_error_set(err, ENOMEM, "parse");
        size_t rn = strlen(rest);
        while (rn && isspace((unsigned char)rest[rn - 1]))
                rn--;
        if (!(in->rest = strndup(rest, rn)))
                return nk_error_set(err, ENOMEM, "parse");
        if (!rn)
                return nk_error_set(err, 0, "%s:%u: %s needs an argument", file, line,
                                    kind_names[in->kind]);
        if (json_form_kind(in->kind) && (in->argv = json_argv(in->rest)))
                in->exec_form = true;
        if (in->kind == NK_BF_SHELL && !in->exec_form)
                return nk_error_set(err, 0,
                                    "%s:%u: SHELL takes a JSON array (`SHELL [\"sh\", "
                                    "\"-c\"]`)",
                                    file, line);
        return 0;
}

static void instr_clear(struct nk_bf_instr *in)
{
        free(in->text);
        free(in->rest);
        nk_strv_free(in->flags);
        nk_strv_free(in->argv);
}

void nk_containerfile_clear(struct nk_containerfile *cf)
{
        for (size_t i = 0; i < cf->n; i++)
                instr_clear(&cf->v[i]);
        free(cf->v);
        free(cf->file);
        memset(cf, 0, sizeof(*cf));
}

static int check_order(struct nk_containerfile *cf, nk_error **err)
{
        for (size_t i = 0; i < cf->n; i++) {
                if (cf->v[i].kind == NK_BF_FROM)
                        return 0;
                if (cf->v[i].kind != NK_BF_ARG)
                        return nk_error_set(err, 0,
                                            "%s:%u: %s before the first FROM (only ARG may "
                                            "come before it)",
                                            cf->file, cf->v[i].line, kind_names[cf->v[i].kind]);
        }
        return nk_error_set(err, 0, "%s: no FROM instruction", cf->file);
}

static int add_instr(struct nk_containerfile *cf, char *text, unsigned line, nk_error **err)
{
        struct nk_bf_instr *v = realloc(cf->v, (cf->n + 1) * sizeof(*v));
        if (!v) {
                free(text);
                return nk_error_set(err, ENOMEM, "parse");
        }
        cf->v = v;
        memset(&v[cf->n], 0, sizeof(v[0]));
        int r = parse_instr(text, cf->file, line, &v[cf->n], err);
        cf->n++; /* cleared with the rest on failure */
        return r;
}

int nk_containerfile_parse(const char *text, size_t len, const char *file,
                           struct nk_containerfile *out, nk_error **err)
{
        struct nk_containerfile cf = {.escape = '\\',
                                      .file = strdup(file ? file : "Containerfile")};
        if (!cf.file)
                return nk_error_set(err, ENOMEM, "parse");
        if (memchr(text, '\0', len)) {
                nk_error_set(err, 0, "%s: a NUL byte in the file", cf.file);
                nk_containerfile_clear(&cf);
                return -1;
        }
        struct reader r = {.p = text, .end = text + len};
        bool directives = true;
        const char *s;
        size_t n;
        int rc = 0;
        while (rc == 0 && next_line(&r, &s, &n)) {
                if (directives && directive(s, n, &cf.escape))
                        continue;
                directives = false;
                if (blank_or_comment(s, n))
                        continue;
                unsigned line = r.line;
                char *logical = logical_line(&r, s, n, cf.escape);
                rc = logical ? add_instr(&cf, logical, line, err)
                             : nk_error_set(err, ENOMEM, "parse");
        }
        if (rc == 0)
                rc = check_order(&cf, err);
        if (rc < 0) {
                nk_containerfile_clear(&cf);
                return -1;
        }
        *out = cf;
        return 0;
}
