/* `nook run` flags (nk_run_opts_parse) and the OCI spec they make
 * (nk_run_spec_build): each flag with good and bad values, Docker's
 * entrypoint/cmd/env precedence, users looked up in a temporary rootfs,
 * hostile /etc/passwd links that must stay inside it. */
#include "engine/container/runopts.h"
#include "engine/jsonutil.h"
#include "runtime/security.h"
#include "runtime/spec.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#define ARGV(...) ((char *[]){"run", __VA_ARGS__, NULL})
#define ARGC(v)   ((int)(sizeof(v) / sizeof((v)[0])) - 1)

/* Parse; 0 or -1. On failure the message is kept in last_err. */
static char last_err[512];
static int parse_v(int argc, char **argv, struct nk_run_opts *o)
{
        nk_error *err = NULL;
        last_err[0] = '\0';
        int r = nk_run_opts_parse(argc, argv, o, &err);
        if (err) {
                char *t = nk_error_text(err);
                snprintf(last_err, sizeof(last_err), "%s", t);
                free(t);
                nk_error_free(err);
        }
        return r;
}
#define PARSE(o, ...)                                                                              \
        ({                                                                                         \
                char **_v = ARGV(__VA_ARGS__);                                                     \
                parse_v(ARGC(((char *[]){"run", __VA_ARGS__, NULL})), _v, (o));                    \
        })
/* A bad value: refused, one line naming the flag and the value. */
#define BAD(flag, value, ...)                                                                      \
        do {                                                                                       \
                struct nk_run_opts _o;                                                             \
                CHECK(PARSE(&_o, __VA_ARGS__) < 0);                                                \
                CHECK(strstr(last_err, flag) != NULL);                                             \
                CHECK(strstr(last_err, value) != NULL);                                            \
                CHECK(strchr(last_err, '\n') == NULL);                                             \
                if (!strstr(last_err, flag) || !strstr(last_err, value))                           \
                        fprintf(stderr, "  message: %s\n", last_err);                              \
        } while (0)

static char tmpdir[] = "/tmp/nook-runopts-XXXXXX";

static void write_file(const char *rel, const char *text)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
        FILE *f = fopen(p, "w");
        CHECK(f != NULL);
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static void test_defaults_and_bools(void)
{
        struct nk_run_opts o;
        CHECK(PARSE(&o, "busybox") == 0);
        CHECK_STR(o.image, "busybox");
        CHECK(o.cmd == NULL && o.env == NULL && o.name == NULL);
        CHECK(!o.detach && !o.interactive && !o.tty && !o.rm && !o.init);
        CHECK(o.restart == NK_RESTART_NO && o.pull == NK_PULL_MISSING);
        CHECK(o.stop_timeout == -1 && o.log_max_size == 0 && o.log_max_file == 1);
        CHECK(o.memory == -1 && o.pids_limit == -1 && o.cpu_quota == -1 && o.cpu_shares == -1);
        CHECK(json_object_size(o.labels) == 0);
        nk_run_opts_clear(&o);

        CHECK(PARSE(&o, "-dit", "--rm", "--init", "--privileged", "--read-only", "img", "sh", "-c",
                    "echo hi") == 0);
        CHECK(o.detach && o.interactive && o.tty && o.rm && o.init && o.privileged && o.read_only);
        CHECK(o.cmd && nk_strv_len(o.cmd) == 3);
        CHECK_STR(o.cmd[2], "echo hi");
        nk_run_opts_clear(&o);

        /* options stop at the image: what follows is the command's */
        CHECK(PARSE(&o, "-i", "img", "ls", "--rm", "-d") == 0);
        CHECK(o.interactive && !o.rm && !o.detach);
        CHECK(nk_strv_len(o.cmd) == 3);
        CHECK_STR(o.cmd[1], "--rm");
        nk_run_opts_clear(&o);

        CHECK(PARSE(&o, "-d", "--", "img", "x") == 0);
        CHECK_STR(o.image, "img");
        CHECK_STR(o.cmd[0], "x");
        nk_run_opts_clear(&o);

        CHECK(PARSE(&o, "--rm=false", "--tty=true", "-i=false", "img") == 0);
        CHECK(!o.rm && o.tty && !o.interactive);
        nk_run_opts_clear(&o);
        /* the last shorthand of a group may take a value */
        CHECK(PARSE(&o, "-dte", "A=1", "img") == 0);
        CHECK(o.detach && o.tty && o.env && streq(o.env[0], "A=1"));
        nk_run_opts_clear(&o);

        BAD("--rm", "maybe", "--rm=maybe", "img");
        BAD("--nope", "--nope", "--nope", "img");
        BAD("'x'", "-dx", "-dx", "img");
        BAD("--name", "--name", "--name");
        BAD("requires at least 1 argument", "run", "-d");
        BAD("image", "empty", "");
        nk_run_opts_clear(&o); /* twice is fine */
}

static void test_name_env_user(void)
{
        struct nk_run_opts o;
        CHECK(PARSE(&o, "--name", "web.1_a-b", "img") == 0);
        CHECK_STR(o.name, "web.1_a-b");
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--name=x", "img") == 0);
        CHECK_STR(o.name, "x");
        nk_run_opts_clear(&o);
        BAD("--name", "_x", "--name", "_x", "img");
        BAD("--name", "a/b", "--name=a/b", "img");
        BAD("--name", ".hidden", "--name", ".hidden", "img");
        BAD("--name", "caf\xc3\xa9", "--name", "caf\xc3\xa9", "img");
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        BAD("--name", "aaaa", "--name", long_name, "img");

        CHECK(PARSE(&o, "-e", "A=1", "-eB=2", "--env", "C=3", "--env=D=4", "-e=E=5", "-e", "F",
                    "-e", "G=", "img") == 0);
        CHECK(nk_strv_len(o.env) == 7);
        if (nk_strv_len(o.env) == 7) {
                CHECK_STR(o.env[0], "A=1");
                CHECK_STR(o.env[3], "D=4");
                CHECK_STR(o.env[4], "E=5");
                CHECK_STR(o.env[5], "F");
                CHECK_STR(o.env[6], "G=");
        }
        /* bare names from the client's environment, dropped when unset */
        char *host[] = {"F=from-host", "FOO=no", NULL};
        nk_error *err = NULL;
        CHECK(nk_run_opts_env_from_host(&o, host, &err) == 0);
        CHECK(nk_strv_len(o.env) == 7 && streq(o.env[5], "F=from-host"));
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "-e", "FO", "img") == 0);
        CHECK(nk_run_opts_env_from_host(&o, host, &err) == 0);
        CHECK(nk_strv_len(o.env) == 0); /* FO is not FOO */
        nk_run_opts_clear(&o);
        BAD("--env", "=x", "-e", "=x", "img");
        BAD("--env", "A B=1", "-e", "A B=1", "img");

        /* env files: comments, blank lines, leading space, CRLF; then -e */
        write_file("env1", "# comment\n\n  K1=v 1 \nK2=two\r\nBARE\nK3==x\n");
        write_file("env2", "K2=second\n");
        write_file("envbad", "OK=1\nBAD KEY=2\n");
        char f1[256], f2[256], fb[256], fnone[256];
        snprintf(f1, sizeof(f1), "%s/env1", tmpdir);
        snprintf(f2, sizeof(f2), "%s/env2", tmpdir);
        snprintf(fb, sizeof(fb), "%s/envbad", tmpdir);
        snprintf(fnone, sizeof(fnone), "%s/absent", tmpdir);
        CHECK(PARSE(&o, "-e", "FIRST=cli", "--env-file", f1, "--env-file=", "img") < 0);
        CHECK(PARSE(&o, "-e", "FIRST=cli", "--env-file", f1, "--env-file", f2, "img") == 0);
        CHECK(nk_strv_len(o.env) == 6);
        if (nk_strv_len(o.env) == 6) {
                CHECK_STR(o.env[0], "K1=v 1 ");
                CHECK_STR(o.env[1], "K2=two");
                CHECK_STR(o.env[2], "BARE");
                CHECK_STR(o.env[3], "K3==x");
                CHECK_STR(o.env[4], "K2=second");
                CHECK_STR(o.env[5], "FIRST=cli"); /* -e after the files */
        }
        nk_run_opts_clear(&o);
        BAD("--env-file", "BAD KEY", "--env-file", fb, "img");
        BAD("--env-file", "absent", "--env-file", fnone, "img");
        BAD("--env-file", "", "--env-file", tmpdir, "img"); /* a directory */

        CHECK(PARSE(&o, "-w", "/srv/app", "-u", "1000:50", "--hostname", "box", "img") == 0);
        CHECK_STR(o.workdir, "/srv/app");
        CHECK_STR(o.user, "1000:50");
        CHECK_STR(o.hostname, "box");
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--workdir=/", "--user=alice", "-hbox2", "img") == 0);
        CHECK_STR(o.user, "alice");
        CHECK_STR(o.hostname, "box2");
        nk_run_opts_clear(&o);
        BAD("--workdir", "rel/dir", "-w", "rel/dir", "img");
        BAD("--user", ":50", "-u", ":50", "img");
        BAD("--user", "alice:", "-u", "alice:", "img");
        BAD("--user", "a:b:c", "--user", "a:b:c", "img");
        BAD("--hostname", "a/b", "-h", "a/b", "img");
        char long_host[70];
        memset(long_host, 'h', 65);
        long_host[65] = '\0';
        BAD("--hostname", "hhhh", "--hostname", long_host, "img");

        CHECK(PARSE(&o, "--entrypoint", "", "img") == 0);
        CHECK(o.entrypoint_set && o.entrypoint && !*o.entrypoint);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--entrypoint=/bin/ep", "img") == 0);
        CHECK(o.entrypoint_set);
        CHECK_STR(o.entrypoint, "/bin/ep");
        nk_run_opts_clear(&o);

        CHECK(PARSE(&o, "-l", "a=b", "--label", "c", "--label=d=e=f", "-la=z", "img") == 0);
        CHECK_STR(json_string_value(json_object_get(o.labels, "a")), "z");
        CHECK_STR(json_string_value(json_object_get(o.labels, "c")), "");
        CHECK_STR(json_string_value(json_object_get(o.labels, "d")), "e=f");
        nk_run_opts_clear(&o);
        BAD("--label", "=v", "-l", "=v", "img");
}

