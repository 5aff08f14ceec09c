/* `nook run`, `create`: a container from an image (options and spec by
 * src/engine/container/runopts.h), its record in the store, and its
 * monitor. In nook itself, not the engine module: see find_image(). */
#include "runtime/container.h"
#include "cmd/engine/ctr_cmd.h"
#include "engine/container/runopts.h"
#include "engine/container/volume.h"
#include "engine/image.h"
#include "net/ctrnet.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

extern char **environ;

static const char *const restart_names[] = {"no", "on-failure", "always", "unless-stopped"};

/* The image, pulled as --pull says. One in the store already is found
 * here, in nook itself; the engine module (libcurl, libarchive, OpenSSL:
 * ~35 ms of loading) is loaded only to pull, or to make the default
 * busybox image again. */
static int find_image(struct nk_store *s, const struct nk_run_opts *o, struct nk_image *img,
                      nk_error **err)
{
        nk_error *miss = NULL;
        if (o->pull != NK_PULL_ALWAYS && nk_image_find_local(s, o->image, img, &miss) == 0)
                return 0;
        nk_error_free(miss);
        nk_engine_image_get_fn get = nk_cmd_engine_symbol("nk_engine_image_get");
        if (!get)
                return nk_error_set(err, 0, "image `%s`: the engine module is needed to get it",
                                    o->image);
        _cleanup_free_ char *key = NULL;
        if (get(s, o->image, o->pull == NK_PULL_ALWAYS, o->pull == NK_PULL_NEVER, &key, err) < 0)
                return -1;
        return nk_image_find_local(s, key, img, err);
}

