#include "net/nft.h"
#include "engine/jsonutil.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* libnftables is opened on the first nk_nft_open, not linked: a container
 * run without published ports never touches nftables, and loading the
 * library (with libnftnl, libxtables, libgmp) costs 2-8 ms here. */
static struct {
        struct nft_ctx *(*ctx_new)(uint32_t);
        void (*ctx_free)(struct nft_ctx *);
        int (*buffer_output)(struct nft_ctx *);
        int (*buffer_error)(struct nft_ctx *);
        const char *(*get_output)(struct nft_ctx *);
        const char *(*get_error)(struct nft_ctx *);
        int (*run_cmd)(struct nft_ctx *, const char *);
        void (*output_set_flags)(struct nft_ctx *, unsigned int);
} lib;

static int load_lib(nk_error **err)
{
        if (lib.run_cmd)
                return 0;
        void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return nk_error_set(err, 0, "nftables: cannot load libnftables.so.1 (%s)",
                                    dlerror());
        const struct {
                const char *name;
                void **slot;
        } syms[] = {
                {"nft_ctx_new", (void **)&lib.ctx_new},
                {"nft_ctx_free", (void **)&lib.ctx_free},
                {"nft_ctx_buffer_output", (void **)&lib.buffer_output},
                {"nft_ctx_buffer_error", (void **)&lib.buffer_error},
                {"nft_ctx_get_output_buffer", (void **)&lib.get_output},
                {"nft_ctx_get_error_buffer", (void **)&lib.get_error},
                {"nft_ctx_output_set_flags", (void **)&lib.output_set_flags},
                {"nft_run_cmd_from_buffer", (void **)&lib.run_cmd}, /* last: the "loaded" mark */
        };
        for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
                if (!(*syms[i].slot = dlsym(h, syms[i].name)))
                        return nk_error_set(err, 0, "nftables: libnftables has no %s",
                                            syms[i].name);
        return 0;
}

#define nft_ctx_new               lib.ctx_new
#define nft_ctx_free              lib.ctx_free
#define nft_ctx_buffer_output     lib.buffer_output
#define nft_ctx_buffer_error      lib.buffer_error
#define nft_ctx_get_output_buffer lib.get_output
#define nft_ctx_get_error_buffer  lib.get_error
#define nft_ctx_output_set_flags  lib.output_set_flags
#define nft_run_cmd_from_buffer   lib.run_cmd

struct nk_nft {
        struct nft_ctx *ctx;
};

/* Made whole in one transaction when absent (`create table` fails if a
 * concurrent nook made it first, and the whole transaction with it, so the
 * rules are never added twice). Output-hook DNAT makes published ports
 * reachable from the host itself; the hairpin rule masquerades a
 * container's connection to a published port that lands back on a nook
 * network, so the answer returns through the host.
 *
 * Isolation between networks, as Docker's: a packet forwarded from one
 * nook network's subnet to another's is dropped unless a published port
 * led it there (ct status dnat). Two sets say it for every network with
 * one element each: nets (every subnet) and samenet (subnet . subnet of
 * one network); routed networks forward between their own members, which
 * samenet lets through. Bridged traffic inside a network never reaches
 * the forward hook. */
static const char table_def[] =
        "create table inet nook\n"
        "table inet nook {\n"
        "  set links { type ifname; }\n"
        "  set masqnet4 { type ipv4_addr; flags interval; }\n"
        "  set masqnet6 { type ipv6_addr; flags interval; }\n"
        "  set internal4 { type ipv4_addr; flags interval; }\n"
        "  set internal6 { type ipv6_addr; flags interval; }\n"
        "  set nets4 { type ipv4_addr; flags interval; }\n"
        "  set nets6 { type ipv6_addr; flags interval; }\n"
        "  set samenet4 { type ipv4_addr . ipv4_addr; flags interval; }\n"
        "  set samenet6 { type ipv6_addr . ipv6_addr; flags interval; }\n"
        "  map pub4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n"
        "  map pub4any { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
        "  map pub6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }\n"
        "  map pub6any { type inet_proto . inet_service : ipv6_addr . inet_service; }\n"
        "  chain publish {\n"
        "    dnat ip to ip daddr . meta l4proto . th dport map @pub4\n"
        "    dnat ip to meta l4proto . th dport map @pub4any\n"
        "    dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6\n"
        "    dnat ip6 to meta l4proto . th dport map @pub6any\n"
        "  }\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    fib daddr type local jump publish\n"
        "  }\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        "    fib daddr type local jump publish\n"
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        "    ip saddr @masqnet4 oifname != @links masquerade\n"
        "    ip6 saddr @masqnet6 oifname != @links masquerade\n"
        "    ip saddr 127.0.0.0/8 ct status dnat oifname @links masquerade\n"
        "    ct status dnat iifname @links oifname @links masquerade\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    ip saddr @internal4 oifname != @links drop\n"
        "    ip daddr @internal4 iifname != @links drop\n"
        "    ip6 saddr @internal6 oifname != @links drop\n"
        "    ip6 daddr @internal6 iifname != @links drop\n"
        "    ip saddr @nets4 ip daddr @nets4 ct status & dnat == 0 "
        "ip saddr . ip daddr != @samenet4 drop\n"
        "    ip6 saddr @nets6 ip6 daddr @nets6 ct status & dnat == 0 "
        "ip6 saddr . ip6 daddr != @samenet6 drop\n"
        "  }\n"
        "}\n";

