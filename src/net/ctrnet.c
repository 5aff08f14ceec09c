/* A container's networks: netns file, attach, ports, /etc/hosts names
 * (see ctrnet.h). */
#include "net/ctrnet.h"
#include "engine/container/ctr.h"
#include "engine/jsonutil.h"
#include "net/network.h"
#include "net/ports.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* ---- the netns file ---------------------------------------------------- */

static void netns_remove(const char *root, const char *id)
{
        nk_ctrnet_netns_drop(root, id);
}

/* ---- `networks` in the container's directory ------------------------------ */

static char *ctr_file(const char *store, const char *id, const char *name)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id);
        char *p = NULL;
        if (!dir || asprintf(&p, "%s/%s", dir, name) < 0)
                return NULL;
        return p;
}

static char **read_networks(const char *store, const char *id)
{
        _cleanup_free_ char *path = ctr_file(store, id, "networks"), *text = NULL;
        char **v = calloc(1, sizeof(char *)), *save = NULL;
        size_t len;
        nk_error *e = NULL;
        if (!path || !v || nk_read_file(path, &text, &len, &e) < 0) {
                nk_error_free(e);
                return v;
        }
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (*l)
                        nk_strv_push(&v, l);
        return v;
}

static int write_networks(const char *store, const char *id, char *const *v, nk_error **err)
{
        _cleanup_free_ char *path = ctr_file(store, id, "networks");
        _cleanup_free_ char *text = strdup("");
        for (; text && v && *v; v++) {
                _cleanup_free_ char *prev = text;
                if (asprintf(&text, "%s%s\n", prev, *v) < 0)
                        text = NULL;
        }
        if (!path || !text)
                return nk_error_set(err, ENOMEM, "`networks`");
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

static int get_net(const char *store, const char *name, struct nk_network **n, nk_error **err)
{
        if (!name || streq(name, NK_NETWORK_DEFAULT))
                return nk_network_default(store, n, err);
        return nk_network_get(store, name, n, err);
}

static bool user_defined(const struct nk_network *n)
{
        return !streq(n->name, NK_NETWORK_DEFAULT);
}

/* ---- MAC addresses (SIOC[SG]IFHWADDR in the container's namespace) --------- */

static int netns_socket(int netns_fd, nk_error **err)
{
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0 || setns(netns_fd, CLONE_NEWNET) < 0)
                return nk_error_set(err, errno, "enter the container's network namespace");
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = errno;
        if (setns(self, CLONE_NEWNET) < 0) {
                if (s >= 0)
                        close(s);
                return nk_error_set(err, errno, "back to our network namespace");
        }
        if (s < 0)
                return nk_error_set(err, e, "socket in the container's network namespace");
        return s;
}

static int mac_set(int netns_fd, const char *ifname, const char *mac, nk_error **err)
{
        _cleanup_close_ int s = netns_socket(netns_fd, err);
        if (s < 0)
                return -1;
        struct ifreq r = {0};
        unsigned b[6];
        snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname);
        if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
                return nk_error_set(err, 0, "--mac-address %s: not a MAC address", mac);
        r.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        for (int i = 0; i < 6; i++)
                r.ifr_hwaddr.sa_data[i] = (char)b[i];
        if (ioctl(s, SIOCSIFHWADDR, &r) < 0)
                return nk_error_set(err, errno, "--mac-address %s on %s", mac, ifname);
        return 0;
}

static void mac_get(int netns_fd, const char *ifname, char out[18])
{
        out[0] = '\0';
        _cleanup_close_ int s = netns_socket(netns_fd, NULL);
        struct ifreq r = {0};
        snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname);
        if (s < 0 || ioctl(s, SIOCGIFHWADDR, &r) < 0)
                return;
        const unsigned char *a = (const unsigned char *)r.ifr_hwaddr.sa_data;
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- /etc/hosts ------------------------------------------------------------
 *
 * A container's `hosts` is bind-mounted over its /etc/hosts: it is only
 * ever rewritten in place (a rename would leave the container with the old
 * inode). On a user-defined network every member's line ("IP\tNAME ALIASES
 * ID12") is in every other member's file; STORE/networks/names/<net> keeps
 * the members' lines ("ID64 LINE"), under <net>.lock. */

static int hosts_replace(const char *path, const char *text, nk_error **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        if (ftruncate(fd, 0) < 0 || nk_write_all(fd, text, strlen(text)) < 0)
                return nk_error_set(err, errno, "write `%s`", path);
        return 0;
}

/* The file's lines but those for which drop(line, arg) says so. */
static char *filter_lines(const char *text, bool (*drop)(const char *line, size_t len, void *arg),
                          void *arg)
{
        size_t n = strlen(text);
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return NULL;
        for (const char *l = text; *l;) {
                const char *nl = strchr(l, '\n');
                size_t len = nl ? (size_t)(nl - l) : strlen(l);
                if (!drop(l, len, arg)) {
                        memcpy(o, l, len);
                        o += len;
                        *o++ = '\n';
                }
                l += len + (nl ? 1 : 0);
        }
        *o = '\0';
        return out;
}

static bool is_loopback_name(const char *l, size_t len, void *arg)
{
        (void)arg;
        (void)len;
        return strncmp(l, "127.0.1.1\t", 10) == 0;
}

/* The container's own line(s): its addresses and hostname instead of
 * 127.0.1.1 (Docker's). */
