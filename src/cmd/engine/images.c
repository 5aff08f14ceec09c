/* nook images, image ..., tag, rmi, system df */
#include "cmd/engine/ctr_cmd.h"
#include "cmd/engine/engine_cmd.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct list_opts {
        bool quiet, digests, no_trunc, json;
        const char *filter;
        const char *tmpl; /* --format TEMPLATE or "table TEMPLATE" */
};

static bool matches(const struct nk_image_summary *im, const char *filter)
{
        if (!filter)
                return true;
        const char *colon = strrchr(filter, ':');
        if (colon && !strchr(colon, '/')) {
                size_t rl = (size_t)(colon - filter);
                return strlen(im->repository) == rl && strncmp(im->repository, filter, rl) == 0 &&
                       im->tag && streq(im->tag, colon + 1);
        }
        return streq(im->repository, filter) || streq(im->key, filter);
}

static json_t *summary_json(const struct nk_image_summary *im)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:I,s:I,s:I}", "Name", im->key, "Repository",
                         im->repository, "Id", im->id, "Digest", im->manifest, "Tag", im->tag,
                         "Created", im->created, "Size", (json_int_t)im->size, "Layers",
                         (json_int_t)im->n_layers, "Containers", (json_int_t)im->containers);
}

static void print_row(const struct nk_image_summary *im, const struct list_opts *o)
{
        const char *id = im->id + 7;
        if (o->quiet) {
                printf("%.*s\n", o->no_trunc ? 64 : 12, id);
                return;
        }
        char size[32], age[64];
        nk_cmd_human_size((uint64_t)im->size, size, sizeof(size));
        nk_cmd_human_age(im->created, age, sizeof(age));
        printf("%-40s %-12s ", im->repository, im->tag ? im->tag : "<none>");
        if (o->digests)
                printf("%-71s ", im->manifest);
        printf("%-*.*s %-24s %s\n", o->no_trunc ? 71 : 12, o->no_trunc ? 71 : 12,
               o->no_trunc ? im->id : id, age, size);
}

/* Docker's fields for `images --format TEMPLATE`. */
static json_t *template_row(const struct nk_image_summary *im, const struct list_opts *o)
{
        char size[32], age[64];
        nk_cmd_human_size((uint64_t)im->size, size, sizeof(size));
        nk_cmd_human_age(im->created, age, sizeof(age));
        return json_pack("{s:s%,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "ID",
                         o->no_trunc ? im->id : im->id + 7,
                         (size_t)(o->no_trunc ? strlen(im->id) : 12), "Repository", im->repository,
                         "Tag", im->tag ? im->tag : "<none>", "Digest", im->manifest,
                         "CreatedSince", age, "CreatedAt", im->created ? im->created : "", "Size",
                         size, "Containers", (json_int_t)im->containers);
}

static int list_templated(struct nk_image_summary *v, size_t n, const struct list_opts *o)
{
        _cleanup_jansson_ json_t *hdr =
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ID", "IMAGE ID", "Repository",
                          "REPOSITORY", "Tag", "TAG", "Digest", "DIGEST", "CreatedSince", "CREATED",
                          "CreatedAt", "CREATED AT", "Size", "SIZE", "Containers", "CONTAINERS");
        _cleanup_jansson_ json_t *rows = json_array();
        for (size_t i = 0; rows && i < n; i++)
                if (matches(&v[i], o->filter))
                        json_array_append_new(rows, template_row(&v[i], o));
        return nk_ctr_print_templated("images", o->tmpl, hdr, rows);
}

static int list_images(const struct nk_global *g, const struct list_opts *o)
{
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        struct nk_image_summary *v;
        size_t n;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_list(s, &v, &n, &err) < 0)
                return nk_cmd_fail(err);
        if (o->tmpl && !o->quiet) {
                int rc = list_templated(v, n, o);
                nk_image_list_free(v, n);
                return rc;
        }
        _cleanup_jansson_ json_t *arr = json_array();
        if (!o->json && !o->quiet)
                printf("%-40s %-12s %s%-*s %-24s %s\n", "REPOSITORY", "TAG",
                       o->digests ? "DIGEST                                                        "
                                    "          "
                                  : "",
                       o->no_trunc ? 71 : 12, "IMAGE ID", "CREATED", "SIZE");
        for (size_t i = 0; i < n; i++) {
                if (!matches(&v[i], o->filter))
                        continue;
                if (o->json)
                        json_array_append_new(arr, summary_json(&v[i]));
                else
                        print_row(&v[i], o);
        }
        nk_image_list_free(v, n);
        return o->json ? nk_cmd_print_json(arr) : 0;
}

