/* config.json parsing and validation: a full config read into the right
 * struct values, mount options, the default spec, and a table of bad inputs
 * each with the exact one-line error it must give. */
#include "runtime/container.h"
#include "runtime/spec.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <linux/ioprio.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>

static const char full_config[] =
        "{\n"
        "  \"ociVersion\": \"1.2.0\",\n"
        "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
        "  \"hostname\": \"box\", \"domainname\": \"example.org\",\n"
        "  \"annotations\": {\"org.example.key\": \"value\"},\n"
        "  \"someFutureField\": {\"ignored\": [1, 2]},\n"
        "  \"process\": {\n"
        "    \"terminal\": true, \"consoleSize\": {\"height\": 40, \"width\": 120},\n"
        "    \"user\": {\"uid\": 1000, \"gid\": 100, \"umask\": 18, \"additionalGids\": [5, 6]},\n"
        "    \"args\": [\"sh\", \"-c\", \"echo hi\"],\n"
        "    \"env\": [\"PATH=/bin\", \"NOEQUALS\"],\n"
        "    \"cwd\": \"/home\",\n"
        "    \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_CHOWN\"],\n"
        "                     \"effective\": [\"CAP_KILL\"], \"inheritable\": null,\n"
        "                     \"permitted\": [\"CAP_SYS_ADMIN\"], \"ambient\": []},\n"
        "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 4096},\n"
        "                {\"type\": \"RLIMIT_CORE\", \"soft\": 18446744073709551615,\n"
        "                 \"hard\": 18446744073709551615}],\n"
        "    \"noNewPrivileges\": true, \"oomScoreAdj\": -500,\n"
        "    \"apparmorProfile\": \"aa\", \"selinuxLabel\": \"se\",\n"
        "    \"ioPriority\": {\"class\": \"IOPRIO_CLASS_BE\", \"priority\": 4},\n"
        "    \"scheduler\": {\"policy\": \"SCHED_FIFO\", \"priority\": 10,\n"
        "                  \"flags\": [\"SCHED_FLAG_RESET_ON_FORK\"]},\n"
        "    \"execCPUAffinity\": {\"initial\": \"0-1,3\", \"final\": \"2\"}\n"
        "  },\n"
        "  \"mounts\": [\n"
        "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
        "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
        "     \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
        "    {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv/data\",\n"
        "     \"options\": [\"rbind\", \"rslave\", \"rro\", \"nosymfollow\"],\n"
        "     \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}],\n"
        "     \"gidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]}\n"
        "  ],\n"
        "  \"hooks\": {\n"
        "    \"prestart\": [{\"path\": \"/bin/pre\", \"args\": [\"pre\", \"x\"], \"timeout\": "
        "5}],\n"
        "    \"poststop\": [{\"path\": \"/bin/a\"}, {\"path\": \"/bin/b\", \"env\": [\"A=1\"]}],\n"
        "    \"prestop\": [{\"path\": \"unknown hook kinds are ignored\"}]\n"
        "  },\n"
        "  \"linux\": {\n"
        "    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
        "\"/run/netns/x\"},\n"
        "                   {\"type\": \"mount\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"},\n"
        "                   {\"type\": \"user\"}, {\"type\": \"cgroup\", \"path\": \"\"},\n"
        "                   {\"type\": \"time\"}],\n"
        "    \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 1},\n"
        "                    {\"containerID\": 1, \"hostID\": 100000, \"size\": 65535}],\n"
        "    \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 65536}],\n"
        "    \"timeOffsets\": {\"monotonic\": {\"secs\": -3600, \"nanosecs\": 5},\n"
        "                    \"boottime\": {\"secs\": 86400}},\n"
        "    \"devices\": [{\"type\": \"c\", \"path\": \"/dev/fuse\", \"major\": 10, \"minor\": "
        "229,\n"
        "                 \"fileMode\": 438, \"uid\": 0, \"gid\": 0},\n"
        "                {\"type\": \"p\", \"path\": \"/dev/fifo\", \"fileMode\": 4516}],\n"
        "    \"cgroupsPath\": \"/nook/test\",\n"
        "    \"resources\": {\"memory\": {\"limit\": 1048576}},\n"
        "    \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\"},\n"
        "    \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"kernel.shmmax\": \"100\",\n"
        "               \"fs.mqueue.msg_max\": \"20\", \"kernel/domainname\": \"x\"},\n"
        "    \"rootfsPropagation\": \"rslave\",\n"
        "    \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\", "
        "\"/proc/bus\"],\n"
        "    \"mountLabel\": \"ml\",\n"
        "    \"personality\": {\"domain\": \"LINUX32\", \"flags\": []}\n"
        "  }\n"
        "}\n";

static struct nk_spec *parse_ok(const char *text)
{
        struct nk_spec *s = NULL;
        nk_error *err = NULL;
        if (nk_spec_parse(text, strlen(text), "/b/config.json", &s, &err) < 0) {
                fprintf(stderr, "unexpected error: %s\n", err->msg);
                nk_error_free(err);
                return NULL;
        }
        return s;
}