static json_t *strv_json(char *const *v)
{
        json_t *a = json_array();
        for (; v && *v; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

/* container.json: Docker's inspect fields that do not change, and what the
 * monitor is started with. */
static json_t *make_record(const char *id, const char *name, const struct nk_run_opts *o,
                           const struct nk_image *img, json_t *spec)
{
        json_t *cfg = json_object_get(img->config.root, "config");
        json_t *proc = json_object_get(spec, "process");
        json_t *args = json_object_get(proc, "args");
        json_t *labels = json_object();
        json_object_update(labels, json_object_get(cfg, "Labels"));
        if (o->labels)
                json_object_update(labels, o->labels);
        json_t *rest = json_array_size(args) > 1 ? json_array() : json_array();
        for (size_t i = 1; i < json_array_size(args); i++)
                json_array_append(rest, json_array_get(args, i));
        char created[48];
        nk_ctr_time_text(nk_ctr_now_ns(), created, sizeof created);
        _cleanup_free_ char *slash_name = NULL;
        if (asprintf(&slash_name, "/%s", name) < 0)
                return NULL;
        const char *stop = o->stop_signal ? o->stop_signal
                                          : json_string_value(json_object_get(cfg, "StopSignal"));
        json_t *cmd = o->cmd ? strv_json(o->cmd) : json_incref(json_object_get(cfg, "Cmd"));
        json_t *ep = o->entrypoint_set
                             ? (o->entrypoint[0] ? json_pack("[s]", o->entrypoint) : json_array())
                             : json_incref(json_object_get(cfg, "Entrypoint"));
        return json_pack(
                "{s:s,s:s,s:s,s:O,s:o,s:s,s:s,"
                "s:{s:s,s:s,s:o,s:o,s:O,s:o,s:b,s:b,s:b,s:s,s:s,s:s,s:i},"
                "s:{s:b,s:{s:s,s:i},s:{s:s,s:{}},s:s,s:I,s:I,s:I,s:b,s:b,s:s},"
                "s:{s:I,s:i}}",
                "Id", id, "Name", slash_name, "Created", created, "Path", json_array_get(args, 0),
                "Args", rest, "Image", img->manifest.config.digest, "ImageName", o->image, "Config",
                "Hostname", o->hostname ? o->hostname : "", "Image", o->image, "Cmd",
                cmd ? cmd : json_null(), "Entrypoint", ep ? ep : json_null(), "Env",
                json_object_get(proc, "env"), "Labels", labels, "Tty", o->tty, "OpenStdin",
                o->interactive, "AttachStdin", o->interactive && !o->detach, "WorkingDir",
                json_string_value(json_object_get(proc, "cwd")) ?: "/", "User",
                o->user ? o->user : "", "StopSignal", stop ? stop : "SIGTERM", "StopTimeout",
                o->stop_timeout >= 0 ? o->stop_timeout : 10, "HostConfig", "AutoRemove", o->rm,
                "RestartPolicy", "Name", restart_names[o->restart], "MaximumRetryCount",
                o->restart_max, "LogConfig", "Type", "k8s-file", "Config", "CgroupParent",
                nk_ctr_cgroup_parent(), "Memory", (json_int_t)(o->memory > 0 ? o->memory : 0),
                "PidsLimit", (json_int_t)(o->pids_limit > 0 ? o->pids_limit : 0), "CpuShares",
                (json_int_t)(o->cpu_shares > 0 ? o->cpu_shares : 0), "Privileged", o->privileged,
                "ReadonlyRootfs", o->read_only, "NetworkMode", o->network ? o->network : "bridge",
                "Nook", "LogMaxSize", (json_int_t)o->log_max_size, "LogMaxFile",
                o->log_max_file > 0 ? o->log_max_file : 1);
}

/* What networking adds to the record: Docker's fields for the flags, and
 * NetworkSettings for none/host/container: (the net module fills it for a
 * network of nook's). */
static void record_network(json_t *rec, const struct nk_run_opts *o, const struct nk_image *img)
{
        json_t *hc = json_object_get(rec, "HostConfig");
        json_t *cfg = json_object_get(img->config.root, "config");
        json_t *exposed = json_object_get(cfg, "ExposedPorts");
        json_object_set_new(json_object_get(rec, "Config"), "ExposedPorts",
                            json_is_object(exposed) ? json_deep_copy(exposed) : json_object());
        const struct {
                const char *key;
                char **v;
        } lists[] = {{"Dns", o->dns},
                     {"DnsSearch", o->dns_search},
                     {"DnsOptions", o->dns_options},
                     {"ExtraHosts", o->add_hosts}};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
                json_object_set_new(hc, lists[i].key, strv_json(lists[i].v));
        json_object_set_new(hc, "PublishAllPorts", json_boolean(o->publish_all));
        /* nook's own (bit/s, 0: none); `nook update` changes them */
        json_object_set_new(hc, "EgressRate", json_integer((json_int_t)o->egress_rate));
        json_object_set_new(hc, "IngressRate", json_integer((json_int_t)o->ingress_rate));
        json_object_set_new(hc, "PortBindings", json_object());
        json_object_set_new(rec, "NetworkSettings",
                            json_pack("{s:{},s:{},s:s}", "Networks", "Ports", "SandboxKey", ""));
}

static int write_config(const char *store, const char *id, json_t *spec, nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *path = NULL;
        _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT);
        if (!dir || !text || asprintf(&path, "%s/config.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "config.json");
        /* No fsync: the spec is made again from the record by nothing, but
         * a container cut by a crash is one rm -f away. */
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

/* Host's resolv.conf without loopback name servers (unreachable from a
 * network namespace of the container's own), as Docker does. */
static char *host_resolv_conf(void);

/* --dns replace the name servers, --dns-search the search list,
 * --dns-option the options (Docker's rules). */
static char *resolv_conf(const struct nk_run_opts *o)
{
        _cleanup_free_ char *host = host_resolv_conf();
        if (!host)
                return NULL;
        if (!o->dns && !o->dns_search && !o->dns_options)
                return TAKE_PTR(host);
        char *out = strdup(""), *save = NULL;
        for (char *l = strtok_r(host, "\n", &save); out && l; l = strtok_r(NULL, "\n", &save)) {
                if ((o->dns && strncmp(l, "nameserver", 10) == 0) ||
                    (o->dns_search &&
                     (strncmp(l, "search", 6) == 0 || strncmp(l, "domain", 6) == 0)) ||
                    (o->dns_options && strncmp(l, "options", 7) == 0))
                        continue;
                _cleanup_free_ char *prev = out;
                if (asprintf(&out, "%s%s\n", prev, l) < 0)
                        out = NULL;
        }
        for (char **v = o->dns; out && v && *v; v++) {
                _cleanup_free_ char *prev = out;
                if (asprintf(&out, "%snameserver %s\n", prev, *v) < 0)
                        out = NULL;
        }
        const struct {
                const char *word;
                char **v;
        } lines[] = {{"search", o->dns_search}, {"options", o->dns_options}};
        for (size_t i = 0; out && i < ARRAY_SIZE(lines); i++) {
                if (!lines[i].v)
                        continue;
                _cleanup_free_ char *prev = out;
                if (asprintf(&out, "%s%s", prev, lines[i].word) < 0)
                        out = NULL;
                for (char **v = lines[i].v; out && *v; v++) {
                        _cleanup_free_ char *p2 = out;
                        if (asprintf(&out, "%s %s", p2, *v) < 0)
                                out = NULL;
                }
                _cleanup_free_ char *p3 = out;
                if (out && asprintf(&out, "%s\n", p3) < 0)
                        out = NULL;
        }
        return out;
}

static char *host_resolv_conf(void)
{
        char *text = NULL;
        size_t len;
        nk_error *e = NULL;
        if (nk_read_file("/etc/resolv.conf", &text, &len, &e) < 0) {
                nk_error_free(e);
                return strdup("");
        }
        char *out = calloc(1, len + 2), *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); out && l; l = strtok_r(NULL, "\n", &save)) {
                if (strncmp(l, "nameserver", 10) == 0 &&
                    (strstr(l, " 127.") || strstr(l, " ::1") || strstr(l, "\t127.")))
                        continue;
                strcat(out, l);
                strcat(out, "\n");
        }
        free(text);
        return out;
}

/* /etc/hostname, /etc/hosts and /etc/resolv.conf of the container: files
 * in its directory, bound over the image's (a container's own, as with
 * Docker; the image is not changed). */
static int etc_files(const char *store, const char *id, const struct nk_run_opts *o, json_t *spec,
                     nk_error **err)
{
        const char *hostname = o->hostname;
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *hosts = NULL, *host = NULL;
        _cleanup_free_ char *resolv = resolv_conf(o), *extra = strdup("");
        for (char **h = o->add_hosts; extra && h && *h; h++) {
                _cleanup_free_ char *prev = extra;
                if (asprintf(&extra, "%s%s\n", prev, *h) < 0)
                        extra = NULL;
        }
        /* 127.0.1.1 stands for the container's own address until its
         * network's setup writes that in (net/ctrnet.c) */
        if (!dir || !resolv || !extra ||
            asprintf(&hosts,
                     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "%s127.0.1.1\t%s\n",
                     extra, hostname) < 0 ||
            asprintf(&host, "%s\n", hostname) < 0)
                return nk_error_set(err, ENOMEM, "/etc files");
        const struct {
                const char *name, *text;
        } files[] = {{"hostname", host}, {"hosts", hosts}, {"resolv.conf", resolv}};
        json_t *mounts = json_object_get(spec, "mounts");
        if (!mounts)
                json_object_set_new(spec, "mounts", mounts = json_array());
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *path = NULL, *dest = NULL;
                if (asprintf(&path, "%s/%s", dir, files[i].name) < 0 ||
                    asprintf(&dest, "/etc/%s", files[i].name) < 0)
                        return nk_error_set(err, ENOMEM, "/etc files");
                if (nk_write_file(path, files[i].text, strlen(files[i].text), 0644, err) < 0)
                        return -1;
                json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:[ss]}", "destination", dest,
                                                        "type", "bind", "source", path, "options",
                                                        "rbind", "rprivate"));
        }
        return 0;
}

