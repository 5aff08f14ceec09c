/* v1 device control as a transition, not a rewrite.
 *
 * A v1 devices cgroup holds a default (allow-all or deny-all) and a list of
 * exceptions. Writing "a" to devices.deny resets it to deny-all with no
 * exceptions, so replaying a rule list that starts with the usual deny-all
 * on a running container would deny every device for a moment (and fails
 * with EINVAL once the container made a child cgroup). Instead we work out
 * the state the rule list leads to, read the state the cgroup is in from
 * devices.list, and write only the difference: missing grants first, then
 * revocations, so a device allowed before and after stays allowed
 * throughout.
 *
 * The model follows security/device_cgroup.c: a rule of type "a" resets the
 * default whatever its numbers say; any other rule that agrees with the
 * default removes access bits from the exception with exactly the same
 * type/major/minor (a rule never splits or narrows a wider exception), and
 * one that disagrees adds bits to it, creating it if needed. In allow-all
 * mode devices.list prints only "a *:* rwm", so the deny exceptions are
 * unknown; then a rule list with a reset is applied as reset + exceptions
 * (which only widens until the denies land) and one without as plain
 * edits. Pure: unit-tested in tests/unit/test_cgroup.c. */
#include "../../util/cleanup.h"
#include "../../util/parse.h"
#include "../../util/strv.h"
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ACC_R = 1, ACC_W = 2, ACC_M = 4 };

void nk_cg_dev_state_clear(struct nk_cg_dev_state *st)
{
        free(st->ex);
        st->ex = NULL;
        st->n = 0;
}

static unsigned acc_bits(const char *s)
{
        unsigned a = 0;
        for (; s && *s; s++)
                a |= *s == 'r' ? ACC_R : *s == 'w' ? ACC_W : *s == 'm' ? ACC_M : 0;
        return a;
}

static void acc_str(unsigned a, char buf[4])
{
        char *p = buf;
        if (a & ACC_R)
                *p++ = 'r';
        if (a & ACC_W)
                *p++ = 'w';
        if (a & ACC_M)
                *p++ = 'm';
        *p = 0;
}

static struct nk_cg_dev_ex *find(const struct nk_cg_dev_state *st, const struct nk_cg_dev_ex *e)
{
        for (size_t i = 0; i < st->n; i++)
                if (st->ex[i].type == e->type && st->ex[i].major == e->major &&
                    st->ex[i].minor == e->minor)
                        return &st->ex[i];
        return NULL;
}

static int add_bits(struct nk_cg_dev_state *st, const struct nk_cg_dev_ex *e)
{
        struct nk_cg_dev_ex *old = find(st, e);
        if (old) {
                old->acc |= e->acc;
                return 0;
        }
        struct nk_cg_dev_ex *n = realloc(st->ex, (st->n + 1) * sizeof(*n));
        if (!n)
                return -1;
        st->ex = n;
        st->ex[st->n++] = *e;
        return 0;
}

static void remove_bits(struct nk_cg_dev_state *st, const struct nk_cg_dev_ex *e)
{
        struct nk_cg_dev_ex *old = find(st, e);
        if (!old)
                return;
        old->acc &= ~e->acc;
        if (old->acc == 0)
                *old = st->ex[--st->n];
}

/* A major or minor of devices.list: "*" (any, -1) or a number; -2 for
 * anything else ("1*2"), and the line is skipped. */
static long long num_of(const char *s)
{
        unsigned long long v;
        if (streq(s, "*"))
                return -1;
        return nk_parse_uint(s, 0xffffffffULL, &v) == 0 ? (long long)v : -2;
}