static void check_process(const struct nk_process *p)
{
        CHECK(p->terminal && p->console_height == 40 && p->console_width == 120);
        CHECK(p->user.uid == 1000 && p->user.gid == 100);
        CHECK(p->user.has_umask && p->user.umask == 022);
        CHECK(p->user.n_additional_gids == 2 && p->user.additional_gids[1] == 6);
        CHECK_STR(p->args[2], "echo hi");
        CHECK(p->args[3] == NULL);
        CHECK_STR(p->env[1], "NOEQUALS");
        CHECK_STR(p->cwd, "/home");
        CHECK(p->has_caps);
        CHECK(p->caps[NK_CAP_BOUNDING] == ((1ULL << CAP_KILL) | (1ULL << CAP_CHOWN)));
        CHECK(p->caps[NK_CAP_EFFECTIVE] == (1ULL << CAP_KILL));
        CHECK(p->caps[NK_CAP_PERMITTED] == (1ULL << CAP_SYS_ADMIN));
        CHECK(p->caps[NK_CAP_INHERITABLE] == 0 && p->caps[NK_CAP_AMBIENT] == 0);
        CHECK(p->n_rlimits == 2);
        CHECK(p->rlimits[0].resource == RLIMIT_NOFILE && p->rlimits[0].soft == 1024 &&
              p->rlimits[0].hard == 4096);
        CHECK_STR(p->rlimits[1].name, "RLIMIT_CORE");
        CHECK(p->rlimits[1].soft == UINT64_MAX && p->rlimits[1].hard == UINT64_MAX);
        CHECK(p->no_new_privileges && p->has_oom_score_adj && p->oom_score_adj == -500);
        CHECK_STR(p->apparmor_profile, "aa");
        CHECK_STR(p->selinux_label, "se");
        CHECK(p->has_io_priority && p->io_priority_class == IOPRIO_CLASS_BE && p->io_priority == 4);
        CHECK(p->has_scheduler && p->sched_policy == SCHED_FIFO && p->sched_priority == 10);
        CHECK(p->sched_flags == SCHED_FLAG_RESET_ON_FORK);
        CHECK_STR(p->exec_cpu_affinity_initial, "0-1,3");
        CHECK_STR(p->exec_cpu_affinity_final, "2");
}

static void check_mounts_hooks(const struct nk_spec *s)
{
        CHECK(s->n_mounts == 3);
        CHECK_STR(s->mounts[0].type, "proc");
        CHECK(s->mounts[0].options == NULL && s->mounts[0].data == NULL);
        CHECK(s->mounts[1].flags == (MS_NOSUID | MS_STRICTATIME));
        CHECK_STR(s->mounts[1].data, "mode=755,size=65536k");
        const struct nk_mount *m = &s->mounts[2];
        CHECK(m->bind && m->rbind && (m->flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC));
        CHECK(m->flags & MS_NOSYMFOLLOW);
        CHECK(m->propagation == (MS_SLAVE | MS_REC));
        CHECK(m->recursive_attrs && m->attr_set == MOUNT_ATTR_RDONLY);
        CHECK(m->idmap && !m->ridmap && m->n_uid_mappings == 1 && m->n_gid_mappings == 1);
        CHECK(m->uid_mappings[0].host_id == 100000 && m->uid_mappings[0].size == 65536);
        CHECK(s->n_hooks[NK_HOOK_PRESTART] == 1 && s->n_hooks[NK_HOOK_POSTSTOP] == 2);
        CHECK(s->n_hooks[NK_HOOK_CREATE_RUNTIME] == 0 && s->hooks[NK_HOOK_CREATE_RUNTIME] == NULL);
        CHECK(s->hooks[NK_HOOK_PRESTART][0].timeout == 5);
        CHECK_STR(s->hooks[NK_HOOK_PRESTART][0].args[1], "x");
        CHECK(s->hooks[NK_HOOK_POSTSTOP][0].args == NULL &&
              s->hooks[NK_HOOK_POSTSTOP][0].timeout == 0);
        CHECK_STR(s->hooks[NK_HOOK_POSTSTOP][1].env[0], "A=1");
}

static void check_linux(const struct nk_spec *s)
{
        for (int t = 0; t < NK_NS__COUNT; t++)
                CHECK(s->ns[t].present);
        CHECK_STR(s->ns[NK_NS_NET].path, "/run/netns/x");
        CHECK(s->ns[NK_NS_PID].path == NULL && s->ns[NK_NS_CGROUP].path == NULL);
        CHECK(s->n_uid_mappings == 2 && s->uid_mappings[1].container_id == 1 &&
              s->uid_mappings[1].host_id == 100000 && s->uid_mappings[1].size == 65535);
        CHECK(s->n_gid_mappings == 1);
        CHECK(s->has_time_offsets && s->monotonic_secs == -3600 && s->monotonic_nsecs == 5);
        CHECK(s->boottime_secs == 86400 && s->boottime_nsecs == 0);
        CHECK(s->n_devices == 2 && s->devices[0].type == 'c' && s->devices[0].major == 10 &&
              s->devices[0].minor == 229 && s->devices[0].has_mode &&
              s->devices[0].file_mode == 0666);
        CHECK(s->devices[0].has_uid && s->devices[0].has_gid);
        CHECK(s->devices[1].type == 'p' && s->devices[1].file_mode == 0644 &&
              !s->devices[1].has_uid);
        CHECK_STR(s->cgroups_path, "/nook/test");
        CHECK(json_is_object(s->resources) && json_is_object(s->seccomp));
        CHECK(s->n_sysctl == 4);
        CHECK_STR(s->sysctl[0].key, "net.ipv4.ip_forward");
        CHECK_STR(s->sysctl[0].value, "1");
        CHECK(s->rootfs_propagation == (MS_SLAVE | MS_REC));
        CHECK_STR(s->masked_paths[0], "/proc/kcore");
        CHECK_STR(s->readonly_paths[1], "/proc/bus");
        CHECK_STR(s->mount_label, "ml");
        CHECK(s->has_personality && s->personality == PER_LINUX32);
}

static void test_full(void)
{
        struct nk_spec *s = parse_ok(full_config);
        CHECK(s != NULL);
        if (!s)
                return;
        CHECK_STR(s->oci_version, "1.2.0");
        CHECK_STR(s->root_path, "rootfs");
        CHECK(s->root_readonly);
        CHECK_STR(s->hostname, "box");
        CHECK_STR(s->domainname, "example.org");
        CHECK_STR(json_string_value(json_object_get(s->annotations, "org.example.key")), "value");
        CHECK(s->has_process);
        check_process(&s->process);
        check_mounts_hooks(s);
        check_linux(s);
        nk_spec_free(s);
}

