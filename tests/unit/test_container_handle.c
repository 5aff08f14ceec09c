/* The container handle (runtime/handle.c) over a state root in a temporary
 * directory: an absent container, the state lock a locking handle holds,
 * ROOT/<id> a symlink,
 * a container without a cgroup (--cgroup-manager disabled) refused by every
 * cgroup verb with its state file left as it was, and update's merge rule. */
#include "runtime/container.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/nk-unit-handle-XXXXXX";

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                perror(path);
                exit(2);
        }
}

static char *slurp(const char *path)
{
        char *s = NULL;
        nk_error *e = NULL;
        if (nk_read_file(path, &s, NULL, &e) < 0) {
                nk_error_free(e);
                return NULL;
        }
        return s;
}

/* ROOT/<id>/state.json as create leaves it with --cgroup-manager disabled:
 * no cgroup_path. */
static void make_state(const char *id)
{
        char dir[256], path[300];
        snprintf(dir, sizeof dir, "%s/%s", root, id);
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/state.json", dir);
        char text[512];
        snprintf(text, sizeof text,
                 "{\"id\": \"%s\", \"bundle\": \"/nonexistent\", \"pid\": 0, \"pid_start\": 0, "
                 "\"config\": {\"linux\": {\"resources\": {\"pids\": {\"limit\": 5}}}}}",
                 id);
        write_file(path, text);
}

static void absent(void)
{
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        CHECK(nk_container_open(root, "nothere", 0, &c, &e) < 0 && !c);
        CHECK(e && e->errno_ == ENOENT && strstr(e->msg, "`nothere` does not exist"));
        nk_error_free(e);
        e = NULL;
        CHECK(nk_container_open(root, "../x", NK_CONTAINER_LOCK, &c, &e) < 0 && !c);
        nk_error_free(e);
}

/* While a locking handle is open, nobody else gets ROOT/<id>/lock. */
static void lock_held(void)
{
        make_state("locked");
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        CHECK(nk_container_open(root, "locked", NK_CONTAINER_LOCK, &c, &e) == 0);
        if (!c) {
                fprintf(stderr, "open: %s\n", e ? e->msg : "?");
                exit(1);
        }
        char path[300];
        snprintf(path, sizeof path, "%s/locked/lock", root);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
        CHECK_STR(nk_container_state(c)->id, "locked");
        nk_container_close(c);
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
        flock(fd, LOCK_UN);
        nk_error_free(e);
        e = NULL;
        /* ROOT/<id> a symlink to that container's dir: refused, not followed. */
        char link[300];
        snprintf(link, sizeof link, "%s/link", root);
        CHECK(symlink("locked", link) == 0);
        CHECK(nk_container_open(root, "link", NK_CONTAINER_LOCK, &c, &e) < 0);
        /* (O_PATH|O_NOFOLLOW opens the link itself; O_DIRECTORY then says
         * ENOTDIR.) */
        CHECK(e && (e->errno_ == ELOOP || e->errno_ == ENOTDIR) && strstr(e->msg, "`link`"));
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
        nk_error_free(e);
}

static void check_no_cgroup(int r, nk_error **err, const char *verb)
{
        nk_error *e = *err;
        *err = NULL;
        char want[128];
        snprintf(want, sizeof want,
                 "%s: container `nocg` has no cgroup (--cgroup-manager disabled)", verb);
        CHECK(r < 0 && e && e->errno_ == ENOTSUP);
        CHECK_STR(e ? e->msg : NULL, want);
        nk_error_free(e);
}

static void no_cgroup(void)
{
        make_state("nocg");
        char path[300];
        snprintf(path, sizeof path, "%s/nocg/state.json", root);
        _cleanup_free_ char *before = slurp(path);
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        CHECK(nk_container_open(root, "nocg", NK_CONTAINER_LOCK, &c, &e) == 0);
        if (!c) {
                fprintf(stderr, "open: %s\n", e ? e->msg : "?");
                exit(1);
        }
        check_no_cgroup(nk_container_pause(c, &e), &e, "pause");
        check_no_cgroup(nk_container_resume(c, &e), &e, "resume");
        json_t *res = json_pack("{s:{s:i}}", "pids", "limit", 9);
        check_no_cgroup(nk_container_update(c, res, &e), &e, "update");
        CHECK(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")) == 9);
        json_decref(res);
        pid_t *pids = NULL;
        size_t n = 0;
        check_no_cgroup(nk_container_pids(c, &pids, &n, &e), &e, "ps");
        CHECK(!pids);
        check_no_cgroup(nk_container_stats(c, &e) ? 0 : -1, &e, "events");
        check_no_cgroup(nk_container_watch(c, 1000, NULL, NULL, &e), &e, "events");
        nk_container_close(c);
        _cleanup_free_ char *after = slurp(path);
        CHECK_STR(after, before);
}

static void merge(void)
{
        json_t *dst = json_pack("{s:{s:i, s:i}, s:{s:i}, s:[i]}", "cpu", "quota", 1, "period", 2,
                                "pids", "limit", 3, "hugepageLimits", 1);
        json_t *src =
                json_pack("{s:{s:i}, s:i, s:[]}", "cpu", "quota", 7, "pids", 4, "hugepageLimits");
        nk_resources_merge(dst, src);
        _cleanup_free_ char *s = json_dumps(dst, JSON_SORT_KEYS | JSON_COMPACT);
        CHECK_STR(s, "{\"cpu\":{\"period\":2,\"quota\":7},\"hugepageLimits\":[],\"pids\":4}");
        json_decref(dst);
        json_decref(src);
}

int main(void)
{
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return 2;
        }
        absent();
        lock_held();
        no_cgroup();
        merge();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
                return 2;
        return UNIT_END();
}
