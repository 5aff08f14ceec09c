#include "net/network.h"
#include "engine/jsonutil.h"
#include "engine/store.h"
#include "net/rtnl.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LINK "nook0"

void nk_network_free(struct nk_network *n)
{
        if (!n)
                return;
        json_decref(n->labels);
        free(n);
}

/* STORE/networks and STORE/networks/ipam, made when absent. */
struct net_dirs {
        int dir, ipam;
};

static void dirs_close(struct net_dirs *d)
{
        if (d->dir >= 0)
                close(d->dir);
        if (d->ipam >= 0)
                close(d->ipam);
}

static int subdir(int dfd, const char *name, nk_error **err)
{
        if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
                return nk_error_set(err, errno, "mkdir `%s`", name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", name);
        return fd;
}

static int dirs_open(const char *store, struct net_dirs *d, nk_error **err)
{
        d->dir = d->ipam = -1;
        if (nk_mkdir_p(store, 0711, err) < 0)
                return -1;
        _cleanup_close_ int sfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
                return nk_error_set(err, errno, "open store `%s`", store);
        if ((d->dir = subdir(sfd, "networks", err)) < 0 ||
            (d->ipam = subdir(d->dir, "ipam", err)) < 0) {
                dirs_close(d);
                return nk_error_wrap(err, "store `%s`", store);
        }
        return 0;
}

/* flock of STORE/networks/lock: create and remove hold it. */
static int lock_networks(const struct net_dirs *d, nk_error **err)
{
        int fd = openat(d->dir, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return nk_error_set(err, errno, "open networks lock");
        if (nk_flock_wait(fd, LOCK_EX) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "lock networks");
        }
        return fd;
}

static bool name_ok(const char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > 63 || s[0] == '.' || s[0] == '-' || s[0] == '_')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return true;
}

/* ---- the record ---- */

json_t *nk_network_json(const struct nk_network *n)
{
        json_t *cfg = json_array();
        for (size_t i = 0; i < n->n_pools; i++) {
                char s[NK_CIDR_STR_MAX], g[NK_IP_STR_MAX], r[NK_CIDR_STR_MAX];
                nk_cidr_format(&n->pools[i].subnet, s);
                nk_ip_format(&n->pools[i].gateway, g);
                nk_cidr_format(&n->pools[i].range, r);
                json_t *c = json_pack("{s:s,s:s}", "Subnet", s, "Gateway", g);
                if (n->has_range[i])
                        json_object_set_new(c, "IPRange", json_string(r));
                json_array_append_new(cfg, c);
        }
        json_t *opts = json_object();
        if (n->mtu) {
                char m[16];
                snprintf(m, sizeof(m), "%u", n->mtu);
                json_object_set_new(opts, "mtu", json_string(m));
        }
        json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:{s:s,s:o},s:o,s:O}", "Name",
                              n->name, "Id", n->id, "Created", n->created, "Scope", "local",
                              "Driver", n->driver, "Link", n->link, "EnableIPv6", n->ipv6,
                              "Internal", n->internal, "IPAM", "Driver", "default", "Config", cfg,
                              "Options", opts, "Labels", n->labels ? n->labels : json_object());
        if (!v)
                nk_oom();
        return v;
}

static int record_str(json_t *rec, const char *key, char *out, size_t len, const char *file,
                      nk_error **err)
{
        const char *s = json_string_value(json_object_get(rec, key));
        if (!s || strlen(s) >= len)
                return nk_error_set(err, 0, "network record `%s`: .%s is missing or too long", file,
                                    key);
        snprintf(out, len, "%s", s);
        return 0;
}

static int pool_from_json(json_t *c, struct nk_network *n, const char *file, nk_error **err)
{
        struct nk_cidr subnet, range;
        struct nk_ip gw;
        const char *s = json_string_value(json_object_get(c, "Subnet"));
        const char *g = json_string_value(json_object_get(c, "Gateway"));
        const char *r = json_string_value(json_object_get(c, "IPRange"));
        size_t i = n->n_pools;
        if (i == NK_NETWORK_POOLS_MAX || !s || !g || nk_cidr_parse(s, &subnet, err) < 0 ||
            nk_ip_parse(g, &gw, err) < 0 || (r && nk_cidr_parse(r, &range, err) < 0) ||
            nk_ipam_pool_init(&n->pools[i], &subnet, r ? &range : NULL, &gw, err) < 0)
                return nk_error_set(err, 0, "network record `%s`: bad .IPAM.Config[%zu]", file, i);
        n->has_range[i] = r != NULL;
        n->n_pools++;
        return 0;
}

static int network_from_json(json_t *rec, const char *file, struct nk_network **out, nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = calloc(1, sizeof(*n));
        if (!n)
                return nk_error_set(err, ENOMEM, "read network `%s`", file);
        if (record_str(rec, "Name", n->name, sizeof(n->name), file, err) < 0 ||
            record_str(rec, "Id", n->id, sizeof(n->id), file, err) < 0 ||
            record_str(rec, "Driver", n->driver, sizeof(n->driver), file, err) < 0 ||
            record_str(rec, "Link", n->link, sizeof(n->link), file, err) < 0 ||
            record_str(rec, "Created", n->created, sizeof(n->created), file, err) < 0)
                return -1;
        n->internal = json_is_true(json_object_get(rec, "Internal"));
        n->ipv6 = json_is_true(json_object_get(rec, "EnableIPv6"));
        const char *mtu =
                json_string_value(json_object_get(json_object_get(rec, "Options"), "mtu"));
        if (mtu)
                n->mtu = (unsigned)strtoul(mtu, NULL, 10);
        json_t *labels = json_object_get(rec, "Labels");
        n->labels = json_is_object(labels) ? json_incref(labels) : json_object();
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(json_object_get(rec, "IPAM"), "Config"), i, c)
                if (pool_from_json(c, n, file, err) < 0)
                        return -1;
        if (n->n_pools == 0)
                return nk_error_set(err, 0, "network record `%s`: no subnet", file);
        *out = TAKE_PTR(n);
        return 0;
}