/* A config that parses, edited by one table entry before each bad case. */
static const char base_config[] =
        "{\"ociVersion\": \"1.0.2-dev\", \"root\": {\"path\": \"rootfs\"},"
        " \"hostname\": \"h\","
        " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0},"
        "  \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_CHOWN\", \"CAP_FOWNER\", "
        "\"CAP_SETUID\"]},"
        "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 10, \"hard\": 20}]},"
        " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
        "  {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": "
        "[\"nosuid\"]}],"
        " \"hooks\": {\"prestart\": [{\"path\": \"/bin/true\"}]},"
        " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"}, {\"type\": "
        "\"ipc\"},"
        "  {\"type\": \"uts\"}, {\"type\": \"network\"}],"
        "  \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"kernel.msgmax\": \"8192\"},"
        "  \"devices\": [{\"type\": \"c\", \"path\": \"/dev/fuse\", \"major\": 10, \"minor\": "
        "229}]}}";

/* Walk "a.b[2].c" from root, creating objects on the way; set the last
 * element to v (NULL deletes it). An index equal to the array size appends. */
static int edit(json_t *root, const char *path, json_t *v)
{
        char buf[256], *save = NULL;
        json_t *cur = root, *parent = NULL;
        const char *key = NULL;
        long idx = -1;
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
                char *br = strchr(tok, '[');
                if (br)
                        *br = '\0';
                if (parent && (key ? !(cur = json_object_get(parent, key))
                                   : !(cur = json_array_get(parent, idx))))
                        return -1;
                parent = cur, key = tok, idx = -1;
                if (br) {
                        cur = json_object_get(parent, key);
                        parent = cur, key = NULL, idx = strtol(br + 1, NULL, 10);
                }
        }
        if (key)
                return v ? json_object_set_new(parent, key, v) : json_object_del(parent, key);
        if (!v)
                return json_array_remove(parent, idx);
        if ((size_t)idx == json_array_size(parent))
                return json_array_append_new(parent, v);
        return json_array_set_new(parent, idx, v);
}

struct bad_case {
        const char *path;           /* JSON path to edit in base_config */
        const char *value;          /* JSON text, NULL = delete */
        const char *error;          /* expected message, without "/b/config.json: " */
        const char *path2, *value2; /* an optional second edit */
};

