/* nook's nftables rule set, through libnftables (no nft binary).
 *
 * Everything lives in one table, `inet nook`; no other table is read,
 * changed or flushed. Its rules are fixed when the table is made; what
 * changes with networks, containers and ports are set and map elements:
 *
 *   links      ifname                      interfaces of nook's networks
 *                                          (bridges; host-side veths of
 *                                          routed networks)
 *   masqnet4/6 subnets of networks that are masqueraded when leaving by an
 *              not --internal              interface not in `links` (so a
 *                                          container's attach needs no
 *                                          nftables call)
 *   internal4/6 subnets of --internal      forwarded only between `links`
 *   pub4/6     host addr . proto . port -> container addr . port
 *   pub4any/6any     proto . port        -> container addr . port
 *                                          (published on every host address)
 *
 * so a lookup costs the same with 10 or 10,000 published ports and the
 * rule count never grows. Each call is one nftables transaction: it happens
 * whole or not at all. The table goes when its last element does. */
#pragma once
#include "net/ipam.h"
#include "util/cleanup.h"
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>

struct nk_nft;

/* Work on the nftables of the caller's network namespace. */
int nk_nft_open(struct nk_nft **out, nk_error **err);
void nk_nft_close(struct nk_nft *n);
DEFINE_CLEANUP(nk_nft, nk_nft_close)

/* A network's part: its bridge (NULL for routed networks) in `links`, its
 * subnets in `internal*` when internal, else in `masqnet*`. */
struct nk_nft_net {
        const char *link;
        bool internal;
        const struct nk_cidr *subnets;
        size_t n_subnets;
};
int nk_nft_network_up(struct nk_nft *n, const struct nk_nft_net *net, nk_error **err);
/* Remove the network's elements (absent ones are fine), then the table if
 * nothing is left in it. */
int nk_nft_network_down(struct nk_nft *n, const struct nk_nft_net *net, nk_error **err);

/* A container's part: its host-side link in `links` (routed networks;
 * bridge networks have none). */
struct nk_nft_endpoint {
        const char *link;
};
/* Attach adds the network's own elements (net) again in the same
 * transaction, so a table lost since (a reboot, someone's flush) is whole
 * again; net may be NULL. */
int nk_nft_attach(struct nk_nft *n, const struct nk_nft_net *net, const struct nk_nft_endpoint *ep,
                  nk_error **err);
int nk_nft_detach(struct nk_nft *n, const struct nk_nft_endpoint *ep, nk_error **err);

/* A published port: [host_ip:]host_port:container_port[/proto]. */
struct nk_port {
        struct nk_ip host_ip; /* family 0: every host address */
        uint16_t host_port;
        uint16_t container_port;
        char proto[5]; /* tcp, udp, sctp */
        struct nk_ip container_ip;
};
/* Parse "[ip:]host:container[/proto]" (IPv6 host addresses in brackets);
 * container_ip is left zero. */
int nk_port_parse(const char *s, struct nk_port *out, nk_error **err);
/* Add a mapping; a host address/port/proto already published is refused
 * naming it. */
int nk_nft_publish(struct nk_nft *n, const struct nk_port *p, nk_error **err);
int nk_nft_unpublish(struct nk_nft *n, const struct nk_port *p, nk_error **err);
/* A mapping's element key as text ("pub4any { tcp . 8080"): what the IPAM
 * file records for each published port. */
#define NK_NFT_KEY_MAX 96
void nk_nft_port_key(const struct nk_port *p, char out[NK_NFT_KEY_MAX]);
/* Delete the elements of these keys (NULL-terminated; absent ones are
 * fine), in one transaction. */
int nk_nft_delete_keys(struct nk_nft *n, char *const *keys, nk_error **err);
/* Drop the table if every set and map in it is empty (or it is absent). */
int nk_nft_drop_if_empty(struct nk_nft *n, nk_error **err);
