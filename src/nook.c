/* nook — OCI container runtime and engine. main: global options and the
 * command tables of the two faces, chosen by the name the binary is run as:
 * `nook` is the engine (Docker's command line), `nook-oci` (a link beside
 * it; `nook oci CMD` spells it out) the OCI runtime with runc's. */
#include "cmd/commands.h"
#include "runtime/process.h"
#include "runtime/security.h"
#include "util/arch.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

enum face { FACE_ENGINE, FACE_OCI };

static const struct nk_command *const oci_tables[] = {
        nk_runtime_commands,
        nk_cgroup_commands,
};

static const char *face_name(enum face f)
{
        return f == FACE_OCI ? "nook-oci" : "nook";
}

static enum face face_of(const char *argv0)
{
        const char *base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        return streq(base, "nook-oci") ? FACE_OCI : FACE_ENGINE;
}

static const struct nk_command *engine_commands(void)
{
        static const struct nk_command *cached;
        if (!cached)
                cached = nk_cmd_engine_symbol("nk_engine_commands");
        return cached;
}

static const struct nk_command *find_in(const struct nk_command *c, const char *name)
{
        for (; c && c->name; c++)
                if (streq(c->name, name))
                        return c;
        return NULL;
}

/* A command of the binary itself, found without loading anything: every
 * command of the OCI face, and the engine's own core commands. */
static const struct nk_command *find_core(enum face f, const char *name)
{
        if (f == FACE_ENGINE)
                return find_in(nk_engine_core_commands, name);
        for (size_t t = 0; t < ARRAY_SIZE(oci_tables); t++) {
                const struct nk_command *c = find_in(oci_tables[t], name);
                if (c)
                        return c;
        }
        return NULL;
}