static void test_engine_flags(void)
{
        struct nk_run_opts o;
        static const struct {
                const char *v;
                enum nk_restart r;
                int max;
        } restarts[] = {
                {"no", NK_RESTART_NO, 0},
                {"always", NK_RESTART_ALWAYS, 0},
                {"unless-stopped", NK_RESTART_UNLESS_STOPPED, 0},
                {"on-failure", NK_RESTART_ON_FAILURE, 0},
                {"on-failure:5", NK_RESTART_ON_FAILURE, 5},
        };
        for (size_t i = 0; i < ARRAY_SIZE(restarts); i++) {
                CHECK(PARSE(&o, "--restart", (char *)restarts[i].v, "img") == 0);
                CHECK(o.restart == restarts[i].r && o.restart_max == restarts[i].max);
                nk_run_opts_clear(&o);
        }
        BAD("--restart", "sometimes", "--restart", "sometimes", "img");
        BAD("--restart", "always:3", "--restart", "always:3", "img");
        BAD("--restart", "on-failure:x", "--restart=on-failure:x", "img");
        BAD("--restart", "on-failure:-1", "--restart=on-failure:-1", "img");
        BAD("--restart", "on-failurex", "--restart=on-failurex", "img");
        BAD("--restart", "on-failure:", "--restart=on-failure:", "img");
        BAD("--restart", "--rm", "--restart", "always", "--rm", "img");
        CHECK(PARSE(&o, "--restart", "no", "--rm", "img") == 0);
        nk_run_opts_clear(&o);

        CHECK(PARSE(&o, "--stop-signal", "SIGKILL", "--stop-timeout", "30", "img") == 0);
        CHECK_STR(o.stop_signal, "SIGKILL");
        CHECK(o.stop_timeout == 30);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--stop-signal=9", "--stop-timeout=0", "img") == 0);
        CHECK(o.stop_timeout == 0);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--stop-signal", "rtmin+2", "img") == 0);
        nk_run_opts_clear(&o);
        BAD("--stop-signal", "SIGFOO", "--stop-signal", "SIGFOO", "img");
        BAD("--stop-signal", "0", "--stop-signal", "0", "img");
        BAD("--stop-timeout", "-5", "--stop-timeout=-5", "img");
        BAD("--stop-timeout", "ten", "--stop-timeout", "ten", "img");

        CHECK(PARSE(&o, "--pull", "always", "img") == 0 && o.pull == NK_PULL_ALWAYS);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--pull=never", "img") == 0 && o.pull == NK_PULL_NEVER);
        nk_run_opts_clear(&o);
        BAD("--pull", "sometimes", "--pull", "sometimes", "img");

        CHECK(PARSE(&o, "--cidfile", "/tmp/cid", "img") == 0);
        CHECK_STR(o.cidfile, "/tmp/cid");
        nk_run_opts_clear(&o);
        BAD("--cidfile", "empty", "--cidfile", "", "img");

        CHECK(PARSE(&o, "--log-opt", "max-size=10m", "--log-opt=max-file=3", "img") == 0);
        CHECK(o.log_max_size == 10 << 20 && o.log_max_file == 3);
        nk_run_opts_clear(&o);
        BAD("--log-opt", "max-file=0", "--log-opt", "max-file=0", "img");
        BAD("--log-opt", "max-size=10x", "--log-opt", "max-size=10x", "img");
        BAD("--log-opt", "max-size=0", "--log-opt", "max-size=0", "img");
        BAD("--log-opt", "mode=fast", "--log-opt", "mode=fast", "img");
        BAD("--log-opt", "max-size", "--log-opt", "max-size", "img");
}

static void test_resources(void)
{
        struct nk_run_opts o;
        int64_t b;
        CHECK(nk_run_parse_bytes("512m", &b) == 0 && b == 512LL << 20);
        CHECK(nk_run_parse_bytes("1G", &b) == 0 && b == 1LL << 30);
        CHECK(nk_run_parse_bytes("1.5g", &b) == 0 && b == 3LL << 29);
        CHECK(nk_run_parse_bytes("100k", &b) == 0 && b == 102400);
        CHECK(nk_run_parse_bytes("100kb", &b) == 0 && b == 102400);
        CHECK(nk_run_parse_bytes("100KiB", &b) == 0 && b == 102400);
        CHECK(nk_run_parse_bytes("42b", &b) == 0 && b == 42);
        CHECK(nk_run_parse_bytes("7", &b) == 0 && b == 7);
        CHECK(nk_run_parse_bytes("8191p", &b) == 0 && b == 8191LL << 50);
        CHECK(nk_run_parse_bytes("8192p", &b) < 0); /* 2^63 */
        CHECK(nk_run_parse_bytes("99999999999999999999", &b) < 0);
        CHECK(nk_run_parse_bytes("", &b) < 0);
        CHECK(nk_run_parse_bytes("m", &b) < 0);
        CHECK(nk_run_parse_bytes("-1", &b) < 0);
        CHECK(nk_run_parse_bytes("1.g", &b) < 0);
        CHECK(nk_run_parse_bytes("1 g", &b) < 0);
        CHECK(nk_run_parse_bytes("1gg", &b) < 0);
        CHECK(nk_run_parse_bytes("0x10", &b) < 0);

        CHECK(PARSE(&o, "-m", "512m", "--pids-limit", "100", "--cpus", "1.5", "--cpu-shares", "512",
                    "--cpuset-cpus", "0-1,3", "img") == 0);
        CHECK(o.memory == 512LL << 20 && o.pids_limit == 100 && o.cpu_shares == 512);
        CHECK(o.cpu_quota == 150000 && o.cpu_period == 100000);
        CHECK_STR(o.cpuset_cpus, "0-1,3");
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "-m1g", "--memory=6m", "--pids-limit=-1", "--cpus=0.01", "img") == 0);
        CHECK(o.memory == 6LL << 20 && o.pids_limit == -1 && o.cpu_quota == 1000);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--pids-limit", "0", "--cpus", "0", "--cpu-shares", "0", "img") == 0);
        CHECK(o.pids_limit == -1 && o.cpu_quota == -1 && o.cpu_period == -1 && o.cpu_shares == -1);
        nk_run_opts_clear(&o);
        BAD("--memory", "10x", "-m", "10x", "img");
        BAD("--memory", "100", "-m", "100", "img"); /* below Docker's 6MB */
        BAD("--memory", "-1", "--memory=-1", "img");
        BAD("--memory", "99999999999g", "--memory", "99999999999g", "img");
        BAD("--pids-limit", "many", "--pids-limit", "many", "img");
        BAD("--pids-limit", "-2", "--pids-limit=-2", "img");
        BAD("--cpus", "0.001", "--cpus", "0.001", "img");
        BAD("--cpus", "abc", "--cpus", "abc", "img");
        BAD("--cpus", "1.0000000001", "--cpus", "1.0000000001", "img");
        BAD("--cpus", "-1", "--cpus=-1", "img");
        BAD("--cpu-shares", "1", "--cpu-shares", "1", "img");
        BAD("--cpu-shares", "300000", "--cpu-shares", "300000", "img");
        BAD("--cpuset-cpus", "3-1", "--cpuset-cpus", "3-1", "img");
        BAD("--cpuset-cpus", "x", "--cpuset-cpus", "x", "img");

        /* a refused command line leaves the output alone */
        struct nk_run_opts keep = {.image = "untouched"};
        CHECK(PARSE(&keep, "--name", "ok", "-m", "bad", "img") < 0);
        CHECK(keep.image && streq(keep.image, "untouched") && keep.name == NULL);
}

