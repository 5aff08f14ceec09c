#include "net/ipam.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

typedef unsigned __int128 u128;

static unsigned bits_of(int family)
{
        return family == AF_INET ? 32 : 128;
}

static u128 to_u128(const struct nk_ip *ip)
{
        u128 v = 0;
        size_t n = bits_of(ip->family) / 8;
        for (size_t i = 0; i < n; i++)
                v = (v << 8) | ip->a[i];
        return v;
}

static struct nk_ip from_u128(int family, u128 v)
{
        struct nk_ip ip = {.family = family};
        size_t n = bits_of(family) / 8;
        for (size_t i = n; i-- > 0;) {
                ip.a[i] = (uint8_t)(v & 0xff);
                v >>= 8;
        }
        return ip;
}

/* The host bits of a prefix of len bits. */
static u128 host_mask(int family, unsigned len)
{
        unsigned hb = bits_of(family) - len;
        return hb >= 128 ? ~(u128)0 : (((u128)1 << hb) - 1);
}

int nk_ip_parse(const char *s, struct nk_ip *out, nk_error **err)
{
        struct nk_ip ip = {0};
        if (inet_pton(AF_INET, s, ip.a) == 1)
                ip.family = AF_INET;
        else if (inet_pton(AF_INET6, s, ip.a) == 1)
                ip.family = AF_INET6;
        else
                return nk_error_set(err, 0, "`%s` is not an IPv4 or IPv6 address", s);
        *out = ip;
        return 0;
}

int nk_cidr_parse(const char *s, struct nk_cidr *out, nk_error **err)
{
        const char *slash = strchr(s, '/');
        char addr[NK_IP_STR_MAX];
        if (!slash || (size_t)(slash - s) >= sizeof(addr))
                return nk_error_set(err, 0, "`%s` is not a prefix (ADDRESS/LENGTH)", s);
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = '\0';
        struct nk_cidr c = {0};
        if (nk_ip_parse(addr, &c.ip, NULL) < 0)
                return nk_error_set(err, 0, "`%s`: `%s` is not an IPv4 or IPv6 address", s, addr);
        const char *p = slash + 1;
        unsigned len = 0;
        if (!*p || strlen(p) > 3)
                return nk_error_set(err, 0, "`%s`: bad prefix length", s);
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return nk_error_set(err, 0, "`%s`: bad prefix length", s);
                len = len * 10 + (unsigned)(*p - '0');
        }
        if (len > bits_of(c.ip.family))
                return nk_error_set(err, 0, "`%s`: prefix length %u is over %u", s, len,
                                    bits_of(c.ip.family));
        c.len = len;
        struct nk_cidr net = nk_cidr_of(&c.ip, len);
        if (!nk_ip_equal(&net.ip, &c.ip)) {
                char want[NK_CIDR_STR_MAX];
                nk_cidr_format(&net, want);
                return nk_error_set(err, 0, "`%s` has host bits set (the subnet would be %s)", s,
                                    want);
        }
        *out = c;
        return 0;
}

void nk_ip_format(const struct nk_ip *ip, char buf[NK_IP_STR_MAX])
{
        if (!inet_ntop(ip->family, ip->a, buf, NK_IP_STR_MAX))
                snprintf(buf, NK_IP_STR_MAX, "?");
}

void nk_cidr_format(const struct nk_cidr *c, char buf[NK_CIDR_STR_MAX])
{
        char a[NK_IP_STR_MAX];
        nk_ip_format(&c->ip, a);
        snprintf(buf, NK_CIDR_STR_MAX, "%s/%u", a, c->len);
}

bool nk_ip_equal(const struct nk_ip *a, const struct nk_ip *b)
{
        return nk_ip_cmp(a, b) == 0;
}

int nk_ip_cmp(const struct nk_ip *a, const struct nk_ip *b)
{
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        return memcmp(a->a, b->a, bits_of(a->family) / 8);
}

struct nk_cidr nk_cidr_of(const struct nk_ip *ip, unsigned len)
{
        struct nk_cidr c = {.len = len};
        c.ip = from_u128(ip->family, to_u128(ip) & ~host_mask(ip->family, len));
        return c;
}

bool nk_cidr_contains(const struct nk_cidr *c, const struct nk_ip *ip)
{
        if (c->ip.family != ip->family)
                return false;
        return (to_u128(ip) & ~host_mask(ip->family, c->len)) == to_u128(&c->ip);
}