static int read_record(int dir, const char *name, struct nk_network **out, nk_error **err)
{
        char file[80];
        snprintf(file, sizeof(file), "%s.json", name);
        _cleanup_jansson_ json_t *rec = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(dir, file, &rec, &e) < 0) {
                if (e->errno_ == ENOENT) {
                        nk_error_free(e);
                        return nk_error_set(err, ENOENT, "network %s not found", name);
                }
                return nk_error_pass(err, e);
        }
        return network_from_json(rec, file, out, err);
}

static int list_in(int dir, struct nk_network ***out, size_t *n, nk_error **err);

int nk_network_list(const char *store, struct nk_network ***out, size_t *n, nk_error **err)
{
        struct net_dirs d;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        int rc = list_in(d.dir, out, n, err);
        dirs_close(&d);
        return rc;
}

void nk_network_list_free(struct nk_network **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                nk_network_free(v[i]);
        free(v);
}

static int by_name(const void *a, const void *b)
{
        return strcmp((*(struct nk_network *const *)a)->name,
                      (*(struct nk_network *const *)b)->name);
}

static int list_in(int dir, struct nk_network ***out, size_t *n, nk_error **err)
{
        int fd = dup(dir);
        if (fd < 0)
                return nk_error_set(err, errno, "list networks");
        lseek(fd, 0, SEEK_SET);
        _cleanup_closedir_ DIR *dh = fdopendir(fd);
        if (!dh) {
                close(fd);
                return nk_error_set(err, errno, "list networks");
        }
        struct nk_network **v = NULL;
        size_t k = 0;
        struct dirent *de;
        while ((de = readdir(dh))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || len > 68 || !streq(de->d_name + len - 5, ".json"))
                        continue;
                char name[64];
                snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
                struct nk_network *one;
                struct nk_network **nv = realloc(v, (k + 1) * sizeof(*v));
                if (!nv) {
                        nk_network_list_free(v, k);
                        return nk_error_set(err, ENOMEM, "list networks");
                }
                v = nv;
                if (read_record(dir, name, &one, err) < 0) {
                        nk_network_list_free(v, k);
                        return -1;
                }
                v[k++] = one;
        }
        if (k)
                qsort(v, k, sizeof(*v), by_name);
        *out = v;
        *n = k;
        return 0;
}

static int get_in(int dir, const char *name, struct nk_network **out, nk_error **err)
{
        if (name_ok(name)) {
                nk_error *e = NULL;
                if (read_record(dir, name, out, &e) == 0)
                        return 0;
                if (e->errno_ != ENOENT)
                        return nk_error_pass(err, e);
                nk_error_free(e);
        }
        /* an id or a unique prefix of one */
        struct nk_network **v;
        size_t n, hit = SIZE_MAX, hits = 0;
        if (list_in(dir, &v, &n, err) < 0)
                return -1;
        size_t len = strlen(name);
        for (size_t i = 0; len && i < n; i++)
                if (strncmp(v[i]->id, name, len) == 0) {
                        hit = i;
                        hits++;
                }
        if (hits == 1)
                *out = TAKE_PTR(v[hit]);
        nk_network_list_free(v, n);
        if (hits > 1)
                return nk_error_set(err, 0, "network id prefix `%s` is ambiguous", name);
        if (hits == 0)
                return nk_error_set(err, ENOENT, "network %s not found", name);
        return 0;
}

int nk_network_get(const char *store, const char *name, struct nk_network **out, nk_error **err)
{
        struct net_dirs d;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        int rc = get_in(d.dir, name, out, err);
        dirs_close(&d);
        return rc;
}

/* ---- create ---- */

/* The host's routes of both families: what no network may overlap. */
static int host_routes(struct nk_cidr **out, size_t *n, nk_error **err)
{
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_free_ struct nk_cidr *v4 = NULL, *v6 = NULL;
        size_t n4, n6;
        if (nk_rtnl_open(-1, &r, err) < 0 || nk_rtnl_routes(r, AF_INET, &v4, &n4, err) < 0 ||
            nk_rtnl_routes(r, AF_INET6, &v6, &n6, err) < 0)
                return nk_error_wrap(err, "read the host's routes");
        struct nk_cidr *v = malloc((n4 + n6 + 1) * sizeof(*v));
        if (!v)
                return nk_error_set(err, ENOMEM, "read the host's routes");
        if (n4)
                memcpy(v, v4, n4 * sizeof(*v));
        if (n6)
                memcpy(v + n4, v6, n6 * sizeof(*v));
        *out = v;
        *n = n4 + n6;
        return 0;
}

struct taken_nets {
        struct nk_network **nets;
        size_t n_nets;
        struct nk_cidr *routes;
        size_t n_routes;
};

/* Refuse (naming what it overlaps) a subnet that meets another network's
 * or a host route. */
static int check_free(const struct taken_nets *t, const struct nk_cidr *c, nk_error **err)
{
        char s[NK_CIDR_STR_MAX], o[NK_CIDR_STR_MAX];
        nk_cidr_format(c, s);
        for (size_t i = 0; i < t->n_nets; i++)
                for (size_t j = 0; j < t->nets[i]->n_pools; j++)
                        if (nk_cidr_overlap(c, &t->nets[i]->pools[j].subnet)) {
                                nk_cidr_format(&t->nets[i]->pools[j].subnet, o);
                                return nk_error_set(err, 0, "subnet %s overlaps network %s (%s)", s,
                                                    t->nets[i]->name, o);
                        }
        for (size_t i = 0; i < t->n_routes; i++)
                if (nk_cidr_overlap(c, &t->routes[i])) {
                        nk_cidr_format(&t->routes[i], o);
                        return nk_error_set(err, 0, "subnet %s overlaps host route %s", s, o);
                }
        return 0;
}

/* An IPv4 subnet for a network given none: Docker's order of private
 * ranges, the first one nothing overlaps. */