static int hosts_own(const char *store, const char *id, const char *hostname,
                     const struct nk_endpoint *ep, nk_error **err)
{
        _cleanup_free_ char *path = ctr_file(store, id, "hosts"), *text = NULL, *kept = NULL;
        size_t len;
        if (!path || nk_read_file(path, &text, &len, err) < 0)
                return -1;
        kept = filter_lines(text, is_loopback_name, NULL);
        for (size_t i = 0; kept && i < ep->n_addrs; i++) {
                char a[NK_IP_STR_MAX];
                nk_ip_format(&ep->addrs[i], a);
                _cleanup_free_ char *prev = kept;
                if (asprintf(&kept, "%s%s\t%s\n", prev, a, hostname) < 0)
                        kept = NULL;
        }
        if (!kept)
                return nk_error_set(err, ENOMEM, "hosts");
        return hosts_replace(path, kept, err);
}

struct names {
        int dir;  /* STORE/networks/names */
        int lock; /* <net>.lock, held */
        char file[80];
};

static void names_close(struct names *m)
{
        if (m->lock >= 0)
                close(m->lock);
        if (m->dir >= 0)
                close(m->dir);
}

static int names_open(const char *store, const struct nk_network *n, struct names *m,
                      nk_error **err)
{
        char dir[PATH_MAX], lock[96];
        m->dir = m->lock = -1;
        snprintf(dir, sizeof dir, "%s/networks/names", store);
        if (nk_mkdir_p(dir, 0700, err) < 0)
                return -1;
        m->dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(lock, sizeof lock, "%s.lock", n->name);
        snprintf(m->file, sizeof m->file, "%s", n->name);
        if (m->dir >= 0)
                m->lock = openat(m->dir, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (m->lock < 0 || nk_flock_wait(m->lock, LOCK_EX) < 0) {
                int e = errno;
                names_close(m);
                return nk_error_set(err, e, "lock the names of network %s", n->name);
        }
        return 0;
}

static char *names_read(const struct names *m)
{
        char *text = NULL;
        size_t len;
        nk_error *e = NULL;
        if (nk_read_file_at(m->dir, m->file, &text, &len, &e) < 0) {
                nk_error_free(e);
                return strdup("");
        }
        return text;
}

/* Swapped in unsynced (nk_swap_in_at): the lines of running members,
 * which a reboot ends; start joins again. */
static int names_write(const struct names *m, const char *text, nk_error **err)
{
        char tmp[96];
        snprintf(tmp, sizeof tmp, ".%s.tmp", m->file);
        _cleanup_close_ int fd =
                openat(m->dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || nk_write_all(fd, text, strlen(text)) < 0 ||
            nk_swap_in_at(m->dir, tmp, m->file) < 0)
                return nk_error_set(err, errno, "write the names of network %s", m->file);
        return 0;
}

/* "ID64 LINE": the id, and the line. */
static bool names_line(const char *l, size_t len, char id[65], const char **line, size_t *llen)
{
        if (len < 66 || l[64] != ' ')
                return false;
        memcpy(id, l, 64);
        id[64] = '\0';
        *line = l + 65;
        *llen = len - 65;
        return true;
}

static bool of_id(const char *l, size_t len, void *arg)
{
        char id[65];
        const char *line;
        size_t ll;
        return names_line(l, len, id, &line, &ll) && streq(id, (const char *)arg);
}

/* A line blanked by hosts_drop_peer. */
static bool is_blanked(const char *l, size_t len, void *arg)
{
        (void)arg;
        return len > 1 && l[0] == '#' && l[1] == ' ';
}

static int hosts_append(const char *store, const char *id, const char *text)
{
        _cleanup_free_ char *path = ctr_file(store, id, "hosts");
        _cleanup_close_ int fd =
                path ? open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW) : -1;
        return fd < 0 ? -1 : nk_write_all(fd, text, strlen(text));
}

/* Blank the peer's lines of a member's hosts file where they are ('#'
 * and spaces over them, one pwrite each): a leave touches a few bytes of
 * each member's file, not the whole file, so removing a container from a
 * network of 1,100 costs milliseconds, not seconds. A file whose blanked
 * lines outweigh the rest is compacted (rewritten in place) instead. */
static void hosts_drop_peer(const char *store, const char *id, const char *peer12)
{
        _cleanup_free_ char *path = ctr_file(store, id, "hosts"), *text = NULL;
        size_t len;
        nk_error *e = NULL;
        if (!path || nk_read_file(path, &text, &len, &e) < 0) {
                nk_error_free(e);
                return;
        }
        char needle[16];
        snprintf(needle, sizeof needle, " %.12s\n", peer12);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t blank = 0;
        for (char *hit = text;
             fd >= 0 && (hit = memmem(hit, len - (size_t)(hit - text), needle, strlen(needle)));) {
                char *start = hit;
                while (start > text && start[-1] != '\n')
                        start--;
                char *end = hit + strlen(needle) - 1; /* the newline */
                memset(start, ' ', (size_t)(end - start));
                start[0] = '#';
                if (pwrite(fd, start, (size_t)(end - start), start - text) < 0)
                        break;
                hit = end;
        }
        for (const char *l = text; *l;) { /* blanked bytes */
                const char *nl = strchr(l, '\n');
                size_t n = nl ? (size_t)(nl - l) : strlen(l);
                if (l[0] == '#' && n > 1 && l[1] == ' ')
                        blank += n + 1;
                l += n + (nl ? 1 : 0);
        }
        if (blank * 2 > len) {
                _cleanup_free_ char *kept = filter_lines(text, is_blanked, NULL);
                if (kept && hosts_replace(path, kept, &e) < 0)
                        nk_error_free(e);
        }
}

