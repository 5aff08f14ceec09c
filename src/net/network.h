/* nook networks: records, their kernel objects, and containers on them.
 *
 * A network is a record STORE/networks/<name>.json, its IPAM state in
 * STORE/networks/ipam/, and in the host's network namespace (the caller's)
 * a Linux bridge holding the gateway addresses (driver "bridge"; none for
 * "routed") and its elements in nftables' `inet nook` table (net/nft.h).
 * STORE/networks/lock (flock) serializes create and remove.
 *
 * What the engine calls (`nook run --network N -p ...`, `nook rm`):
 *   nk_network_get / nk_network_default      the network by name (the
 *                                            default one made on first use)
 *   nk_network_attach(..., netns_fd, ...)    after the container's network
 *                                            namespace exists, before its
 *                                            process runs: veth, eth0 with
 *                                            address, default route, NAT
 *   nk_network_publish(..., port)            for each -p, after attach
 *   nk_network_detach(...)                   at rm (unpublishes, removes the
 *                                            veth, frees the address)
 *   nk_network_reconcile(..., live ids)      after a crash: frees what
 *                                            containers that are gone held
 * A network that is not --internal turns the host's forwarding on when it
 * comes up (the old values saved in STORE/networks/sysctl-saved) and the
 * last one to go puts them back; route_localnet is set on nook's own links
 * (docs/network.md, "Host sysctls"). The engine's side, a container's
 * networks from run to rm, is net/ctrnet.h. */
#pragma once
#include "net/ipam.h"
#include "net/nft.h"
#include "net/tc.h"
#include "util/cleanup.h"
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>

#define NK_NETWORK_DEFAULT   "bridge"
#define NK_NETWORK_POOLS_MAX 2 /* one IPv4, one IPv6 */

struct nk_network {
        char name[64];
        char id[65];
        char driver[8]; /* "bridge" or "routed" */
        char link[16];  /* the bridge; "" for routed */
        struct nk_ipam_pool pools[NK_NETWORK_POOLS_MAX];
        bool has_range[NK_NETWORK_POOLS_MAX];
        size_t n_pools;
        bool internal, ipv6;
        unsigned mtu;   /* 0: the kernel's default (1500) */
        json_t *labels; /* object of strings */
        char created[40];
};
void nk_network_free(struct nk_network *n);
DEFINE_CLEANUP(nk_network, nk_network_free)

/* `nook network create` as given on the command line (strings unparsed). */
struct nk_network_opts {
        const char *name;
        const char *driver; /* NULL: bridge */
        const char *subnets[NK_NETWORK_POOLS_MAX];
        const char *gateways[NK_NETWORK_POOLS_MAX];
        const char *ranges[NK_NETWORK_POOLS_MAX];
        size_t n_subnets, n_gateways, n_ranges;
        bool internal, ipv6;
        unsigned mtu;
        json_t *labels; /* borrowed; NULL for none */
};

int nk_network_create(const char *store, const struct nk_network_opts *o, struct nk_network **out,
                      nk_error **err);
/* By name, or by id or a unique prefix of it. ENOENT when unknown. */
int nk_network_get(const char *store, const char *name, struct nk_network **out, nk_error **err);
/* The default network, made (with a subnet no host route overlaps) when
 * absent. */
int nk_network_default(const char *store, struct nk_network **out, nk_error **err);
/* Every network, sorted by name. */
int nk_network_list(const char *store, struct nk_network ***out, size_t *n, nk_error **err);
void nk_network_list_free(struct nk_network **v, size_t n);
/* Remove a network; EBUSY when containers are still attached. */
int nk_network_remove(const char *store, const char *name, nk_error **err);
/* The record as `network inspect` shows it. */
json_t *nk_network_json(const struct nk_network *n);

/* A container on a network. */
struct nk_endpoint {
        char host_link[16]; /* host-side veth */
        char ifname[16];    /* in the container: "eth0" */
        char mac[18];       /* ifname's, as the kernel made it */
        struct nk_ip addrs[NK_NETWORK_POOLS_MAX];
        unsigned prefix[NK_NETWORK_POOLS_MAX];
        struct nk_ip gateways[NK_NETWORK_POOLS_MAX];
        size_t n_addrs;
};
/* Connect container id (its network namespace: netns_fd) to the network:
 * addresses from IPAM (want: --ip values, NULL-terminated strings or
 * NULL), a veth pair with ifname in the container, addresses, routes,
 * masquerade. Nothing is left behind on failure. */
int nk_network_attach(const char *store, const struct nk_network *n, const char *id, int netns_fd,
                      const char *ifname, const char *const *want, struct nk_endpoint *out,
                      nk_error **err);
/* Undo attach (works on a container whose namespace is gone, and on one
 * that was never attached). */
int nk_network_detach(const char *store, const struct nk_network *n, const char *id,
                      nk_error **err);
/* Detach, but leave the veth to the kernel: for a container whose
 * network namespace goes right after (its removal takes the pair with it,
 * asynchronously; deleting the link here would wait for an RCU grace
 * period, milliseconds on a busy host). */
int nk_network_release(const char *store, const struct nk_network *n, const char *id,
                       nk_error **err);
/* Publish a port (container_ip filled in from the container's address). */
int nk_network_publish(const char *store, const struct nk_network *n, const char *id,
                       struct nk_port *p, nk_error **err);
int nk_network_unpublish(const char *store, const struct nk_network *n, const char *id,
                         struct nk_port *p, nk_error **err);
/* Detach every container holding an address on the network that is not in
 * live (n ids); *freed counts them. */
int nk_network_reconcile(const char *store, const struct nk_network *n, const char *const *live,
                         size_t n_live, size_t *freed, nk_error **err);
/* The host-side veth name of container id on network n (15 characters). */
void nk_network_host_link(const struct nk_network *n, const char *id, char out[16]);
/* Bandwidth limits of container id on network n (net/tc.h), on its veth
 * pair (netns: the path of the container's network namespace, for the
 * egress side; NULL: egress is neither set nor read): set or change them
 * (want; NK_RATE_KEEP leaves a direction, 0 removes its limit), then read
 * what the kernel has (now). Either may be NULL. They go with the veth. */
int nk_network_rate(const struct nk_network *n, const char *id, const char *netns,
                    const struct nk_tc_rates *want, struct nk_tc_rates *now, nk_error **err);
