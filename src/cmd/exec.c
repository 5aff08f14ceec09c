/* exec: runc's flags (plus crun's --cgroup) turned into an OCI process
 * object, then one library call. */
#include "runtime/exec.h"
#include "cmd/commands.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
        O_CONSOLE = 256,
        O_CWD,
        O_PIDFILE,
        O_LABEL,
        O_APPARMOR,
        O_NNP,
        O_PRESERVE,
        O_IGNORE_PAUSED,
        O_CGROUP
};

static const struct option exec_opts[] = {
        {"console-socket", required_argument, NULL, O_CONSOLE},
        {"cwd", required_argument, NULL, O_CWD},
        {"env", required_argument, NULL, 'e'},
        {"tty", no_argument, NULL, 't'},
        {"user", required_argument, NULL, 'u'},
        {"additional-gids", required_argument, NULL, 'g'},
        {"process", required_argument, NULL, 'p'},
        {"detach", no_argument, NULL, 'd'},
        {"pid-file", required_argument, NULL, O_PIDFILE},
        {"process-label", required_argument, NULL, O_LABEL},
        {"apparmor", required_argument, NULL, O_APPARMOR},
        {"no-new-privs", no_argument, NULL, O_NNP},
        {"cap", required_argument, NULL, 'c'},
        {"preserve-fds", required_argument, NULL, O_PRESERVE},
        {"ignore-paused", no_argument, NULL, O_IGNORE_PAUSED},
        {"cgroup", required_argument, NULL, O_CGROUP},
        {0},
};

/* Set NAME=VALUE in the env array, replacing an existing NAME. */
static void env_set(json_t *env, const char *kv)
{
        const char *eq = strchr(kv, '=');
        size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
        size_t i;
        json_t *v;
        json_array_foreach (env, i, v) {
                const char *s = json_string_value(v);
                if (s && strncmp(s, kv, klen) == 0 && (s[klen] == '=' || s[klen] == '\0')) {
                        json_array_set_new(env, i, json_string(kv));
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
}

/* --user UID[:GID]: ids in 0..2^31-1 only (see NK_ID_MAX). */
static int parse_user(json_t *proc, const char *spec)
{
        _cleanup_free_ char *s = strdup(spec);
        char *colon = s ? strchr(s, ':') : NULL;
        uint32_t uid, gid = 0;
        if (colon)
                *colon = '\0';
        if (!s || nk_parse_id(s, &uid) < 0 || (colon && nk_parse_id(colon + 1, &gid) < 0))
                return -1;
        json_t *user = json_object_get(proc, "user");
        if (!user)
                json_object_set_new(proc, "user", user = json_object());
        json_object_set_new(user, "uid", json_integer(uid));
        if (colon)
                json_object_set_new(user, "gid", json_integer(gid));
        return 0;
}

/* --additional-gids GID[,GID...] (repeatable, like runc's). */
static int add_gids(json_t *gids, const char *arg)
{
        _cleanup_free_ char *s = strdup(arg);
        char *save = NULL;
        if (!s || !*s)
                return -1;
        for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                uint32_t g;
                if (nk_parse_id(t, &g) < 0)
                        return -1;
                json_array_append_new(gids, json_integer(g));
        }
        return 0;
}

static void add_cap(json_t *proc, const char *cap)
{
        json_t *caps = json_object_get(proc, "capabilities");
        if (!caps)
                json_object_set_new(proc, "capabilities", caps = json_object());
        static const char *sets[] = {"bounding", "effective", "permitted", "inheritable",
                                     "ambient"};
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                json_t *a = json_object_get(caps, sets[i]);
                if (!a)
                        json_object_set_new(caps, sets[i], a = json_array());
                json_array_append_new(a, json_string(cap));
        }
}

static json_t *load_process_file(const char *path, nk_error **err)
{
        json_error_t je;
        json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!p)
                nk_error_set(err, 0, "--process `%s`: invalid JSON at line %d column %d: %s", path,
                             je.line, je.column, je.text);
        return p;
}

