/* `nook build` and `nook commit`: options, one call into the library
 * (src/engine/build/), the result's id on stdout. */
#include "cmd/engine/ctr_cmd.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void say_line(const char *line, void *data)
{
        (void)data;
        fprintf(stderr, "%s\n", line);
}

/* On a terminal: one line per step, redrawn with its elapsed time while
 * it runs (a thread ticks every 100 ms) and left with the final time when
 * the next step starts. A RUN's output goes to the terminal between. */
struct tty_progress {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        pthread_t thread;
        char *line; /* the step running, NULL: none */
        struct timespec start;
        unsigned width;
        bool stop;
};

static double since(const struct timespec *t)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* "\r", erase the line, the step cut to the width, its time. Locked.
 * One write(2) of a stack buffer: the ticking thread takes no stdio or
 * malloc lock, which a RUN's container, cloned from the main thread
 * meanwhile (a raw clone runs no atfork handler), could inherit held. */
static void tty_draw(struct tty_progress *t, bool done)
{
        if (!t->line)
                return;
        char tail[32], buf[1024];
        snprintf(tail, sizeof tail, " %s%.1fs", done ? "done " : "", since(&t->start));
        size_t room = t->width > strlen(tail) + 1 ? t->width - strlen(tail) - 1 : 20;
        size_t n = strcspn(t->line, "\n");
        int len = snprintf(buf, sizeof buf, "\r\033[K%.*s%s%s%s", (int)(n < room ? n : room),
                           t->line, n < room ? "" : "...", tail, done ? "\n" : "");
        if (len > (int)sizeof buf - 1)
                len = (int)sizeof buf - 1;
        for (int off = 0; len > 0 && off < len;) {
                ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(len - off));
                if (w <= 0)
                        break;
                off += (int)w;
        }
}

static void say_tty(const char *line, void *data)
{
        struct tty_progress *t = data;
        pthread_mutex_lock(&t->mu);
        tty_draw(t, true);
        free(t->line);
        t->line = strdup(line);
        clock_gettime(CLOCK_MONOTONIC, &t->start);
        tty_draw(t, false);
        pthread_mutex_unlock(&t->mu);
}

static void *tty_tick(void *data)
{
        struct tty_progress *t = data;
        pthread_mutex_lock(&t->mu);
        while (!t->stop) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 100 * 1000 * 1000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&t->cv, &t->mu, &until);
                if (!t->stop)
                        tty_draw(t, false);
        }
        tty_draw(t, true);
        free(t->line);
        t->line = NULL;
        pthread_mutex_unlock(&t->mu);
        return NULL;
}

static bool tty_start(struct tty_progress *t)
{
        struct winsize ws;
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        t->width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
        return pthread_create(&t->thread, NULL, tty_tick, t) == 0;
}

static void tty_stop(struct tty_progress *t)
{
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
}