bool nk_cidr_within(const struct nk_cidr *c, const struct nk_cidr *outer)
{
        return c->len >= outer->len && nk_cidr_contains(outer, &c->ip);
}

bool nk_cidr_overlap(const struct nk_cidr *a, const struct nk_cidr *b)
{
        return nk_cidr_within(a, b) || nk_cidr_within(b, a);
}

void nk_ipam_usable(const struct nk_cidr *subnet, struct nk_ip *first, struct nk_ip *last)
{
        int f = subnet->ip.family;
        u128 lo = to_u128(&subnet->ip), hi = lo | host_mask(f, subnet->len);
        unsigned bits = bits_of(f);
        if (subnet->len + 1 < bits) { /* not a /31 (/127) or /32 (/128) */
                lo++;
                if (f == AF_INET)
                        hi--;
        }
        *first = from_u128(f, lo);
        *last = from_u128(f, hi);
}

static bool usable(const struct nk_cidr *subnet, const struct nk_ip *ip)
{
        struct nk_ip first, last;
        nk_ipam_usable(subnet, &first, &last);
        return nk_cidr_contains(subnet, ip) && nk_ip_cmp(ip, &first) >= 0 &&
               nk_ip_cmp(ip, &last) <= 0;
}

int nk_ipam_pool_init(struct nk_ipam_pool *p, const struct nk_cidr *subnet,
                      const struct nk_cidr *range, const struct nk_ip *gateway, nk_error **err)
{
        char s[NK_CIDR_STR_MAX], r[NK_CIDR_STR_MAX], g[NK_IP_STR_MAX];
        nk_cidr_format(subnet, s);
        struct nk_ipam_pool pool = {.subnet = *subnet, .range = *subnet};
        if (range) {
                nk_cidr_format(range, r);
                if (!nk_cidr_within(range, subnet))
                        return nk_error_set(err, 0, "ip range %s is not inside subnet %s", r, s);
                pool.range = *range;
        }
        if (gateway) {
                nk_ip_format(gateway, g);
                if (!nk_cidr_contains(subnet, gateway))
                        return nk_error_set(err, 0, "gateway %s is not inside subnet %s", g, s);
                if (!usable(subnet, gateway))
                        return nk_error_set(err, 0,
                                            "gateway %s is the network or broadcast address of %s",
                                            g, s);
                pool.gateway = *gateway;
        } else {
                struct nk_ip last;
                nk_ipam_usable(subnet, &pool.gateway, &last);
        }
        *p = pool;
        return 0;
}

static int ip_cmp_q(const void *a, const void *b)
{
        return nk_ip_cmp(a, b);
}

static bool is_taken(const struct nk_ip *sorted, size_t n, const struct nk_ip *ip)
{
        return n && bsearch(ip, sorted, n, sizeof(*sorted), ip_cmp_q) != NULL;
}

int nk_ipam_pick(const struct nk_ipam_pool *p, const struct nk_ip *taken, size_t n,
                 const struct nk_ip *after, struct nk_ip *out, nk_error **err)
{
        int f = p->subnet.ip.family;
        struct nk_ip sf, sl;
        nk_ipam_usable(&p->subnet, &sf, &sl);
        u128 lo = to_u128(&p->range.ip), hi = lo | host_mask(f, p->range.len);
        if (lo < to_u128(&sf))
                lo = to_u128(&sf);
        if (hi > to_u128(&sl))
                hi = to_u128(&sl);
        char r[NK_CIDR_STR_MAX];
        nk_cidr_format(&p->range, r);
        if (lo > hi)
                return nk_error_set(err, 0, "no free address in %s", r);
        _cleanup_free_ struct nk_ip *sorted = NULL;
        if (n) {
                sorted = malloc(n * sizeof(*sorted));
                if (!sorted)
                        return nk_error_set(err, ENOMEM, "pick an address in %s", r);
                memcpy(sorted, taken, n * sizeof(*sorted));
                qsort(sorted, n, sizeof(*sorted), ip_cmp_q);
        }
        u128 start = lo;
        if (after && after->family == f && to_u128(after) >= lo && to_u128(after) < hi)
                start = to_u128(after) + 1;
        /* At most n + 2 candidates are not free (the taken, the gateway),
         * so the walk ends after n + 3 steps or the range size. */
        u128 size = hi - lo, steps = (u128)n + 2;
        if (steps > size)
                steps = size;
        u128 v = start;
        for (u128 i = 0; i <= steps; i++) {
                struct nk_ip c = from_u128(f, v);
                if (!nk_ip_equal(&c, &p->gateway) && !is_taken(sorted, n, &c)) {
                        *out = c;
                        return 0;
                }
                v = v == hi ? lo : v + 1;
        }
        return nk_error_set(err, 0, "no free address in %s", r);
}