static const struct bad_case bad_cases[] = {
        {"ociVersion", NULL, "ociVersion: missing required field"},
        {"ociVersion", "1", "ociVersion: expected string, got integer 1"},
        {"ociVersion", "\"2.0.0\"", "ociVersion: unsupported version \"2.0.0\""},
        {"root", NULL, "root: missing required field"},
        {"root", "\"rootfs\"", "root: expected object, got string \"rootfs\""},
        {"root.path", NULL, "root.path: missing required field"},
        {"root.path", "\"\"", "root.path: empty path \"\""},
        {"root.readonly", "\"yes\"", "root.readonly: expected boolean, got string \"yes\""},
        {"hostname", "[]", "hostname: expected string, got array"},
        {"hostname", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
         "hostname: longer than 64 bytes "
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
        {"annotations", "{\"a\": 1}", "annotations.a: expected string, got integer 1"},
        {"process", "[]", "process: expected object, got array"},
        {"process.args", NULL, "process.args: missing required field"},
        {"process.args", "[]", "process.args: must not be empty"},
        {"process.args", "\"sh\"", "process.args: expected array, got string \"sh\""},
        {"process.args[1]", "5", "process.args[1]: expected string, got integer 5"},
        {"process.env", "[\"A=1\", true]", "process.env[1]: expected string, got boolean true"},
        {"process.cwd", NULL, "process.cwd: missing required field"},
        {"process.cwd", "\"home\"", "process.cwd: not an absolute path \"home\""},
        {"process.terminal", "1", "process.terminal: expected boolean, got integer 1"},
        {"process.consoleSize", "{\"height\": 10}",
         "process.consoleSize.width: missing required field"},
        {"process.consoleSize", "{\"height\": -1, \"width\": 5}",
         "process.consoleSize.height: value -1 out of range 0..65535"},
        {"process.consoleSize", "{\"height\": 1, \"width\": 1.5}",
         "process.consoleSize.width: expected integer, got number 1.5"},
        {"process.user.uid", "-1", "process.user.uid: value -1 out of range 0..2147483647"},
        {"process.user.gid", "4294967296",
         "process.user.gid: value 4294967296 out of range 0..2147483647"},
        {"process.user.uid", "\"0\"", "process.user.uid: expected integer, got string \"0\""},
        {"process.user.umask", "512", "process.user.umask: value 512 out of range 0..511"},
        {"process.user.additionalGids", "[1, -2]",
         "process.user.additionalGids[1]: value -2 out of range 0..2147483647"},
        /* (uid_t)-1 means "unchanged" to setresuid(2): it would stay root */
        {"process.user.uid", "4294967295",
         "process.user.uid: value 4294967295 out of range 0..2147483647"},
        {"process.user.gid", "4294967295",
         "process.user.gid: value 4294967295 out of range 0..2147483647"},
        {"process.user.uid", "2147483648",
         "process.user.uid: value 2147483648 out of range 0..2147483647"},
        {"process.user.additionalGids", "[4294967295]",
         "process.user.additionalGids[0]: value 4294967295 out of range 0..2147483647"},
        /* required on Linux: absent must not mean root */
        {"process.user", NULL, "process.user: missing required field"},
        {"process.user", "null", "process.user: missing required field"},
        {"process.user.uid", NULL, "process.user.uid: missing required field"},
        {"process.user.gid", NULL, "process.user.gid: missing required field"},
        {"process.capabilities.bounding[3]", "\"CAP_TEST\"",
         "process.capabilities.bounding[3]: unknown capability \"CAP_TEST\""},
        {"process.capabilities.bounding[0]", "\"kill\"",
         "process.capabilities.bounding[0]: unknown capability \"kill\""},
        {"process.capabilities.bounding[0]", "\"cap_kill\"",
         "process.capabilities.bounding[0]: unknown capability \"cap_kill\""},
        {"process.capabilities.ambient", "[\"CAP_KILL\", 3]",
         "process.capabilities.ambient[1]: expected string, got integer 3"},
        {"process.capabilities.effective", "{}",
         "process.capabilities.effective: expected array, got object"},
        {"process.rlimits[0].type", "\"RLIMIT_FOO\"",
         "process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\""},
        {"process.rlimits[0].hard", "5", "process.rlimits[0]: soft limit 10 above hard limit 5"},
        {"process.rlimits[0].soft", "-2",
         "process.rlimits[0].soft: value -2 out of range 0..18446744073709551615"},
        {"process.rlimits[0].hard", NULL, "process.rlimits[0].hard: missing required field"},
        {"process.rlimits[1]", "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1, \"hard\": 1}",
         "process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\""},
        {"process.rlimits[1]", "\"RLIMIT_CORE\"",
         "process.rlimits[1]: expected object, got string \"RLIMIT_CORE\""},
        {"process.oomScoreAdj", "1001", "process.oomScoreAdj: value 1001 out of range -1000..1000"},
        {"process.noNewPrivileges", "\"true\"",
         "process.noNewPrivileges: expected boolean, got string \"true\""},
        {"process.scheduler", "{\"priority\": 1}",
         "process.scheduler.policy: missing required field"},
        {"process.scheduler", "{\"policy\": \"SCHED_FOO\"}",
         "process.scheduler.policy: unknown scheduler policy \"SCHED_FOO\""},
        {"process.scheduler", "{\"policy\": \"SCHED_RR\"}",
         "process.scheduler.priority: value 0 out of range 1..99"},
        {"process.scheduler", "{\"policy\": \"SCHED_OTHER\", \"priority\": 5}",
         "process.scheduler.priority: must be 0 for SCHED_OTHER, got 5"},
        {"process.scheduler", "{\"policy\": \"SCHED_BATCH\", \"nice\": 20}",
         "process.scheduler.nice: value 20 out of range -20..19"},
        {"process.scheduler", "{\"policy\": \"SCHED_OTHER\", \"flags\": [\"SCHED_FLAG_X\"]}",
         "process.scheduler.flags[0]: unknown scheduler flag \"SCHED_FLAG_X\""},
        {"process.scheduler", "{\"policy\": \"SCHED_DEADLINE\", \"runtime\": 20, \"deadline\": 10}",
         "process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period, "
         "got runtime 20 deadline 10 period 0"},
        {"process.ioPriority", "{\"class\": \"IOPRIO_CLASS_FOO\"}",
         "process.ioPriority.class: unknown ioPriority class \"IOPRIO_CLASS_FOO\""},
        {"process.ioPriority", "{\"priority\": 1}",
         "process.ioPriority.class: missing required field"},
        {"process.ioPriority", "{\"class\": \"IOPRIO_CLASS_RT\", \"priority\": 8}",
         "process.ioPriority.priority: value 8 out of range 0..7"},
        {"process.execCPUAffinity", "{\"initial\": \"3-1\"}",
         "process.execCPUAffinity.initial: invalid CPU list \"3-1\""},
        {"mounts", "{}", "mounts: expected array, got object"},
        {"mounts[1].destination", "\"tmp\"", "mounts[1].destination: not an absolute path \"tmp\""},
        {"mounts[1].destination", NULL, "mounts[1].destination: missing required field"},
        {"mounts[1].options", "[\"nosuid\", \"\"]",
         "mounts[1].options[1]: empty mount option \"\""},
        {"mounts[1].options", "\"nosuid\"",
         "mounts[1].options: expected array, got string \"nosuid\""},
        {"mounts[2]", "{\"destination\": \"/x\", \"options\": [\"rbind\"]}",
         "mounts[2].source: missing required field"},
        {"mounts[2]",
         "{\"destination\": \"/x\", \"type\": \"bind\", \"source\": \"/y\","
         " \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1, \"size\": 1}]}",
         "mounts[2]: uidMappings and gidMappings must be given together"},
        {"hooks.prestart[0].path", "\"true\"",
         "hooks.prestart[0].path: not an absolute path \"true\""},
        {"hooks.prestart[0].path", NULL, "hooks.prestart[0].path: missing required field"},
        {"hooks.prestart[0].timeout", "-1",
         "hooks.prestart[0].timeout: value -1 out of range 1..2147483647"},
        {"hooks.prestart[0].timeout", "0",
         "hooks.prestart[0].timeout: value 0 out of range 1..2147483647"},
        {"hooks.prestart[0].args", "\"x\"",
         "hooks.prestart[0].args: expected array, got string \"x\""},
        {"hooks.createRuntime", "{}", "hooks.createRuntime: expected array, got object"},
        {"hooks.poststop", "[{\"path\": \"/bin/x\", \"env\": [1]}]",
         "hooks.poststop[0].env[0]: expected string, got integer 1"},
        /* only proc at /proc: masked and read-only paths there need it */
        {"mounts[0].type", "\"sysfs\"",
         "mounts[0]: only proc may be mounted at /proc, got type \"sysfs\""},
        {"mounts[0].type", NULL, "mounts[0]: only proc may be mounted at /proc, got type \"\""},
        {"mounts[1]", "{\"destination\": \"/tmp/../proc/.\", \"type\": \"tmpfs\"}",
         "mounts[1]: only proc may be mounted at /proc, got type \"tmpfs\""},
        {"mounts[2]", "{\"destination\": \"//proc//\", \"type\": \"t\\nx\"}",
         "mounts[2]: only proc may be mounted at /proc, got type \"t?x\""},
        {"linux", "[]", "linux: expected object, got array"},
        {"linux.namespaces[2].type", "\"foo\"",
         "linux.namespaces[2].type: unknown namespace \"foo\""},
        {"linux.namespaces[5]", "{\"type\": \"pid\"}",
         "linux.namespaces[5].type: duplicate namespace \"pid\""},
        {"linux.namespaces[0].path", "\"proc/1/ns/pid\"",
         "linux.namespaces[0].path: not an absolute path \"proc/1/ns/pid\""},
        {"linux.namespaces[0]", "{}", "linux.namespaces[0].type: missing required field"},
        {"linux.namespaces[5]", "{\"type\": \"user\"}",
         "linux.uidMappings: missing, required by a new user namespace"},
        {"linux.uidMappings", "[{\"containerID\": 0, \"hostID\": 1000, \"size\": 1}]",
         "linux.uidMappings: no user namespace in linux.namespaces"},
        {"linux.uidMappings", "[{\"containerID\": 0, \"hostID\": 1000, \"size\": 0}]",
         "linux.uidMappings[0].size: value 0 out of range 1..4294967295"},
        {"linux.uidMappings", "[{\"containerID\": 0, \"size\": 1}]",
         "linux.uidMappings[0].hostID: missing required field"},
        {"linux.gidMappings", "[{\"containerID\": 4294967295, \"hostID\": 0, \"size\": 2}]",
         "linux.gidMappings[0]: containerID 4294967295 + size 2 reaches past id 4294967294"},
        {"linux.gidMappings", "[{\"containerID\": 4294967294, \"hostID\": 0, \"size\": 2}]",
         "linux.gidMappings[0]: containerID 4294967294 + size 2 reaches past id 4294967294"},
        {"linux.gidMappings", "[{\"containerID\": 0, \"hostID\": 4294967295, \"size\": 1}]",
         "linux.gidMappings[0]: hostID 4294967295 + size 1 reaches past id 4294967294"},
        {"linux.uidMappings",
         "[{\"containerID\": 0, \"hostID\": 1000, \"size\": 10},"
         " {\"containerID\": 5, \"hostID\": 5000, \"size\": 10}]",
         "linux.uidMappings[1]: containerID range overlaps linux.uidMappings[0]"},
        {"linux.sysctl", "{\"net.ipv4.ip_forward\": 1}",
         "linux.sysctl.net.ipv4.ip_forward: expected string, got integer 1"},
        {"linux.sysctl", "{\"vm.swappiness\": \"1\"}",
         "linux.sysctl: host-wide sysctl not allowed \"vm.swappiness\""},
        {"linux.sysctl", "{\"net/../../etc/x\": \"1\"}",
         "linux.sysctl: invalid sysctl name \"net/../../etc/x\""},
        {"linux.namespaces[4]", NULL,
         "linux.sysctl: no network namespace in linux.namespaces for \"net.ipv4.ip_forward\""},
        {"linux.namespaces[2]", NULL,
         "linux.sysctl: no ipc namespace in linux.namespaces for \"kernel.msgmax\""},
        {"linux.sysctl", "{\"kernel.hostname\": \"x\", \"kernel.pid_max\": \"5\"}",
         "linux.sysctl: host-wide sysctl not allowed \"kernel.pid_max\""},
        {"linux.namespaces[5]", "{\"type\": \"time\", \"path\": \"/proc/1/ns/time\"}",
         "linux.timeOffsets: cannot be set on a joined time namespace", "linux.timeOffsets",
         "{\"monotonic\": {\"secs\": 1}}"},
        {"linux.namespaces[5]", "{\"type\": \"user\"}",
         "linux.gidMappings: missing, required by a new user namespace", "linux.uidMappings",
         "[{\"containerID\": 0, \"hostID\": 1000, \"size\": 1}]"},
        {"linux.namespaces[3]", NULL, "hostname: no uts namespace in linux.namespaces for \"h\""},
        {"linux.timeOffsets", "{\"monotonic\": {\"secs\": 1}}",
         "linux.timeOffsets: no time namespace in linux.namespaces"},
        {"linux.timeOffsets", "{\"realtime\": {\"secs\": 1}}",
         "linux.timeOffsets: unknown clock \"realtime\""},
        {"linux.timeOffsets", "{\"boottime\": {\"nanosecs\": 1000000000}}",
         "linux.timeOffsets.boottime.nanosecs: value 1000000000 out of range 0..999999999"},
        {"linux.rootfsPropagation", "\"rshared2\"",
         "linux.rootfsPropagation: unknown propagation \"rshared2\""},
        {"linux.devices[0].type", "\"x\"", "linux.devices[0].type: invalid device type \"x\""},
        {"linux.devices[0].path", "\"dev/fuse\"",
         "linux.devices[0].path: not an absolute path \"dev/fuse\""},
        {"linux.devices[0].major", NULL, "linux.devices[0].major: missing required field"},
        {"linux.devices[0].minor", "1048576",
         "linux.devices[0].minor: value 1048576 out of range 0..1048575"},
        {"linux.devices[0].fileMode", "25014",
         "linux.devices[0].fileMode: file type bits 060000 do not match type \"c\""},
        {"linux.devices[0].uid", "-5", "linux.devices[0].uid: value -5 out of range 0..2147483647"},
        {"linux.devices[0].gid", "4294967295",
         "linux.devices[0].gid: value 4294967295 out of range 0..2147483647"},
        {"linux.maskedPaths", "[\"/proc/kcore\", \"proc/keys\"]",
         "linux.maskedPaths[1]: not an absolute path \"proc/keys\""},
        {"linux.readonlyPaths", "[\"sys\"]",
         "linux.readonlyPaths[0]: not an absolute path \"sys\""},
        {"linux.personality", "{\"domain\": \"LINUX64\"}",
         "linux.personality.domain: unknown personality domain \"LINUX64\""},
        {"linux.personality", "{\"domain\": \"LINUX\", \"flags\": [\"X\"]}",
         "linux.personality.flags[0]: unsupported personality flag \"X\""},
        {"linux.cgroupsPath", "7", "linux.cgroupsPath: expected string, got integer 7"},
        {"linux.resources", "[]", "linux.resources: expected object, got array"},
        {"linux.seccomp", "\"x\"", "linux.seccomp: expected object, got string \"x\""},
};

static void test_bad_cases(void)
{
        for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
                const struct bad_case *c = &bad_cases[i];
                json_t *root = json_loads(base_config, 0, NULL);
                json_t *v = c->value ? json_loads(c->value, JSON_DECODE_ANY, NULL) : NULL;
                json_t *v2 = c->value2 ? json_loads(c->value2, JSON_DECODE_ANY, NULL) : NULL;
                CHECK(root && (v || !c->value) && (v2 || !c->value2));
                CHECK(edit(root, c->path, v) == 0);
                CHECK(!c->path2 || edit(root, c->path2, v2) == 0);
                _cleanup_free_ char *text = json_dumps(root, 0), *want = NULL;
                json_decref(root);
                struct nk_spec *s = NULL;
                nk_error *err = NULL;
                CHECK(nk_spec_parse(text, strlen(text), "/b/config.json", &s, &err) < 0);
                CHECK(asprintf(&want, "/b/config.json: %s", c->error) > 0);
                CHECK_STR(err ? err->msg : "(parsed)", want);
                CHECK(err == NULL || err->errno_ == 0);
                nk_error_free(err);
                nk_spec_free(s);
        }
}

