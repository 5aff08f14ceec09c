#include "net/rtnl.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_SIZE (64 * 1024)
#define OPS_MAX    64
#define OP_TEXT    112

struct nk_rtnl {
        struct mnl_socket *nl;
        uint32_t portid, seq;
        char *buf; /* 2 * BATCH_SIZE: libmnl lets the last message pass the limit */
        struct mnl_nlmsg_batch *batch;
        size_t n_ops;
        uint32_t first_seq;         /* seq of the batch's first message */
        char ops[OPS_MAX][OP_TEXT]; /* what each queued message does */
};

void nk_rtnl_close(struct nk_rtnl *r)
{
        if (!r)
                return;
        if (r->batch)
                mnl_nlmsg_batch_stop(r->batch);
        if (r->nl)
                mnl_socket_close(r->nl);
        free(r->buf);
        free(r);
}

/* The socket is made in the target namespace: see rtnl.h. */
static struct mnl_socket *socket_in(int netns_fd, nk_error **err)
{
        if (netns_fd < 0) {
                struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
                if (!nl)
                        nk_error_set(err, errno, "open rtnetlink socket");
                return nl;
        }
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0) {
                nk_error_set(err, errno, "open /proc/thread-self/ns/net");
                return NULL;
        }
        if (setns(netns_fd, CLONE_NEWNET) < 0) {
                nk_error_set(err, errno, "enter network namespace (fd %d)", netns_fd);
                return NULL;
        }
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        int e = errno;
        if (setns(self, CLONE_NEWNET) < 0) {
                /* Left in the other namespace: nothing this process does
                 * after could be trusted, so refuse loudly. */
                e = errno;
                if (nl)
                        mnl_socket_close(nl);
                nk_error_set(err, e, "return to own network namespace");
                return NULL;
        }
        if (!nl)
                nk_error_set(err, e, "open rtnetlink socket in network namespace");
        return nl;
}

int nk_rtnl_open(int netns_fd, struct nk_rtnl **out, nk_error **err)
{
        struct nk_rtnl *r = calloc(1, sizeof(*r));
        if (!r || !(r->buf = malloc(2 * BATCH_SIZE))) {
                free(r);
                return nk_error_set(err, ENOMEM, "rtnetlink handle");
        }
        r->nl = socket_in(netns_fd, err);
        if (!r->nl)
                goto fail;
        if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                nk_error_set(err, errno, "bind rtnetlink socket");
                goto fail;
        }
        /* Acks carry only the failed message's header, plus the kernel's
         * own words on what it refused ("MTU greater than device
         * maximum"), which the error then quotes. Old kernels lack these:
         * not an error. */
        int on = 1;
        (void)mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &on, sizeof(on));
        (void)mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &on, sizeof(on));
        r->portid = mnl_socket_get_portid(r->nl);
        r->seq = (uint32_t)time(NULL);
        r->batch = mnl_nlmsg_batch_start(r->buf, BATCH_SIZE);
        if (!r->batch) {
                nk_error_set(err, ENOMEM, "rtnetlink batch");
                goto fail;
        }
        *out = r;
        return 0;
fail:
        nk_rtnl_close(r);
        return -1;
}

static struct nlmsghdr *msg_startv(struct nk_rtnl *r, uint16_t type, uint16_t flags, nk_error **err,
                                   const char *fmt, va_list ap)
{
        if (r->n_ops == OPS_MAX || BATCH_SIZE - mnl_nlmsg_batch_size(r->batch) < 1024) {
                nk_error_set(err, ENOBUFS, "rtnetlink batch full");
                return NULL;
        }
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(r->batch));
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        nlh->nlmsg_seq = ++r->seq;
        if (r->n_ops == 0)
                r->first_seq = nlh->nlmsg_seq;
        vsnprintf(r->ops[r->n_ops], OP_TEXT, fmt, ap);
        return nlh;
}

