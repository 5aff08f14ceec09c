/* Named volumes (create/list/inspect/remove/prune under a temporary store)
 * and a run's mounts resolved to host paths: binds checked, named volumes
 * made when missing, the image's Volumes as anonymous volumes, copy-up of
 * the image's content (beneath the rootfs, never through its symlinks),
 * rollback on error, hostile names and a _data replaced by a symlink. */
#include "engine/container/volume.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/nook-volume-XXXXXX";
static char store[300], rootfs[300];

static char *msg(nk_error *err)
{
        static char buf[512];
        char *t = nk_error_text(err);
        snprintf(buf, sizeof(buf), "%s", t ? t : "");
        free(t);
        nk_error_free(err);
        return buf;
}

/* STORE/volumes/<rel> exists (not followed) */
static bool exists(const char *rel)
{
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s/volumes/%s", store, rel);
        return lstat(p, &st) == 0;
}

static bool in_use_web(const char *name, void *data)
{
        (void)data;
        return streq(name, "web");
}

static int entries(const char *dir)
{
        int n = 0;
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static void test_crud(void)
{
        nk_error *err = NULL;
        struct nk_volume v;
        bool created = false;
        json_t *labels = json_pack("{s:s}", "team", "a");
        CHECK(nk_volume_create(store, "data", labels, &created, &v, &err) == 0 && created);
        if (err)
                fprintf(stderr, "create: %s\n", msg(err));
        err = NULL;
        json_decref(labels);
        CHECK_STR(v.name, "data");
        CHECK(!v.anonymous && v.created && strlen(v.created) == 20);
        CHECK_STR(json_string_value(json_object_get(v.labels, "team")), "a");
        char want[400];
        snprintf(want, sizeof(want), "%s/volumes/data/_data", store);
        CHECK_STR(v.mountpoint, want);
        struct stat st;
        CHECK(stat(want, &st) == 0 && S_ISDIR(st.st_mode));
        nk_volume_clear(&v);
        /* idempotent, as Docker's */
        CHECK(nk_volume_create(store, "data", NULL, &created, NULL, &err) == 0 && !created);
        CHECK(nk_volume_create(store, NULL, NULL, &created, &v, &err) == 0 && created);
        CHECK(!v.anonymous && strlen(v.name) == 64);
        CHECK(nk_volume_remove(store, v.name, false, NULL, NULL, &err) == 0);
        nk_volume_clear(&v);
        labels = json_pack("{s:s}", NK_VOLUME_ANON_LABEL, "");
        CHECK(nk_volume_create(store, NULL, labels, &created, &v, &err) == 0 && created);
        json_decref(labels);
        CHECK(v.anonymous && strlen(v.name) == 64);
        char anon[80];
        snprintf(anon, sizeof(anon), "%s", v.name);
        nk_volume_clear(&v);
        CHECK(nk_volume_create(store, "web", NULL, NULL, NULL, &err) == 0);

        struct nk_volume *list = NULL;
        size_t n = 0;
        CHECK(nk_volume_list(store, &list, &n, &err) == 0 && n == 3);
        CHECK(n == 3 && strcmp(list[0].name, list[1].name) < 0 &&
              strcmp(list[1].name, list[2].name) < 0);
        int seen = 0;
        for (size_t i = 0; i < n; i++)
                seen += streq(list[i].name, "data") + streq(list[i].name, "web") * 2 +
                        streq(list[i].name, anon) * 4;
        CHECK(seen == 7);
        nk_volumes_free(list, n);

        CHECK(nk_volume_inspect(store, "data", &v, &err) == 0);
        nk_volume_clear(&v);
        CHECK(nk_volume_inspect(store, "nope", &v, &err) < 0 &&
              strstr(msg(err), "no such volume: nope"));
        err = NULL;

        /* hostile names never reach the file system */
        const char *bad[] = {"../x", "a/b", "..", ".", "/", "x", ".tmp-1", ".lock", ""};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                CHECK(nk_volume_create(store, bad[i], NULL, NULL, NULL, &err) < 0);
                CHECK(strstr(msg(err), "invalid volume name") != NULL);
                err = NULL;
                CHECK(nk_volume_remove(store, bad[i], true, NULL, NULL, &err) < 0);
                nk_error_free(err);
                err = NULL;
        }
        labels = json_pack("{s:i}", "n", 1);
        CHECK(nk_volume_create(store, "lab", labels, NULL, NULL, &err) < 0 &&
              strstr(msg(err), "label `n`"));
        err = NULL;
        json_decref(labels);
        CHECK(!exists("lab"));

        /* in use: refused, still there */
        CHECK(nk_volume_remove(store, "web", false, in_use_web, NULL, &err) < 0);
        CHECK(strstr(msg(err), "web is in use") != NULL);
        err = NULL;
        CHECK(exists("web/_data"));
        CHECK(nk_volume_remove(store, "gone", false, NULL, NULL, &err) < 0 &&
              strstr(msg(err), "no such volume: gone"));
        err = NULL;
        CHECK(nk_volume_remove(store, "gone", true, NULL, NULL, &err) == 0);

        /* filters */
        CHECK(nk_volume_inspect(store, "data", &v, &err) == 0);
        char *f1[] = {"label=team", NULL}, *f2[] = {"label=team=b", NULL},
             *f3[] = {"name=at", "name=zz", NULL}, *f4[] = {"name=zz", NULL},
             *f5[] = {"dangling=false", NULL}, *f6[] = {"colour=red", NULL};
        CHECK(nk_volume_matches(&v, f1, NULL, NULL) && !nk_volume_matches(&v, f2, NULL, NULL));
        CHECK(nk_volume_matches(&v, f3, NULL, NULL) && !nk_volume_matches(&v, f4, NULL, NULL));
        CHECK(!nk_volume_matches(&v, f5, in_use_web, NULL));
        CHECK(nk_volume_filters_check(f6, &err) < 0 && strstr(msg(err), "colour=red"));
        err = NULL;
        nk_volume_clear(&v);

        /* prune: anonymous only by default, --all the rest not in use */
        char **removed = NULL;
        CHECK(nk_volume_prune(store, false, NULL, in_use_web, NULL, &removed, &err) == 0);
        CHECK(nk_strv_len(removed) == 1 && streq(removed[0], anon));
        nk_strv_free(removed);
        CHECK(exists("data"));
        CHECK(nk_volume_prune(store, true, f2, in_use_web, NULL, &removed, &err) == 0);
        CHECK(nk_strv_len(removed) == 0);
        nk_strv_free(removed);
        CHECK(nk_volume_prune(store, true, NULL, in_use_web, NULL, &removed, &err) == 0);
        CHECK(nk_strv_len(removed) == 1 && streq(removed[0], "data"));
        nk_strv_free(removed);
        CHECK(exists("web") && !exists("data"));
        CHECK(nk_volume_remove(store, "web", false, NULL, NULL, &err) == 0);
        char vdir[400];
        snprintf(vdir, sizeof(vdir), "%s/volumes", store);
        CHECK(entries(vdir) == 0);
}

