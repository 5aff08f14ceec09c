/* Store internals on a temp directory: staging directories are swept only
 * when their owner is gone; the two-step names update changes nothing
 * until it finishes. */
#include "engine/store.h"
#include "unit.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bool in_tmp(struct nk_store *s, const char *name)
{
        struct stat st;
        return fstatat(s->tmp, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void staging(struct nk_store *s)
{
        char *a = NULL, *b = NULL;
        int fa = nk_store_mkstaging(s, "layer-abc-", &a, NULL);
        int fb = nk_store_mkstaging(s, "load-", &b, NULL);
        CHECK(fa >= 0 && fb >= 0);
        CHECK(a && strncmp(a, "layer-abc-", 10) == 0);
        CHECK(b && strncmp(b, "load-", 5) == 0);
        /* Something else in tmp/ is not a staging directory. */
        CHECK(mkdirat(s->tmp, "other", 0700) == 0);
        CHECK(mkdirat(s->tmp, "export-dead", 0700) == 0);
        CHECK(openat(fa, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0600) >= 0);
        nk_store_sweep_staging(s);
        CHECK(in_tmp(s, a) && in_tmp(s, b)); /* held: kept */
        CHECK(!in_tmp(s, "export-dead"));    /* nobody holds it */
        CHECK(in_tmp(s, "other"));
        close(fa); /* its owner "dies" */
        nk_store_sweep_staging(s);
        CHECK(!in_tmp(s, a) && in_tmp(s, b));
        close(fb);
        free(a);
        free(b);
}

static int add_name(json_t *names, void *data, nk_error **err)
{
        json_object_set_new(names, (const char *)data, json_pack("{s:s}", "manifest", "m"));
        return 0;
}

static void names(struct nk_store *s)
{
        struct nk_names_update u;
        json_t *v = NULL;
        CHECK(nk_store_names_prepare(s, add_name, "one", &u, NULL) == 0);
        CHECK(nk_store_names_read(s, &v, NULL) == 0 && json_object_size(v) == 0);
        json_decref(v);
        nk_store_names_cancel(s, &u);
        CHECK(nk_store_names_read(s, &v, NULL) == 0 && json_object_size(v) == 0);
        json_decref(v);
        CHECK(nk_store_names_prepare(s, add_name, "two", &u, NULL) == 0);
        CHECK(nk_store_names_finish(s, &u, NULL) == 0);
        CHECK(nk_store_names_read(s, &v, NULL) == 0 && json_object_get(v, "two") &&
              !json_object_get(v, "one"));
        json_decref(v);
        CHECK(u.lock_fd < 0);
        /* No temp file is left behind either way. */
        char tmp[64];
        snprintf(tmp, sizeof(tmp), ".repositories.json.tmp.%d", (int)getpid());
        CHECK(faccessat(s->dfd, tmp, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
}

int main(void)
{
        char dir[] = "/tmp/nook-unit-store-XXXXXX";
        if (!mkdtemp(dir))
                return 1;
        struct nk_store *s = NULL;
        CHECK(nk_store_open(dir, &s, NULL) == 0);
        if (s) {
                staging(s);
                names(s);
                nk_store_free(s);
        }
        nk_error *e = NULL;
        if (nk_rm_rf(dir, &e) < 0)
                nk_error_free(e);
        return UNIT_END();
}
