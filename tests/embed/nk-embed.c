/* nk-embed: the runtime library used the way the engine uses it, with no
 * bundle directory: a spec given as JSON text on the command line (parsed
 * in memory by nk_spec_from_json), a rootfs path, and a directory recorded
 * as the bundle. tests/integration/test_library.py drives it.
 *
 *   nk-embed ROOT ID ROOTFS BUNDLE SPEC_JSON run
 *       foreground nk_container_run; prints "exit N" (and "protected" first
 *       when it runs from a sealed or read-only copy: the guard's re-exec)
 *   nk-embed ROOT ID ROOTFS BUNDLE SPEC_JSON unguarded
 *       the same without nk_self_exe_guard: no nook-init, so the library
 *       must refuse rather than leave this program's code in the container
 *   nk-embed ROOT ID ROOTFS BUNDLE SPEC_JSON tty
 *       nk_container_create with the pty master coming back to us; prints
 *       the state object (one line), starts the container, copies what the
 *       master reads to stdout until the process is gone, deletes it
 *
 * Re-exec guard as the command layer does it: nk_self_exe_guard with our
 * argv before create. */
#include "runtime/container.h"
#include "runtime/security.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(nk_error *e)
{
        char *t = nk_error_text(e);
        fprintf(stderr, "nk-embed: %s\n", t ? t : "unknown error");
        free(t);
        nk_error_free(e);
        return 1;
}

/* The state object, the way a client would print it. */
static int print_state(const char *root, const char *id, nk_error **err)
{
        struct nk_container *c = NULL;
        if (nk_container_open(root, id, 0, &c, err) < 0)
                return -1;
        char *s = json_dumps(nk_container_state_json(c), JSON_COMPACT);
        nk_container_close(c);
        printf("%s\n", s ? s : "null");
        fflush(stdout);
        free(s);
        return 0;
}

/* Read the master until the slave side is gone (EIO), copying to stdout. */
static void copy_master(int master)
{
        char buf[4096];
        for (;;) {
                ssize_t n = read(master, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                fwrite(buf, 1, (size_t)n, stdout);
        }
        fflush(stdout);
}

static int tty(const struct nk_spec *spec, const char *rootfs, struct nk_create_opts *o)
{
        nk_error *e = NULL;
        int master = -1;
        o->console_master = &master;
        if (nk_container_create(spec, rootfs, o, &e) < 0)
                return fail(e);
        if (master < 0) {
                fprintf(stderr, "nk-embed: create gave no pty master\n");
                return 1;
        }
        if (print_state(o->root, o->id, &e) < 0 || nk_container_start(o->root, o->id, &e) < 0)
                return fail(e);
        copy_master(master);
        close(master);
        return nk_container_delete(o->root, o->id, true, &e) < 0 ? fail(e) : 0;
}

int main(int argc, char **argv)
{
        if (argc != 7) {
                fprintf(stderr, "usage: nk-embed ROOT ID ROOTFS BUNDLE SPEC_JSON run|tty\n");
                return 2;
        }
        json_error_t je;
        json_t *doc = json_loads(argv[5], 0, &je);
        if (!doc) {
                fprintf(stderr, "nk-embed: SPEC_JSON: %s\n", je.text);
                return 2;
        }
        nk_error *e = NULL;
        struct nk_spec *spec = NULL;
        if (nk_spec_from_json(doc, NULL, &spec, &e) < 0)
                return fail(e);
        json_decref(doc);
        struct nk_create_opts o = {
                .root = argv[1], .id = argv[2], .bundle = argv[4], .init_fd = -1};
        if (strcmp(argv[6], "unguarded") != 0 &&
            nk_self_exe_guard(argv, nk_container_may_hand_over(spec), &o.init_fd, &e) < 0)
                return fail(e);
        if (nk_self_exe_protected())
                printf("protected\n");
        int rc;
        if (strcmp(argv[6], "tty") == 0) {
                rc = tty(spec, argv[3], &o);
        } else {
                int code = 0;
                rc = nk_container_run(spec, argv[3], &o, &code, &e) < 0 ? fail(e) : 0;
                if (rc == 0)
                        printf("exit %d\n", code);
        }
        if (o.init_fd >= 0)
                close(o.init_fd);
        nk_spec_free(spec);
        return rc;
}