static void expect_raw_error(const char *text, const char *want)
{
        struct nk_spec *s = NULL;
        nk_error *err = NULL;
        CHECK(nk_spec_parse(text, strlen(text), "/b/config.json", &s, &err) < 0);
        CHECK_STR(err ? err->msg : "(parsed)", want);
        nk_error_free(err);
        nk_spec_free(s);
}

static void test_bad_json(void)
{
        expect_raw_error(
                "{\n  \"ociVersion\": \"1.0.0\",\n    x\n}",
                "/b/config.json: invalid JSON at line 3 column 5: string or '}' expected near 'x'");
        expect_raw_error("", "/b/config.json: invalid JSON at line 1 column 0: "
                             "'[' or '{' expected near end of file");
        expect_raw_error("{\"a\": 1", "/b/config.json: invalid JSON at line 1 column 7: "
                                      "'}' expected near end of file");
        /* duplicate keys: refused, naming the key and where it is */
        expect_raw_error("{\"ociVersion\": \"1.0.0\", \"ociVersion\": \"1.1.0\"}",
                         "/b/config.json: duplicate key \"ociVersion\" (line 1 column 36)");
        expect_raw_error("{\"ociVersion\": \"1.0.0\", \"process\": {\"args\": [\"sh\"],\n"
                         " \"user\": {\"uid\": 1000, \"gid\": 1000, \"uid\": 0}}}",
                         "/b/config.json: process.user: duplicate key \"uid\" (line 2 column 41)");
        expect_raw_error("{\"mounts\": [{\"destination\": \"/a\"}, {\"type\": \"x,}\\\"]\","
                         " \"a\": [[{}]], \"type\": \"proc\"}]}",
                         "/b/config.json: mounts[1]: duplicate key \"type\" (line 1 column 73)");
        expect_raw_error("{\"a\": {\"b\\\"c\": 1, \"b\\\"c\": 18446744073709551615}}",
                         "/b/config.json: a: duplicate key \"b\\\"c\" (line 1 column 24)");
        expect_raw_error("{\"annotations\": {\"x\\ny\": \"1\", \"x\\ny\": \"2\"}}",
                         "/b/config.json: annotations: duplicate key \"x\\ny\" (line 1 column 36)");
        expect_raw_error("[1]", "/b/config.json: top level: expected object, got array");
        expect_raw_error("{\"ociVersion\": \"1.0.0\", \"n\": -18446744073709551615}",
                         "/b/config.json: invalid JSON at line 1 column 50: too big negative "
                         "integer");
        /* a big literal in a field that is not uint64 is still out of range */
        expect_raw_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"},"
                         " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
                         " \"user\": {\"uid\": 18446744073709551615}}}",
                         "/b/config.json: process.user.uid: value -1 out of range 0..2147483647");
        /* a string holding such digits is left alone */
        struct nk_spec *s =
                parse_ok("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"},"
                         " \"hostname\": \"18446744073709551615\", \"n\": 18446744073709551614,"
                         " \"linux\": {\"namespaces\": [{\"type\": \"uts\"}]}}");
        CHECK(s && streq(s->hostname, "18446744073709551615"));
        CHECK(s && !s->has_process);
        nk_spec_free(s);
}