/* ---- volumes, mounts, tmpfs ------------------------------------------------ */

static void test_mount_flags(void)
{
        struct nk_run_opts o;
        CHECK(PARSE(&o, "-v", "/srv/data:/data:ro", "-v", "cache:/cache:rw,nocopy", "-v", "/anon",
                    "--volume=/h:/h2:Z,rslave", "-v", "vol.1_x:/v:z", "img") == 0);
        CHECK(o.n_mounts == 5);
        struct nk_run_mount *m = o.mounts;
        CHECK(m[0].kind == NK_MOUNT_BIND && m[0].readonly);
        CHECK_STR(m[0].source, "/srv/data");
        CHECK_STR(m[0].target, "/data");
        CHECK(m[1].kind == NK_MOUNT_VOLUME && !m[1].readonly && m[1].nocopy);
        CHECK_STR(m[1].source, "cache");
        CHECK(m[2].kind == NK_MOUNT_VOLUME && m[2].source == NULL && !m[2].nocopy);
        CHECK_STR(m[2].target, "/anon");
        CHECK(m[3].kind == NK_MOUNT_BIND && m[3].options && streq(m[3].options[0], "rslave"));
        CHECK(m[4].kind == NK_MOUNT_VOLUME && streq(m[4].source, "vol.1_x"));
        nk_run_opts_clear(&o);

        BAD("--volume", "rel/dir:/x", "-v", "rel/dir:/x", "img");
        BAD("--volume", "../x:/x", "-v", "../x:/x", "img");
        BAD("--volume", "a:/x", "-v", "a:/x", "img"); /* Docker: at least 2 characters */
        BAD("--volume", "v1:rel", "-v", "v1:rel", "img");
        BAD("--volume", "v1:/", "-v", "v1:/", "img");
        BAD("--volume", "/a/../b", "-v", "v1:/a/../b", "img");
        BAD("--volume", "v1:/x:rx", "-v", "v1:/x:rx", "img");
        BAD("--volume", "v1:/x:ro,rw", "-v", "v1:/x:ro,rw", "img");
        BAD("--volume", "/h:/x:nocopy", "-v", "/h:/x:nocopy", "img");
        BAD("--volume", "v1:/x:rshared", "-v", "v1:/x:rshared", "img");
        BAD("--volume", "a:b:c:d", "-v", "a:b:c:d", "img");
        BAD("--volume", ":/x", "-v", ":/x", "img");
        BAD("--volume", "empty", "-v", "", "img");
        BAD("duplicate mount point", "/x", "-v", "v1:/x", "--tmpfs", "/x", "img");

        CHECK(PARSE(&o, "--mount", "type=bind,source=/srv,target=/srv,readonly", "--mount",
                    "type=volume,src=data,dst=/data,volume-nocopy", "--mount",
                    "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770", "--mount",
                    "type=volume,target=/anon,ro=false", "--mount",
                    "type=bind,src=/a,target=/b,bind-propagation=rshared,ro=true", "img") == 0);
        CHECK(o.n_mounts == 5);
        m = o.mounts;
        CHECK(m[0].kind == NK_MOUNT_BIND && m[0].readonly && streq(m[0].source, "/srv"));
        CHECK(m[1].kind == NK_MOUNT_VOLUME && m[1].nocopy && !m[1].readonly);
        CHECK(m[2].kind == NK_MOUNT_TMPFS && m[2].source == NULL);
        CHECK(m[2].options && nk_strv_contains(m[2].options, "size=67108864") &&
              nk_strv_contains(m[2].options, "mode=1770"));
        CHECK(m[3].kind == NK_MOUNT_VOLUME && m[3].source == NULL && !m[3].readonly);
        CHECK(m[4].readonly && nk_strv_contains(m[4].options, "rshared"));
        nk_run_opts_clear(&o);
        BAD("--mount", "type=nfs", "--mount", "type=nfs,target=/x", "img");
        BAD("--mount", "source=/x", "--mount", "source=/x,target=/x", "img");
        BAD("--mount", "type=bind,target=/x", "--mount", "type=bind,target=/x", "img");
        BAD("--mount", "src=rel", "--mount", "type=bind,src=rel,target=/x", "img");
        BAD("--mount", "type=volume,src=v1", "--mount", "type=volume,src=v1", "img");
        BAD("--mount", "tmpfs-size=lots", "--mount", "type=tmpfs,target=/t,tmpfs-size=lots", "img");
        BAD("--mount", "tmpfs-mode=999", "--mount", "type=tmpfs,target=/t,tmpfs-mode=999", "img");
        BAD("--mount", "src=x", "--mount", "type=tmpfs,src=x,target=/t", "img");
        BAD("--mount", "tmpfs-size=1m", "--mount", "type=volume,target=/t,tmpfs-size=1m", "img");
        BAD("--mount", "colour=red", "--mount", "type=volume,target=/t,colour=red", "img");
        BAD("--mount", "readonly=maybe", "--mount", "type=volume,target=/t,readonly=maybe", "img");
        BAD("--mount", "src=../etc", "--mount", "type=volume,src=../etc,target=/t", "img");
        BAD("--mount", "bind-propagation=up", "--mount",
            "type=bind,src=/a,target=/t,bind-propagation=up", "img");

        CHECK(PARSE(&o, "--tmpfs", "/run", "--tmpfs", "/tmp:rw,size=1g,mode=1777,exec,uid=5",
                    "img") == 0);
        CHECK(o.n_mounts == 2 && o.mounts[0].kind == NK_MOUNT_TMPFS && !o.mounts[0].options);
        CHECK(nk_strv_contains(o.mounts[1].options, "size=1073741824") &&
              nk_strv_contains(o.mounts[1].options, "mode=1777") &&
              nk_strv_contains(o.mounts[1].options, "exec") &&
              nk_strv_contains(o.mounts[1].options, "uid=5"));
        nk_run_opts_clear(&o);
        BAD("--tmpfs", "rel", "--tmpfs", "rel", "img");
        BAD("--tmpfs", "/t:size=0", "--tmpfs", "/t:size=0", "img");
        BAD("--tmpfs", "/t:mode=abc", "--tmpfs", "/t:mode=abc", "img");
        BAD("--tmpfs", "/t:uid=-1", "--tmpfs", "/t:uid=-1", "img");
        BAD("--tmpfs", "/t:bogus", "--tmpfs", "/t:bogus", "img");
        BAD("--tmpfs", "/t:ro,rw", "--tmpfs", "/t:ro,rw", "img");
}

/* ---- memory-swap, shm, ulimit, caps, security, devices, sysctl, userns --- */

