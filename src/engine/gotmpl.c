/* A Go text/template subset over JSON values (gotmpl.h). The text is
 * parsed once into a tree (text, actions, if/with/range blocks), each
 * action into a pipeline of commands, each command into operands; running
 * it walks the tree with dot and a stack of $variables. Values are jansson
 * references owned by whoever evaluated them; NULL is Go's "no value" (a
 * missing key), which prints differently from a JSON null (<nil>). */
#include "engine/gotmpl.h"
#include "engine/jsonutil.h"
#include "util/cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64      /* nested blocks and parentheses: a bound for hostile text */
#define MAX_STEPS 1000000 /* nodes run per template: far more than a table of rows needs */

/* ---- the tree ------------------------------------------------------------ */

enum op_kind {
        OP_DOT,
        OP_FIELD,
        OP_VAR,
        OP_STR,
        OP_INT,
        OP_REAL,
        OP_BOOL,
        OP_NIL,
        OP_FUNC,
        OP_PIPE
};

struct pipe;
struct operand {
        enum op_kind kind;
        char *name;    /* OP_VAR ("$", "$x"), OP_STR (the value), OP_FUNC */
        char **fields; /* OP_FIELD, OP_VAR, OP_PIPE: the .A.B that follow */
        size_t nfields;
        long long i;
        double r;
        const struct fn *fn;
        struct pipe *pipe;
};

struct command {
        struct operand *args;
        size_t n;
};

struct pipe {
        char *vars[2]; /* {{$x := P}}, {{range $i, $e := P}} */
        size_t nvars;
        bool decl; /* := (else =) */
        struct command *cmds;
        size_t n;
};

enum node_kind { N_TEXT, N_ACTION, N_IF, N_WITH, N_RANGE };

struct node {
        enum node_kind kind;
        char *text;
        struct pipe *pipe;
        struct node *body, *alt; /* alt: the {{else}} part */
        struct node *next;
};

struct nk_tmpl {
        struct node *root;
};

static void pipe_free(struct pipe *p);

static void operand_clear(struct operand *o)
{
        free(o->name);
        for (size_t i = 0; i < o->nfields; i++)
                free(o->fields[i]);
        free(o->fields);
        pipe_free(o->pipe);
}

static void pipe_free(struct pipe *p)
{
        if (!p)
                return;
        for (size_t c = 0; c < p->n; c++) {
                for (size_t a = 0; a < p->cmds[c].n; a++)
                        operand_clear(&p->cmds[c].args[a]);
                free(p->cmds[c].args);
        }
        free(p->cmds);
        free(p->vars[0]);
        free(p->vars[1]);
        free(p);
}

static void node_free(struct node *n)
{
        while (n) {
                struct node *next = n->next;
                free(n->text);
                pipe_free(n->pipe);
                node_free(n->body);
                node_free(n->alt);
                free(n);
                n = next;
        }
}

void nk_tmpl_free(struct nk_tmpl *t)
{
        if (t) {
                node_free(t->root);
                free(t);
        }
}

/* ---- functions ----------------------------------------------------------- */

struct state;
struct fn {
        const char *name;
        json_t *(*call)(struct state *st, json_t **a, size_t n);
};

struct var {
        char *name; /* borrowed from the tree */
        json_t *v;
};

struct state {
        FILE *out;
        struct var *vars;
        size_t nvars, cap;
        nk_error **err;
        bool failed;
        unsigned long steps; /* nodes run: a bound on {{range 1000000000}} */
};

/* The run stops: the first error is the one reported. */
static json_t *fail(struct state *st, const char *what)
{
        if (!st->failed)
                nk_error_set(st->err, 0, "template: %s", what);
        st->failed = true;
        return NULL;
}

static bool truth(json_t *v)
{
        switch (v ? json_typeof(v) : JSON_NULL) {
        case JSON_OBJECT:
                return json_object_size(v) > 0;
        case JSON_ARRAY:
                return json_array_size(v) > 0;
        case JSON_STRING:
                return json_string_length(v) > 0;
        case JSON_INTEGER:
                return json_integer_value(v) != 0;
        case JSON_REAL:
                return json_real_value(v) != 0;
        case JSON_TRUE:
                return true;
        default:
                return false;
        }
}

/* Go's %v of a float64: the shortest digits that read back, in exponent
 * form below 1e-4 or from 1e6 (strconv 'g' with precision -1). */