static void test_good_edge_cases(void)
{
        /* a joined user namespace needs no mappings; 2^63 grows by one
         * character when rewritten and keeps its value */
        struct nk_spec *s = parse_ok(
                "{\"ociVersion\": \"1.1.0-rc.1\", \"root\": {\"path\": \"r\"},"
                " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, "
                "\"gid\": 0},"
                " \"rlimits\": [{\"type\": \"RLIMIT_AS\","
                " \"soft\": 9223372036854775808, \"hard\": 18446744073709551615}]},"
                " \"mounts\": null, \"hooks\": {\"prestart\": null},"
                " \"linux\": {\"namespaces\": [{\"type\": \"user\", \"path\": \"/proc/1/ns/user\"},"
                "  {\"type\": \"time\"}], \"timeOffsets\": {}}}");
        CHECK(s != NULL);
        if (!s)
                return;
        CHECK(s->process.rlimits[0].soft == (UINT64_C(1) << 63));
        CHECK(s->process.rlimits[0].hard == UINT64_MAX);
        CHECK_STR(s->ns[NK_NS_USER].path, "/proc/1/ns/user");
        CHECK(s->n_uid_mappings == 0 && s->n_mounts == 0 && !s->has_time_offsets);
        nk_spec_free(s);
}

static struct nk_mount parse_opts(const char *type, const char *const *opts)
{
        struct nk_mount m = {0};
        nk_error *err = NULL;
        m.type = (char *)type;
        m.options = (char **)opts;
        CHECK(nk_mount_parse_options(&m, "mounts[0]", &err) == 0);
        nk_error_free(err);
        return m;
}

