#include "net/tc.h"
#include "util/cleanup.h"
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BURST_MAX (16U << 20) /* 16 MiB: 10 ms of 13 gbit */
#define QUEUE_MAX (32U << 20)

void nk_tbf_for(uint64_t bits, unsigned mtu, struct nk_tbf *out)
{
        uint64_t bps = (bits + 7) / 8, frame = (uint64_t)(mtu ? mtu : 1500) + ETH_HLEN;
        /* The bucket: 10 ms of the rate, so the tbf's timer need not fire
         * more often than every 10 ms to keep up (at 1 gbit a 16 KiB
         * bucket lets through 40%, measured); at least two frames (tbf
         * drops a frame larger than its bucket) and 8 KiB. */
        uint64_t burst = bps / 100;
        if (burst < 2 * frame)
                burst = 2 * frame;
        if (burst < 8192)
                burst = 8192;
        if (burst > BURST_MAX)
                burst = BURST_MAX;
        /* The queue behind it: 100 ms of the rate, at least 32 KiB. */
        uint64_t queue = bps / 10;
        if (queue < 32768)
                queue = 32768;
        if (queue > QUEUE_MAX)
                queue = QUEUE_MAX;
        out->bytes_per_sec = bps;
        out->burst = (uint32_t)burst;
        out->limit = (uint32_t)(burst + queue);
}

void nk_tc_ifb_name(const char *host_link, char out[16])
{
        size_t n = strlen(host_link);
        /* nkv + 12 digits: keep the digits; any other name its last 12 */
        snprintf(out, 16, "nki%s", n > 12 ? host_link + n - 12 : host_link);
}

/* ---- what is on a link ---- */

struct qdisc_q {
        char kind[16];
        uint64_t bits; /* tbf's rate */
        bool found;
};

static int opt_attr(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int t = mnl_attr_get_type(a);
        if (t <= TCA_TBF_MAX)
                tb[t] = a;
        return MNL_CB_OK;
}

static int tca_attr(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int t = mnl_attr_get_type(a);
        if (t <= TCA_MAX)
                tb[t] = a;
        return MNL_CB_OK;
}

static int qdisc_cb(const struct nlmsghdr *nlh, void *data)
{
        struct qdisc_q *q = data;
        if (nlh->nlmsg_type != RTM_NEWQDISC)
                return MNL_CB_OK;
        const struct nlattr *tb[TCA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(struct tcmsg), tca_attr, tb);
        if (!tb[TCA_KIND] || mnl_attr_validate(tb[TCA_KIND], MNL_TYPE_NUL_STRING) < 0)
                return MNL_CB_OK;
        snprintf(q->kind, sizeof(q->kind), "%s", mnl_attr_get_str(tb[TCA_KIND]));
        q->found = true;
        if (!streq(q->kind, "tbf") || !tb[TCA_OPTIONS])
                return MNL_CB_OK;
        const struct nlattr *o[TCA_TBF_MAX + 1] = {0};
        mnl_attr_parse_nested(tb[TCA_OPTIONS], opt_attr, o);
        if (o[TCA_TBF_RATE64] && mnl_attr_get_payload_len(o[TCA_TBF_RATE64]) >= 8)
                q->bits = mnl_attr_get_u64(o[TCA_TBF_RATE64]) * 8;
        else if (o[TCA_TBF_PARMS] &&
                 mnl_attr_get_payload_len(o[TCA_TBF_PARMS]) >= sizeof(struct tc_tbf_qopt)) {
                const struct tc_tbf_qopt *p = mnl_attr_get_payload(o[TCA_TBF_PARMS]);
                q->bits = (uint64_t)p->rate.rate * 8;
        }
        return MNL_CB_OK;
}

static struct tcmsg *put_tcmsg(struct nlmsghdr *nlh, int ifindex, uint32_t parent, uint32_t handle)
{
        struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
        t->tcm_family = AF_UNSPEC;
        t->tcm_ifindex = ifindex;
        t->tcm_parent = parent;
        t->tcm_handle = handle;
        return t;
}