static int finish_container(const char *store, const char *id, const char *name,
                            const struct nk_run_opts *o, const struct nk_image *img, json_t *spec,
                            char **created, json_t *mounts, const char *netns, nk_error **err);

/* inspect's Mounts, Docker's shape, from the resolved mounts: a volume's
 * name is its directory's (STORE/volumes/NAME/_data). */
static json_t *mounts_json(const struct nk_run_mount *m, size_t n)
{
        static const char *const types[] = {"bind", "volume", "tmpfs"};
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
                json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "Type", types[m[i].kind],
                                      "Source", m[i].source ? m[i].source : "", "Destination",
                                      m[i].target, "Mode", m[i].kind == NK_MOUNT_VOLUME ? "z" : "",
                                      "RW", !m[i].readonly, "Propagation",
                                      m[i].kind == NK_MOUNT_BIND ? "rprivate" : "");
                if (o && m[i].kind == NK_MOUNT_VOLUME && m[i].source) {
                        _cleanup_free_ char *dir = strdup(m[i].source);
                        char *slash = dir ? strrchr(dir, '/') : NULL;
                        if (slash)
                                *slash = '\0';
                        slash = dir ? strrchr(dir, '/') : NULL;
                        json_object_set_new(o, "Name", json_string(slash ? slash + 1 : ""));
                        json_object_set_new(o, "Driver", json_string("local"));
                }
                json_array_append_new(a, o);
        }
        return a;
}

/* The spec and the record, with the rootfs made: `rootfs` its root.path,
 * rfd the overlay (a detached mount) that users and volumes are looked up
 * in. */
