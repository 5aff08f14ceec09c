/* rtnetlink over libmnl: links, addresses and routes, in this network
 * namespace or in another one given by an fd.
 *
 * A handle holds one NETLINK_ROUTE socket. A socket belongs to the network
 * namespace it was created in for its whole life, so the handle for another
 * namespace is made by a short setns(CLONE_NEWNET) of the calling thread to
 * the target, socket(), and setns back to the thread's own namespace
 * (nk_rtnl_open). Nothing else runs in between and no thread is started:
 * nook is single-threaded where it does this, and the thread's other
 * namespaces are untouched. Every request after that goes through the
 * socket, with no further namespace switch.
 *
 * Changes are queued (nk_rtnl_bridge_add, ...) and sent together by
 * nk_rtnl_commit: one sendmsg carries the whole batch, the kernel runs the
 * messages in order and acknowledges each; the first failure is reported
 * naming its operation and interface ("add address 10.1.0.2/24 to eth0:
 * File exists"). The kernel goes on with the messages after a failed one,
 * so callers queue only what makes sense on its own and undo on failure. */
#pragma once
#include "net/ipam.h"
#include "util/cleanup.h"
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>

struct nk_rtnl;

/* netns_fd: an fd of a network namespace (/proc/PID/ns/net, a bind mount
 * of one), or -1 for the caller's own. */
int nk_rtnl_open(int netns_fd, struct nk_rtnl **out, nk_error **err);
void nk_rtnl_close(struct nk_rtnl *r);
DEFINE_CLEANUP(nk_rtnl, nk_rtnl_close)

struct nk_link {
        int index;
        unsigned mtu;
        bool up;
        int master;    /* 0 when none */
        int peer;      /* IFLA_LINK: a veth's peer's ifindex (in its namespace), or 0 */
        char kind[16]; /* "bridge", "veth", "" */
        char mac[18];  /* "aa:bb:cc:dd:ee:ff" (IFLA_ADDRESS), "" when none */
};
/* Look a link up by name (synchronous; the batch must be empty). ENOENT
 * when there is none. */
int nk_rtnl_link_get(struct nk_rtnl *r, const char *name, struct nk_link *out, nk_error **err);

/* Queued changes. mtu 0 leaves the kernel's default. */
int nk_rtnl_bridge_add(struct nk_rtnl *r, const char *name, unsigned mtu, nk_error **err);
/* A veth pair: `name` here, its peer created directly in the namespace of
 * peer_netns_fd under peer_name (so "eth0" never exists in this one). The
 * same message puts `name` on a bridge (master: an ifindex, 0 for none)
 * and sets it up, so the host side is one request. */
int nk_rtnl_veth_add(struct nk_rtnl *r, const char *name, const char *peer_name, int peer_netns_fd,
                     unsigned mtu, int master, nk_error **err);
/* No IPv6 link-local address (IFLA_INET6_ADDR_GEN_MODE none), hence no
 * duplicate address detection, router solicitation or MLD reports on it:
 * for a link of an IPv4-only network, queued before it has a carrier. */
int nk_rtnl_link_no_ipv6ll(struct nk_rtnl *r, const char *name, nk_error **err);
int nk_rtnl_link_del(struct nk_rtnl *r, const char *name, nk_error **err);
/* Set a link up, and its master (an ifindex; 0 leaves it). */
int nk_rtnl_link_up(struct nk_rtnl *r, const char *name, int master, nk_error **err);
/* An address with prefix length `len` (IPv6 ones without duplicate
 * address detection: the address is usable at once). */
int nk_rtnl_addr_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_ip *ip,
                     unsigned len, nk_error **err);
/* A route to dst (NULL: the default route) via gw (NULL: on the link). */
int nk_rtnl_route_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_cidr *dst,
                      const struct nk_ip *gw, nk_error **err);
/* A permanent neighbour entry: ip is at mac on the link. Not resolved,
 * never expired, and (Linux 4.19+) not counted against the table's
 * gc_thresh limits. */
int nk_rtnl_neigh_add(struct nk_rtnl *r, const char *ifname, int ifindex, const struct nk_ip *ip,
                      const unsigned char mac[6], nk_error **err);
/* Send the queued changes and wait for every answer. The queue is empty
 * afterwards, whatever the outcome. */
int nk_rtnl_commit(struct nk_rtnl *r, nk_error **err);
/* Drop what was queued without sending it. */
void nk_rtnl_discard(struct nk_rtnl *r);

/* The destinations of the main table's unicast routes of family (AF_INET,
 * AF_INET6), default routes left out: what a new subnet must not overlap. */
int nk_rtnl_routes(struct nk_rtnl *r, int family, struct nk_cidr **out, size_t *n, nk_error **err);
/* Whether the main table has a default route of family (synchronous,
 * like link_get: the batch must be empty). */
int nk_rtnl_has_default(struct nk_rtnl *r, int family, bool *out, nk_error **err);

/* For messages built elsewhere (net/tc.c builds traffic control ones):
 * start a queued message, described by fmt for its error ("replace qdisc
 * tbf on nkv12"), put its headers and attributes with libmnl, end it.
 * NULL (err set) when the batch is full. */
struct nlmsghdr;
struct nlmsghdr *nk_rtnl_msg_start(struct nk_rtnl *r, uint16_t type, uint16_t flags, nk_error **err,
                                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void nk_rtnl_msg_end(struct nk_rtnl *r);
/* One synchronous request built by the caller (its sequence number is set
 * here; ask for NLM_F_ACK or NLM_F_DUMP so that the answer has an end):
 * cb runs on every answer. The batch must be empty. -1 with errno set
 * when the kernel refuses. */
int nk_rtnl_request(struct nk_rtnl *r, struct nlmsghdr *nlh,
                    int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);