int nk_cg_dev_state_parse(const char *list, struct nk_cg_dev_state *st)
{
        struct nk_cg_dev_state s = {0};
        _cleanup_free_ char *dup = strdup(list ? list : "");
        char *save = NULL;
        if (!dup)
                return -1;
        for (char *l = strtok_r(dup, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char type, ma[24], mi[24], acc[8];
                if (sscanf(l, " %c %23[0-9*]:%23[0-9*] %7s", &type, ma, mi, acc) != 4)
                        continue;
                if (type == 'a') {
                        /* Printed only in allow-all mode, and alone. */
                        nk_cg_dev_state_clear(&s);
                        s.allow_all = true;
                        break;
                }
                struct nk_cg_dev_ex e = {type, num_of(ma), num_of(mi), acc_bits(acc)};
                if (e.major == -2 || e.minor == -2)
                        continue;
                if (add_bits(&s, &e) < 0) {
                        nk_cg_dev_state_clear(&s);
                        return -1;
                }
        }
        *st = s;
        return 0;
}

static void rule_of(json_t *d, bool *allow, struct nk_cg_dev_ex *e)
{
        const char *t = json_string_value(json_object_get(d, "type"));
        const char *a = json_string_value(json_object_get(d, "access"));
        json_t *ma = json_object_get(d, "major"), *mi = json_object_get(d, "minor");
        *allow = json_is_true(json_object_get(d, "allow"));
        e->type = t && *t ? *t : 'a';
        e->major = json_is_integer(ma) && json_integer_value(ma) >= 0 ? json_integer_value(ma) : -1;
        e->minor = json_is_integer(mi) && json_integer_value(mi) >= 0 ? json_integer_value(mi) : -1;
        e->acc = a && *a ? acc_bits(a) : ACC_R | ACC_W | ACC_M;
}

/* Apply rules[from..] to *st as the kernel would apply the writes. */
static int emulate(json_t *rules, size_t from, struct nk_cg_dev_state *st)
{
        for (size_t i = from; i < json_array_size(rules); i++) {
                bool allow;
                struct nk_cg_dev_ex e;
                rule_of(json_array_get(rules, i), &allow, &e);
                if (e.type == 'a') {
                        nk_cg_dev_state_clear(st);
                        st->allow_all = allow;
                } else if (allow == st->allow_all) {
                        remove_bits(st, &e);
                } else if (add_bits(st, &e) < 0) {
                        return -1;
                }
        }
        return 0;
}

static int push(char ***out, bool allow, char type, long long ma, long long mi, unsigned acc)
{
        char a[4], sma[24], smi[24];
        acc_str(acc, a);
        snprintf(sma, sizeof(sma), ma < 0 ? "*" : "%lld", ma);
        snprintf(smi, sizeof(smi), mi < 0 ? "*" : "%lld", mi);
        _cleanup_free_ char *s = NULL;
        if (asprintf(&s, "%s %c %s:%s %s", allow ? "allow" : "deny", type, sma, smi, a) < 0)
                return -1;
        return nk_strv_push(out, s);
}

static int push_all(char ***out, bool allow, const struct nk_cg_dev_state *st)
{
        for (size_t i = 0; i < st->n; i++)
                if (push(out, allow, st->ex[i].type, st->ex[i].major, st->ex[i].minor,
                         st->ex[i].acc) < 0)
                        return -1;
        return 0;
}

/* Both deny-all: grant what is missing, then revoke what is too much. */
static int diff(const struct nk_cg_dev_state *cur, const struct nk_cg_dev_state *want, char ***out)
{
        for (size_t i = 0; i < want->n; i++) {
                const struct nk_cg_dev_ex *w = &want->ex[i], *c = find(cur, w);
                unsigned miss = w->acc & ~(c ? c->acc : 0);
                if (miss && push(out, true, w->type, w->major, w->minor, miss) < 0)
                        return -1;
        }
        for (size_t i = 0; i < cur->n; i++) {
                const struct nk_cg_dev_ex *c = &cur->ex[i], *w = find(want, c);
                unsigned extra = c->acc & ~(w ? w->acc : 0);
                if (extra && push(out, false, c->type, c->major, c->minor, extra) < 0)
                        return -1;
        }
        return 0;
}

int nk_cg_dev_transition(const struct nk_cg_dev_state *cur, const struct nk_cg_dev_state *want,
                         char ***out)
{
        if (want->allow_all) {
                /* Widening to allow-all first, then the denies. */
                if (push(out, true, 'a', -1, -1, ACC_R | ACC_W | ACC_M) < 0)
                        return -1;
                return push_all(out, false, want);
        }
        if (cur->allow_all) {
                /* The only way from allow-all to deny-all is the reset. */
                if (push(out, false, 'a', -1, -1, ACC_R | ACC_W | ACC_M) < 0)
                        return -1;
                return push_all(out, true, want);
        }
        return diff(cur, want, out);
}

int nk_cg_dev_v1_writes(const struct nk_cg_dev_state *cur, json_t *rules, char ***out)
{
        size_t reset = 0;
        bool has_reset = false;
        for (size_t i = 0; i < json_array_size(rules); i++) {
                const char *t =
                        json_string_value(json_object_get(json_array_get(rules, i), "type"));
                if (!t || !*t || streq(t, "a")) {
                        reset = i;
                        has_reset = true;
                }
        }
        char **w = NULL;
        struct nk_cg_dev_state want = {0};
        int r = 0;
        if (!has_reset && cur->allow_all) {
                /* Unknown deny exceptions: apply the rules as edits. */
                for (size_t i = 0; r == 0 && i < json_array_size(rules); i++) {
                        bool allow;
                        struct nk_cg_dev_ex e;
                        rule_of(json_array_get(rules, i), &allow, &e);
                        r = push(&w, allow, e.type, e.major, e.minor, e.acc);
                }
        } else {
                if (!has_reset) {
                        want.allow_all = false;
                        for (size_t i = 0; i < cur->n; i++)
                                if (add_bits(&want, &cur->ex[i]) < 0)
                                        r = -1;
                }
                if (r == 0)
                        r = emulate(rules, reset, &want);
                if (r == 0)
                        r = nk_cg_dev_transition(cur, &want, &w);
        }
        nk_cg_dev_state_clear(&want);
        if (r < 0) {
                nk_strv_free(w);
                return -1;
        }
        *out = w;
        return 0;
}