/* Each member but `self` of the names text: fn(id, line). */
static void names_each(const char *text, const char *self,
                       void (*fn)(const char *id, const char *line, size_t len, void *arg),
                       void *arg)
{
        for (const char *l = text; *l;) {
                const char *nl = strchr(l, '\n');
                size_t len = nl ? (size_t)(nl - l) : strlen(l), ll;
                char id[65];
                const char *line;
                if (names_line(l, len, id, &line, &ll) && !streq(id, self))
                        fn(id, line, ll, arg);
                l += len + (nl ? 1 : 0);
        }
}

struct join_ctx {
        const char *store, *mine; /* mine: the newcomer's lines */
        char *theirs;             /* the members' lines, for the newcomer */
        size_t len, cap;
        bool oom;
};

static void join_one(const char *id, const char *line, size_t len, void *arg)
{
        struct join_ctx *c = arg;
        (void)hosts_append(c->store, id, c->mine);
        /* a growing buffer: appending with asprintf copied the whole text
         * for each member, O(n^2) bytes per join */
        if (c->oom)
                return;
        if (c->len + len + 2 > c->cap) {
                size_t cap = (c->len + len + 2) * 2;
                char *p = realloc(c->theirs, cap);
                if (!p) {
                        c->oom = true;
                        return;
                }
                c->theirs = p;
                c->cap = cap;
        }
        memcpy(c->theirs + c->len, line, len);
        c->len += len;
        c->theirs[c->len++] = '\n';
        c->theirs[c->len] = '\0';
}

/* id joins n's names: its lines in every member's hosts file, theirs in
 * its own. */
static int names_join(const char *store, const struct nk_network *n, const char *id,
                      const char *name, char *const *aliases, const struct nk_endpoint *ep,
                      nk_error **err)
{
        struct names m;
        if (!user_defined(n))
                return 0;
        if (names_open(store, n, &m, err) < 0)
                return -1;
        _cleanup_free_ char *text = names_read(&m), *mine = strdup(""), *rec = NULL;
        _cleanup_free_ char *others = text ? filter_lines(text, of_id, (void *)id) : NULL;
        _cleanup_free_ char *words = NULL;
        if (asprintf(&words, "%s", name) < 0)
                words = NULL;
        for (char *const *a = aliases; words && a && *a; a++) {
                _cleanup_free_ char *prev = words;
                if (asprintf(&words, "%s %s", prev, *a) < 0)
                        words = NULL;
        }
        rec = others ? strdup(others) : NULL;
        for (size_t i = 0; words && mine && rec && i < ep->n_addrs; i++) {
                char a[NK_IP_STR_MAX];
                nk_ip_format(&ep->addrs[i], a);
                _cleanup_free_ char *pm = mine, *pr = rec;
                if (asprintf(&mine, "%s%s\t%s %.12s\n", pm, a, words, id) < 0)
                        mine = NULL;
                if (asprintf(&rec, "%s%s %s\t%s %.12s\n", pr, id, a, words, id) < 0)
                        rec = NULL;
        }
        int rc = -1;
        if (!words || !mine || !rec) {
                nk_error_set(err, ENOMEM, "names");
                goto out;
        }
        struct join_ctx c = {.store = store, .mine = mine};
        names_each(others, id, join_one, &c);
        if (c.oom)
                nk_error_set(err, ENOMEM, "names");
        else if (c.len && hosts_append(store, id, c.theirs) < 0)
                nk_error_set(err, errno, "add the names of network %s to its /etc/hosts", n->name);
        else
                rc = names_write(&m, rec, err);
        free(c.theirs);
out:
        names_close(&m);
        return rc;
}

struct leave_ctx {
        const char *store;
        char id12[13];
};

static void leave_one(const char *id, const char *line, size_t len, void *arg)
{
        (void)line;
        (void)len;
        struct leave_ctx *c = arg;
        hosts_drop_peer(c->store, id, c->id12);
}

static int names_leave(const char *store, const struct nk_network *n, const char *id,
                       nk_error **err)
{
        struct names m;
        if (!user_defined(n))
                return 0;
        if (names_open(store, n, &m, err) < 0)
                return -1;
        _cleanup_free_ char *text = names_read(&m);
        _cleanup_free_ char *others = text ? filter_lines(text, of_id, (void *)id) : NULL;
        int rc = -1;
        if (!others)
                nk_error_set(err, ENOMEM, "names");
        else if (!streq(others, text)) {
                struct leave_ctx c = {.store = store};
                snprintf(c.id12, sizeof c.id12, "%.12s", id);
                names_each(others, id, leave_one, &c);
                rc = names_write(&m, others, err);
        } else
                rc = 0;
        names_close(&m);
        return rc;
}

/* ---- ports ------------------------------------------------------------------ */

/* A free host port for p (bound for a moment to ask the kernel). */
static int pick_port(struct nk_port *p, nk_error **err)
{
        int six = p->host_ip.family == AF_INET6;
        int type = streq(p->proto, "udp") ? SOCK_DGRAM : SOCK_STREAM;
        _cleanup_close_ int s = socket(six ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
        struct sockaddr_storage ss = {0};
        socklen_t sl = six ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        ss.ss_family = (sa_family_t)(six ? AF_INET6 : AF_INET);
        if (six && p->host_ip.family)
                memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, p->host_ip.a, 16);
        else if (p->host_ip.family)
                memcpy(&((struct sockaddr_in *)&ss)->sin_addr, p->host_ip.a, 4);
        if (s < 0 || bind(s, (struct sockaddr *)&ss, sl) < 0 ||
            getsockname(s, (struct sockaddr *)&ss, &sl) < 0)
                return nk_error_set(err, errno, "pick a free host port");
        p->host_port = ntohs(six ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                 : ((struct sockaddr_in *)&ss)->sin_port);
        return 0;
}

