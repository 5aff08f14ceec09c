/* Unit tests of the pure cgroup code: path rules, mountinfo parsing and
 * layout detection, validation messages, v1/v2 conversions and the write
 * plans for pure v1, pure v2 and hybrid hosts, device rules. */
#include "runtime/cgroup/internal.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>

static void test_paths(void)
{
        char *p;
#define PATH_IS(own, cp, id, want)                                                                 \
        do {                                                                                       \
                p = nk_cg_path_join(own, cp, id);                                                  \
                CHECK_STR(p, want);                                                                \
                free(p);                                                                           \
        } while (0)
#define PATH_BAD(own, cp, id)                                                                      \
        do {                                                                                       \
                p = nk_cg_path_join(own, cp, id);                                                  \
                CHECK(p == NULL);                                                                  \
                free(p);                                                                           \
        } while (0)
        PATH_IS("/", NULL, "abc", "/nook/abc");
        PATH_IS("/", "", "abc", "/nook/abc");
        PATH_IS("/x", "/a/b", "abc", "/a/b");
        PATH_IS("/x", "//a///b/", "abc", "/a/b");
        PATH_IS("/", "/", "abc", "/");
        PATH_IS("/user.slice/s1", "k/c1", "abc", "/user.slice/s1/k/c1");
        PATH_IS("/", "k/c1", "abc", "/k/c1");
        PATH_IS("/", "system.slice:docker:abc", "x", "/system.slice/docker-abc.scope");
        PATH_IS("/", "machine-k8s-pod1.slice:cri:c1", "x",
                "/machine.slice/machine-k8s.slice/machine-k8s-pod1.slice/cri-c1.scope");
        PATH_IS("/", ":nook:c1", "x", "/system.slice/nook-c1.scope");
        PATH_IS("/", "-.slice::c1", "x", "/c1.scope");
        PATH_IS("/", "user.slice:p:my.slice", "x", "/user.slice/my.slice");
        PATH_BAD("/", "/a/../b", "x");
        PATH_BAD("/", "a/./b", "x");
        PATH_BAD("/", "..", "x");
        PATH_BAD("/", NULL, "");
        PATH_BAD("/", "bad-.slice:p:n", "x");
        PATH_BAD("/", "a.slice:p:", "x");

        p = nk_cg_own_path_from("12:memory:/m\n1:name=systemd:/sd\n0::/u\n", true);
        CHECK_STR(p, "/sd");
        free(p);
        p = nk_cg_own_path_from("4:memory:/process_api/x\n1:cpu:/\n0::/\n", true);
        CHECK_STR(p, "/");
        free(p);
        p = nk_cg_own_path_from("4:memory:/m\n1:cpu:/\n0::/\n", false);
        CHECK_STR(p, "/m");
        free(p);
        p = nk_cg_own_path_from("0::/init.scope\n", true);
        CHECK_STR(p, "/init.scope");
        free(p);
}