int nk_cmd_images(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"quiet", no_argument, NULL, 'q'},    {"digests", no_argument, NULL, 'd'},
                {"no-trunc", no_argument, NULL, 't'}, {"format", required_argument, NULL, 'F'},
                {"all", no_argument, NULL, 'a'},      {0},
        };
        struct list_opts o = {0};
        int c;
        while ((c = getopt_long(argc, argv, "qa", opts, NULL)) != -1) {
                switch (c) {
                case 'q':
                        o.quiet = true;
                        break;
                case 'd':
                        o.digests = true;
                        break;
                case 't':
                        o.no_trunc = true;
                        break;
                case 'a':
                        break; /* no intermediate images exist here */
                case 'F':
                        o.json = streq(optarg, "json");
                        o.tmpl = o.json || streq(optarg, "table") ? NULL : optarg;
                        break;
                default:
                        return 1;
                }
        }
        if (argc - optind > 1)
                return nk_cmd_usage_error("images", "at most one REPOSITORY[:TAG]");
        o.filter = optind < argc ? argv[optind] : NULL;
        return list_images(g, &o);
}

int nk_cmd_image_inspect(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                format = optarg;
        }
        if (optind >= argc)
                return nk_cmd_usage_error("image inspect", "IMAGE required");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        if (!s)
                return 1;
        _cleanup_jansson_ json_t *arr = json_array();
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                json_t *one;
                nk_error *err = NULL;
                if (nk_image_inspect(s, argv[i], &one, &err) < 0) {
                        rc = nk_cmd_fail(err);
                } else if (format) {
                        /* Docker's -f: a template over each image ({{.Id}}). */
                        _cleanup_free_ char *t = nk_ctr_template("image inspect", format, one);
                        json_decref(one);
                        if (!t)
                                return 1;
                        printf("%s\n", t);
                } else {
                        json_array_append_new(arr, one);
                }
        }
        if (!format)
                nk_cmd_print_json(arr);
        return rc;
}

static void history_print(json_t *rows, bool no_trunc, bool quiet, const char *tmpl)
{
        if (tmpl) {
                size_t i;
                json_t *r;
                json_array_foreach (rows, i, r) {
                        _cleanup_free_ char *t = nk_ctr_template("history", tmpl, r);
                        if (!t)
                                return;
                        printf("%s\n", t);
                }
                return;
        }
        if (!quiet)
                printf("%-*s %-20s %-45s %-10s %s\n", no_trunc ? 71 : 12, "IMAGE", "CREATED",
                       "CREATED BY", "SIZE", "COMMENT");
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r) {
                const char *id = json_string_value(json_object_get(r, "ID"));
                char idbuf[80], age[64], size[32], by[64];
                if (id)
                        snprintf(idbuf, sizeof(idbuf), "%s", no_trunc ? id : id + 7);
                else
                        snprintf(idbuf, sizeof(idbuf), "<missing>");
                if (quiet) {
                        printf("%.*s\n", no_trunc ? 71 : 12, idbuf);
                        continue;
                }
                const char *cb = json_string_value(json_object_get(r, "CreatedBy"));
                nk_cmd_human_age(json_string_value(json_object_get(r, "Created")), age,
                                 sizeof(age));
                nk_cmd_human_size((uint64_t)json_integer_value(json_object_get(r, "Size")), size,
                                  sizeof(size));
                /* docker cuts CREATED BY at 45 columns, the last one an ellipsis */
                if (!no_trunc && strlen(cb) > 45)
                        snprintf(by, sizeof(by), "%.44s\u2026", cb);
                printf("%-*.*s %-20s %-45s %-10s %s\n", no_trunc ? 71 : 12, no_trunc ? 71 : 12,
                       idbuf, age, no_trunc || strlen(cb) <= 45 ? cb : by, size,
                       json_string_value(json_object_get(r, "Comment")));
        }
}