/* Start a message in the batch; NULL (err set) when the batch is full. */
static struct nlmsghdr *msg_start(struct nk_rtnl *r, uint16_t type, uint16_t flags, nk_error **err,
                                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static struct nlmsghdr *msg_start(struct nk_rtnl *r, uint16_t type, uint16_t flags, nk_error **err,
                                  const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        struct nlmsghdr *nlh = msg_startv(r, type, flags, err, fmt, ap);
        va_end(ap);
        return nlh;
}

static void msg_end(struct nk_rtnl *r)
{
        mnl_nlmsg_batch_next(r->batch);
        r->n_ops++;
}

struct nlmsghdr *nk_rtnl_msg_start(struct nk_rtnl *r, uint16_t type, uint16_t flags, nk_error **err,
                                   const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        struct nlmsghdr *nlh = msg_startv(r, type, flags, err, fmt, ap);
        va_end(ap);
        return nlh;
}

void nk_rtnl_msg_end(struct nk_rtnl *r)
{
        msg_end(r);
}

static int check_name(const char *name, nk_error **err)
{
        if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '/'))
                return nk_error_set(err, 0, "interface name `%s` is not 1 to %d characters",
                                    name ? name : "", IFNAMSIZ - 1);
        return 0;
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh)
{
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        return ifi;
}

int nk_rtnl_bridge_add(struct nk_rtnl *r, const char *name, unsigned mtu, nk_error **err)
{
        if (check_name(name, err) < 0)
                return -1;
        struct nlmsghdr *nlh =
                msg_start(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, err, "create bridge %s", name);
        if (!nlh)
                return -1;
        put_ifinfo(nlh);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(nlh, li);
        msg_end(r);
        return 0;
}

int nk_rtnl_veth_add(struct nk_rtnl *r, const char *name, const char *peer_name, int peer_netns_fd,
                     unsigned mtu, int master, nk_error **err)
{
        if (check_name(name, err) < 0 || check_name(peer_name, err) < 0)
                return -1;
        struct nlmsghdr *nlh = msg_start(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, err,
                                         "create veth %s (peer %s)", name, peer_name);
        if (!nlh)
                return -1;
        struct ifinfomsg *ifi = put_ifinfo(nlh);
        ifi->ifi_flags = IFF_UP; /* applied once the link exists */
        ifi->ifi_change = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        if (master > 0)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
        struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        put_ifinfo(nlh); /* the peer's own ifinfomsg heads the nest */
        mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        if (peer_netns_fd >= 0)
                mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
        mnl_attr_nest_end(nlh, peer);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, li);
        msg_end(r);
        return 0;
}

int nk_rtnl_link_del(struct nk_rtnl *r, const char *name, nk_error **err)
{
        if (check_name(name, err) < 0)
                return -1;
        struct nlmsghdr *nlh = msg_start(r, RTM_DELLINK, 0, err, "delete link %s", name);
        if (!nlh)
                return -1;
        put_ifinfo(nlh);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        msg_end(r);
        return 0;
}

int nk_rtnl_link_up(struct nk_rtnl *r, const char *name, int master, nk_error **err)
{
        if (check_name(name, err) < 0)
                return -1;
        struct nlmsghdr *nlh = msg_start(r, RTM_NEWLINK, 0, err, "set link %s up", name);
        if (!nlh)
                return -1;
        struct ifinfomsg *ifi = put_ifinfo(nlh);
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        if (master > 0)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
        msg_end(r);
        return 0;
}

int nk_rtnl_link_no_ipv6ll(struct nk_rtnl *r, const char *name, nk_error **err)
{
        if (check_name(name, err) < 0)
                return -1;
        struct nlmsghdr *nlh =
                msg_start(r, RTM_NEWLINK, 0, err, "set IPv6 address generation of %s", name);
        if (!nlh)
                return -1;
        put_ifinfo(nlh);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
        struct nlattr *in6 = mnl_attr_nest_start(nlh, AF_INET6);
        mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
        mnl_attr_nest_end(nlh, in6);
        mnl_attr_nest_end(nlh, spec);
        msg_end(r);
        return 0;
}

static size_t ip_len(const struct nk_ip *ip)
{
        return ip->family == AF_INET ? 4 : 16;
}

int nk_rtnl_addr_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_ip *ip,
                     unsigned len, nk_error **err)
{
        char a[NK_IP_STR_MAX];
        nk_ip_format(ip, a);
        struct nlmsghdr *nlh = msg_start(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, err,
                                         "add address %s/%u to %s", a, len, ifname);
        if (!nlh)
                return -1;
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = (uint8_t)ip->family;
        ifa->ifa_prefixlen = (uint8_t)len;
        ifa->ifa_index = (uint32_t)ifindex;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        mnl_attr_put(nlh, IFA_LOCAL, ip_len(ip), ip->a);
        mnl_attr_put(nlh, IFA_ADDRESS, ip_len(ip), ip->a);
        if (ip->family == AF_INET6)
                mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
        msg_end(r);
        return 0;
}