/* _data replaced by a symlink to /: never followed (neither by rm nor by
 * a run), and a stale staging directory is swept. */
static void test_hostile_disk(void)
{
        nk_error *err = NULL;
        char p[400], q[400];
        CHECK(nk_volume_create(store, "evil", NULL, NULL, NULL, &err) == 0);
        snprintf(p, sizeof(p), "%s/volumes/evil/_data", store);
        CHECK(rmdir(p) == 0 && symlink("/", p) == 0);
        struct nk_run_mount m = {NK_MOUNT_VOLUME, "evil", "/data", false, NULL, false};
        struct nk_run_mount *out = NULL;
        size_t n = 0;
        char **created = NULL;
        CHECK(nk_volume_resolve_mounts(store, &m, 1, NULL, -1, &out, &n, &created, &err) < 0);
        CHECK(strstr(msg(err), "not a directory") != NULL);
        err = NULL;
        CHECK(nk_volume_remove(store, "evil", false, NULL, NULL, &err) == 0);
        CHECK(!exists("evil"));
        struct stat st;
        CHECK(stat("/etc/passwd", &st) == 0); /* the host is still there */

        /* the volume directory itself a symlink to the host's /etc */
        snprintf(p, sizeof(p), "%s/volumes/etcv", store);
        CHECK(symlink("/etc", p) == 0);
        struct nk_volume v;
        CHECK(nk_volume_inspect(store, "etcv", &v, &err) < 0);
        nk_error_free(err);
        err = NULL;
        CHECK(nk_volume_remove(store, "etcv", false, NULL, NULL, &err) == 0);
        CHECK(stat("/etc/passwd", &st) == 0 && lstat(p, &st) < 0);

        /* an interrupted creation is swept at the next change */
        snprintf(q, sizeof(q), "%s/volumes/.tmp-stale", store);
        CHECK(mkdir(q, 0700) == 0);
        CHECK(nk_volume_create(store, "after", NULL, NULL, NULL, &err) == 0);
        CHECK(lstat(q, &st) < 0);
        CHECK(nk_volume_remove(store, "after", false, NULL, NULL, &err) == 0);
}

