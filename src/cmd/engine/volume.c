/* nook volume create|ls|inspect|rm|prune (Docker's `docker volume`). */
#include "engine/container/volume.h"
#include "cmd/engine/ctr_cmd.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <stdio.h>
#include <string.h>

/* Which volumes a container uses is the container store's answer: the
 * names in each record's Nook.Volumes (a record being removed is not
 * listed: its volumes go with it or are free). */
static bool volume_in_use(const char *name, void *data)
{
        const char *store = data;
        _cleanup_strv_ char **ids = NULL;
        nk_error *e = NULL;
        if (nk_ctr_list(store, &ids, &e) < 0) {
                nk_error_free(e);
                return true; /* unknown: never remove what may be used */
        }
        for (char **id = ids; *id; id++) {
                _cleanup_jansson_ json_t *rec = nk_ctr_record(store, *id, &e);
                nk_error_free(e);
                e = NULL;
                size_t i;
                json_t *v;
                json_array_foreach (json_object_get(json_object_get(rec, "Nook"), "Volumes"), i, v)
                        if (json_is_string(v) && streq(json_string_value(v), name))
                                return true;
        }
        return false;
}

#define usage nk_cmd_usage_error

/* Docker's `volume inspect` object. */
static json_t *volume_json(const struct nk_volume *v)
{
        return json_pack("{s:s, s:s, s:O, s:s, s:s, s:n, s:s}", "CreatedAt", v->created, "Driver",
                         "local", "Labels", v->labels, "Mountpoint", v->mountpoint, "Name", v->name,
                         "Options", "Scope", "local");
}

static int cmd_create(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"label", required_argument, NULL, 'l'},
                {"driver", required_argument, NULL, 'd'},
                {"opt", required_argument, NULL, 'o'},
                {"name", required_argument, NULL, 'n'},
                {0},
        };
        _cleanup_(json_decrefp) json_t *labels = json_object();
        const char *name = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "l:d:o:", opts, NULL)) != -1) {
                switch (c) {
                case 'l': {
                        size_t k = strcspn(optarg, "=");
                        _cleanup_free_ char *key = strndup(optarg, k);
                        if (k == 0 || !key ||
                            json_object_set_new(labels, key,
                                                json_string(optarg[k] ? optarg + k + 1 : "")) < 0)
                                return usage("volume create", "--label `%s`: want KEY=VALUE",
                                             optarg);
                        break;
                }
                case 'd':
                        if (!streq(optarg, "local"))
                                return usage("volume create",
                                             "--driver `%s`: only the local driver exists", optarg);
                        break;
                case 'o':
                        return usage("volume create",
                                     "--opt `%s`: the local driver takes no options here", optarg);
                case 'n':
                        name = optarg;
                        break;
                default:
                        return 1;
                }
        }
        if (optind < argc)
                name = argv[optind++];
        if (optind < argc)
                return usage("volume create", "at most one NAME (got `%s` too)", argv[optind]);
        struct nk_volume v;
        nk_error *err = NULL;
        if (nk_volume_create(g->store, name, labels, NULL, &v, &err) < 0)
                return nk_cmd_fail(err);
        printf("%s\n", v.name);
        nk_volume_clear(&v);
        return 0;
}

static int cmd_ls(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"quiet", no_argument, NULL, 'q'},
                {"format", required_argument, NULL, 'F'},
                {"filter", required_argument, NULL, 'f'},
                {0},
        };
        bool quiet = false, json = false;
        const char *tmpl = NULL; /* --format TEMPLATE, `table TEMPLATE` */
        _cleanup_strv_ char **filters = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "qf:", opts, NULL)) != -1) {
                switch (c) {
                case 'q':
                        quiet = true;
                        break;
                case 'F':
                        json = streq(optarg, "json");
                        tmpl = json || streq(optarg, "table") ? NULL : optarg;
                        break;
                case 'f':
                        if (nk_strv_push(&filters, optarg) < 0)
                                return 1;
                        break;
                default:
                        return 1;
                }
        }
        if (optind < argc)
                return usage("volume ls", "unexpected argument `%s`", argv[optind]);
        nk_error *err = NULL;
        if (nk_volume_filters_check(filters, &err) < 0)
                return nk_cmd_fail(err);
        struct nk_volume *v = NULL;
        size_t n = 0;
        if (nk_volume_list(g->store, &v, &n, &err) < 0)
                return nk_cmd_fail(err);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        json = json || (tmpl && !quiet);
        if (!quiet && !json)
                printf("%-10s%s\n", "DRIVER", "VOLUME NAME");
        for (size_t i = 0; i < n; i++) {
                if (!nk_volume_matches(&v[i], filters, volume_in_use, (void *)g->store))
                        continue;
                if (json)
                        json_array_append_new(arr, volume_json(&v[i]));
                else if (quiet)
                        printf("%s\n", v[i].name);
                else
                        printf("%-10s%s\n", "local", v[i].name);
        }
        nk_volumes_free(v, n);
        if (tmpl && !quiet) {
                _cleanup_(json_decrefp) json_t *hdr =
                        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "Name", "VOLUME NAME", "Driver",
                                  "DRIVER", "Mountpoint", "MOUNTPOINT", "Scope", "SCOPE", "Labels",
                                  "LABELS", "CreatedAt", "CREATED");
                return nk_ctr_print_templated("volume ls", tmpl, hdr, arr);
        }
        return json ? nk_cmd_print_json(arr) : 0;
}