int nk_rtnl_route_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_cidr *dst,
                      const struct nk_ip *gw, nk_error **err)
{
        char d[NK_CIDR_STR_MAX] = "default", g[NK_IP_STR_MAX] = "";
        int family = dst ? dst->ip.family : gw->family;
        if (dst)
                nk_cidr_format(dst, d);
        if (gw)
                nk_ip_format(gw, g);
        struct nlmsghdr *nlh =
                msg_start(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, err,
                          "add route %s%s%s dev %s", d, gw ? " via " : "", g, ifname);
        if (!nlh)
                return -1;
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)family;
        rtm->rtm_dst_len = dst ? (uint8_t)dst->len : 0;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_STATIC;
        rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        rtm->rtm_type = RTN_UNICAST;
        if (dst)
                mnl_attr_put(nlh, RTA_DST, ip_len(&dst->ip), dst->ip.a);
        if (gw)
                mnl_attr_put(nlh, RTA_GATEWAY, ip_len(gw), gw->a);
        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
        msg_end(r);
        return 0;
}

int nk_rtnl_neigh_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_ip *ip,
                      const unsigned char mac[6], nk_error **err)
{
        char a[NK_IP_STR_MAX];
        nk_ip_format(ip, a);
        struct nlmsghdr *nlh = msg_start(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, err,
                                         "add neighbour %s on %s", a, ifname);
        if (!nlh)
                return -1;
        struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
        nd->ndm_family = (uint8_t)ip->family;
        nd->ndm_ifindex = ifindex;
        nd->ndm_state = NUD_PERMANENT;
        nd->ndm_type = RTN_UNICAST;
        mnl_attr_put(nlh, NDA_DST, ip_len(ip), ip->a);
        mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
        msg_end(r);
        return 0;
}

void nk_rtnl_discard(struct nk_rtnl *r)
{
        mnl_nlmsg_batch_reset(r->batch);
        r->n_ops = 0;
}

/* The kernel's message in an error ack (NETLINK_EXT_ACK), or NULL. */
static const char *ext_ack_msg(const struct nlmsghdr *h)
{
        if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
                return NULL;
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
        size_t off = sizeof(*e);
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) /* the whole request was echoed */
                off += e->msg.nlmsg_len - sizeof(e->msg);
        off = MNL_ALIGN(off);
        const struct nlattr *a;
        mnl_attr_for_each(a, h, off)
        {
                if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
                    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
                        return mnl_attr_get_str(a);
        }
        return NULL;
}

int nk_rtnl_commit(struct nk_rtnl *r, nk_error **err)
{
        size_t n = r->n_ops, acked = 0;
        if (n == 0)
                return 0;
        uint32_t first = r->first_seq;
        ssize_t sent = mnl_socket_sendto(r->nl, mnl_nlmsg_batch_head(r->batch),
                                         mnl_nlmsg_batch_size(r->batch));
        if (sent < 0) {
                int e = errno;
                nk_error_set(err, e, "%s: send", r->ops[0]);
                nk_rtnl_discard(r);
                return -1;
        }
        /* The texts stay readable until the next msg_start. */
        nk_rtnl_discard(r);
        char buf[MNL_SOCKET_BUFFER_SIZE];
        int rc = 0;
        while (acked < n) {
                ssize_t got = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return nk_error_set(err, errno, "rtnetlink: receive");
                }
                int left = (int)got;
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok(h, left);
                     h = mnl_nlmsg_next(h, &left)) {
                        if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < first ||
                            h->nlmsg_seq >= first + n)
                                continue;
                        acked++;
                        const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
                        if (e->error && rc == 0) {
                                const char *why = ext_ack_msg(h);
                                rc = nk_error_set(err, -e->error, "%s%s%s%s",
                                                  r->ops[h->nlmsg_seq - first], why ? " (" : "",
                                                  why ? why : "", why ? ")" : "");
                        }
                }
        }
        return rc;
}

/* ---- requests with answers ---- */

struct link_q {
        struct nk_link *out;
        bool found;
};

static int link_attr(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int t = mnl_attr_get_type(a);
        if (t <= IFLA_MAX)
                tb[t] = a;
        return MNL_CB_OK;
}