static void write_at(const char *rel, const char *text, mode_t mode)
{
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", rootfs, rel);
        nk_error *err = NULL;
        CHECK(nk_write_file(p, text, strlen(text), mode, &err) == 0);
        chmod(p, mode);
}

static void test_resolve(void)
{
        nk_error *err = NULL;
        char p[600];
        /* the image: /srv/www with files, a symlink out, a subdirectory;
         * /etc/app a symlink to the host's /etc (resolved in the rootfs) */
        snprintf(p, sizeof(p), "%s/srv/www/sub", rootfs);
        CHECK(nk_mkdir_p(p, 0755, &err) == 0);
        write_at("srv/www/index.html", "hello\n", 0640);
        write_at("srv/www/sub/deep", "deep\n", 0600);
        snprintf(p, sizeof(p), "%s/srv/www/link", rootfs);
        CHECK(symlink("/etc/shadow", p) == 0);
        snprintf(p, sizeof(p), "%s/srv/www", rootfs);
        CHECK(chown(p, 33, 33) == 0 && chmod(p, 0750) == 0);
        snprintf(p, sizeof(p), "%s/cache", rootfs);
        CHECK(mkdir(p, 0755) == 0);
        write_at("cache/c", "c", 0644);
        snprintf(p, sizeof(p), "%s/escape", rootfs);
        CHECK(symlink("../../../../../../etc", p) == 0);
        int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(rfd >= 0);

        char bind_src[400];
        snprintf(bind_src, sizeof(bind_src), "%s/hostdir", tmpdir);
        CHECK(mkdir(bind_src, 0755) == 0);
        char *topts[] = {"size=1048576", NULL};
        struct nk_run_mount in[] = {
                {NK_MOUNT_BIND, bind_src, "/host", true, NULL, false},
                {NK_MOUNT_VOLUME, "www", "/srv/www", false, NULL, false},
                {NK_MOUNT_VOLUME, NULL, "/cache", false, NULL, true}, /* nocopy */
                {NK_MOUNT_TMPFS, NULL, "/t", false, topts, false},
                {NK_MOUNT_VOLUME, "esc", "/escape", false, NULL, false},
        };
        json_t *img = json_loads("{\"config\": {\"Volumes\": {\"/srv/www/\": {}, \"/var/lib/x\": "
                                 "{}}}}",
                                 0, NULL);
        struct nk_run_mount *out = NULL;
        size_t n = 0;
        char **created = NULL;
        CHECK(nk_volume_resolve_mounts(store, in, ARRAY_SIZE(in), img, rfd, &out, &n, &created,
                                       &err) == 0);
        if (err)
                fprintf(stderr, "resolve: %s\n", msg(err));
        err = NULL;
        CHECK(n == 6 && nk_strv_len(created) == 4); /* www, anon /cache, esc, anon /var/lib/x */
        CHECK(out[0].kind == NK_MOUNT_BIND && streq(out[0].source, bind_src) && out[0].readonly);
        char www[400];
        snprintf(www, sizeof(www), "%s/volumes/www/_data", store);
        CHECK(n > 1 && streq(out[1].source, www));
        CHECK(n > 3 && out[3].kind == NK_MOUNT_TMPFS && out[3].source == NULL && out[3].options &&
              streq(out[3].options[0], "size=1048576"));
        CHECK(n > 5 && streq(out[5].target, "/var/lib/x") && out[5].source &&
              strstr(out[5].source, "/volumes/"));
        /* the -v /path and image volumes are anonymous, the named ones not */
        for (size_t i = 0; created && i < 4 && created[i]; i++) {
                struct nk_volume av;
                CHECK(nk_volume_inspect(store, created[i], &av, &err) == 0);
                CHECK(av.anonymous == (i == 1 || i == 3));
                nk_volume_clear(&av);
        }
        /* copy-up: content, modes, owners; the symlink copied as a link */
        struct stat st;
        snprintf(p, sizeof(p), "%s/index.html", www);
        _cleanup_free_ char *text = NULL;
        size_t len;
        CHECK(nk_read_file(p, &text, &len, &err) == 0 && text && streq(text, "hello\n"));
        CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640);
        snprintf(p, sizeof(p), "%s/sub/deep", www);
        CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
        snprintf(p, sizeof(p), "%s/link", www);
        char target[64] = "";
        CHECK(readlink(p, target, sizeof(target) - 1) > 0 && streq(target, "/etc/shadow"));
        CHECK(stat(www, &st) == 0 && st.st_uid == 33 && (st.st_mode & 07777) == 0750);
        /* nocopy: empty; the escaping symlink resolved inside the rootfs
         * (rootfs/etc, which is empty here), never the host's /etc */
        CHECK(n > 2 && entries(out[2].source) == 0);
        CHECK(n > 4 && entries(out[4].source) == 0);
        nk_run_mounts_free(out, n);

        /* a second run: the named volume exists, nothing is copied again */
        write_at("srv/www/new", "n", 0644);
        struct nk_run_mount again = {NK_MOUNT_VOLUME, "www", "/srv/www", false, NULL, false};
        char **created2 = NULL;
        CHECK(nk_volume_resolve_mounts(store, &again, 1, NULL, rfd, &out, &n, &created2, &err) ==
              0);
        CHECK(n == 1 && created2 == NULL);
        snprintf(p, sizeof(p), "%s/new", www);
        CHECK(lstat(p, &st) < 0);
        nk_run_mounts_free(out, n);

        /* an empty volume made by `volume create` is seeded too (Docker) */
        CHECK(nk_volume_create(store, "pre", NULL, NULL, NULL, &err) == 0);
        struct nk_run_mount pre = {NK_MOUNT_VOLUME, "pre", "/cache", false, NULL, false};
        CHECK(nk_volume_resolve_mounts(store, &pre, 1, NULL, rfd, &out, &n, &created2, &err) == 0);
        CHECK(n == 1 && created2 == NULL);
        snprintf(p, sizeof(p), "%s/volumes/pre/_data/c", store);
        CHECK(lstat(p, &st) == 0);
        nk_run_mounts_free(out, n);
        CHECK(nk_volume_remove(store, "pre", false, NULL, NULL, &err) == 0);

        /* an error halfway: what this call made is removed again */
        char vdir[400];
        snprintf(vdir, sizeof(vdir), "%s/volumes", store);
        int before = entries(vdir);
        struct nk_run_mount bad[] = {
                {NK_MOUNT_VOLUME, "fresh", "/f", false, NULL, false},
                {NK_MOUNT_BIND, "/nonexistent/nook-src", "/x", false, NULL, false},
        };
        CHECK(nk_volume_resolve_mounts(store, bad, 2, NULL, rfd, &out, &n, &created2, &err) < 0);
        CHECK(strstr(msg(err), "/nonexistent/nook-src") != NULL);
        err = NULL;
        CHECK(entries(vdir) == before && !exists("fresh"));
        struct nk_run_mount relb = {NK_MOUNT_BIND, "rel/x", "/x", false, NULL, false};
        CHECK(nk_volume_resolve_mounts(store, &relb, 1, NULL, rfd, &out, &n, &created2, &err) < 0);
        CHECK(strstr(msg(err), "rel/x") != NULL);
        err = NULL;

        for (char **c = created; c && *c; c++)
                CHECK(nk_volume_remove(store, *c, false, NULL, NULL, &err) == 0);
        nk_strv_free(created);
        CHECK(entries(vdir) == 0);
        json_decref(img);
        close(rfd);
}

int main(void)
{
        unit_require_syscall(SYS_openat2, "openat2"); /* copy-up from the image */
        if (!mkdtemp(tmpdir))
                return 1;
        snprintf(store, sizeof(store), "%s/store", tmpdir);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs/etc", tmpdir);
        nk_error *err = NULL;
        CHECK(nk_mkdir_p(rootfs, 0755, &err) == 0);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpdir);

        test_crud();
        test_hostile_disk();
        test_resolve();

        CHECK(nk_rm_rf(tmpdir, &err) == 0);
        return UNIT_END();
}
