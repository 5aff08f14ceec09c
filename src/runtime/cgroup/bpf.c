/* cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program built
 * from the rule list and attached to the container's cgroup.
 *
 * The program checks the rules last to first and returns the verdict of the
 * first that matches, so a later rule overrides an earlier one as on v1. An
 * allow rule matches when it grants every access asked for; a deny rule
 * when it covers any of them. No match: allow, as a new v1 devices cgroup
 * does (rule lists start with "deny all" in practice).
 *
 * Attached with BPF_F_ALLOW_MULTI: programs in descendant cgroups (a nested
 * runtime inside the container) then run in addition to ours, never
 * instead of it, so they can only narrow what the container may open. An
 * update attaches the new program before detaching the old one, so there is
 * no moment without a filter. */
#include "../../util/cleanup.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i)                                                                        \
        ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o)   INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define MOV_REG(d, s)    INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)    INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define AND_IMM(d, i)    INSN(BPF_ALU | BPF_AND | BPF_K, d, 0, 0, i)
#define RSH_IMM(d, i)    INSN(BPF_ALU | BPF_RSH | BPF_K, d, 0, 0, i)
#define JNE_IMM(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define EXIT()           INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers after the prologue: r2 type, r3 access, r4 major, r5 minor. */
struct prog {
        struct bpf_insn *v;
        size_t n, cap;
};

static int emit(struct prog *p, struct bpf_insn i)
{
        if (p->n == p->cap) {
                size_t nc = p->cap ? p->cap * 2 : 64;
                struct bpf_insn *nv = realloc(p->v, nc * sizeof(*nv));
                if (!nv)
                        return -1;
                p->v = nv;
                p->cap = nc;
        }
        p->v[p->n++] = i;
        return 0;
}

static int prologue(struct prog *p)
{
        /* struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
         * access_type = (access << 16) | type */
        struct bpf_insn pro[] = {
                LDX_W(BPF_REG_2, BPF_REG_1, 0), AND_IMM(BPF_REG_2, 0xFFFF),
                LDX_W(BPF_REG_3, BPF_REG_1, 0), RSH_IMM(BPF_REG_3, 16),
                LDX_W(BPF_REG_4, BPF_REG_1, 4), LDX_W(BPF_REG_5, BPF_REG_1, 8),
        };
        for (size_t i = 0; i < ARRAY_SIZE(pro); i++)
                if (emit(p, pro[i]) < 0)
                        return -1;
        return 0;
}

static int access_bits(const char *a)
{
        if (!a || !*a)
                a = "rwm";
        int bits = 0;
        if (strchr(a, 'r'))
                bits |= BPF_DEVCG_ACC_READ;
        if (strchr(a, 'w'))
                bits |= BPF_DEVCG_ACC_WRITE;
        if (strchr(a, 'm'))
                bits |= BPF_DEVCG_ACC_MKNOD;
        return bits;
}