int nk_cmd_image_history(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"no-trunc", no_argument, NULL, 't'},
                {"quiet", no_argument, NULL, 'q'},
                {"format", required_argument, NULL, 'F'},
                {"human", optional_argument, NULL, 'H'},
                {0},
        };
        bool no_trunc = false, quiet = false, json = false;
        const char *tmpl = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "qH", opts, NULL)) != -1) {
                switch (c) {
                case 't':
                        no_trunc = true;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'H':
                        break; /* sizes and times are always human */
                case 'F':
                        if (strstr(optarg, "{{"))
                                tmpl = optarg;
                        else if (!streq(optarg, "json") && !streq(optarg, "table"))
                                return nk_cmd_usage_error("history", "--format: json, table or "
                                                                     "a template ({{.CreatedBy}})");
                        json = streq(optarg, "json");
                        break;
                default:
                        return 1;
                }
        }
        if (argc - optind != 1)
                return nk_cmd_usage_error("history", "usage: history [--no-trunc] [-q] "
                                                     "[--format json] IMAGE");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_jansson_ json_t *rows = NULL;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_history(s, argv[optind], &rows, &err) < 0)
                return nk_cmd_fail(err);
        if (json)
                return nk_cmd_print_json(rows);
        history_print(rows, no_trunc, quiet, tmpl);
        return 0;
}

int nk_cmd_image_mount(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 3)
                return nk_cmd_usage_error("image mount", "usage: image mount IMAGE DIR");
        nk_error *err = NULL;
        if (nk_image_mount(g->store, argv[1], argv[2], &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

int nk_cmd_image_umount(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 2)
                return nk_cmd_usage_error("image umount", "usage: image umount DIR");
        nk_error *err = NULL;
        if (nk_image_umount(g->store, argv[1], &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

int nk_cmd_image_prune(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"all", no_argument, NULL, 'a'},
                {"force", no_argument, NULL, 'f'},
                {0},
        };
        bool all = false, force = false;
        int c;
        while ((c = getopt_long(argc, argv, "af", opts, NULL)) != -1) {
                if (c == 'a')
                        all = true;
                else if (c == 'f')
                        force = true;
                else
                        return 1;
        }
        if (optind < argc)
                return nk_cmd_usage_error("image prune", "unexpected argument `%s`", argv[optind]);
        /* Only -a removes images (the rest is unreferenced data): ask. */
        if (all && !force) {
                int yes = nk_cmd_confirm("WARNING! This will remove all images without at least "
                                         "one container associated to them.\nAre you sure you "
                                         "want to continue?");
                if (yes < 0)
                        return nk_cmd_usage_error("image prune",
                                                  "-a removes every image no container uses: "
                                                  "add -f (stdin is not a terminal to ask)");
                if (!yes)
                        return 0;
        }
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_strv_ char **removed = NULL;
        struct nk_gc_stats st;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_prune(s, all, &st, &removed, &err) < 0)
                return nk_cmd_fail(err);
        for (char **k = removed; k && *k; k++)
                printf("Untagged: %s\n", *k);
        char size[32];
        nk_cmd_human_size(st.bytes, size, sizeof(size));
        printf("Deleted %llu blobs, %llu layers\nTotal reclaimed space: %s\n",
               (unsigned long long)st.blobs, (unsigned long long)st.layers, size);
        return 0;
}

int nk_cmd_tag(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 3)
                return nk_cmd_usage_error("tag", "usage: tag SOURCE TARGET");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_tag(s, argv[1], argv[2], &err) < 0)
                return nk_cmd_store_fail(s, err);
        return 0;
}

/* An id naming an image with several names removes them all: ask on a
 * terminal (yes: NK_RMI_ALL_NAMES), else let nk_image_remove refuse. -1:
 * answered no. */
static int rmi_confirm_names(struct nk_store *s, const char *ref, unsigned *flags)
{
        _cleanup_strv_ char **keys = NULL;
        nk_error *err = NULL;
        if (nk_image_remove_names(s, ref, &keys, &err) < 0) {
                nk_error_free(err);
                return 0; /* nk_image_remove reports it */
        }
        if (nk_strv_len(keys) < 2 || !isatty(STDIN_FILENO))
                return 0;
        fprintf(stderr, "Image %s has %zu names:\n", ref, nk_strv_len(keys));
        for (char **k = keys; *k; k++)
                fprintf(stderr, "  %s\n", *k);
        if (nk_cmd_confirm("Remove them all?") != 1)
                return -1;
        *flags |= NK_RMI_ALL_NAMES;
        return 0;
}