static int publish_one(const char *store, const struct nk_network *n, const char *id,
                       struct nk_port *p, nk_error **err)
{
        if (p->host_port)
                return nk_network_publish(store, n, id, p, err);
        for (int tries = 0;; tries++) {
                struct nk_port q = *p;
                nk_error *e = NULL;
                if (pick_port(&q, err) < 0)
                        return -1;
                if (nk_network_publish(store, n, id, &q, &e) == 0) {
                        *p = q;
                        return 0;
                }
                if (e->errno_ != EEXIST || tries == 8)
                        return nk_error_pass(err, e);
                nk_error_free(e);
        }
}

/* Every mapping -p and -P ask for (*v: a new array). */
static int wanted_ports(const struct nk_ctrnet_req *q, struct nk_port **out, size_t *n,
                        nk_error **err)
{
        struct nk_port *v = NULL;
        size_t k = 0;
        for (char *const *s = q->publish; s && *s; s++) {
                struct nk_port *one;
                size_t m;
                if (nk_port_spec_parse(*s, &one, &m, err) < 0)
                        goto fail;
                struct nk_port *nv = realloc(v, (k + m) * sizeof(*v));
                if (!nv) {
                        free(one);
                        nk_error_set(err, ENOMEM, "-p");
                        goto fail;
                }
                v = nv;
                memcpy(v + k, one, m * sizeof(*v));
                k += m;
                free(one);
        }
        const char *key;
        json_t *val;
        json_object_foreach ((json_t *)(q->publish_all ? q->exposed : NULL), key, val) {
                struct nk_port p;
                (void)val;
                if (nk_port_exposed_parse(key, &p, err) < 0)
                        goto fail;
                bool given = false;
                for (size_t i = 0; i < k; i++)
                        given |= v[i].container_port == p.container_port &&
                                 streq(v[i].proto, p.proto);
                if (given)
                        continue;
                struct nk_port *nv = realloc(v, (k + 1) * sizeof(*v));
                if (!nv) {
                        nk_error_set(err, ENOMEM, "-P");
                        goto fail;
                }
                v = nv;
                v[k++] = p;
        }
        *out = v;
        *n = k;
        return 0;
fail:
        free(v);
        return -1;
}

/* ---- the record's NetworkSettings ------------------------------------------ */

static json_t *obj_child(json_t *o, const char *key)
{
        json_t *c = json_object_get(o, key);
        if (!json_is_object(c))
                json_object_set_new(o, key, c = json_object());
        return c;
}

static void endpoint_json(json_t *nets, const struct nk_network *n, const struct nk_endpoint *ep,
                          const char *mac, char *const *aliases, char *const *ips)
{
        json_t *e = json_object();
        json_object_set_new(e, "NetworkID", json_string(n->id));
        json_object_set_new(e, "EndpointID", json_string(ep->host_link));
        json_object_set_new(e, "MacAddress", json_string(mac));
        json_t *al = json_array(), *ipam = json_object();
        for (char *const *a = aliases; a && *a; a++)
                json_array_append_new(al, json_string(*a));
        json_object_set_new(e, "Aliases", al);
        for (char *const *i = ips; i && *i; i++)
                json_object_set_new(ipam, strchr(*i, ':') ? "IPv6Address" : "IPv4Address",
                                    json_string(*i));
        json_object_set_new(e, "IPAMConfig", ipam);
        static const char *const empty[] = {"IPAddress", "Gateway", "GlobalIPv6Address",
                                            "IPv6Gateway"};
        for (size_t i = 0; i < ARRAY_SIZE(empty); i++)
                json_object_set_new(e, empty[i], json_string(""));
        json_object_set_new(e, "IPPrefixLen", json_integer(0));
        json_object_set_new(e, "GlobalIPv6PrefixLen", json_integer(0));
        for (size_t i = 0; i < ep->n_addrs; i++) {
                char a[NK_IP_STR_MAX], g[NK_IP_STR_MAX];
                bool v4 = ep->addrs[i].family == AF_INET;
                nk_ip_format(&ep->addrs[i], a);
                nk_ip_format(&ep->gateways[i], g);
                json_object_set_new(e, v4 ? "IPAddress" : "GlobalIPv6Address", json_string(a));
                json_object_set_new(e, v4 ? "Gateway" : "IPv6Gateway", json_string(g));
                json_object_set_new(e, v4 ? "IPPrefixLen" : "GlobalIPv6PrefixLen",
                                    json_integer(ep->prefix[i]));
        }
        json_object_set_new(e, "Nook", json_pack("{s:s}", "Interface", ep->ifname));
        json_object_set_new(nets, n->name, e);
}

static void port_json(json_t *ports, const struct nk_port *p)
{
        char key[16], hp[8], hip[NK_IP_STR_MAX] = "0.0.0.0";
        nk_port_private_text(p, key, sizeof key);
        snprintf(hp, sizeof hp, "%u", p->host_port);
        if (p->host_ip.family)
                nk_ip_format(&p->host_ip, hip);
        json_t *a = json_object_get(ports, key);
        if (!json_is_array(a))
                json_object_set_new(ports, key, a = json_array());
        json_array_append_new(a, json_pack("{s:s,s:s}", "HostIp", hip, "HostPort", hp));
}