static void print_table(FILE *f, const struct nk_command *c)
{
        for (; c && c->name; c++)
                if (c->summary)
                        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

static void usage(FILE *f, enum face face)
{
        fprintf(f, "usage: %s [global options] COMMAND [options] [args]\n\n", face_name(face));
        fprintf(f, "Global options:\n"
                   "  --root DIR            runtime state directory (default /run/nook; the\n"
                   "                        engine: $NOOK_ROOT or /run/nook-engine)\n"
                   "  --log FILE            log file (default: stderr)\n"
                   "  --log-format FMT      text or json\n"
                   "  --store DIR           image store (default /var/lib/nook, or $NOOK_STORE)\n"
                   "  --systemd-cgroup      accepted; cgroupfs is used without systemd as PID 1\n"
                   "  --cgroup-manager M    cgroupfs, systemd (as --systemd-cgroup) or disabled\n"
                   "                        (no cgroup at all; linux.resources are not applied)\n"
                   "  --debug               debug logging\n"
                   "  --log-level L         debug, warning (the default) or error\n"
                   "  --version, --help\n\nCommands:\n");
        if (face == FACE_OCI) {
                for (size_t t = 0; t < ARRAY_SIZE(oci_tables); t++)
                        print_table(f, oci_tables[t]);
                return;
        }
        print_table(f, nk_engine_core_commands);
        print_table(f, engine_commands());
        fprintf(f, "  %-10s %s\n", "oci", "the OCI runtime (runc's commands): as nook-oci");
}

/* The architecture line: what nook was built for, and the machine it runs
 * on when uname says otherwise (a 32-bit build, setarch, an emulator). */
static void version(void)
{
        printf("nook version %s\nspec: 1.2.0\narch: %s", NOOK_VERSION, NK_BUILD_MACHINE);
        struct utsname u;
        if (uname(&u) == 0 && strcmp(u.machine, NK_BUILD_MACHINE) != 0)
                printf(" (machine %s)", u.machine);
        printf("\n");
}

/* --preserve-fds N of a command flagged NK_CMD_PRESERVE_FDS: keep fds
 * 3..N+2 from being taken by anything nook opens (starting with the --log
 * file) before the command has parsed its options; see
 * nk_process_reserve_fds(). A bad number is left to the command to refuse. */
static int reserve_preserved_fds(int argc, char **argv)
{
        unsigned long long n = 0;
        for (int i = 1; i < argc && !streq(argv[i], "--"); i++) {
                const char *a = argv[i], *v = NULL;
                if (a[0] != '-')
                        continue;
                a += a[1] == '-' ? 2 : 1;
                if (strncmp(a, "preserve-fds", 12) != 0)
                        continue;
                if (a[12] == '=')
                        v = a + 13;
                else if (a[12] == '\0' && i + 1 < argc)
                        v = argv[i + 1];
                unsigned long long k;
                if (v && nk_parse_uint(v, NK_PRESERVE_FDS_MAX, &k) == 0 && k > n)
                        n = k;
        }
        nk_error *e = NULL;
        if (n > 0 && nk_process_reserve_fds((int)n, &e) < 0) {
                nk_cmd_fail(e);
                return -1;
        }
        return 0;
}

/* A global option that takes one of a few words: 0, or an error
 * printed like every other one (nk_log: one line, the value escaped). */
static int check_word(const char *opt, const char *v, const char *const *words, const char *what,
                      const char *choices)
{
        for (size_t i = 0; words[i]; i++)
                if (streq(v, words[i]))
                        return 0;
        nk_log(NK_LOG_ERROR, "%s: unknown %s `%s` (%s)", opt, what, v, choices);
        return -1;
}

/* The global options before the command name, into g: 0 to go on, 1 to
 * exit with *rc (--help, --version, a bad option). */
static int parse_globals(int argc, char **argv, enum face face, struct nk_global *g,
                         bool *errors_only, int *rc)
{
        enum {
                OPT_ROOT = 256,
                OPT_LOG,
                OPT_LOG_FORMAT,
                OPT_STORE,
                OPT_SYSTEMD,
                OPT_DEBUG,
                OPT_VERSION,
                OPT_HELP,
                OPT_CRIU,
                OPT_ROOTLESS,
                OPT_CGROUP_MANAGER,
                OPT_LOG_LEVEL,
                OPT_USAGE
        };
        static const struct option opts[] = {
                {"root", required_argument, NULL, OPT_ROOT},
                {"log", required_argument, NULL, OPT_LOG},
                {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
                {"store", required_argument, NULL, OPT_STORE},
                {"systemd-cgroup", no_argument, NULL, OPT_SYSTEMD},
                {"debug", no_argument, NULL, OPT_DEBUG},
                {"version", no_argument, NULL, OPT_VERSION},
                {"help", no_argument, NULL, OPT_HELP},
                {"criu", required_argument, NULL, OPT_CRIU},
                {"rootless", required_argument, NULL, OPT_ROOTLESS},
                {"cgroup-manager", required_argument, NULL, OPT_CGROUP_MANAGER},
                {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
                {"usage", no_argument, NULL, OPT_USAGE},
                {0},
        };
        int c;
        *rc = 0;
        /* "+": stop at the first non-option, the command name. */
        while ((c = getopt_long_only(argc, argv, "+hvV", opts, NULL)) != -1) {
                switch (c) {
                case OPT_ROOT:
                        g->root = optarg;
                        break;
                case OPT_LOG:
                        g->log = optarg;
                        break;
                case OPT_LOG_FORMAT:
                        if (check_word("--log-format", optarg,
                                       (const char *[]){"text", "json", NULL}, "format",
                                       "text or json") < 0)
                                return *rc = 1;
                        g->log_format = optarg;
                        break;
                case OPT_STORE:
                        g->store = optarg;
                        break;
                case OPT_SYSTEMD:
                        g->systemd_cgroup = true;
                        g->no_cgroup = false;
                        break;
                case OPT_CGROUP_MANAGER: /* crun's: the last of these options wins */
                        if (check_word("--cgroup-manager", optarg,
                                       (const char *[]){"cgroupfs", "systemd", "disabled", NULL},
                                       "manager", "cgroupfs, systemd or disabled") < 0)
                                return *rc = 1;
                        g->systemd_cgroup = streq(optarg, "systemd");
                        g->no_cgroup = streq(optarg, "disabled");
                        break;
                case OPT_LOG_LEVEL:
                        if (check_word("--log-level", optarg,
                                       (const char *[]){"debug", "warning", "error", NULL}, "level",
                                       "debug, warning or error") < 0)
                                return *rc = 1;
                        g->debug = streq(optarg, "debug");
                        *errors_only = streq(optarg, "error");
                        break;
                case OPT_DEBUG:
                        g->debug = true;
                        break;
                case 'v':
                case 'V':
                case OPT_VERSION:
                        version();
                        return 1;
                case 'h':
                case OPT_USAGE: /* crun's short usage: ours is short already */
                case OPT_HELP:
                        usage(stdout, face);
                        return 1;
                case OPT_CRIU:
                case OPT_ROOTLESS:
                        break; /* accepted for runc compatibility */
                default:
                        usage(stderr, face);
                        *rc = 1;
                        return 1;
                }
        }
        return 0;
}

/* `nook container X ...` is `nook X ...` for what Docker groups under
 * `container` (ls and list are ps): the same usage, --help and self-exe
 * seal as the short spelling. `container prune` has no short one. */
static bool container_alias(char **sub)
{
        static const char *const names[] = {
                "attach", "commit", "cp",    "create", "diff",    "exec",    "export", "inspect",
                "kill",   "logs",   "pause", "port",   "rename",  "restart", "rm",     "run",
                "start",  "stats",  "stop",  "top",    "unpause", "update",  "wait",   "ps",
        };
        if (streq(*sub, "ls") || streq(*sub, "list")) {
                *sub = (char *)"ps";
                return true;
        }
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (streq(*sub, names[i]))
                        return true;
        return false;
}

int main(int argc, char **argv)
{
        struct nk_global g = {
                .root = NULL, /* per face, below */
                .log_format = "text",
                .store = getenv("NOOK_STORE") ? getenv("NOOK_STORE") : "/var/lib/nook",
                .argv = argv,
        };
        enum face face = face_of(argv[0]);
        bool errors_only = false;
        int rc;
        if (parse_globals(argc, argv, face, &g, &errors_only, &rc))
                return rc;
        /* `nook [globals] oci [globals] CMD`: the OCI face spelled out. */
        if (face == FACE_ENGINE && optind < argc && streq(argv[optind], "oci")) {
                face = FACE_OCI;
                optind++;
                if (parse_globals(argc, argv, face, &g, &errors_only, &rc))
                        return rc;
        }
        nk_cmd_prog = face_name(face);
        /* The engine keeps its containers' runtime state apart from the OCI
         * face's (which runc clients share): NOOK_ROOT moves it. */
        if (!g.root && face == FACE_ENGINE)
                g.root = getenv("NOOK_ROOT") ? getenv("NOOK_ROOT") : "/run/nook-engine";
        if (!g.root)
                g.root = "/run/nook";
        if (face == FACE_ENGINE && optind + 1 < argc && streq(argv[optind], "container") &&
            container_alias(&argv[optind + 1]))
                optind++;
        const struct nk_command *cmd = optind < argc ? find_core(face, argv[optind]) : NULL;
        if (cmd && (cmd->flags & NK_CMD_PRESERVE_FDS) &&
            reserve_preserved_fds(argc - optind, argv + optind) < 0)
                return 1;
        if (nk_log_init(g.log, streq(g.log_format, "json"), g.debug) < 0) {
                nk_log(NK_LOG_ERROR, "--log: open `%s`: %s", g.log, strerror(errno));
                return 1;
        }
        if (errors_only)
                nk_log_errors_only();
        if (optind >= argc) {
                usage(stderr, face);
                return 1;
        }
        if (!cmd && face == FACE_ENGINE)
                cmd = find_in(engine_commands(), argv[optind]);
        if (!cmd) {
                nk_log(NK_LOG_ERROR, "unknown command `%s` (see %s --help)", argv[optind],
                       face_name(face));
                return 1;
        }
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        if (nk_cmd_help_flags(sub_argc, sub_argv, cmd->usage, NULL, cmd->flags))
                return 0;
        nk_cmd_getopt_reset();
        /* Before anything runs in a container: see nk_seal_self_exe(). */
        if (cmd->flags & NK_CMD_SELF_EXE_SEAL) {
                nk_error *e = NULL;
                if (nk_seal_self_exe(argv, &e) < 0)
                        return nk_cmd_fail(e);
        }
        return cmd->run(&g, sub_argc, sub_argv);
}