int nk_cmd_rmi(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                force = true;
        }
        if (optind >= argc)
                return nk_cmd_usage_error("rmi", "IMAGE required");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        if (!s)
                return 1;
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                _cleanup_strv_ char **removed = NULL;
                nk_error *err = NULL;
                unsigned flags = force ? NK_RMI_FORCE : 0;
                if (!force && rmi_confirm_names(s, argv[i], &flags) < 0) {
                        rc = 1;
                        continue;
                }
                if (nk_image_remove(s, argv[i], flags, &removed, &err) < 0) {
                        rc = nk_cmd_fail(err);
                        continue;
                }
                for (char **k = removed; k && *k; k++)
                        printf("Untagged: %s\n", *k);
        }
        return rc;
}

static void df_row(const char *type, const struct nk_df_row *r, json_t *arr)
{
        if (arr) {
                json_array_append_new(arr,
                                      json_pack("{s:s,s:I,s:I,s:I,s:I}", "Type", type, "Total",
                                                (json_int_t)r->total, "Active",
                                                (json_int_t)r->active, "Size", (json_int_t)r->size,
                                                "Reclaimable", (json_int_t)r->reclaimable));
                return;
        }
        char size[32], recl[32];
        nk_cmd_human_size(r->size, size, sizeof(size));
        nk_cmd_human_size(r->reclaimable, recl, sizeof(recl));
        printf("%-12s %-8llu %-8llu %-12s %s\n", type, (unsigned long long)r->total,
               (unsigned long long)r->active, size, recl);
}

static int system_df(const struct nk_global *g, bool json)
{
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        struct nk_store_df df;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_store_df(s, &df, &err) < 0)
                return nk_cmd_fail(err);
        _cleanup_jansson_ json_t *arr = json ? json_array() : NULL;
        if (!json)
                printf("%-12s %-8s %-8s %-12s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE",
                       "RECLAIMABLE");
        df_row("Images", &df.images, arr);
        df_row("Containers", &df.containers, arr);
        df_row("Layers", &df.layers, arr);
        df_row("Blobs", &df.blobs, arr);
        return json ? nk_cmd_print_json(arr) : 0;
}

int nk_cmd_system(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2 || !streq(argv[1], "df"))
                return nk_cmd_usage_error("system", "usage: system df [--format json]");
        bool json = false;
        for (int i = 2; i < argc; i++) {
                if (streq(argv[i], "--format=json") ||
                    (streq(argv[i], "--format") && i + 1 < argc && streq(argv[++i], "json")))
                        json = true;
                else
                        return nk_cmd_usage_error("system df", "unknown argument `%s`", argv[i]);
        }
        return system_df(g, json);
}

static const struct nk_command image_subcommands[] = {
        {"ls", nk_cmd_images, "image ls", "list images"},
        {"list", nk_cmd_images, "image list", "list images"},
        {"inspect", nk_cmd_image_inspect, "image inspect [-f TEMPLATE] IMAGE...",
         "show image metadata"},
        {"history", nk_cmd_image_history, "image history [--no-trunc] [-q] [--format json] IMAGE",
         "show the steps that made an image"},
        {"push", nk_cmd_push, "image push [--tls-verify=false] [--authfile F] IMAGE [DEST]",
         "push an image to a registry"},
        {"mount", nk_cmd_image_mount, "image mount IMAGE DIR", "mount an image rootfs on DIR"},
        {"umount", nk_cmd_image_umount, "image umount DIR", "undo image mount"},
        {"unmount", nk_cmd_image_umount, "image unmount DIR", "undo image mount"},
        {"prune", nk_cmd_image_prune, "image prune [-a [-f]]", "remove unused data"},
        {"rm", nk_cmd_rmi, "image rm [-f] IMAGE...", "remove images"},
        {"tag", nk_cmd_tag, "image tag SOURCE TARGET", "name an image"},
        {"pull", nk_cmd_pull, "image pull REF", "pull an image"},
        {"load", nk_cmd_load, "image load -i FILE", "load images"},
        {"save", nk_cmd_save, "image save -o FILE IMAGE...", "save images"},
        {"import", nk_cmd_import, "image import TARBALL NAME", "import a rootfs"},
        {0},
};

int nk_cmd_image(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("image",
                                          "subcommand required (ls, inspect, history, mount, "
                                          "umount, prune, rm, tag, pull, push, load, save, "
                                          "import)");
        for (const struct nk_command *c = image_subcommands; c->name; c++) {
                if (!streq(c->name, argv[1]))
                        continue;
                if (nk_cmd_help(argc - 1, argv + 1, c->usage, NULL))
                        return 0;
                nk_cmd_getopt_reset();
                return c->run(g, argc - 1, argv + 1);
        }
        return nk_cmd_usage_error("image", "unknown subcommand `%s`", argv[1]);
}