static int fill_container(struct nk_store *s, const char *id, const char *name,
                          struct nk_run_opts *o, const struct nk_image *img, const char *rootfs,
                          int rfd, const char *netns, nk_error **err)
{
        const char *store = nk_engine_root(s);
        char host[13];
        snprintf(host, sizeof host, "%.12s", id);
        if (!o->hostname && !(o->hostname = strdup(host)))
                return nk_error_set(err, ENOMEM, "hostname");
        _cleanup_jansson_ json_t *spec = NULL;
        struct nk_run_mount *mounts = NULL;
        size_t n = 0;
        _cleanup_strv_ char **created = NULL;
        if (nk_volume_resolve_mounts(store, o->mounts, o->n_mounts, img->config.root, rfd, &mounts,
                                     &n, &created, err) < 0)
                return -1;
        int r = nk_run_spec_build(o, img->config.root, rootfs, rfd, mounts, n, &spec, err);
        _cleanup_jansson_ json_t *mj = mounts_json(mounts, n);
        nk_run_mounts_free(mounts, n);
        if (r == 0)
                r = finish_container(store, id, name, o, img, spec, created, mj, netns, err);
        if (r < 0)
                for (char **v = created; v && *v; v++) {
                        nk_error *e = NULL;
                        if (nk_volume_remove(store, *v, true, NULL, NULL, &e) < 0)
                                nk_error_free(e);
                }
        return r;
}

/* The volumes a container uses (Nook.Volumes: what `volume rm` asks
 * about) and the anonymous ones made for it (Nook.AnonVolumes, and the
 * text file `anon-volumes` its monitor reads for --rm): both go with
 * --rm and rm -v. */
static int record_volumes(const char *store, const char *id, const struct nk_run_opts *o,
                          char **created, json_t *rec, nk_error **err)
{
        json_t *all = json_array(), *anon = json_array();
        json_t *nook = json_object_get(rec, "Nook");
        json_object_set_new(nook, "Volumes", all);
        json_object_set_new(nook, "AnonVolumes", anon);
        _cleanup_strv_ char **named = NULL;
        for (size_t i = 0; i < o->n_mounts; i++)
                if (o->mounts[i].kind == NK_MOUNT_VOLUME && o->mounts[i].source &&
                    !nk_strv_contains(named, o->mounts[i].source)) {
                        nk_strv_push(&named, o->mounts[i].source);
                        json_array_append_new(all, json_string(o->mounts[i].source));
                }
        _cleanup_free_ char *text = strdup("");
        for (char **v = created; v && *v && text; v++) {
                if (nk_strv_contains(named, *v))
                        continue;
                json_array_append_new(all, json_string(*v));
                json_array_append_new(anon, json_string(*v));
                _cleanup_free_ char *prev = text;
                if (asprintf(&text, "%s%s\n", prev, *v) < 0)
                        text = NULL;
        }
        if (!text)
                return nk_error_set(err, ENOMEM, "volumes");
        if (!*text) /* none: no file (an inode less per container; absent reads as none) */
                return 0;
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *path = NULL;
        if (!dir || asprintf(&path, "%s/anon-volumes", dir) < 0)
                return nk_error_set(err, ENOMEM, "volumes");
        return nk_write_file(path, text, strlen(text), 0600, err);
}

/* The spec's network namespace: netns NULL keeps a new one of the
 * runtime's (--network none), "" drops it (--network host), else its path. */
static void spec_netns(json_t *spec, const char *netns)
{
        json_t *nss = json_object_get(json_object_get(spec, "linux"), "namespaces"), *ns;
        size_t i;
        if (!netns)
                return;
        json_array_foreach (nss, i, ns)
                if (streq(json_string_value(json_object_get(ns, "type")) ?: "", "network")) {
                        if (*netns)
                                json_object_set_new(ns, "path", json_string(netns));
                        else
                                json_array_remove(nss, i);
                        return;
                }
        if (*netns)
                json_array_append_new(nss,
                                      json_pack("{s:s,s:s}", "type", "network", "path", netns));
}

/* ---- user namespaces: what the engine makes belongs to the container's root */

/* The id the host sees for the container's id c under an OCI map list;
 * -1 when c is not mapped. */
static long long host_id(json_t *maps, long long c)
{
        size_t i;
        json_t *e;
        json_array_foreach (maps, i, e) {
                json_int_t from = json_integer_value(json_object_get(e, "containerID"));
                json_int_t size = json_integer_value(json_object_get(e, "size"));
                if (c >= from && c - from < size)
                        return json_integer_value(json_object_get(e, "hostID")) + (c - from);
        }
        return -1;
}