static void port_unjson(json_t *ports, const struct nk_port *p)
{
        char key[16], hp[8], hip[NK_IP_STR_MAX] = "0.0.0.0";
        nk_port_private_text(p, key, sizeof key);
        snprintf(hp, sizeof hp, "%u", p->host_port);
        if (p->host_ip.family)
                nk_ip_format(&p->host_ip, hip);
        json_t *a = json_object_get(ports, key), *x;
        size_t i;
        json_array_foreach (a, i, x)
                if (streq(json_string_value(json_object_get(x, "HostPort")) ?: "", hp) &&
                    streq(json_string_value(json_object_get(x, "HostIp")) ?: "", hip)) {
                        json_array_remove(a, i);
                        break;
                }
        if (json_is_array(a) && json_array_size(a) == 0)
                json_object_del(ports, key);
}

/* HostConfig.PortBindings as asked (a picked port is "" there, Docker's). */
static void bindings_json(json_t *rec, const struct nk_port *v, size_t k, const bool *picked)
{
        json_t *b = json_object();
        for (size_t i = 0; i < k; i++) {
                char key[16], hp[8] = "", hip[NK_IP_STR_MAX] = "";
                nk_port_private_text(&v[i], key, sizeof key);
                if (!picked[i])
                        snprintf(hp, sizeof hp, "%u", v[i].host_port);
                if (v[i].host_ip.family)
                        nk_ip_format(&v[i].host_ip, hip);
                json_t *a = json_object_get(b, key);
                if (!a)
                        json_object_set_new(b, key, a = json_array());
                json_array_append_new(a, json_pack("{s:s,s:s}", "HostIp", hip, "HostPort", hp));
        }
        json_object_set_new(obj_child(rec, "HostConfig"), "PortBindings", b);
}

/* ---- the ops ------------------------------------------------------------------ */

static int check_ips(const struct nk_network *n, char *const *ips, nk_error **err)
{
        /* as Docker: the default network's addresses are IPAM's alone */
        if (ips && ips[0] && !user_defined(n))
                return nk_error_set(err, 0,
                                    "--ip %s: a chosen address is only for user-defined "
                                    "networks, not %s",
                                    ips[0], n->name);
        for (char *const *s = ips; s && *s; s++) {
                struct nk_ip ip;
                if (nk_ip_parse(*s, &ip, err) < 0)
                        return nk_error_wrap(err, "--ip");
                bool in = false;
                for (size_t i = 0; i < n->n_pools; i++)
                        in |= nk_cidr_contains(&n->pools[i].subnet, &ip);
                if (!in) {
                        char c[NK_CIDR_STR_MAX] = "";
                        if (n->n_pools)
                                nk_cidr_format(&n->pools[0].subnet, c);
                        return nk_error_set(err, 0, "--ip %s is not in network %s (%s)", *s,
                                            n->name, c);
                }
        }
        return 0;
}

/* ---- bandwidth limits (net/tc.h) ----
 *
 * A container's limits hold on each of its interfaces (the host-side veth
 * of each network it is on); HostConfig.EgressRate/IngressRate keep them
 * for start after a lost namespace and for network connect. */

static struct nk_tc_rates rates_recorded(json_t *rec)
{
        json_t *hc = json_object_get(rec, "HostConfig");
        json_int_t e = json_integer_value(json_object_get(hc, "EgressRate"));
        json_int_t i = json_integer_value(json_object_get(hc, "IngressRate"));
        return (struct nk_tc_rates){.egress = e > 0 ? (uint64_t)e : 0,
                                    .ingress = i > 0 ? (uint64_t)i : 0};
}

/* A new interface: the limits asked for, none to remove. */
static int rates_on(const struct nk_network *n, const char *id, const char *netns,
                    struct nk_tc_rates t, nk_error **err)
{
        if (!t.egress && !t.ingress)
                return 0;
        t.egress = t.egress ? t.egress : NK_RATE_KEEP;
        t.ingress = t.ingress ? t.ingress : NK_RATE_KEEP;
        return nk_network_rate(n, id, netns, &t, NULL, err);
}

static int op_check(const char *store, const struct nk_ctrnet_req *q, nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        struct nk_port *v = NULL;
        size_t k;
        if (get_net(store, q->network, &n, err) < 0 || check_ips(n, q->ips, err) < 0 ||
            wanted_ports(q, &v, &k, err) < 0)
                return -1;
        free(v);
        return 0;
}

/* Attach id to n as ifname in the namespace at path; its names, hosts. */
static int attach_net(const char *store, const char *id, const char *name, const char *hostname,
                      const struct nk_network *n, const char *ifname, const char *netns,
                      char *const *ips, char *const *aliases, const char *mac, json_t *rec,
                      struct nk_endpoint *ep, nk_error **err)
{
        _cleanup_close_ int fd = open(netns, O_RDONLY | O_CLOEXEC);
        char got[18];
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", netns);
        if (nk_network_attach(store, n, id, fd, ifname, (const char *const *)ips, ep, err) < 0)
                return -1;
        if (mac && mac_set(fd, ifname, mac, err) < 0)
                return -1;
        if (mac) /* as the kernel took it */
                mac_get(fd, ifname, got);
        else
                snprintf(got, sizeof got, "%s", ep->mac);
        if ((hostname && hosts_own(store, id, hostname, ep, err) < 0) ||
            names_join(store, n, id, name, aliases, ep, err) < 0)
                return -1;
        json_t *ns = obj_child(rec, "NetworkSettings");
        endpoint_json(obj_child(ns, "Networks"), n, ep, got, aliases, ips);
        return 0;
}