/* The qdisc at parent (TC_H_ROOT, TC_H_CLSACT) of ifindex: its kind ("" for
 * none) and, a tbf, its rate. */
static int qdisc_get(struct nk_rtnl *r, const char *ifname, int ifindex, uint32_t parent,
                     struct qdisc_q *q, nk_error **err)
{
        char buf[512];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETQDISC;
        /* The ack ends the answer. Without ECHO the kernel (6.x) sends
         * the qdisc only to the TC multicast group, not to the asker. */
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO;
        put_tcmsg(nlh, ifindex, parent, 0);
        *q = (struct qdisc_q){0};
        if (nk_rtnl_request(r, nlh, qdisc_cb, q) < 0) {
                /* no ingress queue yet (clsact never added): nothing there */
                if (errno == ENOENT)
                        return 0;
                return nk_error_set(err, errno, "get %s qdisc of %s",
                                    parent == TC_H_ROOT ? "root" : "ingress", ifname);
        }
        return 0;
}

/* What is there now: the veth, its root and ingress qdiscs, the ifb. */
struct tc_state {
        struct nk_link veth, ifb;
        bool has_ifb, has_clsact;
        char ifb_name[16];
        struct qdisc_q root, ifb_root;
};

static int state_get(struct nk_rtnl *r, const char *host_link, struct tc_state *s, nk_error **err)
{
        *s = (struct tc_state){0};
        nk_tc_ifb_name(host_link, s->ifb_name);
        struct qdisc_q in;
        if (nk_rtnl_link_get(r, host_link, &s->veth, err) < 0 ||
            qdisc_get(r, host_link, s->veth.index, TC_H_ROOT, &s->root, err) < 0 ||
            qdisc_get(r, host_link, s->veth.index, TC_H_CLSACT, &in, err) < 0)
                return -1;
        s->has_clsact = streq(in.kind, "clsact");
        nk_error *e = NULL;
        if (nk_rtnl_link_get(r, s->ifb_name, &s->ifb, &e) < 0) {
                if (e->errno_ != ENOENT)
                        return nk_error_pass(err, e);
                nk_error_free(e);
                return 0;
        }
        /* a link of another kind under the ifb's name is not ours to
         * shape or to delete */
        if (!streq(s->ifb.kind, "ifb"))
                return nk_error_set(err, EEXIST, "link %s exists and is not an ifb (kind `%s`)",
                                    s->ifb_name, s->ifb.kind);
        s->has_ifb = true;
        return qdisc_get(r, s->ifb_name, s->ifb.index, TC_H_ROOT, &s->ifb_root, err);
}

int nk_tc_get(struct nk_rtnl *r, const char *host_link, struct nk_tc_rates *out, nk_error **err)
{
        struct tc_state s;
        if (state_get(r, host_link, &s, err) < 0)
                return -1;
        out->ingress = streq(s.root.kind, "tbf") ? s.root.bits : 0;
        /* the ifb shapes only what the filter in clsact sends it */
        out->egress =
                s.has_clsact && s.has_ifb && streq(s.ifb_root.kind, "tbf") ? s.ifb_root.bits : 0;
        return 0;
}

/* ---- changes ---- */

