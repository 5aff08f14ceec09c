/* nook load, save, import, export */
#include "cmd/engine/engine_cmd.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int nk_cmd_load(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"input", required_argument, NULL, 'i'},
                {"quiet", no_argument, NULL, 'q'},
                {0},
        };
        const char *input = NULL;
        bool quiet = false;
        int c;
        while ((c = getopt_long(argc, argv, "i:q", opts, NULL)) != -1) {
                if (c == 'i')
                        input = optarg;
                else if (c == 'q')
                        quiet = true;
                else
                        return 1;
        }
        if (!input)
                return nk_cmd_usage_error("load", "-i FILE required");
        if (argc - optind > 1)
                return nk_cmd_usage_error("load", "at most one NAME");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_strv_ char **names = NULL;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_load(s, input, optind < argc ? argv[optind] : NULL, &names, &err) < 0)
                return nk_cmd_store_fail(s, err);
        for (char **n = names; !quiet && n && *n; n++)
                printf("Loaded image: %s\n", *n);
        return 0;
}

int nk_cmd_save(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"format", required_argument, NULL, 'F'},
                {0},
        };
        const char *out = NULL;
        enum nk_save_format fmt = NK_SAVE_DOCKER_ARCHIVE;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (c == 'o') {
                        out = optarg;
                } else if (c == 'F') {
                        if (streq(optarg, "oci-archive"))
                                fmt = NK_SAVE_OCI_ARCHIVE;
                        else if (!streq(optarg, "docker-archive"))
                                return nk_cmd_usage_error("save", "--format: docker-archive or "
                                                                  "oci-archive");
                } else {
                        return 1;
                }
        }
        if (!out || optind >= argc)
                return nk_cmd_usage_error("save", "usage: save -o FILE IMAGE...");
        if (isatty(1) && streq(out, "-"))
                return nk_cmd_usage_error("save", "refusing to write a tar to a terminal");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_save(s, argv + optind, fmt, out, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

int nk_cmd_import(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 3)
                return nk_cmd_usage_error("import", "usage: import TARBALL|- NAME");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_free_ char *key = NULL;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_import(s, argv[1], argv[2], &key, &err) < 0)
                return nk_cmd_store_fail(s, err);
        printf("%s\n", key);
        return 0;
}

int nk_cmd_export(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {0}};
        const char *out = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (c != 'o')
                        return 1;
                out = optarg;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("export", "usage: export [-o FILE] CONTAINER|IMAGE");
        if (!out && isatty(1))
                return nk_cmd_usage_error("export", "refusing to write a tar to a terminal "
                                                    "(use -o FILE)");
        _cleanup_close_ int fd = out && !streq(out, "-")
                                         ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                                         : fcntl(1, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                fprintf(stderr, "nook export: open `%s`: %s\n", out, strerror(errno));
                return 1;
        }
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_export(s, argv[optind], fd, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}