static int publish_all(const char *store, const char *id, const struct nk_network *n,
                       struct nk_port *v, size_t k, json_t *rec, nk_error **err)
{
        json_t *ports = obj_child(obj_child(rec, "NetworkSettings"), "Ports");
        for (size_t i = 0; i < k; i++) {
                if (publish_one(store, n, id, &v[i], err) < 0)
                        return -1;
                port_json(ports, &v[i]);
        }
        return 0;
}

static int op_setup(const char *store, const char *root, const char *id, const char *name,
                    const struct nk_ctrnet_req *q, json_t *rec, nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        _cleanup_free_ struct nk_port *v = NULL;
        _cleanup_free_ bool *picked = NULL;
        size_t k = 0;
        char netns[PATH_MAX];
        struct nk_endpoint ep;
        if (get_net(store, q->network, &n, err) < 0 || wanted_ports(q, &v, &k, err) < 0)
                return -1;
        char *const list[] = {n->name, NULL};
        picked = calloc(k + 1, sizeof(bool));
        for (size_t i = 0; picked && i < k; i++)
                picked[i] = v[i].host_port == 0;
        /* `networks` first: a setup cut short is undone by teardown */
        if (!picked || write_networks(store, id, list, err) < 0 ||
            nk_ctrnet_netns_make(root, id, netns, sizeof netns, err) < 0)
                return -1;
        json_t *ns = obj_child(rec, "NetworkSettings");
        json_object_set_new(ns, "SandboxKey", json_string(netns));
        json_object_set_new(ns, "Networks", json_object());
        json_object_set_new(ns, "Ports", json_object());
        const char *key;
        json_t *val;
        json_t *ports = json_object_get(ns, "Ports");
        json_object_foreach ((json_t *)q->exposed, key, val)
                json_object_set_new(ports, key, json_null());
        struct nk_tc_rates t = {.egress = q->egress_rate, .ingress = q->ingress_rate};
        if (attach_net(store, id, name, q->hostname, n, "eth0", netns, q->ips, q->aliases, q->mac,
                       rec, &ep, err) < 0 ||
            rates_on(n, id, netns, t, err) < 0 || publish_all(store, id, n, v, k, rec, err) < 0)
                return -1;
        bindings_json(rec, v, k, picked);
        return 0;
}

/* Detach id from n (names first, while its address is still its own);
 * going: its namespace is removed right after (the veth goes with it). */
static int detach_net(const char *store, const char *id, const struct nk_network *n, bool going,
                      nk_error **err)
{
        if (names_leave(store, n, id, err) < 0)
                return -1;
        return going ? nk_network_release(store, n, id, err) : nk_network_detach(store, n, id, err);
}

static char **live_ids(const char *store)
{
        char **ids = NULL;
        nk_error *e = NULL;
        if (nk_ctr_list(store, &ids, &e) < 0) {
                nk_error_free(e);
                return NULL;
        }
        return ids;
}

static int reconcile_net(const char *store, const struct nk_network *n, char *const *live,
                         nk_error **err)
{
        size_t freed = 0;
        /* names of containers that are gone */
        struct names m;
        if (user_defined(n) && names_open(store, n, &m, NULL) == 0) {
                _cleanup_free_ char *text = names_read(&m);
                if (text) {
                        char *out = strdup(""), *save = NULL;
                        for (char *l = strtok_r(text, "\n", &save); out && l;
                             l = strtok_r(NULL, "\n", &save)) {
                                char id[65];
                                const char *line;
                                size_t ll;
                                if (names_line(l, strlen(l), id, &line, &ll) &&
                                    !nk_strv_contains(live, id))
                                        continue;
                                _cleanup_free_ char *prev = out;
                                if (asprintf(&out, "%s%s\n", prev, l) < 0)
                                        out = NULL;
                        }
                        if (out)
                                (void)names_write(&m, out, NULL);
                        free(out);
                }
                names_close(&m);
        }
        /* an id that is no container id (the hidden _attach's, a tool's)
         * is not the engine's to judge: kept */
        _cleanup_strv_ char **keep = nk_strv_dup(live);
        struct nk_ipam_entry *v = NULL;
        size_t k = 0;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/networks/ipam", store);
        _cleanup_close_ int ipam = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ipam >= 0 && nk_ipam_entries(ipam, n->name, &v, &k, err) < 0)
                return -1;
        for (size_t i = 0; keep && i < k; i++)
                if (!nk_ctr_id_valid(v[i].id) && !nk_strv_contains(keep, v[i].id))
                        nk_strv_push(&keep, v[i].id);
        nk_ipam_entries_free(v, k);
        if (!keep)
                return nk_error_set(err, ENOMEM, "reconcile network %s", n->name);
        return nk_network_reconcile(store, n, (const char *const *)keep, nk_strv_len(keep), &freed,
                                    err);
}

/* netns files whose container is gone. */
static void sweep_netns(const char *store, const char *root)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/netns", root);
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (!nk_ctr_id_valid(de->d_name))
                        continue;
                _cleanup_free_ char *cd = nk_ctr_dir(store, de->d_name);
                if (cd && !nk_path_exists(cd))
                        netns_remove(root, de->d_name);
        }
}

static int op_teardown(const char *store, const char *root, const char *id, unsigned flags,
                       nk_error **err)
{
        bool reconcile = flags & NK_CTRNET_RECONCILE;
        _cleanup_strv_ char **nets = read_networks(store, id);
        _cleanup_strv_ char **live = reconcile ? live_ids(store) : NULL;
        int rc = 0;
        for (char **s = nets; s && *s; s++) {
                _cleanup_(nk_network_freep) struct nk_network *n = NULL;
                nk_error *e = NULL;
                if (nk_network_get(store, *s, &n, &e) < 0) {
                        nk_error_free(e); /* removed since: nothing of it is left */
                        continue;
                }
                if (rc == 0 && detach_net(store, id, n, true, err) < 0)
                        rc = -1;
                if (rc == 0 && live && reconcile_net(store, n, live, err) < 0)
                        rc = -1;
        }
        if (!(flags & NK_CTRNET_KEEP_NETNS))
                netns_remove(root, id);
        if (rc == 0) {
                _cleanup_free_ char *path = ctr_file(store, id, "networks");
                if (path)
                        (void)unlink(path);
        }
        if (reconcile)
                sweep_netns(store, root);
        return rc;
}