static int info_attr(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int t = mnl_attr_get_type(a);
        if (t <= IFLA_INFO_MAX)
                tb[t] = a;
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
        struct link_q *q = data;
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[IFLA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(*ifi), link_attr, tb);
        struct nk_link l = {.index = ifi->ifi_index, .up = (ifi->ifi_flags & IFF_UP) != 0};
        if (tb[IFLA_MTU])
                l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
        if (tb[IFLA_MASTER])
                l.master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
        if (tb[IFLA_LINK])
                l.peer = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
        if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
                const unsigned char *a = mnl_attr_get_payload(tb[IFLA_ADDRESS]);
                snprintf(l.mac, sizeof l.mac, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2],
                         a[3], a[4], a[5]);
        }
        if (tb[IFLA_LINKINFO]) {
                const struct nlattr *info[IFLA_INFO_MAX + 1] = {0};
                mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_attr, info);
                if (info[IFLA_INFO_KIND])
                        snprintf(l.kind, sizeof(l.kind), "%s",
                                 mnl_attr_get_str(info[IFLA_INFO_KIND]));
        }
        *q->out = l;
        q->found = true;
        return MNL_CB_OK;
}

/* Send one request and run cb on every answer until the ack or the dump's
 * end. The kernel's error comes back as -1 with errno set. */
static int request(struct nk_rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
        if (r->n_ops) { /* would take a sequence number out of the batch's run */
                errno = EBUSY;
                return -1;
        }
        if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
                return -1;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        for (;;) {
                ssize_t got = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                int ret = mnl_cb_run(buf, (size_t)got, nlh->nlmsg_seq, r->portid, cb, data);
                if (ret <= MNL_CB_STOP)
                        return ret;
        }
}

int nk_rtnl_link_get(struct nk_rtnl *r, const char *name, struct nk_link *out, nk_error **err)
{
        if (check_name(name, err) < 0)
                return -1;
        char buf[1024];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ack ends the answer */
        nlh->nlmsg_seq = ++r->seq;
        put_ifinfo(nlh);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        struct link_q q = {.out = out};
        int e = request(r, nlh, link_cb, &q) < 0 ? errno : q.found ? 0 : ENOENT;
        if (e)
                return nk_error_set(err, e == ENODEV ? ENOENT : e, "look up link %s", name);
        return 0;
}

struct route_q {
        int family;
        bool has_default;
        struct nk_cidr *v;
        size_t n, cap;
        bool oom;
};

static int route_attr(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int t = mnl_attr_get_type(a);
        if (t <= RTA_MAX)
                tb[t] = a;
        return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
        struct route_q *q = data;
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[RTA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
        uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        if (rtm->rtm_family != q->family || table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
                return MNL_CB_OK;
        if (rtm->rtm_dst_len == 0) {
                q->has_default = true;
                return MNL_CB_OK;
        }
        if (!tb[RTA_DST])
                return MNL_CB_OK;
        size_t alen = q->family == AF_INET ? 4 : 16;
        if (mnl_attr_get_payload_len(tb[RTA_DST]) < alen)
                return MNL_CB_OK;
        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 16;
                struct nk_cidr *v = realloc(q->v, cap * sizeof(*v));
                if (!v) {
                        q->oom = true;
                        return MNL_CB_ERROR;
                }
                q->v = v;
                q->cap = cap;
        }
        struct nk_cidr c = {.ip.family = q->family, .len = rtm->rtm_dst_len};
        memcpy(c.ip.a, mnl_attr_get_payload(tb[RTA_DST]), alen);
        q->v[q->n++] = nk_cidr_of(&c.ip, c.len);
        return MNL_CB_OK;
}

static int route_dump(struct nk_rtnl *r, struct route_q *q, nk_error **err)
{
        char buf[256];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++r->seq;
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)q->family;
        if (request(r, nlh, route_cb, q) < 0) {
                int e = q->oom ? ENOMEM : errno;
                free(q->v);
                q->v = NULL;
                return nk_error_set(err, e, "list %s routes",
                                    q->family == AF_INET ? "IPv4" : "IPv6");
        }
        return 0;
}

int nk_rtnl_has_default(struct nk_rtnl *r, int family, bool *out, nk_error **err)
{
        struct route_q q = {.family = family};
        if (route_dump(r, &q, err) < 0)
                return -1;
        free(q.v);
        *out = q.has_default;
        return 0;
}

int nk_rtnl_routes(struct nk_rtnl *r, int family, struct nk_cidr **out, size_t *n, nk_error **err)
{
        struct route_q q = {.family = family};
        if (route_dump(r, &q, err) < 0)
                return -1;
        *out = q.v;
        *n = q.n;
        return 0;
}

int nk_rtnl_request(struct nk_rtnl *r, struct nlmsghdr *nlh,
                    int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
        nlh->nlmsg_seq = ++r->seq;
        return request(r, nlh, cb, data);
}