static const char hybrid_mi[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
        "rw,xattr,name=systemd,release_agent=/x\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
        "42 31 0:32 /sub /mnt/again\\040x rw - cgroup cgroup rw,memory\n";

static void test_mountinfo(void)
{
        struct nk_cg_mount *m = NULL;
        size_t n = 0;
        nk_error *err = NULL;
        CHECK(nk_cg_parse_mountinfo(hybrid_mi, &m, &n, &err) == 0);
        CHECK(n == 5); /* the second memory mount is the same hierarchy */
        CHECK_STR(m[0].mount, "/sys/fs/cgroup/cpu");
        CHECK(nk_strv_len(m[1].controllers) == 2);
        CHECK_STR(m[1].controllers[1], "cpuacct");
        CHECK(!m[3].v2 && nk_strv_len(m[3].controllers) == 1);
        CHECK_STR(m[3].controllers[0], "name=systemd");
        CHECK(m[4].v2);
        CHECK(nk_cg_layout_of(m, n) == NK_CGROUP_HYBRID);
        CHECK(nk_cg_layout_of(m, 4) == NK_CGROUP_V1);
        CHECK(nk_cg_layout_of(&m[4], 1) == NK_CGROUP_V2);
        /* systemd's own "hybrid" with only name=systemd on v1 is v2 for us */
        CHECK(nk_cg_layout_of(&m[3], 2) == NK_CGROUP_V2);
        for (size_t i = 0; i < n; i++)
                nk_cg_mount_clear(&m[i]);
        free(m);

        const char esc[] = "50 1 0:40 / /a\\040b rw - cgroup2 none rw\n";
        CHECK(nk_cg_parse_mountinfo(esc, &m, &n, &err) == 0);
        CHECK(n == 1);
        CHECK_STR(m[0].mount, "/a b");
        nk_cg_mount_clear(&m[0]);
        free(m);
}

static void test_conversions(void)
{
        CHECK(nk_cg_shares_to_weight(2) == 1);
        CHECK(nk_cg_shares_to_weight(262144) == 10000);
        CHECK(nk_cg_shares_to_weight(1024) == 39);
        CHECK(nk_cg_shares_to_weight(0) == 0);
        CHECK(nk_cg_weight_to_shares(1) == 2);
        CHECK(nk_cg_weight_to_shares(10000) == 262144);
        CHECK(nk_cg_blkio_to_io_weight(10) == 1);
        CHECK(nk_cg_blkio_to_io_weight(1000) == 10000);
        CHECK(nk_cg_blkio_to_io_weight(500) == 4950);
        CHECK(nk_cg_swap_v2(100, 300) == 200);
        CHECK(nk_cg_swap_v2(100, 100) == 0);
        CHECK(nk_cg_swap_v2(100, -1) == -1);
        CHECK(nk_cg_swap_v2(100, 50) == -2);
        CHECK(nk_cg_swap_v2(0, 50) == -2);
        unsigned long long b = 0;
        char name[32];
        CHECK(nk_cg_page_size("2MB", &b) == 0 && b == 2ULL << 20);
        CHECK(nk_cg_page_size("1GB", &b) == 0 && b == 1ULL << 30);
        CHECK(nk_cg_page_size("64KB", &b) == 0 && b == 64ULL << 10);
        CHECK(nk_cg_page_size("2048kB", &b) == 0 && b == 2ULL << 20);
        CHECK(nk_cg_page_size("3MB", &b) < 0);
        CHECK(nk_cg_page_size("MB", &b) < 0);
        CHECK(nk_cg_page_size("2XB", &b) < 0);
        nk_cg_page_name(2ULL << 20, name, sizeof(name));
        CHECK_STR(name, "2MB");
        nk_cg_page_name(1ULL << 30, name, sizeof(name));
        CHECK_STR(name, "1GB");
        nk_cg_page_name(64ULL << 10, name, sizeof(name));
        CHECK_STR(name, "64KB");
}

static void expect_invalid(const char *json, const char *msg)
{
        json_error_t je;
        json_t *r = json_loads(json, 0, &je);
        nk_error *err = NULL;
        CHECK(r != NULL);
        CHECK(nk_cgroup_validate_resources(r, "linux.resources", &err) < 0);
        CHECK_STR(err ? err->msg : NULL, msg);
        nk_error_free(err);
        json_decref(r);
}

static void test_validate(void)
{
        nk_error *err = NULL;
        CHECK(nk_cgroup_validate_resources(NULL, "linux.resources", &err) == 0);
        json_t *ok = json_loads("{\"memory\":{\"limit\":1000000,\"swap\":-1},\"cpu\":{\"shares\":"
                                "512,\"cpus\":\"0-1,3\"},\"pids\":{\"limit\":-1},\"devices\":[{"
                                "\"allow\":false,\"access\":\"rwm\"}],\"unified\":{\"memory."
                                "high\":\"max\"}}",
                                0, NULL);
        CHECK(nk_cgroup_validate_resources(ok, "linux.resources", &err) == 0);
        json_decref(ok);
        expect_invalid("{\"memory\":[]}", "linux.resources.memory: must be an object");
        expect_invalid("{\"memory\":{\"limit\":\"1g\"}}",
                       "linux.resources.memory.limit: must be an integer");
        expect_invalid("{\"memory\":{\"limit\":100,\"swap\":50}}",
                       "linux.resources.memory.swap: 50 is below memory.limit 100 (swap is the "
                       "memory+swap total)");
        expect_invalid("{\"memory\":{\"swappiness\":101}}",
                       "linux.resources.memory.swappiness: 101 out of range [0, 100]");
        expect_invalid("{\"cpu\":{\"cpus\":\"0-\"}}",
                       "linux.resources.cpu.cpus: \"0-\" is not a list like 0-3,5");
        /* numbers overflow-checked, not wrapped or cut by strtoul */
        expect_invalid("{\"cpu\":{\"mems\":\"0-99999999999999999999\"}}",
                       "linux.resources.cpu.mems: \"0-99999999999999999999\" is not a list like "
                       "0-3,5");
        expect_invalid("{\"cpu\":{\"cpus\":\"4294967296\"}}",
                       "linux.resources.cpu.cpus: \"4294967296\" is not a list like 0-3,5");
        expect_invalid("{\"cpu\":{\"period\":10}}", "linux.resources.cpu.period: 10 below 1000 us");
        expect_invalid("{\"cpu\":{\"shares\":-5}}",
                       "linux.resources.cpu.shares: -5 out of range [0, 262144]");
        expect_invalid("{\"blockIO\":{\"weight\":5}}",
                       "linux.resources.blockIO.weight: 5 out of range [10, 1000]");
        expect_invalid("{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0}]}}",
                       "linux.resources.blockIO.throttleReadBpsDevice[0].rate: required");
        expect_invalid("{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}",
                       "linux.resources.devices[0].type: \"x\" is not a, b or c");
        expect_invalid("{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}",
                       "linux.resources.devices[0].access: \"rwx\" has letters other than rwm");
        expect_invalid("{\"devices\":[{\"type\":\"c\"}]}",
                       "linux.resources.devices[0].allow: required");
        expect_invalid("{\"hugepageLimits\":[{\"pageSize\":\"3MB\",\"limit\":1}]}",
                       "linux.resources.hugepageLimits[0].pageSize: \"3MB\" is not a size like "
                       "2MB");
        expect_invalid("{\"unified\":{\"../x\":\"1\"}}",
                       "linux.resources.unified: key \"../x\" is not a cgroup file name like "
                       "memory.high");
        expect_invalid("{\"unified\":{\"cgroup.procs\":\"1\"}}",
                       "linux.resources.unified: key \"cgroup.procs\" may not be set");
        expect_invalid("{\"pids\":{\"limit\":true}}",
                       "linux.resources.pids.limit: must be an integer");
        expect_invalid("{\"network\":{\"classID\":-1}}",
                       "linux.resources.network.classID: -1 out of range [0, 4294967295]");
}

/* Hosts for planning: which controllers live where. */
static enum nk_cg_where where_v1(const char *c, const void *ctx)
{
        (void)ctx;
        static const char *const v1[] = {"cpu",     "cpuacct", "cpuset",   "memory",
                                         "devices", "freezer", "blkio",    "pids",
                                         "hugetlb", "net_cls", "net_prio", "rdma"};
        for (size_t i = 0; i < ARRAY_SIZE(v1); i++)
                if (streq(c, v1[i]))
                        return NK_CG_ON_V1;
        return NK_CG_ABSENT;
}

static enum nk_cg_where where_v2(const char *c, const void *ctx)
{
        (void)ctx;
        static const char *const v2[] = {"cgroup", "cpu",  "cpuset",  "memory",
                                         "io",     "pids", "hugetlb", "rdma"};
        for (size_t i = 0; i < ARRAY_SIZE(v2); i++)
                if (streq(c, v2[i]))
                        return NK_CG_ON_V2;
        return NK_CG_ABSENT;
}

/* This machine: everything on v1 but hugetlb, on the unified mount. */
static enum nk_cg_where where_hybrid(const char *c, const void *ctx)
{
        if (streq(c, "hugetlb") || streq(c, "cgroup"))
                return NK_CG_ON_V2;
        if (streq(c, "net_cls") || streq(c, "net_prio") || streq(c, "rdma"))
                return NK_CG_ABSENT;
        return where_v1(c, ctx);
}

/* The plan as "v1|v2 file=value" lines, for comparing. */
static char *plan_text(const char *json, nk_cg_where_fn where, char **errmsg)
{
        json_t *r = json_loads(json, 0, NULL);
        struct nk_cg_plan p = {0};
        nk_error *err = NULL;
        char *out = NULL;
        *errmsg = NULL;
        if (nk_cg_plan_build(r, where, NULL, &p, &err) < 0) {
                *errmsg = strdup(err->msg);
                nk_error_free(err);
                json_decref(r);
                return NULL;
        }
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        for (size_t i = 0; i < p.n; i++)
                fprintf(f, "%s %s=%s%s%s%s\n", p.w[i].v2 ? "v2" : "v1", p.w[i].file, p.w[i].value,
                        p.w[i].alt_file ? " | " : "", p.w[i].alt_file ? p.w[i].alt_file : "",
                        p.w[i].alt_file ? "" : "");
        if (p.devices)
                fprintf(f, "%s %zu rules\n", p.devices_v2 ? "bpf" : "v1 devices",
                        json_array_size(p.devices));
        fclose(f);
        nk_cg_plan_clear(&p);
        json_decref(r);
        return out;
}

#define PLAN_IS(json, where, want)                                                                 \
        do {                                                                                       \
                char *e_, *t_ = plan_text(json, where, &e_);                                       \
                CHECK_STR(t_ ? t_ : e_, want);                                                     \
                free(t_);                                                                          \
                free(e_);                                                                          \
        } while (0)

static const char cpu_mem[] =
        "{\"cpu\":{\"shares\":1024,\"quota\":20000,\"period\":100000,\"cpus\":\"0\"},"
        "\"memory\":{\"limit\":104857600,\"swap\":209715200,\"reservation\":52428800},"
        "\"pids\":{\"limit\":64}}";

static void test_plans(void)
{
        PLAN_IS(cpu_mem, where_v1,
                "v1 cpuset.cpus=0\n"
                "v1 cpu.shares=1024\n"
                "v1 cpu.cfs_period_us=100000\n"
                "v1 cpu.cfs_quota_us=20000\n"
                "v1 memory.limit_in_bytes=104857600\n"
                "v1 memory.memsw.limit_in_bytes=209715200\n"
                "v1 memory.soft_limit_in_bytes=52428800\n"
                "v1 pids.max=64\n");
        PLAN_IS(cpu_mem, where_v2,
                "v2 cpuset.cpus=0\n"
                "v2 cpu.weight=39\n"
                "v2 cpu.max=20000 100000\n"
                "v2 memory.max=104857600\n"
                "v2 memory.swap.max=104857600\n"
                "v2 memory.low=52428800\n"
                "v2 pids.max=64\n");
        PLAN_IS("{\"cpu\":{\"quota\":-1},\"memory\":{\"limit\":-1,\"swap\":-1},\"pids\":{"
                "\"limit\":-1}}",
                where_v2,
                "v2 cpu.max=max\nv2 memory.max=max\nv2 memory.swap.max=max\nv2 pids.max=max\n");
        PLAN_IS("{\"cpu\":{\"period\":50000}}", where_v2, "v2 cpu.max=max 50000\n");
        PLAN_IS("{\"blockIO\":{\"weight\":500,\"weightDevice\":[{\"major\":8,\"minor\":0,"
                "\"weight\":100}],\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":"
                "1048576}],\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":0,\"rate\":0}]}}",
                where_v2,
                "v2 io.bfq.weight=500 | io.weight\n"
                "v2 io.bfq.weight=8:0 100 | io.weight\n"
                "v2 io.max=8:0 rbps=1048576\n"
                "v2 io.max=8:0 wiops=max\n");
        PLAN_IS("{\"blockIO\":{\"weight\":500,\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":"
                "0,\"rate\":1048576}]}}",
                where_v1,
                "v1 blkio.weight=500 | blkio.bfq.weight\n"
                "v1 blkio.throttle.read_bps_device=8:0 1048576\n");
        PLAN_IS("{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}]}", where_hybrid,
                "v2 hugetlb.2MB.max=4194304\nv2 hugetlb.2MB.rsvd.max=4194304\n");
        PLAN_IS("{\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":0}]}", where_v1,
                "v1 hugetlb.1GB.limit_in_bytes=0\n");
        /* hybrid: memory on v1, hugetlb on v2, in one plan */
        PLAN_IS("{\"memory\":{\"limit\":1048576},\"hugepageLimits\":[{\"pageSize\":\"2MB\","
                "\"limit\":0}],\"unified\":{\"hugetlb.2MB.max\":\"0\"}}",
                where_hybrid,
                "v1 memory.limit_in_bytes=1048576\n"
                "v2 hugetlb.2MB.max=0\nv2 hugetlb.2MB.rsvd.max=0\n"
                "v2 hugetlb.2MB.max=0\n");
        PLAN_IS("{\"unified\":{\"memory.high\":\"1000\"}}", where_hybrid,
                "linux.resources.unified.memory.high: the memory controller is on cgroup v1 on "
                "this host, not on cgroup v2");
        PLAN_IS("{\"unified\":{\"memory.high\":\"1000\"}}", where_v1,
                "linux.resources.unified.memory.high: cgroup v2 settings on a host without "
                "cgroup v2");
        PLAN_IS("{\"network\":{\"classID\":1048577}}", where_hybrid,
                "linux.resources.network.classID: needs the cgroup v1 net_cls controller, which "
                "is not mounted here");
        PLAN_IS("{\"network\":{\"classID\":1048577,\"priorities\":[{\"name\":\"eth0\","
                "\"priority\":5}]}}",
                where_v1, "v1 net_cls.classid=1048577\nv1 net_prio.ifpriomap=eth0 5\n");
        PLAN_IS("{\"network\":{\"classID\":1}}", where_v2,
                "linux.resources.network.classID: needs the cgroup v1 net_cls controller, which "
                "is not mounted here");
        PLAN_IS("{\"rdma\":{\"mlx5_0\":{\"hcaHandles\":3,\"hcaObjects\":1000}}}", where_v2,
                "v2 rdma.max=mlx5_0 hca_handle=3 hca_object=1000\n");
        PLAN_IS("{\"rdma\":{\"mlx5_0\":{\"hcaHandles\":3}}}", where_hybrid,
                "linux.resources.rdma: the rdma controller is not available on this host");
        PLAN_IS("{\"cpu\":{\"realtimeRuntime\":950000,\"realtimePeriod\":1000000}}", where_v1,
                "v1 cpu.rt_period_us=1000000\nv1 cpu.rt_runtime_us=950000\n");
        PLAN_IS("{\"cpu\":{\"realtimeRuntime\":950000}}", where_v2,
                "linux.resources.cpu.realtimeRuntime: real-time cpu limits do not exist on "
                "cgroup v2");
        PLAN_IS("{\"memory\":{\"limit\":100,\"swap\":-1,\"disableOOMKiller\":true,"
                "\"swappiness\":0}}",
                where_v1,
                "v1 memory.limit_in_bytes=100\nv1 memory.memsw.limit_in_bytes=-1\n"
                "v1 memory.swappiness=0\nv1 memory.oom_control=1\n");
        PLAN_IS("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":false,\"type\":"
                "\"c\",\"major\":1,\"minor\":5,\"access\":\"r\"}]}",
                where_v1, "v1 devices 12 rules\n");
        PLAN_IS("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}", where_v2, "bpf 11 rules\n");
}