static void test_mount_options(void)
{
        static const char *const a[] = {"ro",          "nosuid",      "nodev",    "noexec",
                                        "rw",          "suid",        "sync",     "dirsync",
                                        "remount",     "mand",        "noatime",  "nodiratime",
                                        "relatime",    "strictatime", "lazytime", "iversion",
                                        "nosymfollow", "defaults",    NULL};
        struct nk_mount m = parse_opts("tmpfs", a);
        CHECK(m.flags == (MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_REMOUNT |
                          MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |
                          MS_LAZYTIME | MS_I_VERSION | MS_NOSYMFOLLOW));
        CHECK(m.clear == (MS_RDONLY | MS_NOSUID));
        CHECK(!m.bind && m.propagation == 0 && !m.recursive_attrs && m.data == NULL);

        static const char *const b[] = {"async",      "nomand",        "atime",      "diratime",
                                        "norelatime", "nostrictatime", "nolazytime", "dev",
                                        "exec",       "symfollow",     "mode=0755",  "size=1m",
                                        NULL};
        m = parse_opts("tmpfs", b);
        CHECK(m.flags == 0);
        CHECK(m.clear == (MS_SYNCHRONOUS | MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |
                          MS_STRICTATIME | MS_LAZYTIME | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW));
        CHECK_STR(m.data, "mode=0755,size=1m");
        free(m.data);

        static const char *const props[][2] = {
                {"shared", ""}, {"rshared", "r"}, {"private", ""},    {"rprivate", "r"},
                {"slave", ""},  {"rslave", "r"},  {"unbindable", ""}, {"runbindable", "r"}};
        static const unsigned long pv[] = {MS_SHARED, MS_SHARED, MS_PRIVATE,    MS_PRIVATE,
                                           MS_SLAVE,  MS_SLAVE,  MS_UNBINDABLE, MS_UNBINDABLE};
        for (size_t i = 0; i < ARRAY_SIZE(pv); i++) {
                const char *o[] = {"bind", props[i][0], NULL};
                m = parse_opts(NULL, o);
                CHECK(m.bind && !m.rbind && m.flags == MS_BIND);
                CHECK(m.propagation == (pv[i] | (props[i][1][0] ? MS_REC : 0)));
        }

        static const char *const r[] = {"rro",         "rnosuid",      "rnodev",   "rnoexec",
                                        "rnodiratime", "rnosymfollow", "rnoatime", NULL};
        m = parse_opts("bind", r);
        CHECK(m.bind && m.flags == MS_BIND && m.recursive_attrs);
        CHECK(m.attr_set ==
              (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
               MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW | MOUNT_ATTR_NOATIME));
        CHECK(m.attr_clr == MOUNT_ATTR__ATIME);

        static const char *const rc[] = {"rro",       "rrw",        "rsuid",        "rdev", "rexec",
                                         "rdiratime", "rsymfollow", "rstrictatime", NULL};
        m = parse_opts(NULL, rc);
        CHECK(!m.bind && m.attr_set == MOUNT_ATTR_STRICTATIME);
        CHECK(m.attr_clr ==
              (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
               MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW | MOUNT_ATTR__ATIME));
        static const char *const at[][2] = {
                {"ratime", "0"}, {"rrelatime", "0"}, {"rnorelatime", "s"}, {"rnostrictatime", "0"}};
        for (size_t i = 0; i < ARRAY_SIZE(at); i++) {
                const char *o[] = {"rnoatime", at[i][0], NULL};
                m = parse_opts(NULL, o);
                CHECK(m.attr_clr == MOUNT_ATTR__ATIME);
                CHECK(m.attr_set ==
                      (at[i][1][0] == 's' ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME));
        }

        static const char *const x[] = {"rbind", "ridmap", "tmpcopyup", "copy-symlink", NULL};
        m = parse_opts(NULL, x);
        CHECK(m.bind && m.rbind && m.flags == (MS_BIND | MS_REC));
        CHECK(m.idmap && m.ridmap && m.tmpcopyup && m.copy_symlink);
        static const char *const y[] = {"idmap", NULL};
        m = parse_opts(NULL, y);
        CHECK(m.idmap && !m.ridmap && !m.bind);
}