static int read_all_fd(int fd, char **out, size_t *len)
{
        size_t cap = 4096, n = 0;
        char *b = malloc(cap);
        for (;;) {
                if (!b)
                        return -1;
                if (n == cap) {
                        char *nb = realloc(b, cap *= 2);
                        if (!nb) {
                                free(b);
                                return -1;
                        }
                        b = nb;
                }
                ssize_t r = read(fd, b + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        free(b);
                        return -1;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        *out = b;
        *len = n;
        return 0;
}

/* The Containerfile: -f FILE (relative to the cwd), else Containerfile
 * or Dockerfile in the context; with context `-`, stdin. */
static int read_containerfile(const char *file, const char *context, char **text, size_t *len,
                              char **name)
{
        nk_error *e = NULL;
        if (!context && !file) {
                *name = strdup("<stdin>");
                return read_all_fd(0, text, len) < 0 || !*name ? -1 : 0;
        }
        if (file) {
                *name = strdup(file);
                if (streq(file, "-"))
                        return read_all_fd(0, text, len) < 0 || !*name ? -1 : 0;
                if (nk_read_file(file, text, len, &e) == 0)
                        return 0;
                nk_cmd_fail(e);
                return 1;
        }
        static const char *const names[] = {"Containerfile", "Dockerfile"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", context, names[i]) < 0)
                        return -1;
                if (nk_read_file(p, text, len, &e) == 0) {
                        *name = strdup(names[i]);
                        return 0;
                }
                nk_error_free(e);
                e = NULL;
        }
        fprintf(stderr, "nook: no Containerfile or Dockerfile in `%s` (use -f FILE)\n", context);
        return 1;
}

/* --build-arg KEY alone takes KEY's value from our environment. */
static int add_build_arg(char ***v, const char *a)
{
        if (strchr(a, '='))
                return nk_strv_push(v, a);
        const char *val = getenv(a);
        if (!val)
                return 0;
        _cleanup_free_ char *kv = NULL;
        return asprintf(&kv, "%s=%s", a, val) < 0 ? -1 : nk_strv_push(v, kv);
}

/* --secret id=ID,src=FILE (or source=): "ID=/absolute/FILE", the file
 * readable now. */
static int add_secret(char ***v, const char *arg)
{
        _cleanup_free_ char *copy = strdup(arg);
        const char *id = NULL, *src = NULL;
        char *save = NULL;
        if (!copy)
                return -1;
        for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                if (!eq)
                        return nk_cmd_usage_error("build", "--secret `%s`: `%s` is not K=V", arg,
                                                  kv);
                *eq = '\0';
                if (streq(kv, "id"))
                        id = eq + 1;
                else if (streq(kv, "src") || streq(kv, "source"))
                        src = eq + 1;
                else if (!streq(kv, "type") || !streq(eq + 1, "file"))
                        return nk_cmd_usage_error("build", "--secret `%s`: `%s` is not supported",
                                                  arg, kv);
        }
        if (!id || !*id || strchr(id, '/') || strchr(id, '=') || !src || !*src)
                return nk_cmd_usage_error("build", "--secret `%s`: expected id=NAME,src=FILE", arg);
        _cleanup_free_ char *abs = realpath(src, NULL);
        _cleanup_close_ int fd = abs ? open(abs, O_RDONLY | O_CLOEXEC) : -1;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return nk_cmd_usage_error("build", "--secret `%s`: `%s`: %s", arg, src,
                                          fd < 0 ? strerror(errno) : "not a regular file");
        _cleanup_free_ char *kv = NULL;
        return asprintf(&kv, "%s=%s", id, abs) < 0 ? -1 : nk_strv_push(v, kv) < 0 ? -1 : 0;
}

static int parse_timestamp(const char *s, int64_t *out)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno || v < 0)
                return -1;
        *out = v;
        return 0;
}

#define BUILD_USAGE                                                                                \
        "build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V] [--target STAGE] [--no-cache]\n"     \
        "      [--pull] [--platform OS/ARCH] [--secret id=ID,src=FILE]\n"                          \
        "      [--label K=V] [--network none|host] [--timestamp N] [-q] CONTEXT|-"
#define BUILD_HELP                                                                                 \
        "Build an image from a Containerfile (or Dockerfile) in CONTEXT.\n"                        \
        "  -t, --tag NAME[:TAG]   name the result (repeatable)\n"                                  \
        "  -f, --file FILE        the Containerfile (default CONTEXT/Containerfile|Dockerfile)\n"  \
        "  --build-arg K=V        a value for ARG K (K alone: from the environment)\n"             \
        "  --target STAGE         build up to that stage\n"                                        \
        "  --no-cache             run every step again\n"                                          \
        "  --pull                 pull FROM images even when the store has them\n"                 \
        "  --platform OS/ARCH     FROM images for that platform (RUN only for this machine's)\n"   \
        "  --label K=V            a label on the result\n"                                         \
        "  --secret id=ID,src=FILE  FILE for RUN --mount=type=secret,id=ID (never in a layer)\n"   \
        "  --network none|host    RUN's network (default none)\n"                                  \
        "  --timestamp N          created times N and file mtimes at most N (Unix time;\n"         \
        "                         default $SOURCE_DATE_EPOCH)\n"                                   \
        "  -q, --quiet            print only the image id\n"

struct build_args {
        struct nk_build_opts o;
        const char *file;
        bool quiet;
        char **tags, **args;
};

enum {
        OPT_BUILD_ARG = 256,
        OPT_TARGET,
        OPT_NO_CACHE,
        OPT_LABEL,
        OPT_NETWORK,
        OPT_TIMESTAMP,
        OPT_PULL,
        OPT_PLATFORM,
        OPT_SECRET,
};