/* A user-namespaced container's maps, as runspec puts them in its spec
 * (a new copy), or NULL. */
static json_t *run_idmaps(const struct nk_run_opts *o)
{
        if ((o->userns && streq(o->userns, "host")) || !json_array_size(o->uid_mappings) ||
            !json_array_size(o->gid_mappings))
                return NULL;
        return json_pack("{s:O,s:O}", "uidMappings", o->uid_mappings, "gidMappings",
                         o->gid_mappings);
}

/* The container's init, in its user namespace, resolves its root.path
 * (STORE/containers/ID/merged) as its host ids: every directory above must
 * let it through. /var/lib is 0755 and the store 0711; a store under a
 * 0700 home is not, and would fail deep in the runtime. */
static int userns_reachable(const char *store, json_t *idmaps, nk_error **err)
{
        long long uid = host_id(json_object_get(idmaps, "uidMappings"), 0);
        long long gid = host_id(json_object_get(idmaps, "gidMappings"), 0);
        char path[PATH_MAX];
        if (!realpath(store, path))
                return nk_error_set(err, errno, "store `%s`", store);
        for (;;) { /* the store, then each directory above it */
                struct stat st;
                if (stat(path, &st) < 0)
                        return nk_error_set(err, errno, "`%s`", path);
                bool x = (st.st_mode & S_IXOTH) || (st.st_uid == uid && (st.st_mode & S_IXUSR)) ||
                         (st.st_gid == gid && (st.st_mode & S_IXGRP));
                if (!x)
                        return nk_error_set(err, EACCES,
                                            "--uidmap: the container's root (host uid %lld) can't "
                                            "reach its root filesystem: `%s` has mode %o (others "
                                            "need x, as on /var/lib)",
                                            uid, path, st.st_mode & 07777);
                if (streq(path, "/"))
                        return 0;
                char *slash = strrchr(path, '/');
                slash[slash == path] = '\0';
        }
}

static json_t *shift_uids, *shift_gids; /* nftw passes no context */

static int shift_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        long long u = host_id(shift_uids, st->st_uid), g = host_id(shift_gids, st->st_gid);
        if ((u < 0 && g < 0) || flag == FTW_NS)
                return 0; /* unmapped: it stays the host's */
        return lchown(path, (uid_t)u, (gid_t)g) < 0 ? errno : 0;
}

/* The files a user-namespaced container gets from the engine (its /etc
 * files, the volumes made for it now, image content copied in) are shifted
 * to its host ids, so its root owns what root owns in the image: Docker's
 * userns-remap, podman's --uidmap. Trees of our own making, walked without
 * following symlinks. */
static int userns_owned(const char *store, const char *id, json_t *spec, char **created,
                        nk_error **err)
{
        json_t *linux_ = json_object_get(spec, "linux");
        json_t *u = json_object_get(linux_, "uidMappings"),
               *g = json_object_get(linux_, "gidMappings");
        if (!json_array_size(u) || !json_array_size(g))
                return 0;
        shift_uids = u;
        shift_gids = g;
        _cleanup_free_ char *dir = nk_ctr_dir(store, id);
        static const char *const etc[] = {"hostname", "hosts", "resolv.conf"};
        for (size_t i = 0; dir && i < ARRAY_SIZE(etc); i++) {
                char path[PATH_MAX];
                struct stat st;
                snprintf(path, sizeof path, "%s/%s", dir, etc[i]);
                int r = lstat(path, &st) < 0 ? errno : shift_one(path, &st, FTW_F, NULL);
                if (r)
                        return nk_error_set(err, r, "give `%s` to the container's root", path);
        }
        for (char **v = created; v && *v; v++) {
                _cleanup_free_ char *data = NULL;
                if (asprintf(&data, "%s/volumes/%s/_data", store, *v) < 0)
                        return nk_error_set(err, ENOMEM, "volume");
                int r = nftw(data, shift_one, 16, FTW_PHYS);
                if (r)
                        return nk_error_set(err, r > 0 ? r : errno,
                                            "give volume `%s` to the container's root", *v);
        }
        return dir ? 0 : nk_error_set(err, ENOMEM, "container directory");
}

