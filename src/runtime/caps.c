/* nook — capabilities, the user switch and no_new_privs in the container
 * init, and the two security steps child.c calls.
 *
 * Kernel facts the order rests on (capabilities(7)):
 * - the bounding set only limits what execve and capset may add later, so
 *   it is cut first, while we still hold CAP_SETPCAP;
 * - setresuid from uid 0 to non-zero clears the effective and ambient sets,
 *   and the permitted set too unless PR_SET_KEEPCAPS is on;
 * - capset may only lower the permitted set; the effective set must be a
 *   subset of it, the inheritable set of bounding plus permitted;
 * - an ambient capability can be raised only when it is both permitted and
 *   inheritable, so ambient comes after capset;
 * - execve computes the new permitted set as (inheritable & file
 *   inheritable) | (file permitted & bounding) | ambient (root counts as a
 *   file with every bit), so what the init holds in effective/permitted
 *   itself never reaches the container process. */
#include "security.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#define BIT(c) (1ULL << (c))

static const char *const set_names[NK_CAP__COUNT] = {
        [NK_CAP_BOUNDING] = "bounding",       [NK_CAP_EFFECTIVE] = "effective",
        [NK_CAP_INHERITABLE] = "inheritable", [NK_CAP_PERMITTED] = "permitted",
        [NK_CAP_AMBIENT] = "ambient",
};

int nk_cap_last_cap(void)
{
        /* libcap probes the running kernel for the number of bits. */
        int n = cap_max_bits();
        return n > 0 && n <= 64 ? n - 1 : CAP_LAST_CAP;
}

static int lowest_cap(uint64_t mask)
{
        return __builtin_ctzll(mask);
}

