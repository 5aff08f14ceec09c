/* nook pull (with a progress display), login, logout */
#include "cmd/engine/engine_cmd.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* On a terminal one line per layer, redrawn in place; otherwise plain
 * lines at each layer's start and end. */
struct display {
        bool tty, quiet;
        char ids[512][16];
        size_t n;
        struct timespec last;
};

static size_t line_of(struct display *d, const char *id)
{
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->ids[i], id))
                        return i;
        if (d->n == ARRAY_SIZE(d->ids))
                return d->n - 1;
        snprintf(d->ids[d->n], sizeof(d->ids[0]), "%s", id);
        printf("%s: waiting\n", id);
        return d->n++;
}

static void redraw(struct display *d, const char *id, const char *text)
{
        size_t line = line_of(d, id);
        size_t up = d->n - line;
        printf("\033[%zuA\r\033[2K%s: %s\033[%zuB\r", up, id, text, up);
        fflush(stdout);
}

static bool throttle(struct display *d)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - d->last.tv_sec) * 1000 + (now.tv_nsec - d->last.tv_nsec) / 1000000;
        if (ms < 100)
                return true;
        d->last = now;
        return false;
}

static void on_tty(struct display *d, const struct nk_progress *p)
{
        char text[128], a[32], b[32];
        switch (p->kind) {
        case NK_PROGRESS_LAYER_START:
                redraw(d, p->id, "downloading");
                break;
        case NK_PROGRESS_LAYER_BYTES:
                if (throttle(d))
                        return;
                nk_cmd_human_size(p->done, a, sizeof(a));
                nk_cmd_human_size(p->total, b, sizeof(b));
                snprintf(text, sizeof(text), "downloading %s/%s", a, b);
                redraw(d, p->id, text);
                break;
        case NK_PROGRESS_LAYER_DONE:
                redraw(d, p->id, p->msg ? p->msg : "downloaded");
                break;
        case NK_PROGRESS_EXTRACT:
                redraw(d, p->id, "extracting");
                break;
        case NK_PROGRESS_EXTRACTED:
                redraw(d, p->id, "pull complete");
                break;
        default:
                break;
        }
}

static void on_progress(const struct nk_progress *p, void *data)
{
        struct display *d = data;
        if (d->quiet)
                return;
        if (p->kind == NK_PROGRESS_RESOLVED || p->kind == NK_PROGRESS_MESSAGE) {
                printf("%s\n", p->msg);
                fflush(stdout);
                return;
        }
        if (d->tty) {
                on_tty(d, p);
                return;
        }
        switch (p->kind) {
        case NK_PROGRESS_LAYER_START:
                printf("%s: downloading\n", p->id);
                break;
        case NK_PROGRESS_LAYER_DONE:
                printf("%s: %s\n", p->id, p->msg ? p->msg : "downloaded");
                break;
        case NK_PROGRESS_EXTRACT:
                printf("%s: extracting\n", p->id);
                break;
        case NK_PROGRESS_EXTRACTED:
                printf("%s: pull complete\n", p->id);
                break;
        default:
                return;
        }
        fflush(stdout);
}

static bool parse_tls(const char *v, bool *insecure)
{
        if (streq(v, "false"))
                *insecure = true;
        else if (streq(v, "true"))
                *insecure = false;
        else
                return false;
        return true;
}

int nk_cmd_pull(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"platform", required_argument, NULL, 'P'},
                {"tls-verify", required_argument, NULL, 'T'},
                {"authfile", required_argument, NULL, 'A'},
                {"quiet", no_argument, NULL, 'q'},
                {0},
        };
        struct nk_pull_opts o = {0};
        struct display d = {.tty = isatty(1)};
        int c;
        while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        o.platform = optarg;
                        break;
                case 'A':
                        o.auth_file = optarg;
                        break;
                case 'q':
                        d.quiet = true;
                        break;
                case 'T':
                        if (!parse_tls(optarg, &o.insecure))
                                return nk_cmd_usage_error("pull", "--tls-verify: true or false");
                        break;
                default:
                        return 1;
                }
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("pull", "usage: pull [options] REF");
        o.progress = on_progress;
        o.progress_data = &d;
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_free_ char *key = NULL;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_pull(s, argv[optind], &o, &key, &err) < 0)
                return nk_cmd_store_fail(s, err);
        printf("%s\n", key);
        return 0;
}