static int pick_subnet4(const struct taken_nets *t, struct nk_cidr *out, nk_error **err)
{
        for (unsigned i = 0; i < 15 + 16; i++) {
                struct nk_cidr c = {.ip.family = AF_INET};
                if (i < 15) { /* 172.17.0.0/16 .. 172.31.0.0/16 */
                        c.ip.a[0] = 172, c.ip.a[1] = (uint8_t)(17 + i), c.len = 16;
                } else { /* 192.168.0.0/20 .. 192.168.240.0/20 */
                        c.ip.a[0] = 192, c.ip.a[1] = 168, c.ip.a[2] = (uint8_t)((i - 15) * 16);
                        c.len = 20;
                }
                if (check_free(t, &c, NULL) == 0) {
                        *out = c;
                        return 0;
                }
        }
        return nk_error_set(err, 0,
                            "no free subnet in 172.17-31.0.0/16 and 192.168.0.0/16: give --subnet");
}

/* A unique local IPv6 /64 (RFC 4193): fd + 40 random bits + subnet 0. */
static int pick_subnet6(const struct taken_nets *t, struct nk_cidr *out, nk_error **err)
{
        for (int tries = 0; tries < 8; tries++) {
                struct nk_cidr c = {.ip.family = AF_INET6, .len = 64};
                c.ip.a[0] = 0xfd;
                if (getrandom(c.ip.a + 1, 5, 0) != 5)
                        return nk_error_set(err, errno, "random ULA prefix");
                if (check_free(t, &c, NULL) == 0) {
                        *out = c;
                        return 0;
                }
        }
        return nk_error_set(err, 0, "no free IPv6 ULA subnet: give --subnet");
}

static int family_slot(int family)
{
        return family == AF_INET ? 0 : 1;
}

/* Sort --subnet/--gateway/--ip-range by family (one of each at most). */
struct parsed_opts {
        struct nk_cidr subnet[2], range[2];
        struct nk_ip gateway[2];
        bool has_subnet[2], has_range[2], has_gateway[2];
};

static int parse_opts(const struct nk_network_opts *o, struct parsed_opts *p, nk_error **err)
{
        *p = (struct parsed_opts){0};
        for (size_t i = 0; i < o->n_subnets; i++) {
                struct nk_cidr c;
                if (nk_cidr_parse(o->subnets[i], &c, err) < 0)
                        return nk_error_wrap(err, "--subnet");
                int k = family_slot(c.ip.family);
                if (p->has_subnet[k])
                        return nk_error_set(err, 0, "--subnet: a second IPv%s subnet `%s`",
                                            k ? "6" : "4", o->subnets[i]);
                p->subnet[k] = c;
                p->has_subnet[k] = true;
        }
        for (size_t i = 0; i < o->n_ranges; i++) {
                struct nk_cidr c;
                if (nk_cidr_parse(o->ranges[i], &c, err) < 0)
                        return nk_error_wrap(err, "--ip-range");
                int k = family_slot(c.ip.family);
                if (!p->has_subnet[k] || p->has_range[k])
                        return nk_error_set(
                                err, 0, "--ip-range %s: no --subnet of its family, or a second one",
                                o->ranges[i]);
                p->range[k] = c;
                p->has_range[k] = true;
        }
        for (size_t i = 0; i < o->n_gateways; i++) {
                struct nk_ip g;
                if (nk_ip_parse(o->gateways[i], &g, err) < 0)
                        return nk_error_wrap(err, "--gateway");
                int k = family_slot(g.family);
                if (!p->has_subnet[k] || p->has_gateway[k])
                        return nk_error_set(
                                err, 0, "--gateway %s: no --subnet of its family, or a second one",
                                o->gateways[i]);
                p->gateway[k] = g;
                p->has_gateway[k] = true;
        }
        if (p->has_subnet[1] && !o->ipv6)
                return nk_error_set(err, 0, "--subnet %s: an IPv6 subnet needs --ipv6",
                                    o->subnets[p->has_subnet[0] ? 1 : 0]);
        return 0;
}

static void random_id(char out[65])
{
        uint8_t b[32];
        if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t)((ts.tv_nsec >> (i % 8)) ^ (uint64_t)getpid() ^ i * 131);
        }
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

struct nft_net_buf {
        struct nk_cidr subnets[NK_NETWORK_POOLS_MAX];
        struct nk_nft_net net;
};

static const struct nk_nft_net *nft_net(const struct nk_network *n, struct nft_net_buf *b)
{
        for (size_t i = 0; i < n->n_pools; i++)
                b->subnets[i] = n->pools[i].subnet;
        b->net = (struct nk_nft_net){.link = n->link[0] ? n->link : NULL,
                                     .internal = n->internal,
                                     .subnets = b->subnets,
                                     .n_subnets = n->n_pools};
        return &b->net;
}

/* ---- host sysctls ----
 *
 * A network that is not --internal needs the host to forward (outbound
 * NAT, hairpin, ports reached from other hosts): nook turns
 * net.ipv4.ip_forward (and, for an IPv6 network, net.ipv6.conf.all.
 * forwarding) on when such a network comes up, having written the old
 * values to STORE/networks/sysctl-saved, and puts them back when the last
 * such network goes. route_localnet is set on nook's own interfaces only
 * (ports reached via 127.0.0.1); it goes away with them. */

#define FWD4 "/proc/sys/net/ipv4/ip_forward"
#define FWD6 "/proc/sys/net/ipv6/conf/all/forwarding"

static int sysctl_get(const char *path, char *buf, size_t len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd < 0 ? -1 : read(fd, buf, len - 1);
        if (k <= 0)
                return -1;
        buf[k] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static int sysctl_set(const char *path, const char *v, nk_error **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v))
                return nk_error_set(err, errno, "set sysctl `%s` to %s", path, v);
        return 0;
}

/* Forwarding on for n (a network not --internal); the first time, the old
 * values are saved. */
