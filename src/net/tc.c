#include "net/tc.h"
#include "util/cleanup.h"
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
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

/* What is there now: the host-side veth and its root qdisc; the peer
 * (the container's side, by the veth's IFLA_LINK) and its root qdisc when
 * a handle on the container's namespace is given. */
struct tc_state {
        struct nk_link veth;
        char peer_name[40]; /* for errors: "the peer of nkv..." */
        struct qdisc_q root, peer_root;
};

static int state_get(struct nk_rtnl *host, struct nk_rtnl *ctr, const char *host_link,
                     struct tc_state *s, nk_error **err)
{
        *s = (struct tc_state){0};
        if (nk_rtnl_link_get(host, host_link, &s->veth, err) < 0 ||
            qdisc_get(host, host_link, s->veth.index, TC_H_ROOT, &s->root, err) < 0)
                return -1;
        snprintf(s->peer_name, sizeof s->peer_name, "the peer of %s", host_link);
        if (!ctr)
                return 0;
        if (!streq(s->veth.kind, "veth") || s->veth.peer <= 0)
                return nk_error_set(err, ENODEV, "link %s is not a veth with a peer (kind `%s`)",
                                    host_link, s->veth.kind);
        return qdisc_get(ctr, s->peer_name, s->veth.peer, TC_H_ROOT, &s->peer_root, err);
}

int nk_tc_get(struct nk_rtnl *host, struct nk_rtnl *ctr, const char *host_link,
              struct nk_tc_rates *out, nk_error **err)
{
        struct tc_state s;
        if (state_get(host, ctr, host_link, &s, err) < 0)
                return -1;
        out->ingress = streq(s.root.kind, "tbf") ? s.root.bits : 0;
        out->egress = streq(s.peer_root.kind, "tbf") ? s.peer_root.bits : 0;
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

/* One direction: a tbf at the root of (r, ifindex), changed in place, or
 * none (a root qdisc of another kind is not ours and is left). */
static int set_root(struct nk_rtnl *r, const char *ifname, int ifindex, const char *root_kind,
                    uint64_t bits, unsigned mtu, nk_error **err)
{
        if (bits)
                return tbf_replace(r, ifname, ifindex, bits, mtu, err) < 0 ? -1
                                                                           : nk_rtnl_commit(r, err);
        if (!streq(root_kind, "tbf"))
                return 0;
        return qdisc_del(r, ifname, ifindex, TC_H_ROOT, "tbf", err) < 0 ? -1
                                                                        : nk_rtnl_commit(r, err);
}

int nk_tc_set(struct nk_rtnl *host, struct nk_rtnl *ctr, const char *host_link,
              const struct nk_tc_rates *want, nk_error **err)
{
        struct tc_state s;
        if (want->egress != NK_RATE_KEEP && !ctr)
                return nk_error_set(err, ENOENT,
                                    "egress rate on %s: the container's network namespace is "
                                    "not known",
                                    host_link);
        int rc = state_get(host, want->egress != NK_RATE_KEEP ? ctr : NULL, host_link, &s, err);
        if (rc == 0 && want->ingress != NK_RATE_KEEP)
                rc = set_root(host, host_link, s.veth.index, s.root.kind, want->ingress, s.veth.mtu,
                              err);
        if (rc == 0 && want->egress != NK_RATE_KEEP)
                rc = set_root(ctr, s.peer_name, s.veth.peer, s.peer_root.kind, want->egress,
                              s.veth.mtu, err);
        return rc;
}