/* Plain lines per blob: "<id>: pushed", "already exists", "mounted from R". */
static void on_push_progress(const struct nk_progress *p, void *data)
{
        const bool *quiet = data;
        if (*quiet)
                return;
        if (p->kind == NK_PROGRESS_LAYER_START)
                printf("%s: pushing\n", p->id);
        else if (p->kind == NK_PROGRESS_LAYER_DONE)
                printf("%s: %s\n", p->id, p->msg ? p->msg : "pushed");
        else
                return;
        fflush(stdout);
}

int nk_cmd_push(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"tls-verify", required_argument, NULL, 'T'},
                {"authfile", required_argument, NULL, 'A'},
                {"quiet", no_argument, NULL, 'q'},
                {"chunk-size", required_argument, NULL, 'C'},
                {0},
        };
        struct nk_push_opts o = {0};
        bool quiet = false;
        int c;
        while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
                switch (c) {
                case 'A':
                        o.auth_file = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'C': {
                        char *end;
                        errno = 0;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (errno || *end || v == 0 || optarg[0] == '-')
                                return nk_cmd_usage_error("push",
                                                          "--chunk-size: bytes > 0, not "
                                                          "`%s`",
                                                          optarg);
                        o.chunk_size = v;
                        break;
                }
                case 'T':
                        if (!parse_tls(optarg, &o.insecure))
                                return nk_cmd_usage_error("push", "--tls-verify: true or false");
                        break;
                default:
                        return 1;
                }
        }
        if (argc - optind < 1 || argc - optind > 2)
                return nk_cmd_usage_error("push", "usage: push [options] IMAGE [DEST]");
        o.progress = on_push_progress;
        o.progress_data = &quiet;
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        _cleanup_free_ char *digest = NULL;
        nk_error *err = NULL;
        if (!s)
                return 1;
        if (nk_image_push(s, argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL, &o,
                          &digest, &err) < 0)
                return nk_cmd_fail(err);
        printf(quiet ? "%s\n" : "Digest: %s\n", digest);
        return 0;
}

static char *read_password_stdin(void)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
                free(line);
                return NULL;
        }
        line[strcspn(line, "\r\n")] = '\0';
        return line;
}

int nk_cmd_login(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"username", required_argument, NULL, 'u'},
                {"password", required_argument, NULL, 'p'},
                {"password-stdin", no_argument, NULL, 'S'},
                {"authfile", required_argument, NULL, 'A'},
                {"tls-verify", required_argument, NULL, 'T'},
                {0},
        };
        const char *user = NULL, *pass = NULL, *authfile = NULL;
        _cleanup_free_ char *stdin_pass = NULL;
        bool insecure = false;
        int c;
        while ((c = getopt_long(argc, argv, "u:p:", opts, NULL)) != -1) {
                switch (c) {
                case 'u':
                        user = optarg;
                        break;
                case 'p':
                        pass = optarg;
                        break;
                case 'A':
                        authfile = optarg;
                        break;
                case 'S':
                        pass = stdin_pass = read_password_stdin();
                        break;
                case 'T':
                        if (!parse_tls(optarg, &insecure))
                                return nk_cmd_usage_error("login", "--tls-verify: true or false");
                        break;
                default:
                        return 1;
                }
        }
        if (optind + 1 != argc || !user || !pass)
                return nk_cmd_usage_error("login", "usage: login -u USER (-p PASS | "
                                                   "--password-stdin) REGISTRY");
        nk_error *err = NULL;
        if (nk_registry_login(argv[optind], user, pass, authfile, insecure, &err) < 0)
                return nk_cmd_fail(err);
        printf("Login Succeeded\n");
        return 0;
}

int nk_cmd_logout(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"authfile", required_argument, NULL, 'A'}, {0}};
        const char *authfile = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c != 'A')
                        return 1;
                authfile = optarg;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("logout", "usage: logout REGISTRY");
        nk_error *err = NULL;
        if (nk_registry_logout(argv[optind], authfile, &err) < 0)
                return nk_cmd_fail(err);
        printf("Removed login credentials for %s\n", argv[optind]);
        return 0;
}