static const char *cap_name(int cap, char *buf, size_t len)
{
        char *n = cap_to_name((cap_value_t)cap);
        if (n && strncmp(n, "cap_", 4) == 0) {
                size_t i;
                for (i = 0; n[i] && i < len - 1; i++)
                        buf[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
                buf[i] = '\0';
        } else {
                snprintf(buf, len, "capability %d", cap);
        }
        cap_free(n);
        return buf;
}

char *nk_caps_to_string(uint64_t caps)
{
        size_t size = 1;
        char *s = calloc(1, 1), name[48];
        for (int c = 0; c < 64 && s; c++) {
                if (!(caps & BIT(c)))
                        continue;
                cap_name(c, name, sizeof name);
                size += strlen(name) + 1;
                char *t = realloc(s, size);
                if (!t) {
                        free(s);
                        return NULL;
                }
                s = t;
                if (*s)
                        strcat(s, ",");
                strcat(s, name);
        }
        return s;
}

static int fail_cap(nk_error **err, enum nk_cap_set set, uint64_t bad, const char *why)
{
        char name[48];
        return nk_error_set(err, 0, "process.capabilities.%s: %s %s", set_names[set],
                            cap_name(lowest_cap(bad), name, sizeof name), why);
}

int nk_caps_plan(const struct nk_process *p, bool with_seccomp, uint64_t have, int last_cap,
                 struct nk_caps_plan *out, nk_error **err)
{
        uint64_t known = last_cap >= 63 ? ~0ULL : BIT(last_cap + 1) - 1;
        struct nk_caps_plan pl = {0};
        if (p->has_caps) {
                uint64_t all = 0;
                for (int s = 0; s < NK_CAP__COUNT; s++)
                        all |= p->caps[s];
                /* Capabilities newer than the running kernel cannot be held;
                 * runc skips them the same way. */
                if (all & ~known)
                        nk_warn("process.capabilities: capability %d is unknown to this "
                                "kernel, ignored",
                                lowest_cap(all & ~known));
                pl.bounding = p->caps[NK_CAP_BOUNDING] & known;
                pl.effective = p->caps[NK_CAP_EFFECTIVE] & known;
                pl.permitted = p->caps[NK_CAP_PERMITTED] & known;
                pl.inheritable = p->caps[NK_CAP_INHERITABLE] & known;
                pl.ambient = p->caps[NK_CAP_AMBIENT] & known;
        }
        if (pl.permitted & ~have)
                return fail_cap(err, NK_CAP_PERMITTED, pl.permitted & ~have,
                                "is not available: nook does not hold it");
        if (pl.effective & ~pl.permitted)
                return fail_cap(err, NK_CAP_EFFECTIVE, pl.effective & ~pl.permitted,
                                "is not in the permitted set");
        if (pl.inheritable & ~pl.bounding)
                return fail_cap(err, NK_CAP_INHERITABLE, pl.inheritable & ~pl.bounding,
                                "is not in the bounding set");
        if (pl.inheritable & ~have)
                return fail_cap(err, NK_CAP_INHERITABLE, pl.inheritable & ~have,
                                "is not available: nook does not hold it");
        uint64_t amb_ok = pl.permitted & pl.inheritable;
        if (pl.ambient & ~amb_ok) {
                char name[48];
                /* Debug only: `runc spec` writes ambient without
                 * inheritable, so this is the common case. */
                nk_debug("process.capabilities.ambient: %s is not both permitted and "
                         "inheritable, ignored",
                         cap_name(lowest_cap(pl.ambient & ~amb_ok), name, sizeof name));
                pl.ambient &= amb_ok;
        }
        pl.keep_admin = with_seccomp && !p->no_new_privileges &&
                        !(pl.effective & BIT(CAP_SYS_ADMIN)) && (have & BIT(CAP_SYS_ADMIN));
        *out = pl;
        return 0;
}

/* ---- child ---------------------------------------------------------------- */

static int current_permitted(uint64_t *out, nk_error **err)
{
        cap_t c = cap_get_proc();
        if (!c)
                return nk_error_set(err, errno, "capabilities: capget");
        uint64_t m = 0;
        for (int cap = 0; cap <= nk_cap_last_cap() && cap < 64; cap++) {
                cap_flag_value_t v = CAP_CLEAR;
                if (cap_get_flag(c, (cap_value_t)cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
                        m |= BIT(cap);
        }
        cap_free(c);
        *out = m;
        return 0;
}

static int drop_bounding_child(uint64_t keep, int last_cap, nk_error **err)
{
        for (int cap = 0; cap <= last_cap; cap++) {
                if (keep & BIT(cap))
                        continue;
                if (cap_drop_bound((cap_value_t)cap) < 0) {
                        char name[48];
                        return nk_error_set(err, errno, "process.capabilities.bounding: drop %s",
                                            cap_name(cap, name, sizeof name));
                }
        }
        return 0;
}

/* setgroups(2) fails with EPERM only without CAP_SETGID, which we hold
 * here, or in a user namespace whose creator wrote "deny" to
 * /proc/PID/setgroups (rootless): then only the list we have is possible.
 * Asking the kernel, not /proc/self/setgroups: exec's joiner is not
 * visible in the container's procfs. */
static int switch_user_child(const struct nk_user *u, nk_error **err)
{
        if (setgroups(u->n_additional_gids, u->additional_gids) < 0) {
                if (errno != EPERM)
                        return nk_error_set(err, errno, "process.user.additionalGids: setgroups");
                if (u->n_additional_gids)
                        return nk_error_set(err, EPERM,
                                            "process.user.additionalGids: setgroups "
                                            "is denied in this user namespace");
        }
        /* Keep the permitted set across the uid change: capset below then
         * sets exactly what the spec asks for. */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return nk_error_set(err, errno, "prctl(PR_SET_KEEPCAPS)");
        if (setresgid(u->gid, u->gid, u->gid) < 0)
                return nk_error_set(err, errno, "process.user.gid: setresgid to %u", u->gid);
        if (setresuid(u->uid, u->uid, u->uid) < 0)
                return nk_error_set(err, errno, "process.user.uid: setresuid to %u", u->uid);
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return nk_error_set(err, errno, "prctl(PR_SET_KEEPCAPS)");
        return 0;
}

static int set_flags(cap_t c, cap_flag_t flag, uint64_t mask, int last_cap)
{
        for (int cap = 0; cap <= last_cap; cap++) {
                cap_value_t v = (cap_value_t)cap;
                if ((mask & BIT(cap)) && cap_set_flag(c, flag, 1, &v, CAP_SET) < 0)
                        return -1;
        }
        return 0;
}

static int capset_child(const struct nk_caps_plan *pl, int last_cap, nk_error **err)
{
        uint64_t admin = pl->keep_admin ? BIT(CAP_SYS_ADMIN) : 0;
        cap_t c = cap_init();
        if (!c)
                return nk_error_set(err, errno, "capabilities: cap_init");
        int r = set_flags(c, CAP_EFFECTIVE, pl->effective | admin, last_cap) < 0 ||
                                set_flags(c, CAP_PERMITTED, pl->permitted | admin, last_cap) < 0 ||
                                set_flags(c, CAP_INHERITABLE, pl->inheritable, last_cap) < 0
                        ? -1
                        : cap_set_proc(c);
        int e = errno;
        cap_free(c);
        if (r < 0)
                return nk_error_set(err, e, "process.capabilities: capset");
        return 0;
}

static int ambient_child(uint64_t ambient, int last_cap, nk_error **err)
{
        /* One prctl; libcap's cap_reset_ambient() first asks about every cap. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return nk_error_set(err, errno, "process.capabilities.ambient: clear");
        for (int cap = 0; cap <= last_cap; cap++) {
                if (!(ambient & BIT(cap)))
                        continue;
                if (cap_set_ambient((cap_value_t)cap, CAP_SET) < 0) {
                        char name[48];
                        return nk_error_set(err, errno, "process.capabilities.ambient: raise %s",
                                            cap_name(cap, name, sizeof name));
                }
        }
        return 0;
}

static int apply_caps_child(const struct nk_process *p, bool with_seccomp, struct nk_caps_plan *pl,
                            int *last, nk_error **err)
{
        *last = nk_cap_last_cap();
        uint64_t have = 0;
        if (current_permitted(&have, err) < 0 ||
            nk_caps_plan(p, with_seccomp, have, *last, pl, err) < 0)
                return -1;
        /* A credential change clears the parent-death signal; keep ours. */
        int pdeath = 0;
        (void)prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
        if (drop_bounding_child(pl->bounding, *last, err) < 0 ||
            switch_user_child(&p->user, err) < 0 || capset_child(pl, *last, err) < 0 ||
            ambient_child(pl->ambient, *last, err) < 0)
                return -1;
        if (pdeath)
                (void)prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0);
        return 0;
}

int nk_security_child_before_start(const struct nk_process *p, struct nk_seccomp *sc,
                                   const char *state_json, nk_error **err)
{
        struct nk_caps_plan pl;
        int last;
        /* Exec labels first: writing our own /proc attr files needs nothing
         * the user switch could take away. */
        if (nk_lsm_apply_exec_labels_child(p, err) < 0 ||
            apply_caps_child(p, sc != NULL, &pl, &last, err) < 0)
                return -1;
        if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return nk_error_set(err, errno, "process.noNewPrivileges: prctl");
        return 0;
}

int nk_security_final_creds(const struct nk_process *p, struct nk_seccomp *sc,
                            const char *state_json, bool *filter_left, nk_error **err)
{
        struct nk_caps_plan pl;
        int last;
        /* With no_new_privs the load needs no privilege: the caller does
         * it as its last step, so that nothing of its own runs filtered. */
        *filter_left = sc && p->no_new_privileges;
        if (apply_caps_child(p, sc && !*filter_left, &pl, &last, err) < 0)
                return -1;
        if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return nk_error_set(err, errno, "process.noNewPrivileges: prctl");
        if (!sc || *filter_left)
                return 0;
        if (nk_seccomp_load(sc, state_json, err) < 0)
                return -1;
        if (!pl.keep_admin)
                return 0;
        /* The filter is on: CAP_SYS_ADMIN, held only for the load, goes. */
        pl.keep_admin = false;
        if (capset_child(&pl, last, err) < 0)
                return nk_error_wrap(err, "drop CAP_SYS_ADMIN after the seccomp load (does "
                                          "linux.seccomp deny capset?)");
        return 0;
}

/* The filter goes on last, so nothing nook does before is filtered; only
 * execve (and the listener's sendmsg) run under it. */
int nk_security_child_final(const struct nk_process *p, struct nk_seccomp *sc,
                            const char *state_json, nk_error **err)
{
        if (!sc)
                return 0;
        return nk_seccomp_load(sc, state_json, err);
}