static void print_real(FILE *f, double d)
{
        char buf[64];
        int p = 1;
        for (; p < 17; p++) {
                snprintf(buf, sizeof buf, "%.*e", p - 1, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        const char *e = strchr(buf, 'e');
        int exp = e && d != 0 ? atoi(e + 1) : 0;
        if (!isfinite(d))
                fputs(isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf", f);
        else if (exp < -4 || exp >= 6)
                fprintf(f, "%.*e", p - 1, d);
        else
                fprintf(f, "%.*g", p > exp + 1 ? p : exp + 1, d);
}

static int by_key(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object's keys in Go's map order (sorted); NULL when out of memory. */
static const char **sorted_keys(json_t *o)
{
        const char **k = calloc(json_object_size(o) + 1, sizeof(*k));
        size_t n = 0;
        const char *key;
        json_t *v;
        if (!k)
                return NULL;
        json_object_foreach (o, key, v)
                k[n++] = key;
        qsort(k, n, sizeof(*k), by_key);
        return k;
}

static void print_value(FILE *f, json_t *v)
{
        if (!v) {
                fputs("<no value>", f);
                return;
        }
        switch (json_typeof(v)) {
        case JSON_STRING:
                fwrite(json_string_value(v), 1, json_string_length(v), f);
                break;
        case JSON_INTEGER:
                fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                print_real(f, json_real_value(v));
                break;
        case JSON_TRUE:
                fputs("true", f);
                break;
        case JSON_FALSE:
                fputs("false", f);
                break;
        case JSON_NULL:
                fputs("<nil>", f);
                break;
        case JSON_ARRAY: {
                size_t i;
                json_t *x;
                fputc('[', f);
                json_array_foreach (v, i, x) {
                        if (i)
                                fputc(' ', f);
                        print_value(f, x);
                }
                fputc(']', f);
                break;
        }
        case JSON_OBJECT: {
                _cleanup_free_ const char **k = sorted_keys(v);
                fputs("map[", f);
                for (size_t i = 0; k && k[i]; i++) {
                        fprintf(f, "%s%s:", i ? " " : "", k[i]);
                        print_value(f, json_object_get(v, k[i]));
                }
                fputc(']', f);
                break;
        }
        }
}

/* A value as the text %v gives; NULL when out of memory. */
static char *value_string(json_t *v, size_t *len)
{
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);
        if (!f)
                return NULL;
        print_value(f, v);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        if (len)
                *len = n;
        return s;
}

static json_t *arity(struct state *st, const char *name, size_t n, size_t lo, size_t hi)
{
        if (n >= lo && n <= hi)
                return NULL;
        char what[96];
        snprintf(what, sizeof what, "%s: wants %zu%s argument%s, got %zu", name, lo,
                 hi > lo ? " or more" : "", lo == 1 && hi == lo ? "" : "s", n);
        return fail(st, what);
}

static json_t *fn_json(struct state *st, json_t **a, size_t n)
{
        if (n != 1)
                return arity(st, "json", n, 1, 1);
        _cleanup_free_ char *s =
                a[0] ? json_dumps(a[0], JSON_ENCODE_ANY | JSON_COMPACT) : strdup("null");
        return s ? json_string(s) : NULL;
}

static json_t *fn_join(struct state *st, json_t **a, size_t n)
{
        if (n != 2)
                return arity(st, "join", n, 2, 2);
        if (a[0] && !json_is_array(a[0]))
                return fail(st, "join: the first argument is not a list");
        _cleanup_free_ char *sep = value_string(a[1], NULL), *s = NULL;
        size_t len = 0, i;
        json_t *x;
        FILE *f = open_memstream(&s, &len);
        if (!f || !sep)
                return f ? (fclose(f), NULL) : NULL;
        json_array_foreach (a[0], i, x) {
                if (i)
                        fputs(sep, f);
                print_value(f, x);
        }
        return fclose(f) == 0 ? json_stringn(s, len) : NULL;
}

static json_t *fn_split(struct state *st, json_t **a, size_t n)
{
        if (n != 2)
                return arity(st, "split", n, 2, 2);
        size_t len;
        _cleanup_free_ char *s = value_string(a[0], &len), *sep = value_string(a[1], NULL);
        json_t *out = json_array();
        if (!s || !sep || !out)
                return json_decref(out), NULL;
        size_t sl = strlen(sep);
        if (!sl) { /* Go: one rune each; here one byte each */
                for (size_t i = 0; i < len; i++)
                        json_array_append_new(out, json_stringn(s + i, 1));
                return out;
        }
        for (char *p = s;;) {
                char *q = strstr(p, sep);
                json_array_append_new(out, json_stringn(p, q ? (size_t)(q - p) : strlen(p)));
                if (!q)
                        return out;
                p = q + sl;
        }
}

static json_t *fn_index(struct state *st, json_t **a, size_t n)
{
        if (n < 1)
                return arity(st, "index", n, 1, 99);
        json_t *v = a[0];
        for (size_t k = 1; k < n && v; k++) {
                if (json_is_array(v) && json_is_integer(a[k])) {
                        json_int_t i = json_integer_value(a[k]);
                        if (i < 0 || (size_t)i >= json_array_size(v))
                                return fail(st, "index: index out of range");
                        v = json_array_get(v, (size_t)i);
                } else if (json_is_object(v) && json_is_string(a[k])) {
                        v = json_object_get(v, json_string_value(a[k]));
                } else if (json_is_null(v)) {
                        v = NULL;
                } else {
                        return fail(st, "index: can't index this value with that key");
                }
        }
        return json_incref(v);
}

static json_t *fn_len(struct state *st, json_t **a, size_t n)
{
        if (n != 1)
                return arity(st, "len", n, 1, 1);
        if (json_is_string(a[0]))
                return json_integer((json_int_t)json_string_length(a[0]));
        if (json_is_array(a[0]))
                return json_integer((json_int_t)json_array_size(a[0]));
        if (json_is_object(a[0]))
                return json_integer((json_int_t)json_object_size(a[0]));
        return fail(st, "len: the value has no length");
}

/* upper, lower, title: ASCII letters (other bytes, UTF-8 included, pass). */
static json_t *recase(struct state *st, json_t **a, size_t n, const char *name, int how)
{
        if (n != 1)
                return arity(st, name, n, 1, 1);
        size_t len;
        _cleanup_free_ char *s = value_string(a[0], &len);
        if (!s)
                return NULL;
        bool start = true;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (how > 0 || (how == 0 && start))
                        s[i] = (char)toupper(c);
                else if (how < 0)
                        s[i] = (char)tolower(c);
                start = !isalnum(c) && c != '_';
        }
        return json_stringn(s, len);
}

static json_t *fn_upper(struct state *st, json_t **a, size_t n)
{
        return recase(st, a, n, "upper", 1);
}

static json_t *fn_lower(struct state *st, json_t **a, size_t n)
{
        return recase(st, a, n, "lower", -1);
}

static json_t *fn_title(struct state *st, json_t **a, size_t n)
{
        return recase(st, a, n, "title", 0);
}

static json_t *fn_truncate(struct state *st, json_t **a, size_t n)
{
        if (n != 2 || !json_is_integer(a[1]) || json_integer_value(a[1]) < 0)
                return fail(st, "truncate: wants a value and a length");
        size_t len, max = (size_t)json_integer_value(a[1]);
        _cleanup_free_ char *s = value_string(a[0], &len);
        if (!s)
                return NULL;
        if (len > max) {
                len = max;
                while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
                        len--; /* not inside a UTF-8 sequence */
        }
        return json_stringn(s, len);
}

/* print: a space between operands when neither is a string (fmt.Sprint);
 * println: between all of them, and a newline. */
static json_t *sprint(json_t **a, size_t n, bool ln)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (i && (ln || (!json_is_string(a[i - 1]) && !json_is_string(a[i]))))
                        fputc(' ', f);
                print_value(f, a[i]);
        }
        if (ln)
                fputc('\n', f);
        json_t *r = fclose(f) == 0 ? json_stringn(s, len) : NULL;
        free(s);
        return r;
}