static int forward_on(int dir, const struct nk_network *n, nk_error **err)
{
        if (n->internal)
                return 0;
        char v4[16] = "", v6[16] = "";
        if (faccessat(dir, "sysctl-saved", F_OK, 0) < 0) {
                char text[96];
                (void)sysctl_get(FWD4, v4, sizeof v4);
                (void)sysctl_get(FWD6, v6, sizeof v6);
                snprintf(text, sizeof text, "%s\n%s\n", v4[0] ? v4 : "-", v6[0] ? v6 : "-");
                _cleanup_close_ int fd = openat(dir, "sysctl-saved.tmp",
                                                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
                    fsync(fd) < 0 || renameat(dir, "sysctl-saved.tmp", dir, "sysctl-saved") < 0)
                        return nk_error_set(err, errno, "save the host's forwarding sysctls");
        }
        if (sysctl_get(FWD4, v4, sizeof v4) < 0 || !streq(v4, "1"))
                if (sysctl_set(FWD4, "1", err) < 0)
                        return -1;
        if (n->ipv6 && (sysctl_get(FWD6, v6, sizeof v6) < 0 || !streq(v6, "1")))
                if (sysctl_set(FWD6, "1", err) < 0)
                        return -1;
        return 0;
}

/* After a network went: with no network left that forwards, the saved
 * values go back. */
static int forward_restore(int dir, nk_error **err)
{
        struct nk_network **v;
        size_t k;
        if (list_in(dir, &v, &k, err) < 0)
                return -1;
        bool wanted = false;
        for (size_t i = 0; i < k; i++)
                wanted |= !v[i]->internal;
        nk_network_list_free(v, k);
        char text[96] = "", v4[16] = "", v6[16] = "";
        _cleanup_close_ int fd = openat(dir, "sysctl-saved", O_RDONLY | O_CLOEXEC);
        if (wanted || fd < 0)
                return 0;
        ssize_t r = read(fd, text, sizeof text - 1);
        if (r <= 0 || sscanf(text, "%15s %15s", v4, v6) != 2)
                return nk_error_set(err, 0, "`sysctl-saved`: unreadable");
        if ((!streq(v4, "-") && sysctl_set(FWD4, v4, err) < 0) ||
            (!streq(v6, "-") && sysctl_set(FWD6, v6, err) < 0))
                return -1;
        if (unlinkat(dir, "sysctl-saved", 0) < 0)
                return nk_error_set(err, errno, "remove `sysctl-saved`");
        return 0;
}

/* route_localnet on one of nook's interfaces: DNAT of 127.0.0.1 to a
 * container leaves by it (with the 127/8 masquerade rule). */
static int localnet_on(const char *link, nk_error **err)
{
        char path[96];
        snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/route_localnet", link);
        return sysctl_set(path, "1", err);
}

/* Make the network's bridge: gateway addresses, up. Removed again on
 * failure. */
static int bridge_up(struct nk_rtnl *r, const struct nk_network *n, nk_error **err)
{
        struct nk_link l;
        if (nk_rtnl_bridge_add(r, n->link, n->mtu, err) < 0 || nk_rtnl_commit(r, err) < 0)
                return -1;
        if (nk_rtnl_link_get(r, n->link, &l, err) < 0)
                goto undo;
        for (size_t i = 0; i < n->n_pools; i++)
                if (nk_rtnl_addr_add(r, n->link, l.index, &n->pools[i].gateway,
                                     n->pools[i].subnet.len, err) < 0)
                        goto undo;
        if (nk_rtnl_link_up(r, n->link, 0, err) < 0 || nk_rtnl_commit(r, err) < 0 ||
            localnet_on(n->link, err) < 0)
                goto undo;
        return 0;
undo:
        nk_rtnl_discard(r);
        if (nk_rtnl_link_del(r, n->link, NULL) == 0)
                (void)nk_rtnl_commit(r, NULL);
        return -1;
}

/* The network's kernel objects: bridge, nft elements. */
static int network_up(const struct nk_network *n, nk_error **err)
{
        struct nft_net_buf nb;
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        if (nk_rtnl_open(-1, &r, err) < 0 || nk_nft_open(&nft, err) < 0)
                return -1;
        if (n->link[0] && bridge_up(r, n, err) < 0)
                return -1;
        if (nk_nft_network_up(nft, nft_net(n, &nb), err) < 0) {
                if (n->link[0] && nk_rtnl_link_del(r, n->link, NULL) == 0)
                        (void)nk_rtnl_commit(r, NULL);
                return -1;
        }
        return 0;
}

/* Remove them; what is already gone is fine. */
static int network_down(const struct nk_network *n, nk_error **err)
{
        struct nft_net_buf nb;
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        if (nk_nft_open(&nft, err) < 0 || nk_nft_network_down(nft, nft_net(n, &nb), err) < 0)
                return -1;
        if (!n->link[0])
                return 0;
        nk_error *e = NULL;
        if (nk_rtnl_open(-1, &r, err) < 0 || nk_rtnl_link_del(r, n->link, err) < 0)
                return -1;
        if (nk_rtnl_commit(r, &e) < 0) {
                if (e->errno_ != ENODEV && e->errno_ != ENOENT)
                        return nk_error_pass(err, e);
                nk_error_free(e); /* already gone */
        }
        return 0;
}