static int build_option(struct build_args *a, int c, const char *arg)
{
        switch (c) {
        case 't':
                return nk_strv_push(&a->tags, arg) < 0 ? -1 : 0;
        case 'f':
                a->file = arg;
                return 0;
        case 'q':
                a->quiet = true;
                return 0;
        case OPT_BUILD_ARG:
                return add_build_arg(&a->args, arg) < 0 ? -1 : 0;
        case OPT_TARGET:
                a->o.target = arg;
                return 0;
        case OPT_NO_CACHE:
                a->o.no_cache = true;
                return 0;
        case OPT_PULL:
                a->o.pull = true;
                return 0;
        case OPT_PLATFORM:
                a->o.platform = arg;
                return 0;
        case OPT_SECRET:
                return add_secret(&a->o.secrets, arg);
        case OPT_LABEL: {
                const char *eq = strchr(arg, '=');
                _cleanup_free_ char *k = strndup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
                if (!k || !*k)
                        return nk_cmd_usage_error("build", "--label `%s`: expected K=V", arg);
                json_object_set_new(a->o.labels, k, json_string(eq ? eq + 1 : ""));
                return 0;
        }
        case OPT_NETWORK:
                if (!streq(arg, "none") && !streq(arg, "host"))
                        return nk_cmd_usage_error("build", "--network `%s`: none or host", arg);
                a->o.network_host = streq(arg, "host");
                return 0;
        case OPT_TIMESTAMP:
                if (parse_timestamp(arg, &a->o.timestamp) < 0)
                        return nk_cmd_usage_error("build", "--timestamp `%s`: not a Unix time",
                                                  arg);
                return 0;
        default:
                return 1;
        }
}