/* Evaluate a device program the way the kernel would, for the few
 * instructions we emit. */
static int run_prog(const struct bpf_insn *p, size_t n, int type, int acc, int major, int minor)
{
        unsigned long long r[11] = {0};
        unsigned ctx[3] = {(unsigned)(acc << 16 | type), (unsigned)major, (unsigned)minor};
        for (size_t pc = 0; pc < n; pc++) {
                const struct bpf_insn *i = &p[pc];
                switch (i->code) {
                case BPF_LDX | BPF_MEM | BPF_W:
                        r[i->dst_reg] = ctx[i->off / 4];
                        break;
                case BPF_ALU | BPF_AND | BPF_K:
                        r[i->dst_reg] = (unsigned)(r[i->dst_reg] & (unsigned)i->imm);
                        break;
                case BPF_ALU | BPF_RSH | BPF_K:
                        r[i->dst_reg] = (unsigned)r[i->dst_reg] >> i->imm;
                        break;
                case BPF_ALU64 | BPF_MOV | BPF_X:
                        r[i->dst_reg] = r[i->src_reg];
                        break;
                case BPF_ALU64 | BPF_MOV | BPF_K:
                        r[i->dst_reg] = (unsigned long long)(long long)i->imm;
                        break;
                case BPF_JMP | BPF_JNE | BPF_K:
                        if (r[i->dst_reg] != (unsigned long long)(long long)i->imm)
                                pc += i->off;
                        break;
                case BPF_JMP | BPF_JEQ | BPF_K:
                        if (r[i->dst_reg] == (unsigned long long)(long long)i->imm)
                                pc += i->off;
                        break;
                case BPF_JMP | BPF_EXIT:
                        return (int)r[0];
                default:
                        return -1;
                }
        }
        return -2;
}

