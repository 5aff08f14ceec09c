/* Capability names and the plan the container init applies: which sets,
 * which errors (naming set and capability), when CAP_SYS_ADMIN is held
 * until the seccomp load. */
#include "runtime/security.h"
#include "unit.h"
#include "util/cleanup.h"
#include <linux/capability.h>

#define B(c)  (1ULL << (c))
#define ALL40 ((1ULL << 41) - 1)

static void test_names(void)
{
        CHECK(nk_cap_from_name("CAP_CHOWN") == CAP_CHOWN);
        CHECK(nk_cap_from_name("CAP_SYS_ADMIN") == CAP_SYS_ADMIN);
        CHECK(nk_cap_from_name("CAP_CHECKPOINT_RESTORE") == 40);
        /* runc and crun accept these silently; nook refuses them */
        CHECK(nk_cap_from_name("CAP_TEST") < 0);
        CHECK(nk_cap_from_name("cap_chown") < 0);
        CHECK(nk_cap_from_name("CHOWN") < 0);
        CHECK(nk_cap_from_name("12") < 0);
        CHECK(nk_cap_from_name("CAP_") < 0);
        _cleanup_free_ char *s = nk_caps_to_string(B(CAP_CHOWN) | B(CAP_KILL) | B(CAP_SYS_ADMIN));
        CHECK_STR(s, "CAP_CHOWN,CAP_KILL,CAP_SYS_ADMIN");
        _cleanup_free_ char *z = nk_caps_to_string(0);
        CHECK_STR(z, "");
        CHECK(nk_cap_last_cap() >= 40);
}

static struct nk_process proc(uint64_t bnd, uint64_t eff, uint64_t prm, uint64_t inh, uint64_t amb,
                              bool nnp)
{
        struct nk_process p = {.has_caps = true, .no_new_privileges = nnp};
        p.caps[NK_CAP_BOUNDING] = bnd;
        p.caps[NK_CAP_EFFECTIVE] = eff;
        p.caps[NK_CAP_PERMITTED] = prm;
        p.caps[NK_CAP_INHERITABLE] = inh;
        p.caps[NK_CAP_AMBIENT] = amb;
        return p;
}

/* The error of planning p with nook holding `have`, or "ok". */
static char *plan_msg(const struct nk_process *p, uint64_t have, struct nk_caps_plan *pl)
{
        nk_error *e = NULL;
        char *out = nk_caps_plan(p, true, have, 40, pl, &e) == 0 ? strdup("ok") : strdup(e->msg);
        nk_error_free(e);
        return out;
}

static void test_plan(void)
{
        struct nk_caps_plan pl;
        uint64_t base = B(CAP_KILL) | B(CAP_NET_BIND_SERVICE) | B(CAP_AUDIT_WRITE);
        /* this machine: everything but CAP_SYS_RESOURCE */
        uint64_t have = ALL40 & ~B(CAP_SYS_RESOURCE);

        struct nk_process p = proc(base, base, base, 0, 0, false);
        _cleanup_free_ char *m1 = plan_msg(&p, have, &pl);
        CHECK_STR(m1, "ok");
        CHECK(pl.bounding == base && pl.effective == base && pl.permitted == base);
        CHECK(pl.keep_admin); /* no NNP, no CAP_SYS_ADMIN, a filter to load */

        p.no_new_privileges = true;
        _cleanup_free_ char *m2 = plan_msg(&p, have, &pl);
        CHECK(!pl.keep_admin);
        nk_error *e = NULL;
        p.no_new_privileges = false;
        CHECK(nk_caps_plan(&p, false, have, 40, &pl, &e) == 0 && !pl.keep_admin); /* no filter */
        p = proc(base | B(CAP_SYS_ADMIN), base | B(CAP_SYS_ADMIN), base | B(CAP_SYS_ADMIN), 0, 0,
                 false);
        _cleanup_free_ char *m3 = plan_msg(&p, have, &pl);
        CHECK(!pl.keep_admin); /* holds it anyway */
        _cleanup_free_ char *m4 = plan_msg(&p, have & ~B(CAP_SYS_ADMIN), &pl);
        CHECK_STR(m4, "process.capabilities.permitted: CAP_SYS_ADMIN is not available: nook does "
                      "not hold it");

        p = proc(base, base | B(CAP_CHOWN), base, 0, 0, false);
        _cleanup_free_ char *m5 = plan_msg(&p, have, &pl);
        CHECK_STR(m5, "process.capabilities.effective: CAP_CHOWN is not in the permitted set");

        p = proc(base | B(CAP_SYS_RESOURCE), base, base | B(CAP_SYS_RESOURCE), 0, 0, false);
        _cleanup_free_ char *m6 = plan_msg(&p, have, &pl);
        CHECK_STR(m6, "process.capabilities.permitted: CAP_SYS_RESOURCE is not available: nook "
                      "does not hold it");

        p = proc(base, base, base, B(CAP_CHOWN), 0, false);
        _cleanup_free_ char *m7 = plan_msg(&p, have, &pl);
        CHECK_STR(m7, "process.capabilities.inheritable: CAP_CHOWN is not in the bounding set");

        /* ambient needs permitted and inheritable: dropped with a warning */
        p = proc(base, base, base, B(CAP_KILL), B(CAP_KILL) | B(CAP_NET_BIND_SERVICE), false);
        _cleanup_free_ char *m8 = plan_msg(&p, have, &pl);
        CHECK_STR(m8, "ok");
        CHECK(pl.ambient == B(CAP_KILL) && pl.inheritable == B(CAP_KILL));

        /* no process.capabilities at all: every set empty (runc) */
        struct nk_process none = {0};
        _cleanup_free_ char *m9 = plan_msg(&none, have, &pl);
        CHECK_STR(m9, "ok");
        CHECK(!pl.bounding && !pl.effective && !pl.permitted && !pl.inheritable && !pl.ambient);
        CHECK(pl.keep_admin);

        /* capabilities beyond the kernel's last one are ignored */
        p = proc(base | B(50), base, base, 0, 0, false);
        _cleanup_free_ char *m10 = plan_msg(&p, have, &pl);
        CHECK_STR(m10, "ok");
        CHECK(pl.bounding == base);
}

int main(void)
{
        test_names();
        test_plan();
        return UNIT_END();
}