static void test_default_spec(void)
{
        for (int rootless = 0; rootless < 2; rootless++) {
                json_t *d = nk_spec_default(rootless);
                CHECK(d != NULL);
                _cleanup_free_ char *text = json_dumps(d, JSON_INDENT(8));
                json_decref(d);
                struct nk_spec *s = parse_ok(text);
                CHECK(s != NULL);
                if (!s)
                        continue;
                CHECK(s->has_process && s->process.terminal && streq(s->process.args[0], "sh"));
                CHECK(s->process.caps[NK_CAP_BOUNDING] ==
                      ((1ULL << CAP_AUDIT_WRITE) | (1ULL << CAP_KILL) |
                       (1ULL << CAP_NET_BIND_SERVICE)));
                CHECK(s->process.n_rlimits == 1 &&
                      s->process.rlimits[0].resource == RLIMIT_NOFILE &&
                      s->process.rlimits[0].hard == 1024);
                CHECK(s->n_mounts == 7 && streq(s->mounts[6].destination, "/sys/fs/cgroup"));
                CHECK(s->root_readonly && streq(s->root_path, "rootfs"));
                CHECK(nk_strv_len(s->masked_paths) == 10 && nk_strv_len(s->readonly_paths) == 5);
                CHECK(s->ns[NK_NS_USER].present == (rootless == 1));
                CHECK(s->ns[NK_NS_NET].present == (rootless == 0));
                CHECK(s->ns[NK_NS_PID].present && s->ns[NK_NS_MOUNT].present &&
                      s->ns[NK_NS_UTS].present);
                CHECK((s->resources != NULL) == (rootless == 0));
                CHECK(rootless == 0 ||
                      (s->n_uid_mappings == 1 && s->uid_mappings[0].host_id == geteuid()));
                CHECK(s->mounts[5].bind == (rootless == 1));
                CHECK(rootless == 0 || !strstr(text, "gid=5"));
                nk_spec_free(s);
        }
}

/* The OCI face's bundle step (nk_bundle_load): DIR/config.json parsed,
 * the bundle recorded as the absolute dir and root.path resolved against
 * it; a bad config is named by its path, and nothing is handed back. */
static void test_load(void)
{
        char dir[] = "/tmp/nook-test-spec-XXXXXX";
        _cleanup_free_ char *path = NULL, *want = NULL, *rootfs = NULL;
        nk_error *err = NULL;
        struct nk_bundle b = {0};
        CHECK(mkdtemp(dir) != NULL);
        CHECK(asprintf(&path, "%s/config.json", dir) > 0);
        CHECK(asprintf(&rootfs, "%s/rootfs", dir) > 0);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (!f)
                return;
        fputs(full_config, f);
        fclose(f);
        CHECK(nk_bundle_load(dir, NULL, &b, &err) == 0);
        CHECK_STR(b.dir, dir);
        CHECK_STR(b.spec ? b.spec->bundle : NULL, dir);
        CHECK_STR(b.rootfs, rootfs);
        nk_bundle_clear(&b);
        struct nk_spec *s = NULL; /* the same read, the spec alone */
        CHECK(nk_spec_load(dir, &s, &err) == 0);
        CHECK_STR(s ? s->bundle : NULL, dir);
        nk_spec_free(s);
        f = fopen(path, "w");
        fputs("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"r\"}, \"linux\": "
              "{\"namespaces\": [{\"type\": \"foo\"}]}}",
              f);
        fclose(f);
        CHECK(nk_bundle_load(dir, NULL, &b, &err) < 0 && b.spec == NULL && b.dir == NULL);
        CHECK(asprintf(&want, "%s: linux.namespaces[0].type: unknown namespace \"foo\"", path) > 0);
        CHECK_STR(err ? err->msg : NULL, want);
        nk_error_free(err);
        unlink(path);
        rmdir(dir);
}

static void test_process_parse(void)
{
        struct nk_process p = {0};
        nk_error *err = NULL;
        json_t *j = json_loads("{\"args\": [\"ls\"], \"cwd\": \"/\", \"env\": [\"A=B\"],"
                               " \"user\": {\"uid\": 7, \"gid\": 8}}",
                               0, NULL);
        CHECK(nk_process_parse(j, NULL, &p, &err) == 0);
        CHECK_STR(p.args ? p.args[0] : NULL, "ls");
        CHECK(p.user.uid == 7 && p.user.gid == 8);
        nk_process_clear(&p);
        CHECK(p.args == NULL);
        json_object_set_new(j, "cwd", json_string("rel"));
        CHECK(nk_process_parse(j, "", &p, &err) < 0 && p.args == NULL);
        CHECK_STR(err ? err->msg : NULL, "cwd: not an absolute path \"rel\"");
        nk_error_free(err);
        json_decref(j);
}

static void test_names(void)
{
        CHECK_STR(nk_ns_proc_name(NK_NS_MOUNT), "mnt");
        CHECK_STR(nk_ns_proc_name(NK_NS_NET), "net");
        CHECK_STR(nk_ns_oci_name(NK_NS_NET), "network");
        CHECK(nk_ns_clone_flag(NK_NS_TIME) == 0x80);
        CHECK(nk_ns_clone_flag(NK_NS_USER) == CLONE_NEWUSER);
        CHECK(nk_ns_from_oci_name("cgroup") == NK_NS_CGROUP && nk_ns_from_oci_name("mnt") == -1);
        CHECK_STR(nk_hook_kind_name(NK_HOOK_START_CONTAINER), "startContainer");
        CHECK(nk_cap_from_name("CAP_CHECKPOINT_RESTORE") == 40);
        CHECK(nk_cap_from_name("CAP_chown") == -1 && nk_cap_from_name("12") == -1);
        CHECK(nk_cap_from_name("CAP_") == -1 && nk_cap_from_name("CAP_12") == -1);
        CHECK(nk_rlimit_from_name("RLIMIT_RTTIME") == RLIMIT_RTTIME);
        CHECK(nk_rlimit_from_name("NOFILE") == -1);
}

int main(void)
{
        test_full();
        test_bad_cases();
        test_bad_json();
        test_good_edge_cases();
        test_mount_options();
        test_default_spec();
        test_load();
        test_process_parse();
        test_names();
        return UNIT_END();
}