static json_t *find_rlimit(json_t *rl, const char *type)
{
        size_t i;
        json_t *r;
        json_array_foreach (rl, i, r)
                if (streq(json_string_value(json_object_get(r, "type")), type))
                        return r;
        return NULL;
}

static void test_more_flags(void)
{
        struct nk_run_opts o;
        /* -1 is unlimited swap, not "not given" (the old sentinel clash) */
        CHECK(PARSE(&o, "-m", "64m", "--memory-swap", "-1", "img") == 0);
        CHECK(o.memory_swap == NK_RUN_UNLIMITED);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--memory-swap=-1", "img") == 0 && o.memory_swap == NK_RUN_UNLIMITED);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "-m", "64m", "--memory-swap", "128m", "img") == 0);
        CHECK(o.memory_swap == 128LL << 20);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "-m", "64m", "--memory-swap", "0", "img") == 0 && o.memory_swap == -1);
        nk_run_opts_clear(&o);
        BAD("--memory-swap", "lots", "--memory-swap", "lots", "img");
        BAD("--memory-swap", "-2", "--memory-swap=-2", "img");
        BAD("--memory-swap", "134217728", "--memory-swap", "128m", "img"); /* no --memory */
        BAD("--memory-swap", "33554432", "-m", "64m", "--memory-swap", "32m", "img");

        CHECK(PARSE(&o, "--shm-size", "1g", "img") == 0 && o.shm_size == 1LL << 30);
        nk_run_opts_clear(&o);
        BAD("--shm-size", "0", "--shm-size", "0", "img");
        BAD("--shm-size", "-1", "--shm-size=-1", "img");
        BAD("--shm-size", "big", "--shm-size", "big", "img");

        CHECK(PARSE(&o, "--ulimit", "nofile=1024:2048", "--ulimit", "NPROC=50", "--ulimit",
                    "memlock=-1", "--ulimit", "core=0:-1", "--ulimit", "nofile=10:20", "img") == 0);
        CHECK(json_array_size(o.rlimits) == 4);
        json_t *r = find_rlimit(o.rlimits, "RLIMIT_NOFILE");
        CHECK(json_integer_value(json_object_get(r, "soft")) == 10 &&
              json_integer_value(json_object_get(r, "hard")) == 20);
        r = find_rlimit(o.rlimits, "RLIMIT_NPROC");
        CHECK(json_integer_value(json_object_get(r, "soft")) == 50 &&
              json_integer_value(json_object_get(r, "hard")) == 50);
        r = find_rlimit(o.rlimits, "RLIMIT_MEMLOCK");
        CHECK(json_integer_value(json_object_get(r, "hard")) == -1);
        nk_run_opts_clear(&o);
        BAD("--ulimit", "nofiles=1", "--ulimit", "nofiles=1", "img");
        BAD("--ulimit", "nofile", "--ulimit", "nofile", "img");
        BAD("--ulimit", "nofile=2:1", "--ulimit", "nofile=2:1", "img");
        BAD("--ulimit", "nofile=-1:5", "--ulimit", "nofile=-1:5", "img");
        BAD("--ulimit", "nofile=x", "--ulimit", "nofile=x", "img");
        BAD("--ulimit", "nofile=1:2:3", "--ulimit", "nofile=1:2:3", "img");
        BAD("--ulimit", "nofile=-2", "--ulimit", "nofile=-2", "img");
        BAD("--ulimit", "=5", "--ulimit", "=5", "img");

        CHECK(PARSE(&o, "--cap-add", "sys_admin", "--cap-add=CAP_NET_ADMIN", "--cap-drop", "ALL",
                    "--cap-drop", "all", "--cap-add", "Sys_Admin", "img") == 0);
        CHECK(nk_strv_len(o.cap_add) == 2 && nk_strv_contains(o.cap_add, "CAP_SYS_ADMIN") &&
              nk_strv_contains(o.cap_add, "CAP_NET_ADMIN"));
        CHECK(nk_strv_len(o.cap_drop) == 1 && streq(o.cap_drop[0], "ALL"));
        nk_run_opts_clear(&o);
        BAD("--cap-add", "CAP_FLY", "--cap-add", "CAP_FLY", "img");
        BAD("--cap-drop", "chownx", "--cap-drop", "chownx", "img");
        BAD("--cap-add", "CAP_", "--cap-add", "CAP_", "img");

        /* seccomp profiles: Docker's format and OCI's */
        write_file("docker.json",
                   "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
                   " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\":"
                   " [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]}, {\"architecture\":"
                   " \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]}],"
                   " \"syscalls\": [{\"names\": [\"read\", \"write\"], \"action\":"
                   " \"SCMP_ACT_ALLOW\"}, {\"name\": \"mount\", \"action\": \"SCMP_ACT_ALLOW\","
                   " \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}, {\"names\": [\"chown\"],"
                   " \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]},"
                   " \"comment\": \"x\"}, {\"names\": [\"arch_prctl\"], \"action\":"
                   " \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"amd64\", \"x32\"]}},"
                   " {\"names\": [\"s390_pci_mmio_read\"], \"action\": \"SCMP_ACT_ALLOW\","
                   " \"includes\": {\"arches\": [\"s390x\"]}}, {\"names\": [\"ptrace\"],"
                   " \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"4.8\"}}]}");
        write_file("oci.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\":"
                               " [\"SCMP_ARCH_X86_64\"], \"syscalls\": [{\"names\": [\"swapon\"],"
                               " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}]}");
        write_file("badaction.json", "{\"defaultAction\": \"SCMP_ACT_FROWN\", \"syscalls\": []}");
        write_file("trunc.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"sysc");
        write_file("noname.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                                  "[{\"action\": \"SCMP_ACT_ALLOW\"}]}");
        char arg[400], path[360];
        snprintf(path, sizeof(path), "%s/docker.json", tmpdir);
        snprintf(arg, sizeof(arg), "seccomp=%s", path);
        CHECK(PARSE(&o, "--security-opt", arg, "--security-opt", "no-new-privileges", "img") == 0);
        CHECK(o.seccomp_profile != NULL && o.no_new_privileges);
        CHECK_STR(o.seccomp, path);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--security-opt", "seccomp=unconfined", "--security-opt",
                    "no-new-privileges:false", "img") == 0);
        CHECK(o.seccomp_profile == NULL && !o.no_new_privileges);
        CHECK_STR(o.seccomp, "unconfined");
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--security-opt", "no-new-privileges=true", "img") == 0 &&
              o.no_new_privileges);
        nk_run_opts_clear(&o);
        const char *bad_files[] = {"badaction.json", "trunc.json", "noname.json", "missing.json"};
        for (size_t i = 0; i < ARRAY_SIZE(bad_files); i++) {
                snprintf(path, sizeof(path), "%s/%s", tmpdir, bad_files[i]);
                snprintf(arg, sizeof(arg), "seccomp=%s", path);
                BAD("--security-opt", path, "--security-opt", arg, "img");
        }
        BAD("--security-opt", "apparmor=x", "--security-opt", "apparmor=x", "img");
        BAD("--security-opt", "no-new-privileges:maybe", "--security-opt",
            "no-new-privileges:maybe", "img");
        BAD("--security-opt", "seccomp=", "--security-opt", "seccomp=", "img");

        /* devices: the host node stat'ed (/dev/null is char 1:3) */
        CHECK(PARSE(&o, "--device", "/dev/null", "--device", "/dev/zero:/dev/z0:r", "--device",
                    "/dev/full:rw", "img") == 0);
        CHECK(json_array_size(o.device_nodes) == 3 && nk_strv_len(o.devices) == 3);
        json_t *d = json_array_get(o.device_nodes, 0);
        CHECK_STR(json_string_value(json_object_get(d, "path")), "/dev/null");
        CHECK_STR(json_string_value(json_object_get(d, "type")), "c");
        CHECK(json_integer_value(json_object_get(d, "major")) == 1 &&
              json_integer_value(json_object_get(d, "minor")) == 3);
        CHECK_STR(json_string_value(json_object_get(d, "access")), "rwm");
        d = json_array_get(o.device_nodes, 1);
        CHECK_STR(json_string_value(json_object_get(d, "path")), "/dev/z0");
        CHECK_STR(json_string_value(json_object_get(d, "access")), "r");
        CHECK(json_integer_value(json_object_get(d, "minor")) == 5);
        d = json_array_get(o.device_nodes, 2);
        CHECK_STR(json_string_value(json_object_get(d, "path")), "/dev/full");
        CHECK_STR(json_string_value(json_object_get(d, "access")), "rw");
        nk_run_opts_clear(&o);
        BAD("--device", "/dev/nope-nook", "--device", "/dev/nope-nook", "img");
        BAD("--device", "/etc/passwd", "--device", "/etc/passwd", "img");
        BAD("--device", "/dev", "--device", "/dev", "img");
        BAD("--device", "dev/null", "--device", "dev/null", "img");
        BAD("--device", "/dev/null:rel", "--device", "/dev/null:rel", "img");
        BAD("--device", "/dev/null:/dev/n:rx", "--device", "/dev/null:/dev/n:rx", "img");
        BAD("--device", "/dev/null:/dev/n:rr", "--device", "/dev/null:/dev/n:rr", "img");

        CHECK(PARSE(&o, "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=100000",
                    "--sysctl", "fs.mqueue.msg_max=20", "--sysctl", "kernel.sem=250 32000 32 128",
                    "--sysctl", "net/ipv4/ping_group_range=0 0", "img") == 0);
        CHECK(json_object_size(o.sysctls) == 5);
        CHECK_STR(json_string_value(json_object_get(o.sysctls, "net.ipv4.ping_group_range")),
                  "0 0");
        nk_run_opts_clear(&o);
        BAD("--sysctl", "kernel.hostname=x", "--sysctl", "kernel.hostname=x", "img");
        BAD("--sysctl", "vm.swappiness=1", "--sysctl", "vm.swappiness=1", "img");
        BAD("--sysctl", "kernel.shmmaxx=1", "--sysctl", "kernel.shmmaxx=1", "img");
        BAD("--sysctl", "net.", "--sysctl", "net.=1", "img");
        BAD("--sysctl", "net.ipv4..x", "--sysctl", "net.ipv4..x=1", "img");
        BAD("--sysctl", "net.core.somaxconn", "--sysctl", "net.core.somaxconn", "img");

        CHECK(PARSE(&o, "--uidmap", "0:100000:65536", "img") == 0);
        CHECK(json_array_size(o.uid_mappings) == 1 && json_array_size(o.gid_mappings) == 1);
        CHECK(json_integer_value(json_object_get(json_array_get(o.gid_mappings, 0), "hostID")) ==
              100000);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--uidmap", "0:100000:1000", "--uidmap", "1000:1000:1", "--gidmap",
                    "0:200000:65536", "--userns", "auto", "img") == 0);
        CHECK(json_array_size(o.uid_mappings) == 2 && json_array_size(o.gid_mappings) == 1);
        CHECK_STR(o.userns, "auto");
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--userns=host", "img") == 0 && streq(o.userns, "host"));
        nk_run_opts_clear(&o);
        BAD("--userns", "private", "--userns", "private", "img");
        BAD("--uidmap", "0:1", "--uidmap", "0:1", "img");
        BAD("--uidmap", "0:1:0", "--uidmap", "0:1:0", "img");
        BAD("--uidmap", "0:-1:5", "--uidmap", "0:-1:5", "img");
        BAD("--uidmap", "4294967295:0:2", "--uidmap", "4294967295:0:2", "img");
        BAD("--uidmap", "10:5000:10", "--uidmap", "0:100:20", "--uidmap", "10:5000:10", "img");
        BAD("--gidmap", "0:1:1:1", "--gidmap", "0:1:1:1", "img");
        BAD("--userns=host", "--uidmap", "--userns=host", "--uidmap", "0:1:1", "img");
        BAD("--gidmap", "--uidmap", "--gidmap", "0:1:1", "img");
        BAD("--privileged", "user namespace", "--privileged", "--uidmap", "0:1:1", "img");
}