int nk_ipam_check(const struct nk_ipam_pool *p, const struct nk_ip *want, const struct nk_ip *taken,
                  size_t n, nk_error **err)
{
        char w[NK_IP_STR_MAX], s[NK_CIDR_STR_MAX];
        nk_ip_format(want, w);
        nk_cidr_format(&p->subnet, s);
        if (!nk_cidr_contains(&p->subnet, want))
                return nk_error_set(err, 0, "address %s is not inside subnet %s", w, s);
        if (!usable(&p->subnet, want))
                return nk_error_set(err, 0, "address %s is the network or broadcast address of %s",
                                    w, s);
        if (nk_ip_equal(want, &p->gateway))
                return nk_error_set(err, 0, "address %s is the gateway of %s", w, s);
        for (size_t i = 0; i < n; i++)
                if (nk_ip_equal(want, &taken[i]))
                        return nk_error_set(err, 0, "address %s is already in use on %s", w, s);
        return 0;
}

/* ---- the allocation file ---- */

struct ipam_file {
        int dirfd;
        const char *net;
        int lock_fd;
        json_t *root; /* {"pools": {...}} */
        char name[300];
};

static void ipam_file_close(struct ipam_file *f)
{
        if (f->lock_fd >= 0)
                close(f->lock_fd); /* drops the flock */
        json_decref(f->root);
}

static int ipam_file_open(int dirfd, const char *net, struct ipam_file *f, nk_error **err)
{
        *f = (struct ipam_file){.dirfd = dirfd, .net = net, .lock_fd = -1};
        char lock[300];
        snprintf(lock, sizeof(lock), "%s.lock", net);
        snprintf(f->name, sizeof(f->name), "%s.json", net);
        f->lock_fd = openat(dirfd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (f->lock_fd < 0)
                return nk_error_set(err, errno, "open IPAM lock `%s`", lock);
        if (nk_flock_wait(f->lock_fd, LOCK_EX) < 0)
                return nk_error_set(err, errno, "lock IPAM of network %s", net);
        /* absent, or empty after a power loss (ipam_file_commit): none */
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        nk_error *e = NULL;
        if (nk_read_file_at(dirfd, f->name, &text, &len, &e) < 0) {
                if (e->errno_ != ENOENT) {
                        nk_error_pass(err, e);
                        return nk_error_wrap(err, "IPAM of network %s", net);
                }
                nk_error_free(e);
                len = 0;
        }
        if (len) {
                json_error_t je;
                if (!(f->root = json_loadb(text, len, 0, &je)))
                        return nk_error_set(err, 0, "IPAM of network %s: parse `%s`: line %d: %s",
                                            net, f->name, je.line, je.text);
        } else {
                f->root = json_pack("{s:{}}", "pools");
                if (!f->root)
                        return nk_error_set(err, ENOMEM, "IPAM of network %s", net);
        }
        if (!json_is_object(json_object_get(f->root, "pools")))
                return nk_error_set(err, 0, "IPAM file `%s`: .pools is not an object", f->name);
        return 0;
}

/* temp + swap (nk_swap_in_at), no fsync: a reader (or a kill -9) sees
 * the old file or the new one whole, and what the file describes (veths,
 * the addresses on them, nftables elements) does not survive a reboot
 * either: start makes it again and reconcile frees the rest, so a file a
 * power loss left empty reads as no allocations. Two fsyncs here cost
 * more than all the rest of a container's attach on a loaded disk, and a
 * rename over the file cost 0.5 ms (ext4 writes the new data back first). */
static int ipam_file_commit(struct ipam_file *f, nk_error **err)
{
        _cleanup_free_ char *text = json_dumps(f->root, JSON_COMPACT | JSON_SORT_KEYS);
        char tmp[320];
        snprintf(tmp, sizeof tmp, ".%s.%d.tmp", f->name, (int)getpid());
        if (!text)
                return nk_error_set(err, ENOMEM, "save IPAM of network %s", f->net);
        _cleanup_close_ int fd =
                openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || nk_write_all(fd, text, strlen(text)) < 0 ||
            nk_swap_in_at(f->dirfd, tmp, f->name) < 0) {
                int e = errno;
                (void)unlinkat(f->dirfd, tmp, 0);
                return nk_error_set(err, e, "save IPAM of network %s", f->net);
        }
        return 0;
}