static int finish_container(const char *store, const char *id, const char *name,
                            const struct nk_run_opts *o, const struct nk_image *img, json_t *spec,
                            char **created, json_t *mounts, const char *netns, nk_error **err)
{
        _cleanup_free_ char *cg = NULL;
        if (asprintf(&cg, "%s/%s", nk_ctr_cgroup_parent(), id) < 0)
                return nk_error_set(err, ENOMEM, "cgroup path");
        json_t *linux_ = json_object_get(spec, "linux");
        if (!linux_)
                json_object_set_new(spec, "linux", linux_ = json_object());
        json_object_set_new(linux_, "cgroupsPath", json_string(cg));
        spec_netns(spec, netns);
        if (etc_files(store, id, o, spec, err) < 0 ||
            userns_owned(store, id, spec, created, err) < 0)
                return -1;

        _cleanup_jansson_ json_t *rec = make_record(id, name, o, img, spec);
        if (!rec)
                return nk_error_set(err, ENOMEM, "container record");
        record_network(rec, o, img);
        json_object_set(rec, "Mounts", mounts ? mounts : json_array());
        json_object_set_new(json_object_get(rec, "HostConfig"), "Init", json_boolean(o->init));
        if (o->init && nk_run_spec_add_init(spec, o->init_path, err) < 0)
                return -1;
        if (record_volumes(store, id, o, created, rec, err) < 0 ||
            write_config(store, id, spec, err) < 0)
                return -1;
        /* A --rm container's record goes with it, crash or not: no fsync
         * (after a crash an empty or missing record shows as `removing`,
         * which rm -f finishes). */
        return nk_ctr_record_write(store, id, rec, !o->rm, err);
}

/* Name, rootfs, spec, record: all or nothing, under the names lock (so
 * two creations with one name: one wins, the other leaves nothing).
 * *mnt: the overlay, a detached mount; *rootfs_lock: its lock, held. */
static int create_container(struct nk_store *s, struct nk_run_opts *o, char id[NK_CTR_ID_LEN + 1],
                            const struct nk_global *g, const char *netns_of, int *mnt,
                            int *rootfs_lock, nk_error **err)
{
        const char *store = nk_engine_root(s);
        struct nk_image img = {0};
        if (find_image(s, o, &img, err) < 0)
                return -1;
        char name[160];
        int r = -1;
        _cleanup_close_ int lock = -1;
        _cleanup_free_ char *rootfs = NULL;
        _cleanup_jansson_ json_t *idmaps = NULL;
        if (nk_ctr_new_id(id, err) < 0 || (lock = nk_ctr_names_lock(store, err)) < 0)
                goto out;
        /* own: ROOT/netns/<id>, made by the net module once the container's
         * directory exists */
        char netns[PATH_MAX];
        if (netns_of && streq(netns_of, "own"))
                nk_ctrnet_netns_path(g->root, id, netns, sizeof netns);
        else
                snprintf(netns, sizeof netns, "%s", netns_of ? netns_of : "");
        if (o->name)
                snprintf(name, sizeof name, "%s", o->name);
        else if (nk_ctr_name_generate(store, name, sizeof name, err) < 0)
                goto out;
        /* The name is checked first (no rootfs for a taken one) and taken
         * once the container's directory exists: a creation killed at any
         * point leaves no name without a directory that `ps -a` lists and
         * `rm -f` removes with its names. */
        if (nk_ctr_name_free(store, name, err) < 0)
                goto out;
        idmaps = run_idmaps(o);
        if (idmaps && userns_reachable(store, idmaps, err) < 0)
                goto out;
        if (nk_image_rootfs_create(store, o->image, id, idmaps, !o->rm, &rootfs, mnt, rootfs_lock,
                                   err) < 0)
                goto out;
        r = nk_ctr_name_reserve(store, name, id, err);
        if (r == 0)
                r = fill_container(s, id, name, o, &img, rootfs, *mnt, netns_of ? netns : NULL,
                                   err);
        if (r < 0) {
                nk_error *e = NULL;
                close(TAKE_FD(*mnt)); /* the overlay goes before its upper */
                close(TAKE_FD(*rootfs_lock));
                if (nk_image_rootfs_remove(store, id, &e) < 0)
                        nk_error_free(e);
                nk_ctr_name_release(store, name, id);
        }
out:
        nk_image_clear(&img);
        return r;
}

/* --init's binary: nook-init beside this nook (a build tree), else in
 * the install's module dir. The one named in an error is the latter. */