static void test_devices(void)
{
        json_t *rules = json_loads("[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":false,"
                                   "\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":\"rwm\"},"
                                   "{\"allow\":true,\"type\":\"b\",\"major\":8,\"access\":\"r\"}]",
                                   0, NULL);
        json_t *eff = nk_cg_devices_effective(rules);
        CHECK(json_array_size(eff) == 13);
        /* the defaults sit right after the deny-all, before the user's rules */
        CHECK(json_is_false(json_object_get(json_array_get(eff, 0), "allow")));
        CHECK(json_integer_value(json_object_get(json_array_get(eff, 11), "minor")) == 5);
        struct bpf_insn *p = NULL;
        size_t n = 0;
        CHECK(nk_cg_bpf_devices_prog(eff, &p, &n, NULL) > 0);
        const int R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;
        const int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;
        CHECK(run_prog(p, n, C, R | W, 1, 3) == 1); /* /dev/null */
        CHECK(run_prog(p, n, C, R, 1, 5) == 0);     /* /dev/zero denied by the user */
        CHECK(run_prog(p, n, C, M, 1, 5) == 0);
        CHECK(run_prog(p, n, C, M, 4, 1) == 1);     /* mknod of anything */
        CHECK(run_prog(p, n, C, R, 4, 1) == 0);     /* but not open */
        CHECK(run_prog(p, n, B, R, 8, 1) == 1);     /* allow b 8:* r */
        CHECK(run_prog(p, n, B, R | W, 8, 1) == 0); /* not write */
        CHECK(run_prog(p, n, C, R | W, 136, 7) == 1);
        free(p);
        /* a rule that decides everything ends the program: nothing after it
         * may be unreachable (the verifier refuses that) */
        json_t *all = json_loads("[{\"allow\":false,\"access\":\"rwm\"}]", 0, NULL);
        CHECK(nk_cg_bpf_devices_prog(all, &p, &n, NULL) == 8);
        CHECK(p[n - 1].code == (BPF_JMP | BPF_EXIT));
        CHECK(run_prog(p, n, C, R, 1, 3) == 0);
        free(p);
        json_decref(all);
        /* no rule matching: allowed (an empty list restricts nothing) */
        json_t *none = json_array();
        CHECK(nk_cg_bpf_devices_prog(none, &p, &n, NULL) > 0);
        CHECK(run_prog(p, n, C, R, 1, 5) == 1);
        free(p);
        json_decref(none);
        json_decref(eff);
        json_decref(rules);
}