/* The pool's object {"last": IP, "addresses": {...}}, created when absent. */
static json_t *pool_obj(struct ipam_file *f, const struct nk_ipam_pool *p, nk_error **err)
{
        char s[NK_CIDR_STR_MAX];
        nk_cidr_format(&p->subnet, s);
        json_t *pools = json_object_get(f->root, "pools");
        json_t *o = json_object_get(pools, s);
        if (!o) {
                o = json_pack("{s:{}}", "addresses");
                if (!o || json_object_set_new(pools, s, o) < 0) {
                        nk_error_set(err, ENOMEM, "IPAM of network %s", f->net);
                        return NULL;
                }
        }
        if (!json_is_object(o) || !json_is_object(json_object_get(o, "addresses"))) {
                nk_error_set(err, 0, "IPAM file `%s`: .pools[\"%s\"].addresses is not an object",
                             f->name, s);
                return NULL;
        }
        return o;
}

/* The addresses of a pool object as an array; *mine set to id's, if any. */
static int pool_taken(json_t *o, const char *id, struct nk_ip **out, size_t *n, struct nk_ip *mine,
                      bool *has_mine, nk_error **err)
{
        json_t *addrs = json_object_get(o, "addresses");
        size_t cap = json_object_size(addrs), k = 0;
        struct nk_ip *v = calloc(cap ? cap : 1, sizeof(*v));
        if (!v)
                return nk_error_set(err, ENOMEM, "read IPAM addresses");
        const char *key;
        json_t *val;
        *has_mine = false;
        json_object_foreach (addrs, key, val) {
                if (nk_ip_parse(key, &v[k], NULL) < 0)
                        continue; /* not ours to judge: never handed out */
                if (id && json_is_string(val) && streq(json_string_value(val), id)) {
                        *mine = v[k];
                        *has_mine = true;
                }
                k++;
        }
        *out = v;
        *n = k;
        return 0;
}

int nk_ipam_allocate(int dirfd, const char *net, const struct nk_ipam_pool *p, const char *id,
                     const struct nk_ip *want, struct nk_ip *out, nk_error **err)
{
        struct ipam_file f;
        int rc = -1;
        _cleanup_free_ struct nk_ip *taken = NULL;
        size_t n = 0;
        struct nk_ip got, mine;
        bool has_mine;
        json_t *o;
        if (ipam_file_open(dirfd, net, &f, err) < 0 || !(o = pool_obj(&f, p, err)) ||
            pool_taken(o, id, &taken, &n, &mine, &has_mine, err) < 0)
                goto out;
        if (has_mine) {
                char m[NK_IP_STR_MAX];
                nk_ip_format(&mine, m);
                if (want && !nk_ip_equal(want, &mine)) {
                        nk_error_set(err, 0, "container %s already has address %s on network %s",
                                     id, m, net);
                        goto out;
                }
                *out = mine;
                rc = 0;
                goto out;
        }
        struct nk_ip last;
        json_t *jl = json_object_get(o, "last");
        bool has_last = json_is_string(jl) && nk_ip_parse(json_string_value(jl), &last, NULL) == 0;
        if (want) {
                if (nk_ipam_check(p, want, taken, n, err) < 0)
                        goto out;
                got = *want;
        } else if (nk_ipam_pick(p, taken, n, has_last ? &last : NULL, &got, err) < 0) {
                goto out;
        }
        char g[NK_IP_STR_MAX];
        nk_ip_format(&got, g);
        if (json_object_set_new(json_object_get(o, "addresses"), g, json_string(id)) < 0 ||
            (!want && json_object_set_new(o, "last", json_string(g)) < 0)) {
                nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                goto out;
        }
        if (ipam_file_commit(&f, err) < 0)
                goto out;
        *out = got;
        rc = 0;
out:
        if (rc < 0)
                nk_error_wrap(err, "allocate an address on network %s", net);
        ipam_file_close(&f);
        return rc;
}