static int op_reconcile_all(const char *store, const char *root, nk_error **err)
{
        struct nk_network **v;
        size_t k;
        _cleanup_strv_ char **live = live_ids(store);
        if (!live)
                return nk_error_set(err, 0, "list the containers of store `%s`", store);
        if (nk_network_list(store, &v, &k, err) < 0)
                return -1;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < k; i++)
                rc = reconcile_net(store, v[i], live, err);
        nk_network_list_free(v, k);
        sweep_netns(store, root);
        return rc;
}

/* Mappings recorded in NetworkSettings.Ports (*v new). */
static int recorded_ports(json_t *rec, struct nk_port **out, size_t *n)
{
        json_t *ports = json_object_get(json_object_get(rec, "NetworkSettings"), "Ports");
        struct nk_port *v = NULL;
        size_t k = 0;
        const char *key;
        json_t *a;
        json_object_foreach (ports, key, a) {
                size_t i;
                json_t *b;
                json_array_foreach (a, i, b) {
                        struct nk_port p;
                        const char *hip = json_string_value(json_object_get(b, "HostIp")) ?: "";
                        const char *hp = json_string_value(json_object_get(b, "HostPort")) ?: "0";
                        if (nk_port_exposed_parse(key, &p, NULL) < 0)
                                continue;
                        p.host_port = (uint16_t)atoi(hp);
                        if (*hip && !streq(hip, "0.0.0.0") &&
                            nk_ip_parse(hip, &p.host_ip, NULL) < 0)
                                continue;
                        struct nk_port *nv = realloc(v, (k + 1) * sizeof(*v));
                        if (!nv)
                                break;
                        v = nv;
                        v[k++] = p;
                }
        }
        *out = v;
        *n = k;
        return 0;
}

static int op_restore(const char *store, const char *root, const char *id, json_t *rec,
                      nk_error **err)
{
        char netns[PATH_MAX];
        nk_ctrnet_netns_path(root, id, netns, sizeof netns);
        _cleanup_strv_ char **nets = read_networks(store, id);
        if (!nets || !nets[0] || nk_ctrnet_is_netns(netns))
                return 0;
        _cleanup_free_ struct nk_port *v = NULL;
        size_t k = 0;
        recorded_ports(rec, &v, &k);
        if (nk_ctrnet_netns_make(root, id, netns, sizeof netns, err) < 0)
                return -1;
        json_t *ns = obj_child(rec, "NetworkSettings");
        json_t *old = json_deep_copy(obj_child(ns, "Networks"));
        json_object_set_new(ns, "Ports", json_object());
        const char *hostname =
                json_string_value(json_object_get(json_object_get(rec, "Config"), "Hostname"));
        const char *cname = json_string_value(json_object_get(rec, "Name")) ?: "/";
        int rc = 0;
        for (size_t i = 0; rc == 0 && nets[i]; i++) {
                _cleanup_(nk_network_freep) struct nk_network *n = NULL;
                json_t *e = json_object_get(old, nets[i]);
                char *want[3] = {NULL, NULL, NULL}, ifname[16];
                size_t w = 0;
                const char *a4 = json_string_value(json_object_get(e, "IPAddress"));
                const char *a6 = json_string_value(json_object_get(e, "GlobalIPv6Address"));
                if (a4 && *a4)
                        want[w++] = (char *)a4;
                if (a6 && *a6)
                        want[w++] = (char *)a6;
                _cleanup_strv_ char **aliases = NULL;
                size_t j;
                json_t *x;
                json_array_foreach (json_object_get(e, "Aliases"), j, x)
                        nk_strv_push(&aliases, json_string_value(x));
                const char *mac = json_string_value(json_object_get(e, "MacAddress"));
                snprintf(ifname, sizeof ifname, "eth%u", (unsigned)(i % 1000));
                struct nk_endpoint ep;
                if (nk_network_get(store, nets[i], &n, err) < 0 ||
                    detach_net(store, id, n, false, err) < 0) {
                        rc = -1;
                        break;
                }
                nk_error *miss = NULL;
                /* the same address if it is still free, else a new one */
                if (attach_net(store, id, cname + (cname[0] == '/'), i ? NULL : hostname, n, ifname,
                               netns, want, aliases, mac && *mac ? mac : NULL, rec, &ep,
                               &miss) < 0) {
                        nk_error_free(miss);
                        (void)detach_net(store, id, n, false, NULL);
                        rc = attach_net(store, id, cname + (cname[0] == '/'), i ? NULL : hostname,
                                        n, ifname, netns, NULL, aliases, NULL, rec, &ep, err);
                }
                if (rc == 0)
                        rc = rates_on(n, id, netns, rates_recorded(rec), err);
                if (rc == 0 && i == 0) {
                        json_t *ports = obj_child(ns, "Ports");
                        for (size_t p = 0; rc == 0 && p < k; p++) {
                                rc = nk_network_publish(store, n, id, &v[p], err);
                                if (rc == 0)
                                        port_json(ports, &v[p]);
                        }
                }
        }
        json_decref(old);
        return rc;
}