/* v1 writes from `list` (devices.list text) to what `rules` make, one
 * write a line. */
static char *v1_writes(const char *list, const char *rules_json, bool effective)
{
        json_t *rules = json_loads(rules_json, 0, NULL);
        if (effective) {
                json_t *e = nk_cg_devices_effective(rules);
                json_decref(rules);
                rules = e;
        }
        struct nk_cg_dev_state cur = {0};
        char **w = NULL, *out = NULL;
        size_t len = 0;
        CHECK(nk_cg_dev_state_parse(list, &cur) == 0);
        CHECK(nk_cg_dev_v1_writes(&cur, rules, &w) == 0);
        FILE *f = open_memstream(&out, &len);
        for (char **p = w; p && *p; p++)
                fprintf(f, "%s\n", *p);
        fclose(f);
        nk_strv_free(w);
        nk_cg_dev_state_clear(&cur);
        json_decref(rules);
        return out;
}

#define V1_WRITES(list, rules, eff, want)                                                          \
        do {                                                                                       \
                char *t_ = v1_writes(list, rules, eff);                                            \
                CHECK_STR(t_, want);                                                               \
                free(t_);                                                                          \
        } while (0)

static const char deny_zero[] = "[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":false,"
                                "\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":\"rw\"}]";
/* devices.list of a container made with deny_zero */
#define DENY_ZERO_LIST                                                                             \
        "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 m\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\n"       \
        "c 5:2 rwm\nc 136:* rwm\n"