static json_t *fn_print(struct state *st, json_t **a, size_t n)
{
        (void)st;
        return sprint(a, n, false);
}

static json_t *fn_println(struct state *st, json_t **a, size_t n)
{
        (void)st;
        return sprint(a, n, true);
}

struct verb {
        bool left, zero, plus;
        int width, prec; /* -1: not given */
        char c;
};

/* text padded to the verb's width (numbers with zeros after the sign when
 * the 0 flag asks and the text is a number). */
static void pad(FILE *f, const struct verb *vb, const char *text, bool number)
{
        int len = (int)strlen(text), fill = vb->width > len ? vb->width - len : 0;
        if (vb->left) {
                fprintf(f, "%s%*s", text, fill, "");
        } else if (vb->zero && number) {
                bool sign = *text == '-' || *text == '+';
                fwrite(text, 1, sign, f);
                for (int i = 0; i < fill; i++)
                        fputc('0', f);
                fputs(text + sign, f);
        } else {
                fprintf(f, "%*s%s", fill, "", text);
        }
}

static void printf_one(FILE *f, const struct verb *vb, json_t *v)
{
        char num[512];
        if (vb->c == 'd' && json_is_number(v)) {
                snprintf(num, sizeof num, vb->plus ? "%+lld" : "%lld",
                         (long long)json_number_value(v));
                pad(f, vb, num, true);
        } else if (strchr("feg", vb->c) && json_is_number(v)) {
                int prec = vb->prec < 0 ? 6 : vb->prec > 100 ? 100 : vb->prec;
                double d = json_number_value(v);
                if (vb->c == 'f')
                        snprintf(num, sizeof num, vb->plus ? "%+.*f" : "%.*f", prec, d);
                else if (vb->c == 'e')
                        snprintf(num, sizeof num, vb->plus ? "%+.*e" : "%.*e", prec, d);
                else
                        snprintf(num, sizeof num, vb->plus ? "%+.*g" : "%.*g", prec, d);
                pad(f, vb, num, true);
        } else if (vb->c == 'q' || vb->c == 's' || vb->c == 'v') {
                _cleanup_free_ char *s = value_string(v, NULL);
                json_t *js = vb->c == 'q' && s ? json_string(s) : NULL;
                _cleanup_free_ char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
                json_decref(js);
                const char *text = vb->c == 'q' ? (q ? q : "\"\"") : (s ? s : "");
                _cleanup_free_ char *cut =
                        vb->prec >= 0 && vb->c != 'q' ? strndup(text, (size_t)vb->prec) : NULL;
                pad(f, vb, cut ? cut : text, false);
        } else {
                fprintf(f, "%%!%c(", vb->c);
                print_value(f, v);
                fputc(')', f);
        }
}

/* printf with %s %v %q %d %f %e %g %%, the - + 0 flags, width, precision. */
static json_t *fn_printf(struct state *st, json_t **a, size_t n)
{
        if (n < 1 || !json_is_string(a[0]))
                return fail(st, "printf: wants a format string");
        const char *p = json_string_value(a[0]);
        char *s = NULL;
        size_t len = 0, next = 1;
        FILE *f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        while (*p) {
                if (*p != '%' || p[1] == '%') {
                        fputc(*p, f);
                        p += *p == '%' ? 2 : 1;
                        continue;
                }
                struct verb vb = {.width = -1, .prec = -1};
                for (p++; *p && strchr("-+ 0#", *p); p++) {
                        vb.left |= *p == '-';
                        vb.zero |= *p == '0';
                        vb.plus |= *p == '+';
                }
                for (; isdigit((unsigned char)*p); p++)
                        vb.width = (vb.width < 0 ? 0 : vb.width) * 10 % 100000 + (*p - '0');
                if (*p == '.')
                        for (vb.prec = 0, p++; isdigit((unsigned char)*p); p++)
                                vb.prec = vb.prec * 10 % 100000 + (*p - '0');
                if (!*p)
                        break;
                vb.c = *p++;
                if (next < n)
                        printf_one(f, &vb, a[next++]);
                else
                        fprintf(f, "%%!%c(MISSING)", vb.c);
        }
        json_t *r = fclose(f) == 0 ? json_stringn(s, len) : NULL;
        free(s);
        return r;
}

/* -1, 0, 1; 2 when the two can't be ordered (different kinds). */
static int compare(json_t *x, json_t *y)
{
        if (json_is_integer(x) && json_is_integer(y))
                return (json_integer_value(x) > json_integer_value(y)) -
                       (json_integer_value(x) < json_integer_value(y));
        if (json_is_number(x) && json_is_number(y))
                return (json_number_value(x) > json_number_value(y)) -
                       (json_number_value(x) < json_number_value(y));
        if (json_is_string(x) && json_is_string(y)) {
                int c = strcmp(json_string_value(x), json_string_value(y));
                return (c > 0) - (c < 0);
        }
        if (!x || !y || json_is_null(x) || json_is_null(y))
                return (!x || json_is_null(x)) && (!y || json_is_null(y)) ? 0 : 2;
        return json_equal(x, y) ? 0 : 2;
}

static json_t *fn_eq(struct state *st, json_t **a, size_t n)
{
        if (n < 2)
                return arity(st, "eq", n, 2, 99);
        for (size_t i = 1; i < n; i++)
                if (compare(a[0], a[i]) == 0)
                        return json_true();
        return json_false();
}