static char *init_binary(void)
{
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        char *path = NULL;
        if (n > 0) {
                exe[n] = '\0';
                char *slash = strrchr(exe, '/');
                if (slash && asprintf(&path, "%.*s/nook-init", (int)(slash - exe), exe) >= 0 &&
                    access(path, X_OK) == 0)
                        return path;
                free(path);
        }
        return strdup(NOOK_ENGINE_DIR "/nook-init");
}

static int write_cidfile(const char *path, const char *id, nk_error **err)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return nk_error_set(err, errno, "--cidfile `%s`", path);
        bool ok = write(fd, id, strlen(id)) == (ssize_t)strlen(id);
        close(fd);
        return ok ? 0 : nk_error_set(err, errno, "--cidfile `%s`", path);
}

/* --network's namespace: NULL for none (the runtime makes one), "" for
 * host, "own" for a network of nook's, else the path of container:REF's
 * (its netns file, or its init's while it runs). */
static int network_netns(const struct nk_global *g, const struct nk_run_opts *o, char *out,
                         size_t len, const char **res, nk_error **err)
{
        const char *m = o->network;
        *res = "own";
        if (m && streq(m, "none"))
                *res = NULL;
        else if (m && streq(m, "host"))
                *res = "";
        if (!m || strncmp(m, "container:", 10) != 0)
                return 0;
        char id[NK_CTR_ID_LEN + 1];
        struct nk_ctr_state st;
        if (nk_ctr_resolve(g->store, m + 10, id, err) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return nk_error_wrap(err, "--network %s", m);
        nk_ctrnet_netns_path(g->root, id, out, len);
        if (!nk_path_exists(out)) {
                if (st.status != NK_CTR_RUNNING && st.status != NK_CTR_PAUSED)
                        return nk_error_set(err, 0, "--network %s: container %.12s is not running",
                                            m, id);
                snprintf(out, len, "/proc/%d/ns/net", (int)st.pid);
        }
        *res = out;
        return 0;
}

static struct nk_ctrnet_req net_request(const struct nk_run_opts *o, const json_t *exposed)
{
        return (struct nk_ctrnet_req){.network = o->network,
                                      .ips = o->ips,
                                      .aliases = o->aliases,
                                      .publish = o->publish,
                                      .publish_all = o->publish_all,
                                      .exposed = exposed,
                                      .mac = o->mac,
                                      .hostname = o->hostname,
                                      .egress_rate = o->egress_rate,
                                      .ingress_rate = o->ingress_rate};
}

/* A network of nook's for the container made: namespace, attach, ports;
 * the record gets NetworkSettings. */
static int network_setup(const struct nk_global *g, const struct nk_net_ops *net,
                         const struct nk_run_opts *o, const char *id, nk_error **err)
{
        _cleanup_jansson_ json_t *rec = nk_ctr_record(g->store, id, err);
        if (!rec)
                return -1;
        const char *name = json_string_value(json_object_get(rec, "Name")) ?: "/";
        const char *host =
                json_string_value(json_object_get(json_object_get(rec, "Config"), "Hostname"));
        struct nk_ctrnet_req q =
                net_request(o, json_object_get(json_object_get(rec, "Config"), "ExposedPorts"));
        q.hostname = host;
        if (net->setup(g->store, g->root, id, name + (name[0] == '/'), &q, rec, err) < 0)
                return -1;
        /* replaced without fsync: the record written before is durable,
         * and what this adds (addresses, ports) is made again by start
         * after a crash that lost it */
        _cleanup_free_ char *dir = nk_ctr_dir(g->store, id), *path = NULL;
        _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);
        if (!dir || !text || asprintf(&path, "%s/container.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "record");
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

/* run's gate (nk_ctr_start_monitor): the networking module is loaded,
 * the request checked and the network attached (into the netns file made
 * before the container) while the monitor creates the container, which
 * starts once this is done. A failure undoes the creation. */
struct net_gate {
        const struct nk_global *g;
        const struct nk_run_opts *o;
        const char *id;
        bool failed;
};

static int gate_network(void *arg, nk_error **err)
{
        struct net_gate *ng = arg;
        const struct nk_net_ops *net = nk_cmd_net_ops();
        struct nk_ctrnet_req q = net_request(ng->o, NULL);
        ng->failed = true;
        if (!net)
                return nk_error_set(err, 0, "--network: the networking module is missing");
        if (net->check(ng->g->store, &q, err) < 0 ||
            network_setup(ng->g, net, ng->o, ng->id, err) < 0)
                return -1;
        ng->failed = false;
        return 0;
}

/* Before the container is made, for a network of nook's: `run` makes only
 * the netns file it joins (the rest at the gate), `create` all. */
static int network_first(const struct nk_global *g, const struct nk_net_ops *net,
                         const struct nk_run_opts *o, const char *id, bool run, nk_error **err)
{
        char path[PATH_MAX];
        if (run)
                return nk_ctrnet_netns_make(g->root, id, path, sizeof path, err);
        return network_setup(g, net, o, id, err);
}

static int run_or_create(const struct nk_global *g, int argc, char **argv, bool run)
{
        struct nk_run_opts o;
        nk_error *e = NULL;
        if (nk_run_opts_parse(argc, argv, &o, &e) < 0)
                return nk_ctr_fail(e, 125);
        int rc = 125;
        if (o.init && !o.init_path && !(o.init_path = init_binary())) {
                nk_log(NK_LOG_ERROR, "--init: out of memory");
                goto out;
        }
        nk_cmd_engine_env_init();
        _cleanup_(nk_engine_closep) struct nk_store *s = NULL;
        char id[NK_CTR_ID_LEN + 1], other[PATH_MAX];
        /* the rootfs: its overlay (attached nowhere until the container's
         * init does) and its lock, held until the monitor has it */
        _cleanup_close_ int mnt = -1, lock = -1;
        const char *netns;
        const struct nk_net_ops *net = NULL;
        /* NOOK_NETWORK: the mode of a run given no --network (dockerd's
         * --bridge=none is `none`); the default network when unset */
        const char *dflt = getenv("NOOK_NETWORK");
        if (!o.network && dflt && *dflt && !(o.network = strdup(dflt))) {
                nk_log(NK_LOG_ERROR, "out of memory");
                goto out;
        }
        if (network_netns(g, &o, other, sizeof other, &netns, &e) < 0) {
                rc = nk_ctr_fail(e, 125);
                goto out;
        }
        bool own = netns && streq(netns, "own");
        if (own && !run) {
                /* checked before anything is made: unknown network, bad -p,
                 * an --ip outside the subnet (run: at its gate, the
                 * creation then undone) */
                struct nk_ctrnet_req q = net_request(&o, NULL);
                if (!(net = nk_cmd_net_ops())) {
                        nk_log(NK_LOG_ERROR, "--network: the networking module is missing");
                        goto out;
                }
                if (net->check(g->store, &q, &e) < 0) {
                        rc = nk_ctr_fail(e, 125);
                        goto out;
                }
        }
        if (nk_run_opts_env_from_host(&o, environ, &e) < 0 ||
            nk_engine_open_local(g->store, &s, &e) < 0 ||
            create_container(s, &o, id, g, netns, &mnt, &lock, &e) < 0) {
                rc = nk_ctr_fail(e, 125);
                goto out;
        }
        if (own && network_first(g, net, &o, id, run, &e) < 0) {
                /* nothing half-made: the container goes, its network with it */
                rc = nk_ctr_fail(e, 125);
                close(TAKE_FD(mnt));
                close(TAKE_FD(lock));
                if (nk_ctr_force_remove(g, id, true, &e) < 0)
                        nk_cmd_fail(e);
                goto out;
        }
        if (o.cidfile && write_cidfile(o.cidfile, id, &e) < 0) {
                rc = nk_ctr_fail(e, 125);
                goto out;
        }
        if (!run) {
                printf("%s\n", id);
                rc = 0;
                goto out;
        }
        json_t *rec = nk_ctr_record(g->store, id, &e);
        if (!rec) {
                rc = nk_ctr_fail(e, 125);
                goto out;
        }
        fflush(stdout);
        bool failed;
        struct net_gate ng = {g, &o, id, false};
        struct nk_ctr_gate gate = {gate_network, &ng};
        rc = nk_ctr_start_monitor(g, id, rec, !o.detach, o.interactive && !o.detach,
                                  own ? &gate : NULL, &mnt, &lock, &failed);
        json_decref(rec);
        /* a network that failed: nothing half-made, as for create */
        if (failed && (o.rm || ng.failed) && nk_ctr_force_remove(g, id, true, &e) < 0)
                nk_cmd_fail(e);
        if (rc == 0 && o.detach)
                printf("%s\n", id);
out:
        nk_run_opts_clear(&o);
        return rc;
}

int nk_cmd_run(const struct nk_global *g, int argc, char **argv)
{
        return run_or_create(g, argc, argv, true);
}

int nk_cmd_create(const struct nk_global *g, int argc, char **argv)
{
        return run_or_create(g, argc, argv, false);
}