static long long num_or_any(json_t *v)
{
        return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* One rule as a block whose every failed test jumps to the block's end.
 * Returns 1 when the block has no test (it decides every request, so what
 * would follow is unreachable, which the verifier refuses), 0 otherwise. */
static int rule_block(struct prog *p, json_t *d)
{
        struct bpf_insn b[8];
        size_t n = 0;
        const char *t = json_string_value(json_object_get(d, "type"));
        int acc = access_bits(json_string_value(json_object_get(d, "access")));
        bool allow = json_is_true(json_object_get(d, "allow"));
        long long ma = num_or_any(json_object_get(d, "major"));
        long long mi = num_or_any(json_object_get(d, "minor"));
        if (t && streq(t, "b"))
                b[n++] = JNE_IMM(BPF_REG_2, BPF_DEVCG_DEV_BLOCK, 0);
        else if (t && streq(t, "c"))
                b[n++] = JNE_IMM(BPF_REG_2, BPF_DEVCG_DEV_CHAR, 0);
        if (acc != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
                b[n++] = MOV_REG(BPF_REG_1, BPF_REG_3);
                /* allow: nothing asked outside acc; deny: something inside */
                b[n++] = AND_IMM(BPF_REG_1, allow ? ~acc : acc);
                b[n++] = allow ? JNE_IMM(BPF_REG_1, 0, 0) : JEQ_IMM(BPF_REG_1, 0, 0);
        }
        if (ma >= 0)
                b[n++] = JNE_IMM(BPF_REG_4, (int)ma, 0);
        if (mi >= 0)
                b[n++] = JNE_IMM(BPF_REG_5, (int)mi, 0);
        bool unconditional = n == 0;
        b[n++] = MOV_IMM(BPF_REG_0, allow ? 1 : 0);
        b[n++] = EXIT();
        for (size_t i = 0; i < n; i++) {
                if (BPF_CLASS(b[i].code) == BPF_JMP && BPF_OP(b[i].code) != BPF_EXIT)
                        b[i].off = (short)(n - i - 1);
                if (emit(p, b[i]) < 0)
                        return -1;
        }
        return unconditional;
}

int nk_cg_bpf_devices_prog(json_t *devices, struct bpf_insn **out, size_t *n, nk_error **err)
{
        struct prog p = {0};
        if (prologue(&p) < 0)
                goto oom;
        int r = 0;
        for (size_t i = json_array_size(devices); i-- > 0 && r == 0;)
                if ((r = rule_block(&p, json_array_get(devices, i))) < 0)
                        goto oom;
        if (r == 0 && (emit(&p, MOV_IMM(BPF_REG_0, 1)) < 0 || emit(&p, EXIT()) < 0))
                goto oom;
        *out = p.v;
        *n = p.n;
        return (int)p.n;
oom:
        free(p.v);
        return nk_error_set(err, ENOMEM, "build device program");
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
        return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load(struct bpf_insn *insns, size_t n, nk_error **err)
{
        char log[4096] = "";
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        a.insns = (unsigned long)insns;
        a.insn_cnt = (unsigned)n;
        a.license = (unsigned long)"GPL";
        a.log_buf = (unsigned long)log;
        a.log_size = sizeof(log);
        a.log_level = 1;
        int fd = sys_bpf(BPF_PROG_LOAD, &a);
        if (fd < 0 && errno == ENOSPC) { /* log too small is not the real error */
                a.log_level = 0;
                a.log_buf = 0;
                a.log_size = 0;
                fd = sys_bpf(BPF_PROG_LOAD, &a);
        }
        if (fd < 0)
                return nk_error_set(err, errno, "load BPF device program (%zu insns)%s%.200s", n,
                                    log[0] ? ": " : "", log);
        return fd;
}

/* IDs of the device programs attached to the cgroup itself. */
static int query(int cgfd, __u32 *ids, __u32 *cnt)
{
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.query.target_fd = (unsigned)cgfd;
        a.query.attach_type = BPF_CGROUP_DEVICE;
        a.query.prog_ids = (unsigned long)ids;
        a.query.prog_cnt = *cnt;
        if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
                return -1;
        *cnt = a.query.prog_cnt;
        return 0;
}

static void detach_id(int cgfd, __u32 id)
{
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.prog_id = id;
        _cleanup_close_ int pfd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
        if (pfd < 0)
                return;
        memset(&a, 0, sizeof(a));
        a.target_fd = (unsigned)cgfd;
        a.attach_bpf_fd = (unsigned)pfd;
        a.attach_type = BPF_CGROUP_DEVICE;
        sys_bpf(BPF_PROG_DETACH, &a);
}

int nk_cg_bpf_devices_attach(const char *dir, json_t *devices, nk_error **err)
{
        _cleanup_free_ struct bpf_insn *insns = NULL;
        size_t n = 0;
        if (nk_cg_bpf_devices_prog(devices, &insns, &n, err) < 0)
                return -1;
        _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0)
                return nk_error_set(err, errno, "open `%s`", dir);
        __u32 old[64], nold = ARRAY_SIZE(old);
        if (query(cgfd, old, &nold) < 0)
                nold = 0;
        _cleanup_close_ int pfd = load(insns, n, err);
        if (pfd < 0)
                return -1;
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.target_fd = (unsigned)cgfd;
        a.attach_bpf_fd = (unsigned)pfd;
        a.attach_type = BPF_CGROUP_DEVICE;
        a.attach_flags = BPF_F_ALLOW_MULTI;
        if (sys_bpf(BPF_PROG_ATTACH, &a) < 0)
                return nk_error_set(err, errno, "attach BPF device program to `%s`", dir);
        for (__u32 i = 0; i < nold && i < ARRAY_SIZE(old); i++)
                detach_id(cgfd, old[i]);
        return 0;
}