static json_t *fn_ne(struct state *st, json_t **a, size_t n)
{
        if (n != 2)
                return arity(st, "ne", n, 2, 2);
        return json_boolean(compare(a[0], a[1]) != 0);
}

static json_t *order(struct state *st, json_t **a, size_t n, const char *name, int lo, int hi)
{
        if (n != 2)
                return arity(st, name, n, 2, 2);
        int c = compare(a[0], a[1]);
        if (c == 2 || json_is_array(a[0]) || json_is_object(a[0]) || json_is_boolean(a[0])) {
                char what[64];
                snprintf(what, sizeof what, "%s: the values can't be ordered", name);
                return fail(st, what);
        }
        return json_boolean(c >= lo && c <= hi);
}

static json_t *fn_lt(struct state *st, json_t **a, size_t n)
{
        return order(st, a, n, "lt", -1, -1);
}

static json_t *fn_le(struct state *st, json_t **a, size_t n)
{
        return order(st, a, n, "le", -1, 0);
}

static json_t *fn_gt(struct state *st, json_t **a, size_t n)
{
        return order(st, a, n, "gt", 1, 1);
}

static json_t *fn_ge(struct state *st, json_t **a, size_t n)
{
        return order(st, a, n, "ge", 0, 1);
}

static json_t *fn_not(struct state *st, json_t **a, size_t n)
{
        if (n != 1)
                return arity(st, "not", n, 1, 1);
        return json_boolean(!truth(a[0]));
}

/* and: the first false argument, or the last; or: the first true one. */
static json_t *logic(struct state *st, json_t **a, size_t n, const char *name, bool stop_on)
{
        if (n < 1)
                return arity(st, name, n, 1, 99);
        size_t i = 0;
        while (i + 1 < n && truth(a[i]) != stop_on)
                i++;
        return a[i] ? json_incref(a[i]) : NULL;
}

static json_t *fn_and(struct state *st, json_t **a, size_t n)
{
        return logic(st, a, n, "and", false);
}

static json_t *fn_or(struct state *st, json_t **a, size_t n)
{
        return logic(st, a, n, "or", true);
}

static const struct fn fns[] = {
        {"json", fn_json},       {"join", fn_join},     {"split", fn_split},
        {"index", fn_index},     {"len", fn_len},       {"upper", fn_upper},
        {"lower", fn_lower},     {"title", fn_title},   {"print", fn_print},
        {"println", fn_println}, {"printf", fn_printf}, {"truncate", fn_truncate},
        {"eq", fn_eq},           {"ne", fn_ne},         {"lt", fn_lt},
        {"le", fn_le},           {"gt", fn_gt},         {"ge", fn_ge},
        {"not", fn_not},         {"and", fn_and},       {"or", fn_or},
};

static const struct fn *find_fn(const char *name, size_t n)
{
        for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
                if (strlen(fns[i].name) == n && strncmp(fns[i].name, name, n) == 0)
                        return &fns[i];
        return NULL;
}

/* ---- lexing an action ---------------------------------------------------- */

enum tok {
        T_EOF,
        T_FIELD,
        T_VAR,
        T_IDENT,
        T_STR,
        T_NUM,
        T_LPAREN,
        T_RPAREN,
        T_BAR,
        T_DECL,
        T_ASSIGN,
        T_COMMA,
        T_BAD
};

struct lexer {
        const char *p, *end;
        enum tok t;
        const char *s; /* the token's text */
        size_t n;
        bool spaced; /* whitespace before it */
};

static bool word_char(char c)
{
        return isalnum((unsigned char)c) || c == '_';
}

/* A quoted literal's length, quotes included; 0 when unterminated. */
static size_t quoted_len(const char *p, const char *end)
{
        char q = *p;
        for (const char *c = p + 1; c < end; c++) {
                if (*c == '\\' && q != '`' && c + 1 < end)
                        c++;
                else if (*c == q)
                        return (size_t)(c - p) + 1;
                else if (*c == '\n' && q != '`')
                        return 0;
        }
        return 0;
}