static int cmd_inspect(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'F'}, {0}};
        int c, rc = 0;
        const char *tmpl = NULL;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                if (c != 'F' && c != 'f')
                        return 1;
                tmpl = streq(optarg, "json") ? NULL : optarg;
        }
        if (optind >= argc)
                return usage("volume inspect", "%s", "VOLUME required");
        _cleanup_(json_decrefp) json_t *arr = json_array();
        for (int i = optind; i < argc; i++) {
                struct nk_volume v;
                nk_error *err = NULL;
                if (nk_volume_inspect(g->store, argv[i], &v, &err) < 0) {
                        rc = nk_cmd_fail(err);
                        continue;
                }
                json_array_append_new(arr, volume_json(&v));
                nk_volume_clear(&v);
        }
        if (tmpl) /* Docker's -f: a template over each volume */
                return nk_ctr_print_templated("volume inspect", tmpl, NULL, arr) ? 1 : rc;
        nk_cmd_print_json(arr);
        return rc;
}

static int cmd_rm(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
        bool force = false;
        int c, rc = 0;
        while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                force = true;
        }
        if (optind >= argc)
                return usage("volume rm", "%s", "VOLUME required");
        for (int i = optind; i < argc; i++) {
                nk_error *err = NULL;
                if (nk_volume_remove(g->store, argv[i], force, volume_in_use, (void *)g->store,
                                     &err) < 0)
                        rc = nk_cmd_fail(err);
                else
                        printf("%s\n", argv[i]);
        }
        return rc;
}

static int cmd_prune(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"all", no_argument, NULL, 'a'},
                {"force", no_argument, NULL, 'f'},
                {"filter", required_argument, NULL, 'F'},
                {0},
        };
        bool all = false, force = false;
        _cleanup_strv_ char **filters = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "af", opts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        all = true;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'F':
                        if (nk_strv_push(&filters, optarg) < 0)
                                return 1;
                        break;
                default:
                        return 1;
                }
        }
        if (optind < argc)
                return usage("volume prune", "unexpected argument `%s`", argv[optind]);
        nk_error *err = NULL;
        if (nk_volume_filters_check(filters, &err) < 0)
                return nk_cmd_fail(err);
        if (!force) {
                char line[16] = "";
                printf("WARNING! This will remove %s volumes not used by at least one "
                       "container.\nAre you sure you want to continue? [y/N] ",
                       all ? "all local" : "anonymous local");
                fflush(stdout);
                if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
                        return 0;
        }
        _cleanup_strv_ char **removed = NULL;
        if (nk_volume_prune(g->store, all, filters, volume_in_use, (void *)g->store, &removed,
                            &err) < 0)
                return nk_cmd_fail(err);
        if (removed) {
                printf("Deleted Volumes:\n");
                for (char **r = removed; *r; r++)
                        printf("%s\n", *r);
        }
        return 0;
}

static const char create_help[] =
        "Create a volume (an existing one of that name is fine). Without NAME, a\n"
        "random one.\n"
        "  -l, --label KEY=VALUE   set a label (repeatable)\n"
        "  -d, --driver local      the only driver\n";
static const char ls_help[] = "List volumes.\n"
                              "  -q, --quiet             names only\n"
                              "      --format json|table\n"
                              "  -f, --filter KEY=VALUE  name=SUBSTRING, label=KEY[=VALUE], "
                              "dangling=true|false\n";
static const char inspect_help[] = "Show volumes as JSON (Docker's fields).\n";
static const char rm_help[] = "Remove volumes (refused while a container uses one).\n"
                              "  -f, --force             no error for a missing volume\n";
static const char prune_help[] =
        "Remove the volumes no container uses: anonymous ones, or all with -a.\n"
        "  -a, --all               named volumes too\n"
        "  -f, --force             do not ask\n"
        "      --filter KEY=VALUE  as for ls\n";

static const struct {
        const char *name;
        int (*run)(const struct nk_global *g, int argc, char **argv);
        const char *usage, *help;
} subcommands[] = {
        {"create", cmd_create, "volume create [-l KEY=VALUE]... [NAME]", create_help},
        {"ls", cmd_ls, "volume ls [-q] [--format json|table|TEMPLATE] [-f KEY=VALUE]...", ls_help},
        {"list", cmd_ls, "volume list [-q] [--format json|table] [-f KEY=VALUE]...", ls_help},
        {"inspect", cmd_inspect, "volume inspect [-f json|TEMPLATE] VOLUME...", inspect_help},
        {"rm", cmd_rm, "volume rm [-f] VOLUME...", rm_help},
        {"remove", cmd_rm, "volume remove [-f] VOLUME...", rm_help},
        {"prune", cmd_prune, "volume prune [-a] [-f] [--filter KEY=VALUE]...", prune_help},
};

int nk_cmd_volume(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("volume",
                                          "subcommand required (create, ls, inspect, rm, prune)");
        for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++) {
                if (!streq(subcommands[i].name, argv[1]))
                        continue;
                if (nk_cmd_help(argc - 1, argv + 1, subcommands[i].usage, subcommands[i].help))
                        return 0;
                nk_cmd_getopt_reset();
                return subcommands[i].run(g, argc - 1, argv + 1);
        }
        return nk_cmd_usage_error("volume", "unknown subcommand `%s`", argv[1]);
}