int nk_ipam_lookup(int dirfd, const char *net, const struct nk_ipam_pool *p, const char *id,
                   struct nk_ip *out, nk_error **err)
{
        struct ipam_file f;
        int rc = -1;
        _cleanup_free_ struct nk_ip *taken = NULL;
        size_t n;
        struct nk_ip mine;
        bool has_mine = false;
        json_t *o;
        if (ipam_file_open(dirfd, net, &f, err) < 0 || !(o = pool_obj(&f, p, err)) ||
            pool_taken(o, id, &taken, &n, &mine, &has_mine, err) < 0)
                goto out;
        if (!has_mine) {
                nk_error_set(err, ENOENT, "container %s has no address on network %s", id, net);
                goto out;
        }
        *out = mine;
        rc = 0;
out:
        ipam_file_close(&f);
        return rc;
}

/* Drop every address whose owner `keep` refuses; *dropped counts them. */
static int ipam_drop(int dirfd, const char *net, bool (*keep)(const char *owner, void *data),
                     void *data, size_t *dropped, nk_error **err)
{
        struct ipam_file f;
        int rc = -1;
        size_t k = 0;
        if (ipam_file_open(dirfd, net, &f, err) < 0)
                goto out;
        const char *subnet, *addr;
        json_t *pool, *owner, *tmp;
        json_object_foreach (json_object_get(f.root, "pools"), subnet, pool) {
                json_t *addrs = json_object_get(pool, "addresses");
                json_object_foreach_safe (addrs, tmp, addr, owner) {
                        if (json_is_string(owner) && keep(json_string_value(owner), data))
                                continue;
                        json_object_del(addrs, addr);
                        k++;
                }
        }
        json_t *ports = json_object_get(f.root, "ports");
        size_t kp = 0;
        json_object_foreach_safe (ports, tmp, addr, owner) {
                if (json_is_string(owner) && keep(json_string_value(owner), data))
                        continue;
                json_object_del(ports, addr);
                kp++;
        }
        if ((k || kp) && ipam_file_commit(&f, err) < 0)
                goto out;
        if (dropped)
                *dropped = k;
        rc = 0;
out:
        ipam_file_close(&f);
        return rc;
}

static bool keep_not_id(const char *owner, void *data)
{
        return !streq(owner, (const char *)data);
}

int nk_ipam_release(int dirfd, const char *net, const char *id, nk_error **err)
{
        if (ipam_drop(dirfd, net, keep_not_id, (void *)id, NULL, err) < 0)
                return nk_error_wrap(err, "release the address of %s on network %s", id, net);
        return 0;
}

struct live_ids {
        const char *const *v;
        size_t n;
};

static bool keep_live(const char *owner, void *data)
{
        const struct live_ids *l = data;
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->v[i], owner))
                        return true;
        return false;
}

int nk_ipam_reconcile(int dirfd, const char *net, const char *const *live, size_t n, size_t *freed,
                      nk_error **err)
{
        struct live_ids l = {live, n};
        if (ipam_drop(dirfd, net, keep_live, &l, freed, err) < 0)
                return nk_error_wrap(err, "reconcile IPAM of network %s", net);
        return 0;
}

static json_t *ports_obj(struct ipam_file *f, nk_error **err)
{
        json_t *ports = json_object_get(f->root, "ports");
        if (!ports) {
                ports = json_object();
                if (!ports || json_object_set_new(f->root, "ports", ports) < 0) {
                        nk_error_set(err, ENOMEM, "IPAM of network %s", f->net);
                        return NULL;
                }
        }
        if (!json_is_object(ports)) {
                nk_error_set(err, 0, "IPAM file `%s`: .ports is not an object", f->name);
                return NULL;
        }
        return ports;
}

int nk_ipam_port_add(int dirfd, const char *net, const char *key, const char *id, const char *what,
                     nk_error **err)
{
        struct ipam_file f;
        json_t *ports;
        int rc = -1;
        if (ipam_file_open(dirfd, net, &f, err) < 0 || !(ports = ports_obj(&f, err)))
                goto out;
        json_t *owner = json_object_get(ports, key);
        if (owner) {
                nk_error_set(err, EEXIST, "port %s is already published by %s", what,
                             json_is_string(owner) ? json_string_value(owner) : "?");
                goto out;
        }
        if (json_object_set_new(ports, key, json_string(id)) < 0) {
                nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                goto out;
        }
        rc = ipam_file_commit(&f, err);
out:
        ipam_file_close(&f);
        return rc;
}