/* ---- the spec ----------------------------------------------------------- */

static int rootfs_fd = -1;
static char rootfs[300];

static json_t *build(struct nk_run_opts *o, const char *image_cfg, char *errbuf, size_t n)
{
        _cleanup_jansson_ json_t *cfg = json_loads(image_cfg, 0, NULL);
        json_t *spec = NULL;
        nk_error *err = NULL;
        if (!o->hostname)
                o->hostname = strdup("0123456789ab");
        if (errbuf)
                errbuf[0] = '\0';
        if (nk_run_spec_build(o, cfg, rootfs, rootfs_fd, NULL, 0, &spec, &err) < 0) {
                char *t = nk_error_text(err);
                if (errbuf)
                        snprintf(errbuf, n, "%s", t);
                free(t);
                nk_error_free(err);
                return NULL;
        }
        return spec;
}

/* The spec for a command line and image config, checked to be one the
 * runtime's own parser takes. */
static json_t *spec_for(const char *image_cfg, char *errbuf, size_t n, int argc, char **argv)
{
        struct nk_run_opts o;
        if (parse_v(argc, argv, &o) < 0) {
                fprintf(stderr, "parse: %s\n", last_err);
                return NULL;
        }
        json_t *spec = build(&o, image_cfg, errbuf, n);
        nk_run_opts_clear(&o);
        if (spec) {
                _cleanup_free_ char *text = json_dumps(spec, 0);
                struct nk_spec *s = NULL;
                nk_error *err = NULL;
                int r = nk_spec_parse(text, strlen(text), "/b/config.json", &s, &err);
                CHECK(r == 0);
                if (r < 0) {
                        char *t = nk_error_text(err);
                        fprintf(stderr, "runtime refused the spec: %s\n", t);
                        free(t);
                        nk_error_free(err);
                } else {
                        nk_spec_free(s);
                }
        }
        return spec;
}
#define SPEC(cfg, errbuf, ...)                                                                     \
        spec_for(cfg, errbuf, sizeof(errbuf), ARGC(((char *[]){"run", __VA_ARGS__, NULL})),        \
                 ARGV(__VA_ARGS__))

static char *args_str(json_t *spec)
{
        static char buf[512];
        size_t i;
        json_t *a;
        buf[0] = '\0';
        json_array_foreach (json_object_get(json_object_get(spec, "process"), "args"), i, a) {
                if (i)
                        strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
                strncat(buf, json_string_value(a), sizeof(buf) - strlen(buf) - 1);
        }
        return buf;
}

static void test_args(void)
{
        char e[512];
        const char *img = "{\"config\": {\"Entrypoint\": [\"/ep\", \"-x\"], \"Cmd\": [\"a\", "
                          "\"b\"]}}";
        json_t *s;
        CHECK_STR(args_str(s = SPEC(img, e, "img")), "/ep -x a b");
        json_decref(s);
        CHECK_STR(args_str(s = SPEC(img, e, "img", "c")), "/ep -x c");
        json_decref(s);
        CHECK_STR(args_str(s = SPEC(img, e, "--entrypoint", "/new", "img")), "/new");
        json_decref(s);
        CHECK_STR(args_str(s = SPEC(img, e, "--entrypoint", "/new", "img", "c", "d")), "/new c d");
        json_decref(s);
        CHECK_STR(args_str(s = SPEC(img, e, "--entrypoint=", "img", "c")), "c");
        json_decref(s);
        CHECK((s = SPEC(img, e, "--entrypoint=", "img")) == NULL);
        CHECK(strstr(e, "no command") != NULL);
        const char *cmd_only = "{\"config\": {\"Cmd\": [\"sh\"], \"Entrypoint\": null}}";
        CHECK_STR(args_str(s = SPEC(cmd_only, e, "img")), "sh");
        json_decref(s);
        CHECK_STR(args_str(s = SPEC(cmd_only, e, "img", "ls", "-l")), "ls -l");
        json_decref(s);
        CHECK(SPEC("{}", e, "img") == NULL);
        CHECK(strstr(e, "no command") != NULL);
        CHECK(SPEC("{\"config\": {\"Cmd\": \"sh\"}}", e, "img") == NULL);
        CHECK(strstr(e, "Cmd") != NULL);
        CHECK(SPEC("{\"config\": {\"Cmd\": [\"sh\", 1]}}", e, "img") == NULL);
        CHECK(strstr(e, "Cmd[1]") != NULL);
}

