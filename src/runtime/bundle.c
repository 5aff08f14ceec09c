/* The OCI face's first step of create and run: a bundle directory read
 * into a spec and a rootfs path. The library's create itself takes those
 * two, so the engine, whose spec is built in memory, never needs one. */
#include "container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The config file: crun's --config FILE (relative to our cwd), else
 * DIR/config.json. Messages name the file. */
static int load_config(const char *dir, const char *config, struct nk_spec **out, nk_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len = 0;
        if (config && !(path = realpath(config, NULL)))
                return nk_error_set(err, errno, "--config `%s`", config);
        if (!config && asprintf(&path, "%s/config.json", streq(dir, "/") ? "" : dir) < 0)
                return nk_error_set(err, ENOMEM, "bundle `%s`", dir);
        if (nk_read_file(path, &text, &len, err) < 0)
                return -1;
        return nk_spec_parse(text, len, path, out, err);
}

int nk_bundle_load(const char *dir, const char *config, struct nk_bundle *out, nk_error **err)
{
        char buf[PATH_MAX];
        if (!realpath(dir ? dir : ".", buf))
                return nk_error_set(err, errno, "bundle `%s`", dir ? dir : ".");
        struct nk_bundle b = {0};
        if (load_config(buf, config, &b.spec, err) < 0)
                return -1;
        const char *root = b.spec->root_path;
        b.dir = strdup(buf);
        b.spec->bundle = b.dir ? strdup(b.dir) : NULL;
        if (root[0] == '/')
                b.rootfs = strdup(root);
        else if (asprintf(&b.rootfs, "%s/%s", streq(buf, "/") ? "" : buf, root) < 0)
                b.rootfs = NULL;
        if (!b.dir || !b.spec->bundle || !b.rootfs) {
                nk_bundle_clear(&b);
                return nk_error_set(err, ENOMEM, "bundle `%s`", buf);
        }
        *out = b;
        return 0;
}

int nk_spec_load(const char *dir, struct nk_spec **out, nk_error **err)
{
        struct nk_bundle b;
        if (nk_bundle_load(dir, NULL, &b, err) < 0)
                return -1;
        *out = TAKE_PTR(b.spec);
        nk_bundle_clear(&b);
        return 0;
}

void nk_bundle_clear(struct nk_bundle *b)
{
        nk_spec_free(b->spec);
        free(b->dir);
        free(b->rootfs);
        *b = (struct nk_bundle){0};
}