int nk_nft_open(struct nk_nft **out, nk_error **err)
{
        if (load_lib(err) < 0)
                return -1;
        struct nk_nft *n = calloc(1, sizeof(*n));
        if (!n)
                return nk_error_set(err, ENOMEM, "nftables context");
        n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!n->ctx) {
                free(n);
                return nk_error_set(err, ENOMEM, "nftables context");
        }
        nft_ctx_buffer_output(n->ctx);
        nft_ctx_buffer_error(n->ctx);
        *out = n;
        return 0;
}

void nk_nft_close(struct nk_nft *n)
{
        if (!n)
                return;
        nft_ctx_free(n->ctx);
        free(n);
}

/* The errno an nftables error text stands for (libnftables gives text). */
static int text_errno(const char *t)
{
        if (strstr(t, "File exists"))
                return EEXIST;
        if (strstr(t, "No such file or directory"))
                return ENOENT;
        if (strstr(t, "Operation not permitted"))
                return EPERM;
        if (strstr(t, "Device or resource busy"))
                return EBUSY;
        return 0;
}

/* Run commands as one transaction. On failure *err says `what` and the
 * first line of nftables' message. */
/* libnftables keeps appending to its buffers until they are read: empty
 * them before a command whose output or error is wanted. */
static void drain(struct nk_nft *n)
{
        (void)nft_ctx_get_output_buffer(n->ctx);
        (void)nft_ctx_get_error_buffer(n->ctx);
}

static int run(struct nk_nft *n, const char *cmds, const char *what, nk_error **err)
{
        drain(n);
        if (nft_run_cmd_from_buffer(n->ctx, cmds) == 0)
                return 0;
        const char *t = nft_ctx_get_error_buffer(n->ctx);
        if (!t)
                t = "";
        if (strncmp(t, "Error: ", 7) == 0)
                t += 7;
        int len = (int)strcspn(t, "\n");
        /* "No such file or directory", "Could not process rule: File
         * exists": the errno says it all */
        int e = text_errno(t);
        if (e && memchr(t, ':', (size_t)len) == NULL)
                return nk_error_set(err, e, "nftables: %s", what);
        if (e && strncmp(t, "Could not process rule", 22) == 0)
                return nk_error_set(err, e, "nftables: %s", what);
        return nk_error_set(err, e, "nftables: %s: %.*s", what, len, t);
}

/* Listing one chain (a few rules) says whether the table is there without
 * printing its sets, which may hold thousands of elements. */
static bool table_exists(struct nk_nft *n)
{
        drain(n);
        return nft_run_cmd_from_buffer(n->ctx, "list chain inet nook publish") == 0;
}

static int ensure_table(struct nk_nft *n, nk_error **err)
{
        nk_error *e = NULL;
        if (run(n, table_def, "create table inet nook", &e) == 0)
                return 0;
        /* Someone made it meanwhile (create table fails on an existing
         * one, and the whole transaction with it): theirs is the same. */
        if (table_exists(n)) {
                nk_error_free(e);
                return 0;
        }
        return nk_error_pass(err, e);
}

/* A growing command text. */
struct cmdbuf {
        char *s;
        size_t len, cap;
        bool oom;
};

static void add(struct cmdbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct cmdbuf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *line = NULL;
        int k = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (k < 0) {
                b->oom = true;
                return;
        }
        if (b->len + (size_t)k + 2 > b->cap) {
                size_t cap = (b->cap + (size_t)k + 2) * 2;
                char *s = realloc(b->s, cap);
                if (!s) {
                        free(line);
                        b->oom = true;
                        return;
                }
                b->s = s;
                b->cap = cap;
        }
        memcpy(b->s + b->len, line, (size_t)k);
        b->len += (size_t)k;
        b->s[b->len++] = '\n';
        b->s[b->len] = '\0';
        free(line);
}