static const char *env_at(json_t *spec, size_t i)
{
        return json_string_value(
                json_array_get(json_object_get(json_object_get(spec, "process"), "env"), i));
}
static size_t env_len(json_t *spec)
{
        return json_array_size(json_object_get(json_object_get(spec, "process"), "env"));
}

static void test_env_cwd(void)
{
        char e[512];
        const char *img = "{\"config\": {\"Cmd\": [\"sh\"], \"Env\": [\"PATH=/img/bin\", "
                          "\"A=img\", \"B=img\", \"noequals\"], \"WorkingDir\": \"/app\"}}";
        json_t *s = SPEC(img, e, "-t", "-e", "A=cli", "-e", "C=3", "-e", "B", "img");
        CHECK(s != NULL);
        CHECK(env_len(s) == 5);
        CHECK_STR(env_at(s, 0), "PATH=/img/bin"); /* the image's PATH is kept */
        CHECK_STR(env_at(s, 1), "HOSTNAME=0123456789ab");
        CHECK_STR(env_at(s, 2), "TERM=xterm");
        CHECK_STR(env_at(s, 3), "A=cli"); /* -e wins, in the image's place */
        CHECK_STR(env_at(s, 4), "C=3");   /* B: unset (bare and unresolved) */
        json_t *p = json_object_get(s, "process");
        CHECK(json_is_true(json_object_get(p, "terminal")));
        CHECK_STR(json_string_value(json_object_get(p, "cwd")), "/app");
        json_decref(s);

        s = SPEC(img, e, "-e", "PATH=/x", "-w", "/srv", "img");
        CHECK_STR(env_at(s, 0), "PATH=/x");
        CHECK(env_len(s) == 4); /* no TERM without -t */
        p = json_object_get(s, "process");
        CHECK(json_is_false(json_object_get(p, "terminal")));
        CHECK_STR(json_string_value(json_object_get(p, "cwd")), "/srv");
        json_decref(s);

        s = SPEC("{\"config\": {\"Cmd\": [\"sh\"], \"WorkingDir\": \"rel\"}}", e, "img");
        CHECK_STR(env_at(s, 0),
                  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        CHECK_STR(json_string_value(json_object_get(json_object_get(s, "process"), "cwd")), "/rel");
        json_decref(s);
        s = SPEC("{\"config\": {\"Cmd\": [\"sh\"]}}", e, "img");
        CHECK_STR(json_string_value(json_object_get(json_object_get(s, "process"), "cwd")), "/");
        json_decref(s);
}

/* uid, gid, supplementary gids as "uid:gid:g1,g2", or the error text */
static char *user_of(const char *user_flag, const char *image_user)
{
        static char out[600];
        char cfg[256], e[512];
        snprintf(cfg, sizeof(cfg), "{\"config\": {\"Cmd\": [\"sh\"], \"User\": \"%s\"}}",
                 image_user);
        json_t *s = user_flag ? SPEC(cfg, e, "-u", (char *)user_flag, "img") : SPEC(cfg, e, "img");
        if (!s) {
                snprintf(out, sizeof(out), "error: %s", e);
                return out;
        }
        json_t *u = json_object_get(json_object_get(s, "process"), "user");
        int n = snprintf(out, sizeof(out),
                         "%lld:%lld:", (long long)json_integer_value(json_object_get(u, "uid")),
                         (long long)json_integer_value(json_object_get(u, "gid")));
        size_t i;
        json_t *g;
        json_array_foreach (json_object_get(u, "additionalGids"), i, g)
                n += snprintf(out + n, sizeof(out) - (size_t)n, "%s%lld", i ? "," : "",
                              (long long)json_integer_value(g));
        json_decref(s);
        return out;
}

static void rootfs_file(const char *rel, const char *text)
{
        char p[512];
        snprintf(p, sizeof(p), "rootfs/%s", rel);
        write_file(p, text);
}

static void rootfs_link(const char *rel, const char *target)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", rootfs, rel);
        unlink(p);
        CHECK(symlink(target, p) == 0);
}

static bool starts(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_users(void)
{
        rootfs_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                  "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                  "trunc:x:77\n"
                                  "neg:x:-1:0::/:/bin/sh\n"
                                  "bob:x:1001:1001\n"
                                  "carol:x:1002:1002:::\n"
                                  "cut:x:1003:10");
        rootfs_file("etc/group", "wheel:x:10:alice,bob\n"
                                 "staff:x:50:carol,alice\n"
                                 "alice:x:1000:\n"
                                 "broken:x\n"
                                 "neg:x:-5:alice\n"
                                 "last:x:60:alice");
        CHECK_STR(user_of("alice", ""), "1000:1000:10,50,60");
        CHECK_STR(user_of("alice:staff", ""), "1000:50:");
        CHECK_STR(user_of("alice:77", ""), "1000:77:");
        CHECK_STR(user_of("1000", ""), "1000:1000:10,50,60"); /* a known uid: its groups */
        CHECK_STR(user_of("4242", ""), "4242:0:");
        CHECK_STR(user_of("4242:4343", ""), "4242:4343:");
        CHECK_STR(user_of("bob", ""), "1001:1001:10");
        CHECK_STR(user_of("carol", ""), "1002:1002:50");
        CHECK_STR(user_of("cut", ""), "1003:10:");                /* last line, no newline */
        CHECK_STR(user_of(NULL, "bob"), "1001:1001:10");          /* the image's User */
        CHECK_STR(user_of("alice", "bob"), "1000:1000:10,50,60"); /* -u wins */
        CHECK_STR(user_of(NULL, ""), "0:0:");
        CHECK(starts(user_of("trunc", ""), "error: ") && strstr(user_of("trunc", ""), "trunc"));
        CHECK(starts(user_of("neg", ""), "error: ") && strstr(user_of("neg", ""), "neg"));
        CHECK(starts(user_of("nobody", ""), "error: ") && strstr(user_of("nobody", ""), "nobody"));
        CHECK(starts(user_of("alice:nogroup", ""), "error: ") &&
              strstr(user_of("alice:nogroup", ""), "nogroup"));
        CHECK(starts(user_of("alice:broken", ""), "error: "));
        CHECK(starts(user_of("4294967295", ""), "error: ")); /* -1 as a uid */
        CHECK(starts(user_of("2147483648", ""), "error: "));
        CHECK(starts(user_of("1:4294967295", ""), "error: "));

        /* hostile images: links that would leave the rootfs stay in it */
        char outer[512];
        snprintf(outer, sizeof(outer), "%s/passwd.outer", tmpdir);
        write_file("passwd.outer", "mallory:x:666:666::/:/bin/sh\n");
        rootfs_file("passwd.outer", "mallory:x:1234:1234::/:/bin/sh\n");
        rootfs_link("etc/passwd", "../../passwd.outer");
        CHECK_STR(user_of("mallory", ""), "1234:1234:");
        rootfs_link("etc/passwd", outer); /* absolute: the rootfs' own /tmp/... */
        CHECK(starts(user_of("mallory", ""), "error: "));
        /* the host's /etc/shadow has a "daemon" line (uid field = a date) */
        rootfs_link("etc/passwd", "/etc/shadow");
        CHECK(starts(user_of("daemon", ""), "error: unable to find user daemon"));
        CHECK(starts(user_of("root", ""), "error: "));
        CHECK_STR(user_of("0", ""), "0:0:"); /* numbers need no passwd */
        rootfs_link("etc/passwd", "../../..");
        CHECK(strstr(user_of("0", ""), "not a regular file") != NULL);
        rootfs_link("etc/passwd", "/proc/self/root/etc/passwd");
        CHECK(starts(user_of("root", ""), "error: "));
        rootfs_link("etc/group", "../../../../etc/group");
        char p[512];
        snprintf(p, sizeof(p), "%s/etc/passwd", rootfs);
        unlink(p);
        CHECK(mkfifo(p, 0600) == 0); /* must not hang */
        CHECK(strstr(user_of("0", ""), "not a regular file") != NULL);
        unlink(p);
        rootfs_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        /* group links to the rootfs' own /etc/group, itself: a loop, not
         * the host's group file */
        CHECK(strstr(user_of("root", ""), "/etc/group") != NULL);
        CHECK(starts(user_of("root", ""), "error: "));
        rootfs_link("etc/group", "group.real");
        rootfs_file("etc/group.real", "wheel:x:10:root\n");
        CHECK_STR(user_of("root", ""), "0:0:10");
}