static void test_devices_v1(void)
{
        /* fresh cgroup under an allow-all parent: the reset, then grants */
        V1_WRITES("a *:* rwm\n", deny_zero, true,
                  "deny a *:* rwm\nallow c *:* m\nallow b *:* m\nallow c 1:3 rwm\n"
                  "allow c 1:5 m\nallow c 1:7 rwm\nallow c 1:8 rwm\nallow c 1:9 rwm\n"
                  "allow c 5:0 rwm\nallow c 5:2 rwm\nallow c 136:* rwm\n");
        /* the same rules again on the running container: nothing to write */
        V1_WRITES(DENY_ZERO_LIST, deny_zero, true, "");
        /* give /dev/zero back, take b 8:* away: grant first, never a reset */
        V1_WRITES(DENY_ZERO_LIST "b 8:* rw\n", "[{\"allow\":false,\"access\":\"rwm\"}]", true,
                  "allow c 1:5 rw\ndeny b 8:* rw\n");
        V1_WRITES(DENY_ZERO_LIST, deny_zero, false,
                  "deny c *:* m\ndeny b *:* m\ndeny c 1:3 rwm\ndeny c 1:5 m\ndeny c 1:7 rwm\n"
                  "deny c 1:8 rwm\ndeny c 1:9 rwm\ndeny c 5:0 rwm\ndeny c 5:2 rwm\n"
                  "deny c 136:* rwm\n");
        /* a deny only removes an exception of exactly its numbers */
        V1_WRITES("c 1:* rwm\n",
                  "[{\"allow\":false,\"type\":\"a\"},{\"allow\":true,\"type\":\"c\",\"major\":1,"
                  "\"access\":\"rwm\"},{\"allow\":false,\"type\":\"c\",\"major\":1,\"minor\":5}]",
                  false, "");
        /* no reset in the list: edits on top of what is there */
        V1_WRITES("c 1:3 rwm\n",
                  "[{\"allow\":true,\"type\":\"c\",\"major\":4,\"minor\":1,"
                  "\"access\":\"r\"}]",
                  false, "allow c 4:1 r\n");
        V1_WRITES("a *:* rwm\n",
                  "[{\"allow\":false,\"type\":\"c\",\"major\":4,\"minor\":1,"
                  "\"access\":\"r\"}]",
                  false, "deny c 4:1 r\n");
        /* to allow-all: widen first, then the denies */
        V1_WRITES(DENY_ZERO_LIST,
                  "[{\"allow\":true,\"access\":\"rwm\"},{\"allow\":false,"
                  "\"type\":\"b\",\"major\":8,\"minor\":0,\"access\":\"w\"}]",
                  false, "allow a *:* rwm\ndeny b 8:0 w\n");
}