static bool safe_ifname(const char *s)
{
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return true;
}

static const char *fam(int family)
{
        return family == AF_INET ? "4" : "6";
}

static void net_cmds(struct cmdbuf *b, const char *verb, const struct nk_nft_net *net)
{
        if (net->link)
                add(b, "%s element inet nook links { \"%s\" }", verb, net->link);
        /* masquerade by subnet, set once per network: attaching a
         * container needs no nftables call at all */
        for (size_t i = 0; !net->internal && i < net->n_subnets; i++) {
                char c[NK_CIDR_STR_MAX];
                nk_cidr_format(&net->subnets[i], c);
                add(b, "%s element inet nook masqnet%s { %s }", verb,
                    fam(net->subnets[i].ip.family), c);
        }
        for (size_t i = 0; net->internal && i < net->n_subnets; i++) {
                char c[NK_CIDR_STR_MAX];
                nk_cidr_format(&net->subnets[i], c);
                add(b, "%s element inet nook internal%s { %s }", verb,
                    fam(net->subnets[i].ip.family), c);
        }
        /* isolation: every subnet, and every pair of one network's own */
        for (size_t i = 0; i < net->n_subnets; i++) {
                char c[NK_CIDR_STR_MAX], d[NK_CIDR_STR_MAX];
                int f = net->subnets[i].ip.family;
                nk_cidr_format(&net->subnets[i], c);
                add(b, "%s element inet nook nets%s { %s }", verb, fam(f), c);
                for (size_t j = 0; j < net->n_subnets; j++) {
                        if (net->subnets[j].ip.family != f)
                                continue;
                        nk_cidr_format(&net->subnets[j], d);
                        add(b, "%s element inet nook samenet%s { %s . %s }", verb, fam(f), c, d);
                }
        }
}

static void ep_cmds(struct cmdbuf *b, const char *verb, const struct nk_nft_endpoint *ep)
{
        if (ep->link)
                add(b, "%s element inet nook links { \"%s\" }", verb, ep->link);
}

/* Add: one transaction. The table is made only when the transaction
 * finds it (or one of its sets) missing: checking first would make
 * libnftables fetch the whole table, elements included, every time. */
static int apply(struct nk_nft *n, struct cmdbuf *b, const char *what, nk_error **err)
{
        _cleanup_free_ char *s = b->s;
        if (b->oom)
                return nk_error_set(err, ENOMEM, "nftables: %s", what);
        if (!s)
                return 0;
        nk_error *e = NULL;
        if (run(n, s, what, &e) == 0)
                return 0;
        if (e->errno_ != ENOENT)
                return nk_error_pass(err, e);
        nk_error_free(e);
        if (ensure_table(n, err) < 0)
                return -1;
        return run(n, s, what, err);
}

/* Delete: one transaction; when it fails because some element is already
 * gone (a half-finished earlier removal), each line on its own, absent
 * ones skipped. */
static int remove_all(struct nk_nft *n, struct cmdbuf *b, const char *what, nk_error **err)
{
        _cleanup_free_ char *s = b->s;
        if (b->oom)
                return nk_error_set(err, ENOMEM, "nftables: %s", what);
        if (!s)
                return 0;
        nk_error *e = NULL;
        if (run(n, s, what, &e) == 0)
                return 0;
        if (e->errno_ != ENOENT)
                return nk_error_pass(err, e);
        nk_error_free(e);
        for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
                e = NULL;
                if (run(n, line, what, &e) < 0 && e->errno_ != ENOENT)
                        return nk_error_pass(err, e);
                nk_error_free(e);
        }
        return 0;
}

int nk_nft_network_up(struct nk_nft *n, const struct nk_nft_net *net, nk_error **err)
{
        if (net->link && !safe_ifname(net->link))
                return nk_error_set(err, 0, "nftables: bad interface name `%s`", net->link);
        struct cmdbuf b = {0};
        net_cmds(&b, "add", net);
        return apply(n, &b, "add network elements", err);
}

int nk_nft_network_down(struct nk_nft *n, const struct nk_nft_net *net, nk_error **err)
{
        if (net->link && !safe_ifname(net->link))
                return nk_error_set(err, 0, "nftables: bad interface name `%s`", net->link);
        struct cmdbuf b = {0};
        net_cmds(&b, "delete", net);
        if (remove_all(n, &b, "remove network elements", err) < 0)
                return -1;
        return nk_nft_drop_if_empty(n, err);
}