static bool has_str(const json_t *arr, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach (arr, i, v)
                if (streq(json_string_value(v), s))
                        return true;
        return false;
}

static json_t *mount_at(json_t *spec, const char *dest)
{
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(spec, "mounts"), i, m) {
                if (streq(json_string_value(json_object_get(m, "destination")), dest))
                        return m;
        }
        return NULL;
}

static void test_spec_rest(void)
{
        char e[512];
        const char *img = "{\"config\": {\"Cmd\": [\"sh\"]}}";
        json_t *s = SPEC(img, e, "-m", "512m", "--cpus", "1.5", "--cpu-shares", "512",
                         "--cpuset-cpus", "0-1", "--pids-limit", "100", "--read-only", "-l",
                         "com.example=1", "--hostname", "web", "img");
        CHECK(s != NULL);
        json_t *res = json_object_get(json_object_get(s, "linux"), "resources");
        json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu");
        CHECK(json_integer_value(json_object_get(mem, "limit")) == 512LL << 20);
        CHECK(json_integer_value(json_object_get(mem, "swap")) == 1024LL << 20);
        CHECK(json_integer_value(json_object_get(cpu, "quota")) == 150000);
        CHECK(json_integer_value(json_object_get(cpu, "period")) == 100000);
        CHECK(json_integer_value(json_object_get(cpu, "shares")) == 512);
        CHECK_STR(json_string_value(json_object_get(cpu, "cpus")), "0-1");
        CHECK(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")) == 100);
        json_t *root = json_object_get(s, "root");
        CHECK(json_is_true(json_object_get(root, "readonly")));
        CHECK_STR(json_string_value(json_object_get(root, "path")), rootfs);
        CHECK_STR(json_string_value(json_object_get(s, "hostname")), "web");
        CHECK_STR(env_at(s, 1), "HOSTNAME=web");
        CHECK_STR(json_string_value(
                          json_object_get(json_object_get(s, "annotations"), "com.example")),
                  "1");
        CHECK(json_object_get(json_object_get(s, "linux"), "cgroupsPath") == NULL);
        json_decref(s);

        /* default: Docker's 14 capabilities, seccomp, masked paths, ro /sys */
        s = SPEC(img, e, "img");
        json_t *p = json_object_get(s, "process"), *l = json_object_get(s, "linux");
        json_t *caps = json_object_get(p, "capabilities");
        CHECK(json_array_size(json_object_get(caps, "bounding")) == 14);
        CHECK(has_str(json_object_get(caps, "effective"), "CAP_NET_RAW"));
        CHECK(!has_str(json_object_get(caps, "bounding"), "CAP_SYS_ADMIN"));
        CHECK(json_object_get(caps, "ambient") == NULL);
        CHECK(json_is_false(json_object_get(p, "noNewPrivileges")));
        CHECK(json_is_false(json_object_get(json_object_get(s, "root"), "readonly")));
        CHECK(json_object_get(l, "seccomp") != NULL);
        CHECK(json_array_size(json_object_get(l, "maskedPaths")) > 0);
        CHECK(has_str(json_object_get(mount_at(s, "/sys"), "options"), "ro"));
        CHECK(json_object_get(json_object_get(l, "resources"), "memory") == NULL);
        CHECK(json_object_get(s, "annotations") == NULL);
        json_decref(s);

        s = SPEC(img, e, "--privileged", "img");
        p = json_object_get(s, "process");
        l = json_object_get(s, "linux");
        caps = json_object_get(p, "capabilities");
        CHECK(json_array_size(json_object_get(caps, "bounding")) == (size_t)nk_cap_last_cap() + 1);
        CHECK(has_str(json_object_get(caps, "permitted"), "CAP_SYS_ADMIN"));
        CHECK(json_object_get(l, "seccomp") == NULL);
        CHECK(json_object_get(l, "maskedPaths") == NULL);
        CHECK(json_object_get(l, "readonlyPaths") == NULL);
        CHECK(!has_str(json_object_get(mount_at(s, "/sys"), "options"), "ro"));
        json_t *dev =
                json_array_get(json_object_get(json_object_get(l, "resources"), "devices"), 0);
        CHECK(json_is_true(json_object_get(dev, "allow")));
        json_decref(s);

        /* no hostname: the caller's job, refused rather than guessed */
        struct nk_run_opts o;
        CHECK(PARSE(&o, "img") == 0);
        _cleanup_jansson_ json_t *cfg = json_loads(img, 0, NULL);
        json_t *out = NULL;
        nk_error *err = NULL;
        CHECK(nk_run_spec_build(&o, cfg, rootfs, rootfs_fd, NULL, 0, &out, &err) < 0);
        CHECK(out == NULL && err && strstr(err->msg, "hostname"));
        nk_error_free(err);
        err = NULL;

        /* mounts: one on /dev/shm takes the default's place */
        o.hostname = strdup("h");
        char *tmpfs_opts[] = {"size=1m", NULL};
        struct nk_run_mount m[] = {
                {NK_MOUNT_VOLUME, "/var/lib/nook/volumes/v1", "/dev/shm", false, NULL},
                {NK_MOUNT_TMPFS, NULL, "/scratch", true, tmpfs_opts},
                {NK_MOUNT_BIND, "/srv/data", "/data", true, NULL},
        };
        CHECK(nk_run_spec_build(&o, cfg, rootfs, rootfs_fd, m, 3, &out, &err) == 0);
        json_t *shm = mount_at(out, "/dev/shm"), *scr = mount_at(out, "/scratch");
        CHECK_STR(json_string_value(json_object_get(shm, "source")), "/var/lib/nook/volumes/v1");
        CHECK(has_str(json_object_get(shm, "options"), "rbind"));
        CHECK(has_str(json_object_get(scr, "options"), "size=1m"));
        CHECK(has_str(json_object_get(scr, "options"), "ro"));
        CHECK(has_str(json_object_get(mount_at(out, "/data"), "options"), "ro"));
        size_t n_shm = 0, i;
        json_t *mm;
        json_array_foreach (json_object_get(out, "mounts"), i, mm)
                n_shm += streq(json_string_value(json_object_get(mm, "destination")), "/dev/shm");
        CHECK(n_shm == 1);
        json_decref(out);
        out = NULL;
        struct nk_run_mount rel = {NK_MOUNT_BIND, "/x", "rel", false, NULL};
        CHECK(nk_run_spec_build(&o, cfg, rootfs, rootfs_fd, &rel, 1, &out, &err) < 0);
        CHECK(out == NULL && err && strstr(err->msg, "rel"));
        nk_error_free(err);
        nk_run_opts_clear(&o);
}

static json_t *device_at(json_t *spec, const char *path)
{
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(json_object_get(spec, "linux"), "devices"), i, d)
                if (streq(json_string_value(json_object_get(d, "path")), path))
                        return d;
        return NULL;
}

static bool has_syscall(json_t *spec, const char *name)
{
        size_t i;
        json_t *r;
        json_array_foreach (
                json_object_get(json_object_get(json_object_get(spec, "linux"), "seccomp"),
                                "syscalls"),
                i, r)
                if (has_str(json_object_get(r, "names"), name))
                        return true;
        return false;
}