static int tbf_replace(struct nk_rtnl *r, const char *ifname, int ifindex, uint64_t bits,
                       unsigned mtu, nk_error **err)
{
        char rate[NK_RATE_STR_MAX];
        struct nk_tbf t;
        nk_rate_format(bits, rate);
        nk_tbf_for(bits, mtu, &t);
        /* CREATE|REPLACE without a handle: a tbf already at the root is
         * changed in place (qdisc_change); otherwise a new one is grafted
         * over the default in the same step. */
        struct nlmsghdr *nlh = nk_rtnl_msg_start(r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, err,
                                                 "set tbf %s on %s", rate, ifname);
        if (!nlh)
                return -1;
        put_tcmsg(nlh, ifindex, TC_H_ROOT, 0);
        mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
        struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        /* linklayer set: the kernel computes transmit times itself and
         * wants no rate table; TCA_TBF_BURST gives the bucket in bytes */
        struct tc_tbf_qopt q = {.limit = t.limit};
        q.rate.linklayer = TC_LINKLAYER_ETHERNET;
        q.rate.rate = t.bytes_per_sec >= UINT32_MAX ? UINT32_MAX : (uint32_t)t.bytes_per_sec;
        mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
        if (t.bytes_per_sec >= UINT32_MAX)
                mnl_attr_put_u64(nlh, TCA_TBF_RATE64, t.bytes_per_sec);
        mnl_attr_put_u32(nlh, TCA_TBF_BURST, t.burst);
        mnl_attr_nest_end(nlh, opts);
        nk_rtnl_msg_end(r);
        return 0;
}

static int qdisc_del(struct nk_rtnl *r, const char *ifname, int ifindex, uint32_t parent,
                     const char *kind, nk_error **err)
{
        struct nlmsghdr *nlh =
                nk_rtnl_msg_start(r, RTM_DELQDISC, 0, err, "delete %s qdisc of %s", kind, ifname);
        if (!nlh)
                return -1;
        put_tcmsg(nlh, ifindex, parent, parent == TC_H_CLSACT ? TC_H_MAKE(TC_H_CLSACT, 0) : 0);
        nk_rtnl_msg_end(r);
        return 0;
}

static int clsact_add(struct nk_rtnl *r, const char *ifname, int ifindex, nk_error **err)
{
        struct nlmsghdr *nlh = nk_rtnl_msg_start(r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, err,
                                                 "add clsact qdisc to %s", ifname);
        if (!nlh)
                return -1;
        put_tcmsg(nlh, ifindex, TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0));
        mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
        nk_rtnl_msg_end(r);
        return 0;
}

/* In ifname's clsact ingress hook: u32 matching every packet (one key,
 * mask 0), action mirred: redirect to the ifb's egress, where its tbf
 * queues it. */
static int redirect_add(struct nk_rtnl *r, const char *ifname, int ifindex, const char *ifb,
                        int ifb_index, nk_error **err)
{
        struct nlmsghdr *nlh = nk_rtnl_msg_start(r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, err,
                                                 "add filter redirecting %s to %s", ifname, ifb);
        if (!nlh)
                return -1;
        struct tcmsg *t = put_tcmsg(nlh, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), 0);
        t->tcm_info = TC_H_MAKE(1U << 16, htons(ETH_P_ALL)); /* prio 1, every protocol */
        mnl_attr_put_strz(nlh, TCA_KIND, "u32");
        struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        struct {
                struct tc_u32_sel sel;
                struct tc_u32_key key;
        } sel = {.sel = {.flags = TC_U32_TERMINAL, .nkeys = 1}};
        mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel), &sel);
        struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
        struct nlattr *act = mnl_attr_nest_start(nlh, 1); /* the first action */
        mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
        struct nlattr *aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
        struct tc_mirred m = {.action = TC_ACT_STOLEN,
                              .eaction = TCA_EGRESS_REDIR,
                              .ifindex = (uint32_t)ifb_index};
        mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(m), &m);
        mnl_attr_nest_end(nlh, aopts);
        mnl_attr_nest_end(nlh, act);
        mnl_attr_nest_end(nlh, acts);
        mnl_attr_nest_end(nlh, opts);
        nk_rtnl_msg_end(r);
        return 0;
}

static int set_ingress(struct nk_rtnl *r, const struct tc_state *s, const char *host_link,
                       uint64_t bits, nk_error **err)
{
        if (bits)
                return tbf_replace(r, host_link, s->veth.index, bits, s->veth.mtu, err) < 0
                               ? -1
                               : nk_rtnl_commit(r, err);
        if (!streq(s->root.kind, "tbf"))
                return 0;
        return qdisc_del(r, host_link, s->veth.index, TC_H_ROOT, "tbf", err) < 0
                       ? -1
                       : nk_rtnl_commit(r, err);
}