static int first_net(const char *store, const char *id, struct nk_network **n, nk_error **err)
{
        _cleanup_strv_ char **nets = read_networks(store, id);
        if (!nets || !nets[0])
                return nk_error_set(err, 0, "container %.12s is on no network of nook's", id);
        return nk_network_get(store, nets[0], n, err);
}

static int op_port(const char *store, const char *id, json_t *rec, const char *spec, bool add,
                   nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        _cleanup_free_ struct nk_port *v = NULL;
        size_t k;
        if (nk_port_spec_parse(spec, &v, &k, err) < 0 || first_net(store, id, &n, err) < 0)
                return -1;
        if (k != 1)
                return nk_error_set(err, 0, "%s: one port at a time", spec);
        json_t *ports = obj_child(obj_child(rec, "NetworkSettings"), "Ports");
        if (add) {
                if (publish_one(store, n, id, &v[0], err) < 0)
                        return -1;
                port_json(ports, &v[0]);
                return 0;
        }
        if (!v[0].host_port)
                return nk_error_set(err, 0, "%s: which host port?", spec);
        if (nk_network_unpublish(store, n, id, &v[0], err) < 0)
                return -1;
        port_unjson(ports, &v[0]);
        return 0;
}

static int op_connect(const char *store, const char *root, const char *id, json_t *rec,
                      const char *network, char *const *ips, char *const *aliases, nk_error **err)
{
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        _cleanup_strv_ char **nets = read_networks(store, id);
        char netns[PATH_MAX], ifname[16];
        nk_ctrnet_netns_path(root, id, netns, sizeof netns);
        if (!nets || !nets[0] || !nk_ctrnet_is_netns(netns))
                return nk_error_set(err, 0,
                                    "container %.12s has no network namespace of nook's "
                                    "(--network none, host or container:)",
                                    id);
        if (get_net(store, network, &n, err) < 0 || check_ips(n, ips, err) < 0)
                return -1;
        if (nk_strv_contains(nets, n->name))
                return nk_error_set(err, EEXIST, "container %.12s is already on network %s", id,
                                    n->name);
        if (aliases && !user_defined(n))
                return nk_error_set(err, 0, "--alias: only on user-defined networks");
        size_t k = nk_strv_len(nets);
        if (k >= 100)
                return nk_error_set(err, 0, "container %.12s: on too many networks", id);
        snprintf(ifname, sizeof ifname, "eth%u", (unsigned)k);
        nk_strv_push(&nets, n->name);
        const char *cname = json_string_value(json_object_get(rec, "Name")) ?: "/";
        struct nk_endpoint ep;
        if (write_networks(store, id, nets, err) < 0)
                return -1;
        if (attach_net(store, id, cname + (cname[0] == '/'), NULL, n, ifname, netns, ips, aliases,
                       NULL, rec, &ep, err) < 0 ||
            rates_on(n, id, netns, rates_recorded(rec), err) < 0) {
                (void)detach_net(store, id, n, false, NULL);
                free(nets[nk_strv_len(nets) - 1]);
                nets[nk_strv_len(nets) - 1] = NULL;
                (void)write_networks(store, id, nets, NULL);
                return -1;
        }
        return 0;
}

static int op_disconnect(const char *store, const char *root, const char *id, json_t *rec,
                         const char *network, nk_error **err)
{
        (void)root;
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        _cleanup_strv_ char **nets = read_networks(store, id);
        if (get_net(store, network, &n, err) < 0)
                return -1;
        if (!nk_strv_contains(nets, n->name))
                return nk_error_set(err, ENOENT, "container %.12s is not on network %s", id,
                                    n->name);
        if (detach_net(store, id, n, false, err) < 0)
                return -1;
        _cleanup_strv_ char **left = NULL;
        for (char **s = nets; *s; s++)
                if (!streq(*s, n->name))
                        nk_strv_push(&left, *s);
        json_object_del(obj_child(obj_child(rec, "NetworkSettings"), "Networks"), n->name);
        return write_networks(store, id, left, err);
}

static int op_rate(const char *store, const char *id, json_t *rec, uint64_t egress,
                   uint64_t ingress, nk_error **err)
{
        _cleanup_strv_ char **nets = read_networks(store, id);
        if (!nets || !nets[0])
                return nk_error_set(err, 0,
                                    "container %.12s is on no network of nook's (--network none, "
                                    "host or container:): no interface to limit",
                                    id);
        struct nk_tc_rates t = {.egress = egress, .ingress = ingress};
        const char *netns = json_string_value(
                json_object_get(json_object_get(rec, "NetworkSettings"), "SandboxKey"));
        for (char **s = nets; *s; s++) {
                _cleanup_(nk_network_freep) struct nk_network *n = NULL;
                if (nk_network_get(store, *s, &n, err) < 0 ||
                    nk_network_rate(n, id, netns, &t, NULL, err) < 0)
                        return -1;
        }
        json_t *hc = obj_child(rec, "HostConfig");
        if (egress != NK_RATE_KEEP)
                json_object_set_new(hc, "EgressRate", json_integer((json_int_t)egress));
        if (ingress != NK_RATE_KEEP)
                json_object_set_new(hc, "IngressRate", json_integer((json_int_t)ingress));
        return 0;
}

const struct nk_net_ops nk_net_ops = {
        .check = op_check,
        .setup = op_setup,
        .teardown = op_teardown,
        .restore = op_restore,
        .reconcile_all = op_reconcile_all,
        .port = op_port,
        .connect = op_connect,
        .disconnect = op_disconnect,
        .rate = op_rate,
};