int nk_nft_attach(struct nk_nft *n, const struct nk_nft_net *net, const struct nk_nft_endpoint *ep,
                  nk_error **err)
{
        if ((ep->link && !safe_ifname(ep->link)) || (net && net->link && !safe_ifname(net->link)))
                return nk_error_set(err, 0, "nftables: bad interface name");
        struct cmdbuf b = {0};
        if (net)
                net_cmds(&b, "add", net);
        ep_cmds(&b, "add", ep);
        return apply(n, &b, "add container elements", err);
}

int nk_nft_detach(struct nk_nft *n, const struct nk_nft_endpoint *ep, nk_error **err)
{
        if (ep->link && !safe_ifname(ep->link))
                return nk_error_set(err, 0, "nftables: bad interface name `%s`", ep->link);
        struct cmdbuf b = {0};
        ep_cmds(&b, "delete", ep);
        return remove_all(n, &b, "remove container elements", err);
}

static void port_text(const struct nk_port *p, char *buf, size_t len)
{
        char h[NK_IP_STR_MAX];
        if (p->host_ip.family == 0)
                snprintf(buf, len, "%u/%s", p->host_port, p->proto);
        else {
                nk_ip_format(&p->host_ip, h);
                snprintf(buf, len, p->host_ip.family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", h,
                         p->host_port, p->proto);
        }
}

void nk_nft_port_key(const struct nk_port *p, char out[NK_NFT_KEY_MAX])
{
        char h[NK_IP_STR_MAX];
        const char *f = fam(p->host_ip.family ? p->host_ip.family : p->container_ip.family);
        if (p->host_ip.family == 0) {
                snprintf(out, NK_NFT_KEY_MAX, "pub%sany { %s . %u", f, p->proto, p->host_port);
                return;
        }
        nk_ip_format(&p->host_ip, h);
        snprintf(out, NK_NFT_KEY_MAX, "pub%s { %s . %s . %u", f, h, p->proto, p->host_port);
}

/* The key text lacks the closing brace so that a value can follow. */
static void port_cmd(struct cmdbuf *b, const char *verb, const struct nk_port *p, bool with_value)
{
        char key[NK_NFT_KEY_MAX], c[NK_IP_STR_MAX];
        nk_nft_port_key(p, key);
        nk_ip_format(&p->container_ip, c);
        if (with_value)
                add(b, "%s element inet nook %s : %s . %u }", verb, key, c, p->container_port);
        else
                add(b, "%s element inet nook %s }", verb, key);
}

int nk_nft_delete_keys(struct nk_nft *n, char *const *keys, nk_error **err)
{
        struct cmdbuf b = {0};
        for (size_t i = 0; keys && keys[i]; i++) {
                /* keys come from nook's own IPAM file: refuse anything that
                 * could be more than one element */
                if (strpbrk(keys[i], ";}\n"))
                        return nk_error_set(err, 0, "nftables: bad port key `%s`", keys[i]);
                add(&b, "delete element inet nook %s }", keys[i]);
        }
        return remove_all(n, &b, "unpublish ports", err);
}

static int port_check(const struct nk_port *p, nk_error **err)
{
        if (p->container_ip.family != AF_INET && p->container_ip.family != AF_INET6)
                return nk_error_set(err, 0, "published port: no container address");
        if (p->host_ip.family && p->host_ip.family != p->container_ip.family)
                return nk_error_set(
                        err, 0, "published port: host and container addresses differ in family");
        if (!streq(p->proto, "tcp") && !streq(p->proto, "udp") && !streq(p->proto, "sctp"))
                return nk_error_set(err, 0, "published port: protocol `%s` is not tcp, udp or sctp",
                                    p->proto);
        if (!p->host_port || !p->container_port)
                return nk_error_set(err, 0, "published port: port 0");
        return 0;
}

int nk_nft_publish(struct nk_nft *n, const struct nk_port *p, nk_error **err)
{
        if (port_check(p, err) < 0)
                return -1;
        struct cmdbuf b = {0};
        port_cmd(&b, "create", p, true);
        char t[80];
        port_text(p, t, sizeof(t));
        nk_error *e = NULL;
        if (apply(n, &b, "publish port", &e) == 0)
                return 0;
        if (e->errno_ == EEXIST) {
                nk_error_free(e);
                return nk_error_set(err, EEXIST, "port %s is already published", t);
        }
        nk_error_pass(err, e);
        return nk_error_wrap(err, "publish %s", t);
}