int nk_ipam_port_del(int dirfd, const char *net, const char *key, const char *id, const char *what,
                     nk_error **err)
{
        struct ipam_file f;
        json_t *ports;
        int rc = -1;
        if (ipam_file_open(dirfd, net, &f, err) < 0 || !(ports = ports_obj(&f, err)))
                goto out;
        json_t *owner = json_object_get(ports, key);
        if (!json_is_string(owner) || !streq(json_string_value(owner), id)) {
                nk_error_set(err, ENOENT, "port %s is not published by %s", what, id);
                goto out;
        }
        json_object_del(ports, key);
        rc = ipam_file_commit(&f, err);
out:
        ipam_file_close(&f);
        return rc;
}

int nk_ipam_ports_of(int dirfd, const char *net, const char *id, char ***out, nk_error **err)
{
        struct ipam_file f;
        json_t *ports;
        int rc = -1;
        _cleanup_strv_ char **v = calloc(1, sizeof(char *));
        size_t k = 0;
        if (!v) {
                nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                return -1;
        }
        if (ipam_file_open(dirfd, net, &f, err) < 0 || !(ports = ports_obj(&f, err)))
                goto out;
        const char *key;
        json_t *owner;
        json_object_foreach (ports, key, owner) {
                if (!json_is_string(owner) || !streq(json_string_value(owner), id))
                        continue;
                char **nv = realloc(v, (k + 2) * sizeof(char *));
                if (!nv || !(nv[k] = strdup(key))) {
                        if (nv)
                                v = nv;
                        nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                        goto out;
                }
                v = nv;
                v[++k] = NULL;
        }
        *out = TAKE_PTR(v);
        rc = 0;
out:
        ipam_file_close(&f);
        return rc;
}

int nk_ipam_count(int dirfd, const char *net, size_t *out, nk_error **err)
{
        struct ipam_file f;
        if (ipam_file_open(dirfd, net, &f, err) < 0) {
                ipam_file_close(&f);
                return -1;
        }
        size_t k = 0;
        const char *subnet;
        json_t *pool;
        json_object_foreach (json_object_get(f.root, "pools"), subnet, pool)
                k += json_object_size(json_object_get(pool, "addresses"));
        ipam_file_close(&f);
        *out = k;
        return 0;
}

void nk_ipam_entries_free(struct nk_ipam_entry *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i].id);
        free(v);
}

int nk_ipam_entries(int dirfd, const char *net, struct nk_ipam_entry **out, size_t *n,
                    nk_error **err)
{
        struct ipam_file f;
        int rc = -1;
        size_t cap = 0, k = 0;
        struct nk_ipam_entry *v = NULL;
        if (ipam_file_open(dirfd, net, &f, err) < 0)
                goto out;
        const char *subnet, *addr;
        json_t *pool, *owner;
        json_object_foreach (json_object_get(f.root, "pools"), subnet, pool)
                cap += json_object_size(json_object_get(pool, "addresses"));
        v = calloc(cap ? cap : 1, sizeof(*v));
        if (!v) {
                nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                goto out;
        }
        json_object_foreach (json_object_get(f.root, "pools"), subnet, pool) {
                json_object_foreach (json_object_get(pool, "addresses"), addr, owner) {
                        if (k == cap || !json_is_string(owner) ||
                            nk_ip_parse(addr, &v[k].ip, NULL) < 0)
                                continue;
                        if (!(v[k].id = strdup(json_string_value(owner)))) {
                                nk_error_set(err, ENOMEM, "IPAM of network %s", net);
                                goto out;
                        }
                        k++;
                }
        }
        *out = TAKE_PTR(v);
        *n = k;
        rc = 0;
out:
        nk_ipam_entries_free(v, k);
        ipam_file_close(&f);
        return rc;
}

int nk_ipam_destroy(int dirfd, const char *net, nk_error **err)
{
        char name[300];
        snprintf(name, sizeof(name), "%s.json", net);
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "remove IPAM file `%s`", name);
        snprintf(name, sizeof(name), "%s.lock", net);
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "remove IPAM lock `%s`", name);
        return 0;
}