static int del_link(struct nk_rtnl *r, const char *name, nk_error **err)
{
        return nk_rtnl_link_del(r, name, err) < 0 ? -1 : nk_rtnl_commit(r, err);
}

static int egress_on(struct nk_rtnl *r, struct tc_state *s, const char *host_link, uint64_t bits,
                     nk_error **err)
{
        bool made = false;
        if (!s->has_ifb) {
                if (nk_rtnl_ifb_add(r, s->ifb_name, s->veth.mtu, err) < 0 ||
                    nk_rtnl_commit(r, err) < 0 ||
                    nk_rtnl_link_get(r, s->ifb_name, &s->ifb, err) < 0)
                        goto fail;
                made = true;
        }
        /* The shaper before the redirect that feeds it: traffic never
         * goes through an ifb without its limit. */
        if (tbf_replace(r, s->ifb_name, s->ifb.index, bits, s->veth.mtu, err) < 0 ||
            nk_rtnl_commit(r, err) < 0)
                goto fail;
        if (s->has_clsact)
                return 0;
        /* clsact and its filter in one send: the kernel runs both before
         * the call returns, so no kill leaves one without the other */
        if (clsact_add(r, host_link, s->veth.index, err) < 0 ||
            redirect_add(r, host_link, s->veth.index, s->ifb_name, s->ifb.index, err) < 0)
                goto fail;
        if (nk_rtnl_commit(r, err) < 0) {
                /* The clsact may have been made before the filter failed;
                 * if it was not (an ingress qdisc of someone else's holds
                 * the same place), that one is left alone. */
                struct qdisc_q in;
                if (qdisc_get(r, host_link, s->veth.index, TC_H_CLSACT, &in, NULL) == 0 &&
                    streq(in.kind, "clsact") &&
                    qdisc_del(r, host_link, s->veth.index, TC_H_CLSACT, "clsact", NULL) == 0)
                        (void)nk_rtnl_commit(r, NULL);
                goto fail;
        }
        return 0;
fail:
        nk_rtnl_discard(r);
        if (made)
                (void)del_link(r, s->ifb_name, NULL);
        return -1;
}

static int egress_off(struct nk_rtnl *r, const struct tc_state *s, const char *host_link,
                      nk_error **err)
{
        /* The redirect first: with the ifb gone first, it would drop all. */
        if (s->has_clsact &&
            (qdisc_del(r, host_link, s->veth.index, TC_H_CLSACT, "clsact", err) < 0 ||
             nk_rtnl_commit(r, err) < 0))
                return -1;
        return s->has_ifb ? del_link(r, s->ifb_name, err) : 0;
}

int nk_tc_set(struct nk_rtnl *r, const char *host_link, const struct nk_tc_rates *want,
              nk_error **err)
{
        struct tc_state s;
        int rc = state_get(r, host_link, &s, err);
        if (rc == 0 && want->ingress != NK_RATE_KEEP)
                rc = set_ingress(r, &s, host_link, want->ingress, err);
        if (rc == 0 && want->egress != NK_RATE_KEEP)
                rc = want->egress ? egress_on(r, &s, host_link, want->egress, err)
                                  : egress_off(r, &s, host_link, err);
        return rc;
}

int nk_tc_forget(struct nk_rtnl *r, const char *host_link, nk_error **err)
{
        char ifb[16];
        struct nk_link l;
        nk_error *e = NULL;
        nk_tc_ifb_name(host_link, ifb);
        if (nk_rtnl_link_get(r, ifb, &l, &e) < 0) {
                if (e->errno_ != ENOENT)
                        return nk_error_pass(err, e);
                nk_error_free(e);
                return 0;
        }
        return streq(l.kind, "ifb") ? del_link(r, ifb, err) : 0;
}