int nk_nft_unpublish(struct nk_nft *n, const struct nk_port *p, nk_error **err)
{
        if (port_check(p, err) < 0)
                return -1;
        struct cmdbuf b = {0};
        port_cmd(&b, "delete", p, false);
        char t[80];
        port_text(p, t, sizeof(t));
        if (remove_all(n, &b, "unpublish port", err) < 0)
                return nk_error_wrap(err, "unpublish %s", t);
        return 0;
}

/* The table as nftables' JSON; *out NULL when there is no table. */
static int list_json(struct nk_nft *n, json_t **out, nk_error **err)
{
        drain(n);
        nft_ctx_output_set_flags(n->ctx, NFT_CTX_OUTPUT_JSON);
        int rc = nft_run_cmd_from_buffer(n->ctx, "list table inet nook");
        nft_ctx_output_set_flags(n->ctx, 0);
        *out = NULL;
        if (rc != 0)
                return 0;
        json_error_t je;
        json_t *doc = json_loads(nft_ctx_get_output_buffer(n->ctx), 0, &je);
        if (!json_is_array(json_object_get(doc, "nftables"))) {
                json_decref(doc);
                return nk_error_set(err, 0, "nftables: unreadable listing of table inet nook");
        }
        *out = doc;
        return 0;
}

int nk_nft_drop_if_empty(struct nk_nft *n, nk_error **err)
{
        _cleanup_jansson_ json_t *doc = NULL;
        json_t *items;
        if (list_json(n, &doc, err) < 0)
                return -1;
        if (!doc)
                return 0; /* absent */
        items = json_object_get(doc, "nftables");
        size_t i;
        json_t *it;
        json_array_foreach (items, i, it) {
                json_t *set = json_object_get(it, "set");
                if (!set)
                        set = json_object_get(it, "map");
                json_t *elem = json_object_get(set, "elem");
                if (json_is_array(elem) && json_array_size(elem) > 0)
                        return 0; /* still in use */
        }
        return run(n, "delete table inet nook", "delete table inet nook", err);
}

int nk_port_parse(const char *s, struct nk_port *out, nk_error **err)
{
        struct nk_port p = {0};
        char buf[128];
        if (strlen(s) >= sizeof(buf))
                return nk_error_set(err, 0, "port mapping `%.40s...` is too long", s);
        snprintf(buf, sizeof(buf), "%s", s);
        char *slash = strrchr(buf, '/');
        snprintf(p.proto, sizeof(p.proto), "tcp");
        if (slash) {
                *slash = '\0';
                if (!streq(slash + 1, "tcp") && !streq(slash + 1, "udp") &&
                    !streq(slash + 1, "sctp"))
                        return nk_error_set(
                                err, 0, "port mapping `%s`: protocol `%s` is not tcp, udp or sctp",
                                s, slash + 1);
                snprintf(p.proto, sizeof(p.proto), "%s", slash + 1);
        }
        char *ports = buf;
        if (buf[0] == '[') { /* [v6]:host:ctr */
                char *end = strchr(buf, ']');
                if (!end || end[1] != ':')
                        return nk_error_set(err, 0, "port mapping `%s`: bad [address]", s);
                *end = '\0';
                if (nk_ip_parse(buf + 1, &p.host_ip, NULL) < 0 || p.host_ip.family != AF_INET6)
                        return nk_error_set(err, 0,
                                            "port mapping `%s`: `%s` is not an IPv6 address", s,
                                            buf + 1);
                ports = end + 2;
        } else {
                char *first = strchr(buf, ':'), *last = strrchr(buf, ':');
                if (first && first != last) {
                        *first = '\0';
                        if (nk_ip_parse(buf, &p.host_ip, NULL) < 0 || p.host_ip.family != AF_INET)
                                return nk_error_set(
                                        err, 0, "port mapping `%s`: `%s` is not an IPv4 address", s,
                                        buf);
                        ports = first + 1;
                }
        }
        char *colon = strchr(ports, ':');
        if (!colon)
                return nk_error_set(err, 0, "port mapping `%s`: want [IP:]HOST_PORT:CONTAINER_PORT",
                                    s);
        *colon = '\0';
        unsigned long long hp, cp;
        if (nk_parse_uint(ports, 65535, &hp) < 0 || hp == 0 ||
            nk_parse_uint(colon + 1, 65535, &cp) < 0 || cp == 0)
                return nk_error_set(err, 0, "port mapping `%s`: ports are 1 to 65535", s);
        p.host_port = (uint16_t)hp;
        p.container_port = (uint16_t)cp;
        *out = p;
        return 0;
}