static void lex(struct lexer *l)
{
        const char *p = l->p;
        while (p < l->end && isspace((unsigned char)*p))
                p++;
        l->spaced = p != l->p;
        l->s = p;
        l->n = 1;
        if (p >= l->end) {
                l->t = T_EOF;
                l->n = 0;
        } else if (*p == '.' || *p == '$') {
                const char *q = p + 1;
                for (;;) {
                        while (q < l->end && word_char(*q))
                                q++;
                        if (q + 1 < l->end && *q == '.' && word_char(q[1]))
                                q++;
                        else
                                break;
                }
                l->t = *p == '.' ? T_FIELD : T_VAR;
                l->n = (size_t)(q - p);
        } else if (*p == '"' || *p == '`' || *p == '\'') {
                l->n = quoted_len(p, l->end);
                l->t = l->n ? T_STR : T_BAD;
        } else if (isdigit((unsigned char)*p) ||
                   (*p == '-' && p + 1 < l->end && isdigit((unsigned char)p[1]))) {
                const char *q = p + 1;
                while (q < l->end && (isalnum((unsigned char)*q) || *q == '.' || *q == '_' ||
                                      ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E'))))
                        q++;
                l->t = T_NUM;
                l->n = (size_t)(q - p);
        } else if (word_char(*p)) {
                const char *q = p;
                while (q < l->end && word_char(*q))
                        q++;
                l->t = T_IDENT;
                l->n = (size_t)(q - p);
        } else if (*p == ':' && p + 1 < l->end && p[1] == '=') {
                l->t = T_DECL;
                l->n = 2;
        } else {
                static const char one[] = "()|=,";
                static const enum tok kinds[] = {T_LPAREN, T_RPAREN, T_BAR, T_ASSIGN, T_COMMA};
                const char *k = strchr(one, *p);
                l->t = k && *p ? kinds[k - one] : T_BAD;
        }
        l->p = l->s + l->n;
}

/* ---- parsing ------------------------------------------------------------- */

struct parser {
        nk_error **err;
        const char *action; /* the action being read, for messages */
        size_t action_len;
        int depth;
};

/* Up to 60 bytes of the template for a message, on one line. */
static void excerpt(char out[61], const char *s, size_t n)
{
        size_t i = 0;
        for (; i < n && i < 60 && s[i]; i++)
                out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        out[i] = '\0';
}

static int perr(struct parser *ps, const char *what)
{
        char ex[61];
        excerpt(ex, ps->action, ps->action_len);
        if (!*ps->err)
                nk_error_set(ps->err, 0, "template: %s in {{%s}}", what, ex);
        return -1;
}

/* "\"a\\tb\"" -> a<TAB>b: Go's escapes that JSON shares; `raw` as it is. */
static char *unquote(const char *s, size_t n)
{
        if (*s == '`')
                return strndup(s + 1, n - 2);
        if (*s == '\'') /* a character constant: Go's rune, an integer; kept as text */
                return strndup(s + 1, n - 2);
        _cleanup_free_ char *j = strndup(s, n);
        json_t *v = j ? json_loads(j, JSON_DECODE_ANY, NULL) : NULL;
        char *r = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
        json_decref(v);
        return r;
}

static int split_fields(struct operand *o, const char *s, size_t n)
{
        /* ".A.B" -> {"A", "B"}; "." alone has none */
        for (size_t i = 0; i < n;) {
                size_t k = i + 1;
                while (k < n && s[k] != '.')
                        k++;
                if (k > i + 1) {
                        char **f = realloc(o->fields, (o->nfields + 1) * sizeof(*f));
                        if (!f)
                                return -1;
                        o->fields = f;
                        if (!(f[o->nfields] = strndup(s + i + 1, k - i - 1)))
                                return -1;
                        o->nfields++;
                }
                i = k;
        }
        return 0;
}

static struct pipe *parse_pipe(struct parser *ps, struct lexer *l, bool in_paren);

static int parse_operand(struct parser *ps, struct lexer *l, struct operand *o)
{
        memset(o, 0, sizeof(*o));
        switch (l->t) {
        case T_FIELD:
                o->kind = l->n == 1 ? OP_DOT : OP_FIELD;
                return split_fields(o, l->s, l->n);
        case T_VAR: {
                size_t v = 1;
                while (v < l->n && l->s[v] != '.')
                        v++;
                o->kind = OP_VAR;
                if (!(o->name = strndup(l->s, v)))
                        return -1;
                return split_fields(o, l->s + v, l->n - v);
        }
        case T_STR:
                o->kind = OP_STR;
                return (o->name = unquote(l->s, l->n)) ? 0 : perr(ps, "bad string");
        case T_NUM: {
                char buf[64], *end;
                snprintf(buf, sizeof buf, "%.*s", (int)(l->n < 63 ? l->n : 63), l->s);
                errno = 0;
                o->i = strtoll(buf, &end, 0);
                o->kind = OP_INT;
                if (*end || errno) {
                        o->r = strtod(buf, &end);
                        o->kind = OP_REAL;
                        if (*end)
                                return perr(ps, "bad number");
                }
                return 0;
        }
        case T_IDENT:
                if ((l->n == 4 && strncmp(l->s, "true", 4) == 0) ||
                    (l->n == 5 && strncmp(l->s, "false", 5) == 0)) {
                        o->kind = OP_BOOL;
                        o->i = l->n == 4;
                        return 0;
                }
                if (l->n == 3 && strncmp(l->s, "nil", 3) == 0) {
                        o->kind = OP_NIL;
                        return 0;
                }
                o->kind = OP_FUNC;
                if (!(o->fn = find_fn(l->s, l->n))) {
                        char what[80];
                        snprintf(what, sizeof what, "function \"%.*s\" not defined",
                                 (int)(l->n < 40 ? l->n : 40), l->s);
                        return perr(ps, what);
                }
                return 0;
        case T_LPAREN:
                o->kind = OP_PIPE;
                lex(l);
                if (!(o->pipe = parse_pipe(ps, l, true)))
                        return -1;
                if (l->p < l->end && *l->p == '.') { /* (P).Field */
                        lex(l);
                        return split_fields(o, l->s, l->n);
                }
                return 0;
        default:
                return perr(ps, "unexpected token");
        }
}

static int parse_command(struct parser *ps, struct lexer *l, struct command *c)
{
        while (l->t != T_EOF && l->t != T_BAR && l->t != T_RPAREN) {
                struct operand *a = realloc(c->args, (c->n + 1) * sizeof(*a));
                if (!a)
                        return -1;
                c->args = a;
                if (parse_operand(ps, l, &a[c->n]) < 0) {
                        operand_clear(&a[c->n]);
                        return -1;
                }
                c->n++;
                lex(l);
        }
        return c->n ? 0 : perr(ps, "missing value");
}

/* {{$x := P}}, {{$i, $e := P}} (range), {{$x = P}}: the variables first. */
static int parse_decl(struct lexer *l, struct pipe *p)
{
        struct lexer save = *l;
        for (size_t k = 0; k < 2 && l->t == T_VAR && !memchr(l->s, '.', l->n); k++) {
                _cleanup_free_ char *name = strndup(l->s, l->n);
                lex(l);
                if (l->t == T_COMMA && k == 0) {
                        p->vars[p->nvars++] = TAKE_PTR(name);
                        lex(l);
                        continue;
                }
                if (l->t == T_DECL || l->t == T_ASSIGN) {
                        p->decl = l->t == T_DECL;
                        p->vars[p->nvars++] = TAKE_PTR(name);
                        lex(l);
                        return 0;
                }
                break;
        }
        free(p->vars[0]);
        p->vars[0] = NULL;
        p->nvars = 0;
        *l = save;
        return 0;
}

static struct pipe *parse_pipe(struct parser *ps, struct lexer *l, bool in_paren)
{
        if (++ps->depth > MAX_DEPTH) {
                perr(ps, "nested too deep");
                return NULL;
        }
        struct pipe *p = calloc(1, sizeof(*p));
        if (!p || parse_decl(l, p) < 0)
                goto fail;
        for (;;) {
                struct command *c = realloc(p->cmds, (p->n + 1) * sizeof(*c));
                if (!c)
                        goto fail;
                p->cmds = c;
                memset(&c[p->n], 0, sizeof(*c));
                int r = parse_command(ps, l, &c[p->n]);
                p->n++;
                if (r < 0)
                        goto fail;
                if (l->t != T_BAR)
                        break;
                lex(l);
        }
        if (in_paren ? l->t != T_RPAREN : l->t != T_EOF) {
                perr(ps, in_paren ? "unclosed parenthesis" : "unexpected token");
                goto fail;
        }
        ps->depth--;
        return p;
fail:
        pipe_free(p);
        return NULL;
}

/* The template text as items: text runs and the insides of actions, with
 * {{- and -}} having trimmed the text beside them and comments dropped. */
struct item {
        bool action;
        const char *s;
        size_t n;
};

struct scan {
        struct item *v;
        size_t n, at;
};

static int push_item(struct scan *sc, bool action, const char *s, size_t n)
{
        if (!action && !n)
                return 0;
        struct item *v = realloc(sc->v, (sc->n + 1) * sizeof(*v));
        if (!v)
                return -1;
        sc->v = v;
        v[sc->n++] = (struct item){action, s, n};
        return 0;
}

/* The }} that ends an action starting at a: not one inside a quoted
 * literal, nor inside a comment. */
static const char *action_close(const char *a)
{
        const char *p = a + strspn(a, " \t\r\n");
        if (strncmp(p, "/*", 2) == 0) {
                const char *c = strstr(p + 2, "*/");
                return c ? strstr(c + 2, "}}") : NULL;
        }
        for (; *p; p++) {
                if (*p == '"' || *p == '`' || *p == '\'') {
                        size_t q = quoted_len(p, p + strlen(p));
                        if (!q)
                                return NULL;
                        p += q - 1;
                } else if (p[0] == '}' && p[1] == '}') {
                        return p;
                }
        }
        return NULL;
}

static int scan_items(const char *text, struct scan *sc, nk_error **err)
{
        const char *pos = text;
        for (;;) {
                const char *open = strstr(pos, "{{");
                if (!open)
                        return push_item(sc, false, pos, strlen(pos));
                const char *a = open + 2, *tend = open;
                if (a[0] == '-' && isspace((unsigned char)a[1])) {
                        a += 2;
                        while (tend > pos && isspace((unsigned char)tend[-1]))
                                tend--;
                }
                if (push_item(sc, false, pos, (size_t)(tend - pos)) < 0)
                        return -1;
                const char *close = action_close(a), *aend = close;
                if (!close) {
                        char ex[61];
                        excerpt(ex, open, 20);
                        return nk_error_set(err, 0, "template: unclosed action at `%s`", ex);
                }
                bool trim = aend - a >= 2 && aend[-1] == '-' && isspace((unsigned char)aend[-2]);
                if (trim)
                        aend -= 2;
                const char *s = a;
                while (s < aend && isspace((unsigned char)*s))
                        s++;
                while (aend > s && isspace((unsigned char)aend[-1]))
                        aend--;
                size_t n = (size_t)(aend - s);
                bool comment = n >= 2 && strncmp(s, "/*", 2) == 0;
                if (comment && (n < 4 || strncmp(aend - 2, "*/", 2) != 0))
                        return nk_error_set(err, 0, "template: a comment must end at */}}");
                if (!comment && push_item(sc, true, s, n) < 0)
                        return -1;
                pos = close + 2;
                if (trim)
                        while (isspace((unsigned char)*pos))
                                pos++;
        }
}

enum term { TERM_EOF, TERM_END, TERM_ELSE };

static struct node *parse_list(struct parser *ps, struct scan *sc, enum term *term,
                               struct lexer *after);

static bool is_word(const struct lexer *l, const char *w)
{
        return l->t == T_IDENT && l->n == strlen(w) && strncmp(l->s, w, l->n) == 0;
}

/* {{if|with|range P}} body [{{else [if P]}} alt] {{end}}; l is after the
 * keyword. */
static struct node *parse_block(struct parser *ps, struct scan *sc, enum node_kind kind,
                                struct lexer *l)
{
        struct node *n = calloc(1, sizeof(*n));
        enum term t;
        struct lexer rest;
        if (!n)
                return NULL;
        n->kind = kind;
        if (!(n->pipe = parse_pipe(ps, l, false)))
                goto fail;
        if (++ps->depth > MAX_DEPTH) {
                perr(ps, "nested too deep");
                goto fail;
        }
        n->body = parse_list(ps, sc, &t, &rest);
        if (*ps->err)
                goto fail;
        if (t == TERM_ELSE && is_word(&rest, "if") && kind == N_IF) {
                lex(&rest);
                n->alt = parse_block(ps, sc, N_IF, &rest); /* shares this {{end}} */
                if (!n->alt)
                        goto fail;
                ps->depth--;
                return n;
        }
        if (t == TERM_ELSE) {
                if (rest.t != T_EOF) {
                        perr(ps, "unexpected token after else");
                        goto fail;
                }
                n->alt = parse_list(ps, sc, &t, &rest);
                if (*ps->err)
                        goto fail;
                if (t == TERM_ELSE) {
                        perr(ps, "a second {{else}}");
                        goto fail;
                }
        }
        if (t != TERM_END) {
                nk_error_set(ps->err, 0, "template: missing {{end}}");
                goto fail;
        }
        ps->depth--;
        return n;
fail:
        node_free(n);
        return NULL;
}

static struct node *action_node(struct parser *ps, struct scan *sc, struct lexer *l)
{
        static const struct {
                const char *word;
                enum node_kind kind;
        } blocks[] = {{"if", N_IF}, {"with", N_WITH}, {"range", N_RANGE}};
        for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
                if (is_word(l, blocks[i].word)) {
                        lex(l);
                        return parse_block(ps, sc, blocks[i].kind, l);
                }
        static const char *const unsupported[] = {"define", "template", "block", "break",
                                                  "continue"};
        for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
                if (is_word(l, unsupported[i])) {
                        perr(ps, "not supported by nook");
                        return NULL;
                }
        struct node *n = calloc(1, sizeof(*n));
        if (n && !(n->pipe = parse_pipe(ps, l, false))) {
                free(n);
                return NULL;
        }
        if (n)
                n->kind = N_ACTION;
        return n;
}

/* Nodes up to an {{end}} or {{else}} (*term says which, *after is the
 * rest of that action) or the end of the text. NULL is also an empty
 * list: the caller looks at *ps->err. */
static struct node *parse_list(struct parser *ps, struct scan *sc, enum term *term,
                               struct lexer *after)
{
        struct node *head = NULL, **tail = &head;
        *term = TERM_EOF;
        while (sc->at < sc->n) {
                struct item *it = &sc->v[sc->at++];
                struct node *n;
                if (!it->action) {
                        n = calloc(1, sizeof(*n));
                        if (n && !(n->text = strndup(it->s, it->n)))
                                n = (free(n), NULL);
                } else {
                        struct lexer l = {.p = it->s, .end = it->s + it->n};
                        ps->action = it->s;
                        ps->action_len = it->n;
                        lex(&l);
                        if (is_word(&l, "end") || is_word(&l, "else")) {
                                *term = is_word(&l, "end") ? TERM_END : TERM_ELSE;
                                lex(&l);
                                *after = l;
                                if (*term == TERM_END && l.t != T_EOF)
                                        break;
                                return head;
                        }
                        n = action_node(ps, sc, &l);
                }
                if (!n) {
                        if (!*ps->err)
                                nk_error_set(ps->err, 0, "template: out of memory");
                        break;
                }
                *tail = n;
                tail = &n->next;
        }
        if (*ps->err || *term == TERM_END) { /* TERM_END here: words after {{end}} */
                perr(ps, "unexpected token after end");
                node_free(head);
                return NULL;
        }
        return head;
}

/* A failure's error to the caller: e, or out of memory when none was set. */
static void hand_over(nk_error **err, nk_error *e)
{
        if (!e)
                nk_error_set(&e, 0, "template: out of memory");
        nk_error_pass(err, e);
}

struct nk_tmpl *nk_tmpl_parse(const char *text, nk_error **err)
{
        nk_error *e = NULL;
        struct scan sc = {0};
        struct parser ps = {.err = &e};
        enum term t;
        struct lexer after;
        struct nk_tmpl *tp = calloc(1, sizeof(*tp));
        if (!tp || scan_items(text, &sc, &e) < 0)
                goto fail;
        tp->root = parse_list(&ps, &sc, &t, &after);
        if (!e && t != TERM_EOF)
                nk_error_set(&e, 0, "template: unexpected {{%s}}", t == TERM_END ? "end" : "else");
        if (e)
                goto fail;
        free(sc.v);
        return tp;
fail:
        free(sc.v);
        nk_tmpl_free(tp);
        hand_over(err, e);
        return NULL;
}

/* ---- running ------------------------------------------------------------- */

static json_t *walk(json_t *v, char **fields, size_t n)
{
        /* consumes v; a field of anything but an object is no value */
        for (size_t i = 0; i < n && v; i++) {
                json_t *next =
                        json_is_object(v) ? json_incref(json_object_get(v, fields[i])) : NULL;
                json_decref(v);
                v = next;
        }
        return v;
}

static struct var *find_var(struct state *st, const char *name)
{
        for (size_t i = st->nvars; i-- > 0;)
                if (strcmp(st->vars[i].name, name) == 0)
                        return &st->vars[i];
        return NULL;
}

static int push_var(struct state *st, char *name, json_t *v)
{
        if (st->nvars == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 8;
                struct var *nv = realloc(st->vars, cap * sizeof(*nv));
                if (!nv)
                        return -1;
                st->vars = nv;
                st->cap = cap;
        }
        st->vars[st->nvars++] = (struct var){name, v};
        return 0;
}

static void pop_vars(struct state *st, size_t mark)
{
        while (st->nvars > mark)
                json_decref(st->vars[--st->nvars].v);
}

static json_t *eval_pipe(struct state *st, const struct pipe *p, json_t *dot);

static json_t *undefined(struct state *st, const char *name)
{
        char what[96];
        snprintf(what, sizeof what, "undefined variable %.60s", name);
        return fail(st, what);
}

static json_t *eval_operand(struct state *st, const struct operand *o, json_t *dot)
{
        switch (o->kind) {
        case OP_DOT:
                return json_incref(dot);
        case OP_FIELD:
                return walk(json_incref(dot), o->fields, o->nfields);
        case OP_VAR: {
                struct var *v = find_var(st, o->name);
                if (!v)
                        return undefined(st, o->name);
                return walk(json_incref(v->v), o->fields, o->nfields);
        }
        case OP_STR:
                return json_string(o->name);
        case OP_INT:
                return json_integer(o->i);
        case OP_REAL:
                return json_real(o->r);
        case OP_BOOL:
                return json_boolean(o->i);
        case OP_NIL:
                return json_null();
        case OP_FUNC:
                return o->fn->call(st, NULL, 0);
        case OP_PIPE:
                return walk(eval_pipe(st, o->pipe, dot), o->fields, o->nfields);
        }
        return NULL;
}

/* piped: the previous command's result (consumed), has_piped when any. */
static json_t *eval_command(struct state *st, const struct command *c, json_t *dot, json_t *piped,
                            bool has_piped)
{
        const struct operand *f = &c->args[0];
        if (f->kind != OP_FUNC) {
                json_decref(piped);
                if (c->n > 1 || has_piped)
                        return fail(st, "a value given arguments");
                return eval_operand(st, f, dot);
        }
        size_t n = c->n - 1 + has_piped;
        json_t **a = calloc(n + 1, sizeof(*a));
        json_t *r = NULL;
        if (!a) {
                json_decref(piped);
                return NULL;
        }
        for (size_t i = 1; i < c->n && !st->failed; i++)
                a[i - 1] = eval_operand(st, &c->args[i], dot);
        if (has_piped)
                a[n - 1] = piped;
        if (!st->failed)
                r = f->fn->call(st, a, n);
        for (size_t i = 0; i < n; i++)
                json_decref(a[i]);
        free(a);
        return r;
}

static json_t *eval_cmds(struct state *st, const struct pipe *p, json_t *dot)
{
        json_t *v = NULL;
        for (size_t i = 0; i < p->n && !st->failed; i++)
                v = eval_command(st, &p->cmds[i], dot, v, i > 0);
        if (st->failed) {
                json_decref(v);
                return NULL;
        }
        return v;
}

static json_t *eval_pipe(struct state *st, const struct pipe *p, json_t *dot)
{
        json_t *v = eval_cmds(st, p, dot);
        if (!p->nvars || st->failed)
                return v;
        struct var *old = p->decl ? NULL : find_var(st, p->vars[0]);
        if (!p->decl && !old)
                return json_decref(v), undefined(st, p->vars[0]);
        if (old) {
                json_decref(old->v);
                old->v = json_incref(v);
        } else if (push_var(st, p->vars[0], json_incref(v)) < 0) {
                json_decref(v);
                return fail(st, "out of memory");
        }
        return v;
}

static int exec_list(struct state *st, const struct node *n, json_t *dot);

static int range_one(struct state *st, const struct node *n, json_t *key, json_t *elem)
{
        size_t mark = st->nvars;
        const struct pipe *p = n->pipe;
        int r = 0;
        if (p->nvars == 2)
                r = push_var(st, p->vars[0], json_incref(key));
        if (r == 0 && p->nvars)
                r = push_var(st, p->vars[p->nvars - 1], json_incref(elem));
        if (r < 0)
                fail(st, "out of memory");
        else
                r = exec_list(st, n->body, elem);
        pop_vars(st, mark);
        return r;
}

/* A list's elements, a map's values in key order, or 0..N-1 (Go 1.22). */
static int exec_range(struct state *st, const struct node *n, json_t *v)
{
        if (json_is_array(v)) {
                size_t i;
                json_t *x;
                json_array_foreach (v, i, x) {
                        _cleanup_jansson_ json_t *k = json_integer((json_int_t)i);
                        if (range_one(st, n, k, x) < 0)
                                return -1;
                }
                return 0;
        }
        if (json_is_object(v)) {
                _cleanup_free_ const char **keys = sorted_keys(v);
                for (size_t i = 0; keys && keys[i]; i++) {
                        _cleanup_jansson_ json_t *k = json_string(keys[i]);
                        if (range_one(st, n, k, json_object_get(v, keys[i])) < 0)
                                return -1;
                }
                return keys ? 0 : -1;
        }
        for (json_int_t i = 0; i < json_integer_value(v); i++) {
                _cleanup_jansson_ json_t *k = json_integer(i);
                if (range_one(st, n, k, k) < 0)
                        return -1;
        }
        return 0;
}

static int exec_node(struct state *st, const struct node *n, json_t *dot)
{
        if (++st->steps > MAX_STEPS) {
                fail(st, "the template runs too long (nested ranges?)");
                return -1;
        }
        if (n->kind == N_TEXT) {
                fputs(n->text, st->out);
                return 0;
        }
        json_t *v = n->kind == N_RANGE ? eval_cmds(st, n->pipe, dot) : eval_pipe(st, n->pipe, dot);
        int r = 0;
        if (st->failed)
                return -1;
        switch (n->kind) {
        case N_ACTION:
                if (!n->pipe->nvars)
                        print_value(st->out, v);
                break;
        case N_IF:
                r = exec_list(st, truth(v) ? n->body : n->alt, dot);
                break;
        case N_WITH:
                r = exec_list(st, truth(v) ? n->body : n->alt, truth(v) ? v : dot);
                break;
        case N_RANGE:
                if (v && !json_is_array(v) && !json_is_object(v) && !json_is_integer(v) &&
                    !json_is_null(v))
                        r = (fail(st, "range can't iterate over a single value"), -1);
                else if (truth(v))
                        r = exec_range(st, n, v);
                else
                        r = exec_list(st, n->alt, dot);
                break;
        default:
                break;
        }
        json_decref(v);
        return r;
}

/* A block's $variables end with it (Go's scope: to the {{end}}). */
static int exec_list(struct state *st, const struct node *n, json_t *dot)
{
        size_t mark = st->nvars;
        int r = 0;
        for (; n && r == 0; n = n->next)
                r = exec_node(st, n, dot);
        pop_vars(st, mark);
        return r;
}

char *nk_tmpl_exec(const struct nk_tmpl *t, json_t *dot, nk_error **err)
{
        char *s = NULL;
        size_t len = 0;
        nk_error *e = NULL;
        struct state st = {.err = &e};
        if (!(st.out = open_memstream(&s, &len))) {
                nk_error_set(err, errno, "template: out of memory");
                return NULL;
        }
        int r = push_var(&st, "$", json_incref(dot));
        if (r == 0)
                r = exec_list(&st, t->root, dot);
        pop_vars(&st, 0);
        free(st.vars);
        if (fclose(st.out) != 0 && r == 0)
                r = nk_error_set(&e, 0, "template: out of memory");
        if (r < 0 || st.failed) {
                free(s);
                hand_over(err, e);
                return NULL;
        }
        return s;
}