static void test_spec_flags(void)
{
        char e[512];
        const char *img = "{\"config\": {\"Cmd\": [\"sh\"]}}";
        /* memory-swap: -1 unlimited (OCI -1), a value as given, none = twice memory */
        json_t *s = SPEC(img, e, "-m", "64m", "--memory-swap", "-1", "img");
        json_t *mem = json_object_get(json_object_get(json_object_get(s, "linux"), "resources"),
                                      "memory");
        CHECK(json_integer_value(json_object_get(mem, "swap")) == -1);
        json_decref(s);
        s = SPEC(img, e, "-m", "64m", "--memory-swap", "100m", "img");
        mem = json_object_get(json_object_get(json_object_get(s, "linux"), "resources"), "memory");
        CHECK(json_integer_value(json_object_get(mem, "swap")) == 100LL << 20);
        json_decref(s);

        /* shm-size: the /dev/shm tmpfs gets it, one size= only */
        s = SPEC(img, e, "--shm-size", "256m", "img");
        json_t *shm = mount_at(s, "/dev/shm");
        CHECK(has_str(json_object_get(shm, "options"), "size=268435456"));
        CHECK(!has_str(json_object_get(shm, "options"), "size=65536k"));
        json_decref(s);

        /* ulimits, -1 unlimited accepted by the runtime's parser (spec_for) */
        s = SPEC(img, e, "--ulimit", "nofile=100:200", "--ulimit", "memlock=-1", "img");
        json_t *rl = json_object_get(json_object_get(s, "process"), "rlimits");
        CHECK(json_array_size(rl) == 2);
        CHECK(json_integer_value(json_object_get(find_rlimit(rl, "RLIMIT_MEMLOCK"), "soft")) == -1);
        json_decref(s);

        /* caps: drop ALL then add one; add ALL */
        s = SPEC(img, e, "--cap-drop", "ALL", "--cap-add", "net_admin", "img");
        json_t *caps = json_object_get(json_object_get(s, "process"), "capabilities");
        CHECK(json_array_size(json_object_get(caps, "bounding")) == 1 &&
              has_str(json_object_get(caps, "bounding"), "CAP_NET_ADMIN"));
        json_decref(s);
        s = SPEC(img, e, "--cap-add", "ALL", "--cap-drop", "mknod", "img");
        caps = json_object_get(json_object_get(s, "process"), "capabilities");
        /* Docker: drops first, then adds: ALL wins */
        CHECK(json_array_size(json_object_get(caps, "bounding")) == (size_t)nk_cap_last_cap() + 1);
        json_decref(s);

        /* seccomp FILE resolved for the caps: mount only with CAP_SYS_ADMIN,
         * chown only without; no-new-privileges */
        char arg[400];
        snprintf(arg, sizeof(arg), "seccomp=%s/docker.json", tmpdir);
        s = SPEC(img, e, "--security-opt", arg, "--security-opt", "no-new-privileges", "img");
        json_t *sc = json_object_get(json_object_get(s, "linux"), "seccomp");
        CHECK_STR(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
        CHECK(has_syscall(s, "read") && has_syscall(s, "chown") && !has_syscall(s, "mount"));
        CHECK(has_syscall(s, "ptrace") && !has_syscall(s, "s390_pci_mmio_read"));
#ifdef __x86_64__
        CHECK(has_syscall(s, "arch_prctl")); /* Docker's Go arch name, amd64 */
        CHECK(has_str(json_object_get(sc, "architectures"), "SCMP_ARCH_X86_64"));
        CHECK(has_str(json_object_get(sc, "architectures"), "SCMP_ARCH_X32"));
        CHECK(!has_str(json_object_get(sc, "architectures"), "SCMP_ARCH_ARM"));
#endif
        CHECK(json_is_true(json_object_get(json_object_get(s, "process"), "noNewPrivileges")));
        json_decref(s);
        s = SPEC(img, e, "--security-opt", arg, "--cap-add", "SYS_ADMIN", "img");
        CHECK(has_syscall(s, "mount") && !has_syscall(s, "chown"));
        json_decref(s);
        snprintf(arg, sizeof(arg), "seccomp=%s/oci.json", tmpdir);
        s = SPEC(img, e, "--security-opt", arg, "img");
        sc = json_object_get(json_object_get(s, "linux"), "seccomp");
        CHECK_STR(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ALLOW");
        CHECK(has_syscall(s, "swapon"));
        json_decref(s);
        s = SPEC(img, e, "--security-opt", "seccomp=unconfined", "img");
        CHECK(json_object_get(json_object_get(s, "linux"), "seccomp") == NULL);
        json_decref(s);

        /* devices: node + cgroup allow rule after the default deny */
        s = SPEC(img, e, "--device", "/dev/zero:/dev/z0:rw", "img");
        json_t *d = device_at(s, "/dev/z0");
        CHECK(d != NULL);
        CHECK_STR(json_string_value(json_object_get(d, "type")), "c");
        CHECK(json_integer_value(json_object_get(d, "major")) == 1 &&
              json_integer_value(json_object_get(d, "minor")) == 5);
        CHECK(json_object_get(d, "access") == NULL && json_object_get(d, "host") == NULL);
        json_t *rules = json_object_get(json_object_get(json_object_get(s, "linux"), "resources"),
                                        "devices");
        json_t *last = json_array_get(rules, json_array_size(rules) - 1);
        CHECK(json_is_true(json_object_get(last, "allow")));
        CHECK(json_integer_value(json_object_get(last, "major")) == 1 &&
              json_integer_value(json_object_get(last, "minor")) == 5);
        CHECK_STR(json_string_value(json_object_get(last, "access")), "rw");
        json_decref(s);

        /* sysctls, user namespaces */
        s = SPEC(img, e, "--sysctl", "net.ipv4.ip_forward=1", "--uidmap", "0:100000:65536", "img");
        json_t *l = json_object_get(s, "linux");
        CHECK_STR(json_string_value(
                          json_object_get(json_object_get(l, "sysctl"), "net.ipv4.ip_forward")),
                  "1");
        CHECK(json_array_size(json_object_get(l, "uidMappings")) == 1 &&
              json_array_size(json_object_get(l, "gidMappings")) == 1);
        size_t i, n_user = 0;
        json_t *ns;
        json_array_foreach (json_object_get(l, "namespaces"), i, ns)
                n_user += streq(json_string_value(json_object_get(ns, "type")), "user");
        CHECK(n_user == 1);
        json_decref(s);
        s = SPEC(img, e, "--userns", "auto", "img");
        CHECK(s == NULL && strstr(e, "--userns=auto"));
        s = SPEC(img, e, "--userns", "host", "img");
        CHECK(s && !json_object_get(json_object_get(s, "linux"), "uidMappings"));
        json_decref(s);
}

static void test_rate_flags(void)
{
        struct nk_run_opts o;
        CHECK(PARSE(&o, "--egress-rate", "10mbit", "--ingress-rate", "500kbps", "img") == 0);
        CHECK(o.egress_rate == 10000000 && o.ingress_rate == 4000000);
        nk_run_opts_clear(&o);
        CHECK(PARSE(&o, "--egress-rate", "none", "img") == 0);
        CHECK(o.egress_rate == 0 && o.ingress_rate == 0);
        nk_run_opts_clear(&o);
        BAD("--egress-rate", "\"10mbits\"", "--egress-rate", "10mbits", "img");
        CHECK(strstr(last_err, "unknown unit `mbits`") != NULL);
        BAD("--ingress-rate", "\"-1\"", "--ingress-rate", "-1", "img");
        BAD("--ingress-rate", "\"2tbit\"", "--ingress-rate", "2tbit", "img");
        CHECK(strstr(last_err, "above the largest, 1tbit") != NULL);
        BAD("--egress-rate", "--network host", "--network", "host", "--egress-rate", "1mbit",
            "img");
        CHECK(strstr(last_err, "conflicting options") != NULL);
}

int main(void)
{
        unit_require_syscall(SYS_openat2, "openat2"); /* the rootfs lookups */
        if (!mkdtemp(tmpdir))
                return 1;
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpdir);
        char etc[320];
        snprintf(etc, sizeof(etc), "%s/etc", rootfs);
        nk_error *err = NULL;
        CHECK(nk_mkdir_p(etc, 0755, &err) == 0);
        rootfs_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(rootfs_fd >= 0);

        test_defaults_and_bools();
        test_name_env_user();
        test_engine_flags();
        test_resources();
        test_args();
        test_env_cwd();
        test_users();
        test_spec_rest();
        test_mount_flags();
        test_more_flags();
        test_spec_flags();
        test_rate_flags();

        close(rootfs_fd);
        CHECK(nk_rm_rf(tmpdir, &err) == 0);
        return UNIT_END();
}