/* nk_cgroup_open refuses a path that could leave its root, before it
 * touches the host. */
static void test_open_refuses_dot_components(void)
{
        static const char *const bad[] = {"/nook/..", "/nook/../x", "/..", "/a/.", "/./a", "nook"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct nk_cgroup *cg = NULL;
                nk_error *e = NULL;
                CHECK(nk_cgroup_open(bad[i], &cg, &e) < 0 && cg == NULL);
                CHECK(e && e->errno_ == 0 && strstr(e->msg, "must be absolute and clean"));
                nk_error_free(e);
        }
}

/* Kernel text read with checked numbers: a malformed major ("1*2") is
 * skipped rather than read as 1; a "key value" with junk is absent. */
static void test_checked_numbers(void)
{
        struct nk_cg_dev_state st = {0};
        CHECK(nk_cg_dev_state_parse("c 1*2:3 rwm\nc 1:5 rw\nb 8:* m\n", &st) == 0);
        CHECK(!st.allow_all && st.n == 2);
        CHECK(st.n == 2 && st.ex[0].major == 1 && st.ex[0].minor == 5 && st.ex[1].minor == -1);
        nk_cg_dev_state_clear(&st);
        CHECK(nk_cg_kv_get("oom 1\noom_kill 7\n", "oom_kill") == 7);
        CHECK(nk_cg_kv_get("oom_kill 7x\n", "oom_kill") == -1);
        CHECK(nk_cg_kv_get("oom_kill 99999999999999999999\n", "oom_kill") == -1);
        CHECK(nk_cg_kv_get("oom_kill 3", "oom_kill") == 3);
}

int main(void)
{
        test_checked_numbers();
        test_open_refuses_dot_components();
        test_paths();
        test_mountinfo();
        test_conversions();
        test_validate();
        test_plans();
        test_devices();
        test_devices_v1();
        return UNIT_END();
}
