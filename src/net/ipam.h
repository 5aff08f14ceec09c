/* Addresses, prefixes and IP address management.
 *
 * The pure part (parsing, containment, overlap, picking a free address) has
 * no I/O and is unit tested (tests/unit/test_ipam.c). The stateful part
 * keeps one allocation file per network below a directory:
 *
 *   <dir>/<network>.json   {"pools": {"<subnet>": {"last": IP,
 *                           "addresses": {"<ip>": "<container id>"}}},
 *                           "ports": {"<nft element key>": "<container id>"}}
 *   <dir>/<network>.lock   flock(LOCK_EX) around every read-modify-write
 *
 * The file is replaced atomically (temp + rename; no fsync: what it
 * describes does not outlive a reboot either), so a kill -9 at any point
 * leaves the old or the new allocations, never a torn file; an address
 * whose container died with its command is freed by reconcile. */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nk_ip {
        int family; /* AF_INET or AF_INET6 */
        uint8_t a[16];
};

struct nk_cidr {
        struct nk_ip ip;
        unsigned len;
};

#define NK_IP_STR_MAX   46 /* INET6_ADDRSTRLEN */
#define NK_CIDR_STR_MAX 50

/* An address: "10.0.0.1" or "fd00::1". */
int nk_ip_parse(const char *s, struct nk_ip *out, nk_error **err);
/* A prefix "10.0.0.0/24"; the address bits past the prefix must be zero
 * (the error names the prefix it meant). */
int nk_cidr_parse(const char *s, struct nk_cidr *out, nk_error **err);
void nk_ip_format(const struct nk_ip *ip, char buf[NK_IP_STR_MAX]);
void nk_cidr_format(const struct nk_cidr *c, char buf[NK_CIDR_STR_MAX]);
bool nk_ip_equal(const struct nk_ip *a, const struct nk_ip *b);
int nk_ip_cmp(const struct nk_ip *a, const struct nk_ip *b);
/* The prefix of `len` bits containing ip (host bits cleared). */
struct nk_cidr nk_cidr_of(const struct nk_ip *ip, unsigned len);
bool nk_cidr_contains(const struct nk_cidr *c, const struct nk_ip *ip);
/* c is inside outer (equal counts). */
bool nk_cidr_within(const struct nk_cidr *c, const struct nk_cidr *outer);
bool nk_cidr_overlap(const struct nk_cidr *a, const struct nk_cidr *b);

/* Where addresses come from on one subnet. */
struct nk_ipam_pool {
        struct nk_cidr subnet;
        struct nk_cidr range; /* --ip-range; the subnet when none was given */
        struct nk_ip gateway;
};

/* Check and complete a pool: range and gateway (either may be NULL) inside
 * the subnet and of its family, the gateway not the subnet's network or
 * broadcast address; a missing gateway is the first usable address. */
int nk_ipam_pool_init(struct nk_ipam_pool *p, const struct nk_cidr *subnet,
                      const struct nk_cidr *range, const struct nk_ip *gateway, nk_error **err);
/* First and last address a host may have in the subnet: IPv4 leaves out the
 * network and broadcast addresses below /31 (RFC 3021 for /31), IPv6 the
 * subnet-router anycast address below /127. */
void nk_ipam_usable(const struct nk_cidr *subnet, struct nk_ip *first, struct nk_ip *last);
/* Pick a free address of the pool's range: not the gateway, not in taken
 * (n entries, any order), the first free one after `after` (wrapping), so a
 * released address is not handed out again at once. after may be NULL.
 * ENOSPC-like refusal (errno 0, "no free address") when the range is full. */
int nk_ipam_pick(const struct nk_ipam_pool *p, const struct nk_ip *taken, size_t n,
                 const struct nk_ip *after, struct nk_ip *out, nk_error **err);
/* Check an address asked for with --ip: in the subnet, usable, not the
 * gateway, not taken. */
int nk_ipam_check(const struct nk_ipam_pool *p, const struct nk_ip *want, const struct nk_ip *taken,
                  size_t n, nk_error **err);

/* The stateful part: dirfd is the allocation directory, net the network's
 * name (a file name). */
/* An address of the pool for container id: `want` when not NULL (checked),
 * else a free one. The same id asking again gets the address it has. */
int nk_ipam_allocate(int dirfd, const char *net, const struct nk_ipam_pool *p, const char *id,
                     const struct nk_ip *want, struct nk_ip *out, nk_error **err);
/* The address id holds in the pool; ENOENT when none. */
int nk_ipam_lookup(int dirfd, const char *net, const struct nk_ipam_pool *p, const char *id,
                   struct nk_ip *out, nk_error **err);
/* Free every address id holds on the network (none is fine). */
int nk_ipam_release(int dirfd, const char *net, const char *id, nk_error **err);
/* Free the addresses of every id not in live (n ids); *freed counts them. */
int nk_ipam_reconcile(int dirfd, const char *net, const char *const *live, size_t n, size_t *freed,
                      nk_error **err);
struct nk_ipam_entry {
        struct nk_ip ip;
        char *id;
};
/* Every allocation on the network (empty when no file). */
int nk_ipam_entries(int dirfd, const char *net, struct nk_ipam_entry **out, size_t *n,
                    nk_error **err);
void nk_ipam_entries_free(struct nk_ipam_entry *v, size_t n);
/* Published ports, recorded by their nftables element key (nft.h
 * nk_nft_port_key) so that a container's ports are found without listing
 * the whole map. Add refuses a key already recorded (EEXIST, naming
 * `what`); release and reconcile drop the ports of the ids they free. */
int nk_ipam_port_add(int dirfd, const char *net, const char *key, const char *id, const char *what,
                     nk_error **err);
/* Drop a key; ENOENT when id does not hold it. */
int nk_ipam_port_del(int dirfd, const char *net, const char *key, const char *id, const char *what,
                     nk_error **err);
/* The keys id holds (a NULL-terminated array, free with nk_strv_free). */
int nk_ipam_ports_of(int dirfd, const char *net, const char *id, char ***out, nk_error **err);
/* How many addresses are allocated on the network (0 when no file). */
int nk_ipam_count(int dirfd, const char *net, size_t *out, nk_error **err);
/* Remove the network's allocation files. */
int nk_ipam_destroy(int dirfd, const char *net, nk_error **err);