int nk_cmd_exec(const struct nk_global *g, int argc, char **argv);
int nk_cmd_exec(const struct nk_global *g, int argc, char **argv)
{
        struct nk_exec_opts o = {0};
        struct nk_container *ct = NULL;
        const char *process_file = NULL, *cwd = NULL, *user = NULL, *label = NULL, *aa = NULL;
        json_t *envs = json_array(), *caps = json_array(), *gids = json_array();
        bool tty = false, nnp = false;
        int c, rc = 1;
        json_t *proc = NULL;
        while ((c = getopt_long_only(argc, argv, "+e:tu:g:p:dc:", exec_opts, NULL)) != -1) {
                switch (c) {
                case O_CONSOLE:
                        o.console_socket = optarg;
                        break;
                case O_CWD:
                        cwd = optarg;
                        break;
                case 'e':
                        json_array_append_new(envs, json_string(optarg));
                        break;
                case 't':
                        tty = true;
                        break;
                case 'u':
                        user = optarg;
                        break;
                case 'g':
                        if (add_gids(gids, optarg) < 0) {
                                nk_cmd_usage_error("exec",
                                                   "--additional-gids: expected "
                                                   "GID[,GID...] with ids in 0..%d, got `%s`",
                                                   NK_ID_MAX, optarg);
                                goto out;
                        }
                        break;
                case 'p':
                        process_file = optarg;
                        break;
                case 'd':
                        o.detach = true;
                        break;
                case O_PIDFILE:
                        o.pid_file = optarg;
                        break;
                case O_LABEL:
                        label = optarg;
                        break;
                case O_APPARMOR:
                        aa = optarg;
                        break;
                case O_NNP:
                        nnp = true;
                        break;
                case 'c':
                        json_array_append_new(caps, json_string(optarg));
                        break;
                case O_PRESERVE: {
                        unsigned long long n;
                        if (nk_parse_uint(optarg, NK_PRESERVE_FDS_MAX, &n) < 0) {
                                nk_cmd_usage_error("exec", "--preserve-fds: bad number `%s`",
                                                   optarg);
                                goto out;
                        }
                        o.preserve_fds = (int)n;
                        break;
                }
                case O_IGNORE_PAUSED:
                        o.ignore_paused = true;
                        break;
                case O_CGROUP:
                        o.cgroup_sub = optarg;
                        break;
                default:
                        goto out;
                }
        }
        if (optind >= argc) {
                nk_cmd_usage_error("exec", "expects a container ID");
                goto out;
        }
        const char *id = argv[optind];
        nk_error *err = NULL;
        if (!process_file && optind + 1 >= argc) {
                nk_cmd_usage_error("exec", "expects a command (or --process FILE)");
                goto out;
        }
        if (process_file && !(proc = load_process_file(process_file, &err))) {
                rc = nk_cmd_fail(err);
                goto out;
        }
        if (nk_container_open(g->root, id, 0, &ct, &err) < 0) {
                rc = nk_cmd_fail(err);
                goto out;
        }
        if (!process_file) {
                proc = nk_exec_process_from_config(ct);
                if (proc) {
                        json_t *args = json_array();
                        for (int i = optind + 1; i < argc; i++)
                                json_array_append_new(args, json_string(argv[i]));
                        json_object_set_new(proc, "args", args);
                        json_object_set_new(proc, "terminal", json_boolean(tty));
                        json_object_del(proc, "consoleSize");
                }
        }
        if (!proc) {
                rc = nk_cmd_fail(err);
                goto out;
        }
        if (!json_object_get(proc, "env"))
                json_object_set_new(proc, "env", json_array());
        size_t i;
        json_t *v;
        json_array_foreach (envs, i, v)
                env_set(json_object_get(proc, "env"), json_string_value(v));
        json_array_foreach (caps, i, v)
                add_cap(proc, json_string_value(v));
        if (cwd)
                json_object_set_new(proc, "cwd", json_string(cwd));
        if (user && parse_user(proc, user) < 0) {
                nk_cmd_usage_error("exec", "--user: expected UID[:GID] with ids in 0..%d, got `%s`",
                                   NK_ID_MAX, user);
                goto out;
        }
        if (json_array_size(gids) > 0) {
                json_t *u = json_object_get(proc, "user");
                if (!u) /* no uid/gid invented: the library says they are missing */
                        json_object_set_new(proc, "user", u = json_object());
                json_object_set(u, "additionalGids", gids);
        }
        if (nnp)
                json_object_set_new(proc, "noNewPrivileges", json_true());
        if (label)
                json_object_set_new(proc, "selinuxLabel", json_string(label));
        if (aa)
                json_object_set_new(proc, "apparmorProfile", json_string(aa));
        o.process = proc;
        int code = 0;
        rc = nk_container_exec(ct, &o, &code, &err) < 0 ? nk_cmd_fail(err) : code;
out:
        nk_container_close(ct);
        json_decref(proc);
        json_decref(envs);
        json_decref(caps);
        json_decref(gids);
        return rc;
}