static int build_network(const struct nk_network_opts *o, const struct taken_nets *t,
                         const char *link, struct nk_network *n, nk_error **err)
{
        struct parsed_opts p;
        if (parse_opts(o, &p, err) < 0)
                return -1;
        if (!p.has_subnet[0] && pick_subnet4(t, &p.subnet[0], err) < 0)
                return -1;
        p.has_subnet[0] = true;
        if (o->ipv6 && !p.has_subnet[1]) {
                if (pick_subnet6(t, &p.subnet[1], err) < 0)
                        return -1;
                p.has_subnet[1] = true;
        }
        for (int k = 0; k < 2; k++) {
                if (!p.has_subnet[k])
                        continue;
                if (check_free(t, &p.subnet[k], err) < 0 ||
                    nk_ipam_pool_init(&n->pools[n->n_pools], &p.subnet[k],
                                      p.has_range[k] ? &p.range[k] : NULL,
                                      p.has_gateway[k] ? &p.gateway[k] : NULL, err) < 0)
                        return -1;
                n->has_range[n->n_pools++] = p.has_range[k];
        }
        snprintf(n->name, sizeof(n->name), "%s", o->name);
        random_id(n->id);
        snprintf(n->driver, sizeof(n->driver), "%s", o->driver ? o->driver : "bridge");
        if (streq(n->driver, "bridge"))
                snprintf(n->link, sizeof(n->link), "%s", link ? link : "");
        if (streq(n->driver, "bridge") && !link)
                snprintf(n->link, sizeof(n->link), "nk-%.12s", n->id);
        n->internal = o->internal;
        n->ipv6 = o->ipv6;
        n->mtu = o->mtu;
        n->labels = o->labels ? json_deep_copy(o->labels) : json_object();
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(n->created, sizeof(n->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return 0;
}

static int create_locked(const struct net_dirs *d, const struct nk_network_opts *o,
                         const char *link, struct nk_network **out, nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = calloc(1, sizeof(*n));
        _cleanup_jansson_ json_t *rec = NULL;
        struct taken_nets t = {0};
        char file[80];
        int rc = -1;
        if (!n)
                return nk_error_set(err, ENOMEM, "create network %s", o->name);
        struct nk_network *old;
        if (get_in(d->dir, o->name, &old, NULL) == 0 && streq(old->name, o->name)) {
                nk_network_free(old);
                return nk_error_set(err, EEXIST, "network %s already exists", o->name);
        }
        if (list_in(d->dir, &t.nets, &t.n_nets, err) < 0 ||
            host_routes(&t.routes, &t.n_routes, err) < 0 || build_network(o, &t, link, n, err) < 0)
                goto out;
        /* The record first: a create killed after it leaves a network that
         * `network rm` removes whole (and attach completes, below). */
        snprintf(file, sizeof(file), "%s.json", n->name);
        rec = nk_network_json(n);
        if (nk_ipam_destroy(d->ipam, n->name, err) < 0 ||
            nk_store_write_json(d->dir, file, rec, err) < 0)
                goto out;
        if (network_up(n, err) < 0 || forward_on(d->dir, n, err) < 0) {
                (void)network_down(n, NULL);
                (void)unlinkat(d->dir, file, 0);
                goto out;
        }
        *out = TAKE_PTR(n);
        rc = 0;
out:
        nk_network_list_free(t.nets, t.n_nets);
        free(t.routes);
        return rc;
}

int nk_network_create(const char *store, const struct nk_network_opts *o, struct nk_network **out,
                      nk_error **err)
{
        if (!o->name || !name_ok(o->name))
                return nk_error_set(
                        err, 0,
                        "network name `%s`: 1 to 63 of [A-Za-z0-9_.-], not starting with . - _",
                        o->name ? o->name : "");
        if (o->driver && !streq(o->driver, "bridge") && !streq(o->driver, "routed"))
                return nk_error_set(err, 0, "--driver `%s`: bridge or routed", o->driver);
        if (o->mtu && (o->mtu < 68 || o->mtu > 65535))
                return nk_error_set(err, 0, "mtu %u: 68 to 65535", o->mtu);
        struct net_dirs d;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        int rc = -1, lock = lock_networks(&d, err);
        if (lock >= 0) {
                rc = create_locked(&d, o, NULL, out, err);
                close(lock);
        }
        dirs_close(&d);
        if (rc < 0)
                nk_error_wrap(err, "create network %s", o->name);
        return rc;
}

int nk_network_default(const char *store, struct nk_network **out, nk_error **err)
{
        struct net_dirs d;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        int rc = -1, lock = lock_networks(&d, err);
        if (lock >= 0) {
                nk_error *e = NULL;
                rc = read_record(d.dir, NK_NETWORK_DEFAULT, out, &e);
                if (rc < 0 && e->errno_ == ENOENT) {
                        nk_error_free(e);
                        struct nk_network_opts o = {.name = NK_NETWORK_DEFAULT};
                        rc = create_locked(&d, &o, DEFAULT_LINK, out, err);
                        if (rc < 0)
                                nk_error_wrap(err, "create the default network");
                } else if (rc < 0) {
                        nk_error_pass(err, e);
                }
                close(lock);
        }
        dirs_close(&d);
        return rc;
}

int nk_network_remove(const char *store, const char *name, nk_error **err)
{
        struct net_dirs d;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        int rc = -1, lock = lock_networks(&d, err);
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        size_t used = 0;
        char file[80];
        if (lock < 0 || get_in(d.dir, name, &n, err) < 0 ||
            nk_ipam_count(d.ipam, n->name, &used, err) < 0)
                goto out;
        if (used) {
                nk_error_set(err, EBUSY, "network %s has %zu address%s in use by containers",
                             n->name, used, used == 1 ? "" : "es");
                goto out;
        }
        snprintf(file, sizeof(file), "%s.json", n->name);
        /* The record goes last: a remove that dies half-way can be run
         * again and finds the network to finish. */
        if (network_down(n, err) < 0 || nk_ipam_destroy(d.ipam, n->name, err) < 0)
                goto out;
        if (unlinkat(d.dir, file, 0) < 0) {
                nk_error_set(err, errno, "remove `%s`", file);
                goto out;
        }
        (void)fsync(d.dir);
        if (forward_restore(d.dir, err) < 0)
                goto out;
        rc = 0;
out:
        if (lock >= 0)
                close(lock);
        dirs_close(&d);
        if (rc < 0)
                nk_error_wrap(err, "remove network %s", name);
        return rc;
}

/* ---- containers ---- */

void nk_network_host_link(const struct nk_network *n, const char *id, char out[16])
{
        /* FNV-1a over network id and container id: 48 bits in 12 hex
         * digits keep 1,100 containers' names apart (collision odds ~2e-9). */
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const char *p = n->id; *p; p++)
                h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;
        for (const char *p = id; *p; p++)
                h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
        h ^= h >> 33; /* mix the last bytes into the digits kept */
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        snprintf(out, 16, "nkv%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

static int want_for(const char *const *want, int family, struct nk_ip *out, bool *has,
                    nk_error **err)
{
        *has = false;
        for (size_t i = 0; want && want[i]; i++) {
                struct nk_ip ip;
                if (nk_ip_parse(want[i], &ip, err) < 0)
                        return nk_error_wrap(err, "--ip");
                if (ip.family != family)
                        continue;
                *out = ip;
                *has = true;
        }
        return 0;
}

static unsigned host_len(int family)
{
        return family == AF_INET ? 32 : 128;
}

/* The host side: veth (peer straight into the container's namespace),
 * then on a bridge, or (routed) the gateway address and a host route to
 * each container address on it. */
static int attach_host(struct nk_rtnl *r, const struct nk_network *n, int bridge,
                       const struct nk_endpoint *ep, int netns_fd, bool *made, nk_error **err)
{
        struct nk_link l;
        /* bridge: one message (veth, its peer in the container, on the
         * bridge, up); the kernel makes all of it or none */
        /* IPv4 only: no link-local address on the host side (the peer
         * is down, so no carrier yet: nothing was generated) */
        if (nk_rtnl_veth_add(r, ep->host_link, ep->ifname, netns_fd, n->mtu, bridge, err) < 0 ||
            (!n->ipv6 && nk_rtnl_link_no_ipv6ll(r, ep->host_link, err) < 0) ||
            nk_rtnl_commit(r, err) < 0)
                return -1;
        *made = true;
        if (n->link[0])
                return 0;
        if (nk_rtnl_link_get(r, ep->host_link, &l, err) < 0 || localnet_on(ep->host_link, err) < 0)
                return -1;
        for (size_t i = 0; i < ep->n_addrs; i++) {
                int f = ep->addrs[i].family;
                struct nk_cidr dst = nk_cidr_of(&ep->addrs[i], host_len(f));
                if (nk_rtnl_addr_add(r, ep->host_link, l.index, &ep->gateways[i], host_len(f),
                                     err) < 0 ||
                    nk_rtnl_route_add(r, ep->host_link, l.index, &dst, NULL, err) < 0)
                        return -1;
        }
        return nk_rtnl_commit(r, err);
}

/* Routed: the host knows each container address's MAC for good. Resolved
 * by ARP/ND instead, a network of more than 512 containers outgrows the
 * neighbour table's gc_thresh2 (512 entries): the kernel then evicts
 * entries still in use and pings between containers fail (220 of 1,100
 * in bench/network.sh). Permanent entries are not counted. */
static int host_neighbours(struct nk_rtnl *r, const struct nk_endpoint *ep, nk_error **err)
{
        struct nk_link l;
        unsigned char mac[6];
        if (sscanf(ep->mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                   &mac[4], &mac[5]) != 6)
                return nk_error_set(err, 0, "container link %s: MAC `%s`", ep->ifname, ep->mac);
        if (nk_rtnl_link_get(r, ep->host_link, &l, err) < 0)
                return -1;
        for (size_t i = 0; i < ep->n_addrs; i++)
                if (nk_rtnl_neigh_add(r, ep->host_link, l.index, &ep->addrs[i], mac, err) < 0)
                        return -1;
        return nk_rtnl_commit(r, err);
}

/* The container side, in one batch: lo and eth0 up, addresses, routes. */
static int attach_container(const struct nk_network *n, struct nk_endpoint *ep, int netns_fd,
                            nk_error **err)
{
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        struct nk_link l;
        bool routed = !n->link[0], has_default[NK_NETWORK_POOLS_MAX] = {false};
        if (nk_rtnl_open(netns_fd, &r, err) < 0 || nk_rtnl_link_get(r, ep->ifname, &l, err) < 0)
                return -1;
        snprintf(ep->mac, sizeof ep->mac, "%s", l.mac);
        /* On a second network the first one keeps the default route
         * (Docker's rule); eth0 is the first one, in a namespace made for
         * it, so nothing is asked. Asked before anything is queued: a
         * request between queued messages would break the batch's
         * numbering. */
        for (size_t i = 0; !streq(ep->ifname, "eth0") && i < ep->n_addrs; i++)
                if (nk_rtnl_has_default(r, ep->addrs[i].family, &has_default[i], err) < 0)
                        return -1;
        if (nk_rtnl_link_up(r, "lo", 0, err) < 0)
                return -1;
        for (size_t i = 0; i < ep->n_addrs; i++)
                if (nk_rtnl_addr_add(r, ep->ifname, l.index, &ep->addrs[i], ep->prefix[i], err) < 0)
                        return -1;
        if ((!n->ipv6 && nk_rtnl_link_no_ipv6ll(r, ep->ifname, err) < 0) ||
            nk_rtnl_link_up(r, ep->ifname, 0, err) < 0)
                return -1;
        for (size_t i = 0; i < ep->n_addrs; i++) {
                struct nk_cidr gw = nk_cidr_of(&ep->gateways[i], host_len(ep->gateways[i].family));
                if (routed && nk_rtnl_route_add(r, ep->ifname, l.index, &gw, NULL, err) < 0)
                        return -1;
                if (!n->internal && !has_default[i] &&
                    nk_rtnl_route_add(r, ep->ifname, l.index, NULL, &ep->gateways[i], err) < 0)
                        return -1;
        }
        return nk_rtnl_commit(r, err);
}

static struct nk_nft_endpoint nft_endpoint(const struct nk_network *n, const struct nk_endpoint *ep)
{
        return (struct nk_nft_endpoint){.link = n->link[0] ? NULL : ep->host_link};
}

/* nftables is opened only when needed (libnftables is loaded then). */
static int nft_need(struct nk_nft **nft, nk_error **err)
{
        return *nft ? 0 : nk_nft_open(nft, err);
}

static int allocate(int ipam, const struct nk_network *n, const char *id, const char *const *want,
                    struct nk_endpoint *ep, nk_error **err)
{
        for (size_t i = 0; i < n->n_pools; i++) {
                const struct nk_ipam_pool *p = &n->pools[i];
                struct nk_ip w;
                bool has;
                if (want_for(want, p->subnet.ip.family, &w, &has, err) < 0 ||
                    nk_ipam_allocate(ipam, n->name, p, id, has ? &w : NULL, &ep->addrs[i], err) < 0)
                        return -1;
                ep->gateways[i] = p->gateway;
                ep->prefix[i] = n->link[0] ? p->subnet.len : host_len(p->subnet.ip.family);
                ep->n_addrs++;
        }
        for (size_t i = 0; want && want[i]; i++) { /* an --ip of a family the network lacks */
                struct nk_ip w;
                bool found = false;
                if (nk_ip_parse(want[i], &w, err) < 0)
                        return nk_error_wrap(err, "--ip");
                for (size_t k = 0; k < n->n_pools; k++)
                        found |= n->pools[k].subnet.ip.family == w.family;
                if (!found)
                        return nk_error_set(err, 0, "--ip %s: network %s has no IPv%s subnet",
                                            want[i], n->name, w.family == AF_INET ? "4" : "6");
        }
        return 0;
}

int nk_network_attach(const char *store, const struct nk_network *n, const char *id, int netns_fd,
                      const char *ifname, const char *const *want, struct nk_endpoint *out,
                      nk_error **err)
{
        struct net_dirs d;
        struct nk_endpoint ep = {0};
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        bool veth = false;
        int rc = -1;
        if (dirs_open(store, &d, err) < 0)
                return nk_error_wrap(err, "connect %s to network %s", id, n->name);
        nk_network_host_link(n, id, ep.host_link);
        snprintf(ep.ifname, sizeof(ep.ifname), "%s", ifname ? ifname : "eth0");
        struct nk_link old;
        if (nk_rtnl_open(-1, &r, err) < 0) {
                nk_error_wrap(err, "connect %s to network %s", id, n->name);
                goto out;
        }
        if (nk_rtnl_link_get(r, ep.host_link, &old, NULL) == 0) {
                /* its address and veth are the existing connection's */
                nk_error_set(err, EEXIST, "already connected (veth %s exists)", ep.host_link);
                nk_error_wrap(err, "connect %s to network %s", id, n->name);
                goto out;
        }
        /* A bridge lost since create (a reboot empties the kernel, not the
         * store) is made again. */
        struct nk_link br = {0};
        bool remade = false;
        if (n->link[0] && nk_rtnl_link_get(r, n->link, &br, NULL) < 0) {
                if (bridge_up(r, n, err) < 0 || nk_rtnl_link_get(r, n->link, &br, err) < 0) {
                        nk_error_wrap(err, "connect %s to network %s", id, n->name);
                        goto out;
                }
                remade = true;
                if (forward_on(d.dir, n, err) < 0) {
                        nk_error_wrap(err, "connect %s to network %s", id, n->name);
                        goto out;
                }
        }
        if (allocate(d.ipam, n, id, want, &ep, err) < 0)
                goto fail;
        if (attach_host(r, n, br.index, &ep, netns_fd, &veth, err) < 0 ||
            attach_container(n, &ep, netns_fd, err) < 0 ||
            (!n->link[0] && host_neighbours(r, &ep, err) < 0))
                goto fail;
        /* A bridge network's container needs no element (masquerade goes
         * by subnet); its elements are added again only with a bridge that
         * had to be made again (a reboot took the table too). A routed
         * container's host-side veth joins `links`. */
        struct nk_nft_endpoint ne = nft_endpoint(n, &ep);
        struct nft_net_buf nb;
        if ((ne.link || remade) &&
            (nft_need(&nft, err) < 0 || nk_nft_attach(nft, nft_net(n, &nb), &ne, err) < 0))
                goto fail;
        if (out)
                *out = ep;
        rc = 0;
        goto out;
fail:
        /* The veth's removal takes its peer (and the container side's
         * addresses and routes) with it. */
        if (r && veth) {
                nk_rtnl_discard(r);
                if (nk_rtnl_link_del(r, ep.host_link, NULL) == 0)
                        (void)nk_rtnl_commit(r, NULL);
        }
        (void)nk_ipam_release(d.ipam, n->name, id, NULL);
        nk_error_wrap(err, "connect %s to network %s", id, n->name);
out:
        dirs_close(&d);
        return rc;
}

/* Remove what attach and publish made for id: its ports (recorded in the
 * IPAM file), its elements, its veth. */
static int detach_one(int ipam, const struct nk_network *n, const char *id, struct nk_nft **nft,
                      struct nk_rtnl *r, bool del_link, nk_error **err)
{
        struct nk_endpoint ep = {0};
        nk_network_host_link(n, id, ep.host_link);
        struct nk_nft_endpoint ne = nft_endpoint(n, &ep);
        _cleanup_strv_ char **keys = NULL;
        if (nk_ipam_ports_of(ipam, n->name, id, &keys, err) < 0)
                return -1;
        /* no port and no element of its own: no nftables call */
        if ((keys[0] || ne.link) &&
            (nft_need(nft, err) < 0 || nk_nft_delete_keys(*nft, keys, err) < 0 ||
             nk_nft_detach(*nft, &ne, err) < 0))
                return -1;
        if (del_link) {
                if (nk_rtnl_link_del(r, ep.host_link, err) < 0)
                        return -1;
                nk_error *e = NULL;
                if (nk_rtnl_commit(r, &e) < 0) {
                        if (e->errno_ != ENODEV && e->errno_ != ENOENT)
                                return nk_error_pass(err, e);
                        nk_error_free(e); /* gone with its namespace */
                }
        }
        return 0; /* the rate limits' qdiscs went with the veth pair */
}

static int detach(const char *store, const struct nk_network *n, const char *id, bool del_link,
                  nk_error **err)
{
        struct net_dirs d;
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        int rc = -1;
        if (dirs_open(store, &d, err) < 0)
                return nk_error_wrap(err, "disconnect %s from network %s", id, n->name);
        /* The address is freed last, once nothing refers to it; no
         * netlink socket when the link is left to the namespace's end. */
        if ((!del_link || nk_rtnl_open(-1, &r, err) == 0) &&
            detach_one(d.ipam, n, id, &nft, r, del_link, err) == 0 &&
            nk_ipam_release(d.ipam, n->name, id, err) == 0)
                rc = 0;
        else
                nk_error_wrap(err, "disconnect %s from network %s", id, n->name);
        dirs_close(&d);
        return rc;
}

int nk_network_detach(const char *store, const struct nk_network *n, const char *id, nk_error **err)
{
        return detach(store, n, id, true, err);
}

int nk_network_release(const char *store, const struct nk_network *n, const char *id,
                       nk_error **err)
{
        return detach(store, n, id, false, err);
}

int nk_network_reconcile(const char *store, const struct nk_network *n, const char *const *live,
                         size_t n_live, size_t *freed, nk_error **err)
{
        struct net_dirs d;
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        struct nk_ipam_entry *v = NULL;
        size_t m = 0;
        int rc = -1;
        if (dirs_open(store, &d, err) < 0)
                return -1;
        if (nk_ipam_entries(d.ipam, n->name, &v, &m, err) < 0 || nk_rtnl_open(-1, &r, err) < 0)
                goto out;
        for (size_t i = 0; i < m; i++) {
                bool alive = false;
                for (size_t j = 0; j < n_live && !alive; j++)
                        alive = streq(live[j], v[i].id);
                if (!alive && detach_one(d.ipam, n, v[i].id, &nft, r, true, err) < 0)
                        goto out;
        }
        if (nk_ipam_reconcile(d.ipam, n->name, live, n_live, freed, err) < 0)
                goto out;
        rc = 0;
out:
        nk_ipam_entries_free(v, m);
        dirs_close(&d);
        if (rc < 0)
                nk_error_wrap(err, "reconcile network %s", n->name);
        return rc;
}

/* The container's address of the mapping's family, into p. */
static int port_addr(int ipam, const struct nk_network *n, const char *id, struct nk_port *p,
                     nk_error **err)
{
        int want = p->host_ip.family ? p->host_ip.family : AF_INET;
        for (size_t i = 0; i < n->n_pools; i++)
                if (n->pools[i].subnet.ip.family == want)
                        return nk_ipam_lookup(ipam, n->name, &n->pools[i], id, &p->container_ip,
                                              err);
        return nk_error_set(err, 0, "network %s has no IPv%s subnet", n->name,
                            want == AF_INET ? "4" : "6");
}

static void port_what(const struct nk_port *p, char *buf, size_t len)
{
        char h[NK_IP_STR_MAX];
        if (!p->host_ip.family) {
                snprintf(buf, len, "%u/%s", p->host_port, p->proto);
                return;
        }
        nk_ip_format(&p->host_ip, h);
        snprintf(buf, len, p->host_ip.family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", h,
                 p->host_port, p->proto);
}

int nk_network_publish(const char *store, const struct nk_network *n, const char *id,
                       struct nk_port *p, nk_error **err)
{
        struct net_dirs d;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        char key[NK_NFT_KEY_MAX], what[80];
        int rc = -1;
        if (dirs_open(store, &d, err) < 0)
                return nk_error_wrap(err, "publish a port of %s", id);
        port_what(p, what, sizeof(what));
        /* recorded first: a publish killed after it leaves a record whose
         * element detach deletes, or finds absent */
        if (port_addr(d.ipam, n, id, p, err) < 0 || nk_nft_open(&nft, err) < 0)
                goto out;
        nk_nft_port_key(p, key);
        if (nk_ipam_port_add(d.ipam, n->name, key, id, what, err) < 0)
                goto out;
        if (nk_nft_publish(nft, p, err) < 0) {
                (void)nk_ipam_port_del(d.ipam, n->name, key, id, what, NULL);
                goto out;
        }
        rc = 0;
out:
        dirs_close(&d);
        if (rc < 0)
                nk_error_wrap(err, "publish a port of %s", id);
        return rc;
}

int nk_network_unpublish(const char *store, const struct nk_network *n, const char *id,
                         struct nk_port *p, nk_error **err)
{
        struct net_dirs d;
        _cleanup_(nk_nft_closep) struct nk_nft *nft = NULL;
        char key[NK_NFT_KEY_MAX], what[80];
        char *keys[2] = {key, NULL};
        _cleanup_strv_ char **mine = NULL;
        int rc = -1;
        if (dirs_open(store, &d, err) < 0)
                return nk_error_wrap(err, "unpublish a port of %s", id);
        port_what(p, what, sizeof(what));
        if (port_addr(d.ipam, n, id, p, err) < 0 || nk_nft_open(&nft, err) < 0)
                goto out;
        nk_nft_port_key(p, key);
        if (nk_ipam_ports_of(d.ipam, n->name, id, &mine, err) < 0)
                goto out;
        bool held = false;
        for (size_t i = 0; mine[i]; i++)
                held |= streq(mine[i], key);
        if (!held) {
                nk_error_set(err, ENOENT, "port %s is not published by %s", what, id);
                goto out;
        }
        if (nk_nft_delete_keys(nft, keys, err) < 0 ||
            nk_ipam_port_del(d.ipam, n->name, key, id, what, err) < 0)
                goto out;
        rc = 0;
out:
        dirs_close(&d);
        if (rc < 0)
                nk_error_wrap(err, "unpublish a port of %s", id);
        return rc;
}

int nk_network_rate(const struct nk_network *n, const char *id, const char *netns,
                    const struct nk_tc_rates *want, struct nk_tc_rates *now, nk_error **err)
{
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *r = NULL;
        _cleanup_(nk_rtnl_closep) struct nk_rtnl *c = NULL;
        char link[16];
        nk_network_host_link(n, id, link);
        int rc = nk_rtnl_open(-1, &r, err);
        if (rc == 0 && netns) {
                _cleanup_close_ int fd = open(netns, O_RDONLY | O_CLOEXEC);
                rc = fd < 0 ? nk_error_set(err, errno, "open `%s`", netns)
                            : nk_rtnl_open(fd, &c, err);
        }
        if (rc == 0 && want)
                rc = nk_tc_set(r, c, link, want, err);
        if (rc == 0 && now)
                rc = nk_tc_get(r, c, link, now, err);
        if (rc < 0)
                nk_error_wrap(err, "rate limits of %s on network %s", id, n->name);
        return rc;
}