static int build_parse(struct build_args *a, int argc, char **argv)
{
        static const struct option opts[] = {
                {"tag", required_argument, NULL, 't'},
                {"file", required_argument, NULL, 'f'},
                {"quiet", no_argument, NULL, 'q'},
                {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
                {"target", required_argument, NULL, OPT_TARGET},
                {"no-cache", no_argument, NULL, OPT_NO_CACHE},
                {"pull", no_argument, NULL, OPT_PULL},
                {"platform", required_argument, NULL, OPT_PLATFORM},
                {"secret", required_argument, NULL, OPT_SECRET},
                {"label", required_argument, NULL, OPT_LABEL},
                {"network", required_argument, NULL, OPT_NETWORK},
                {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
                {0},
        };
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        a->o.timestamp = -1;
        if (sde && *sde && parse_timestamp(sde, &a->o.timestamp) < 0)
                return nk_cmd_usage_error("build", "SOURCE_DATE_EPOCH `%s`: not a Unix time", sde);
        int c;
        while ((c = getopt_long(argc, argv, "t:f:q", opts, NULL)) != -1) {
                int r = build_option(a, c, optarg);
                if (r)
                        return r;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("build", "expects one CONTEXT (a directory, or -)");
        return 0;
}

int nk_cmd_build(const struct nk_global *g, int argc, char **argv)
{
        if (nk_cmd_help(argc, argv, BUILD_USAGE, BUILD_HELP))
                return 0;
        struct build_args a = {.o.labels = json_object()};
        _cleanup_free_ char *text = NULL, *name = NULL, *ctx = NULL;
        int rc = build_parse(&a, argc, argv);
        if (rc == 0 && !streq(argv[optind], "-") && !(ctx = realpath(argv[optind], NULL)))
                rc = nk_cmd_usage_error("build", "context `%s`: %s", argv[optind], strerror(errno));
        if (rc == 0)
                rc = read_containerfile(a.file, ctx, &text, &a.o.file_len, &name);
        if (rc < 0)
                rc = nk_cmd_usage_error("build", "cannot read the Containerfile");
        _cleanup_(nk_engine_closep) struct nk_store *s = rc == 0 ? nk_cmd_store(g) : NULL;
        if (rc == 0 && s) {
                a.o.context = ctx;
                a.o.file_text = text;
                a.o.file_name = name;
                a.o.tags = a.tags;
                a.o.build_args = a.args;
                a.o.root = g->root;
                a.o.cgroup_parent = nk_ctr_cgroup_parent();
                a.o.out_fd = a.quiet ? 2 : 1;
                a.o.err_fd = 2;
                a.o.say = a.quiet ? NULL : say_line;
                struct tty_progress tty = {0};
                bool on_tty = !a.quiet && isatty(2) && tty_start(&tty);
                if (on_tty) {
                        a.o.say = say_tty;
                        a.o.say_data = &tty;
                }
                char id[72];
                nk_error *err = NULL;
                fflush(stdout);
                int br = nk_image_build_file(s, &a.o, id, &err);
                if (on_tty)
                        tty_stop(&tty);
                if (br < 0) {
                        rc = nk_cmd_store_fail(s, err);
                } else {
                        if (!a.quiet)
                                for (char **t = a.tags; t && *t; t++)
                                        fprintf(stderr, "Successfully tagged %s\n", *t);
                        printf("%s\n", id + 7);
                }
        } else if (rc == 0) {
                rc = 1;
        }
        nk_strv_free(a.tags);
        nk_strv_free(a.args);
        nk_strv_free(a.o.secrets);
        json_decref(a.o.labels);
        return rc;
}

/* The running container id, paused; NULL when it does not run. */
static struct nk_container *freeze(const struct nk_global *g, const char *id)
{
        struct nk_ctr_state st;
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        if (nk_ctr_state(g->store, g->root, id, &st, &e) < 0 || st.status != NK_CTR_RUNNING ||
            nk_container_open(g->root, id, NK_CONTAINER_LOCK, &c, &e) < 0 ||
            nk_container_pause(c, &e) < 0) {
                nk_error_free(e);
                if (c)
                        nk_container_close(c);
                return NULL;
        }
        return c;
}

#define COMMIT_USAGE "commit [-m MSG] [-a AUTHOR] [-c INSTR]... CONTAINER [NAME[:TAG]]"
#define COMMIT_HELP                                                                                \
        "Make an image of a container's changes (a new layer on its image).\n"                     \
        "  -m, --message MSG      the history entry's comment\n"                                   \
        "  -a, --author AUTHOR    the image's author\n"                                            \
        "  --pause=false          do not freeze a running container meanwhile\n"                   \
        "  -c, --change INSTR     CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,\n"   \
        "                         ... applied to the config (repeatable)\n"

int nk_cmd_commit(const struct nk_global *g, int argc, char **argv)
{
        if (nk_cmd_help(argc, argv, COMMIT_USAGE, COMMIT_HELP))
                return 0;
        static const struct option opts[] = {{"message", required_argument, NULL, 'm'},
                                             {"author", required_argument, NULL, 'a'},
                                             {"change", required_argument, NULL, 'c'},
                                             {"pause", optional_argument, NULL, 'p'},
                                             {0}};
        bool pause = true;
        struct nk_commit_opts o = {0};
        _cleanup_strv_ char **changes = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "m:a:c:p", opts, NULL)) != -1) {
                if (c == 'p' && optarg && !streq(optarg, "true") && !streq(optarg, "false"))
                        return nk_cmd_usage_error("commit", "--pause=%s: true or false", optarg);
                if (c == 'p')
                        pause = !optarg || streq(optarg, "true");
                else if (c == 'm')
                        o.message = optarg;
                else if (c == 'a')
                        o.author = optarg;
                else if (c == 'c' && nk_strv_push(&changes, optarg) < 0)
                        return 1;
                else if (c != 'c' && c != 'p')
                        return 1;
        }
        if (optind >= argc || argc - optind > 2)
                return nk_cmd_usage_error("commit", "usage: " COMMIT_USAGE);
        char id[NK_CTR_ID_LEN + 1], image[72];
        nk_error *err = NULL;
        if (nk_ctr_resolve(g->store, argv[optind], id, &err) < 0)
                return nk_cmd_fail(err);
        o.id = id;
        o.name = optind + 1 < argc ? argv[optind + 1] : NULL;
        o.changes = changes;
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        if (!s)
                return 1;
        /* a running container is frozen meanwhile (Docker's default), so
         * its upper dir is read at rest */
        struct nk_container *frozen = pause ? freeze(g, id) : NULL;
        int r = nk_image_commit(s, &o, image, &err);
        if (frozen) {
                nk_error *e = NULL;
                if (nk_container_resume(frozen, &e) < 0)
                        nk_cmd_fail(e);
                nk_container_close(frozen);
        }
        if (r < 0)
                return nk_cmd_store_fail(s, err);
        printf("%s\n", image + 7);
        return 0;
}
