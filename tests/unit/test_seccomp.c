/* linux.seccomp validation (exact messages), the filter libseccomp builds
 * from a profile (checked in its PFC text) and the engine's default
 * profile. Pure: nothing is loaded here (see test_seccomp_load.c). */
#include "runtime/seccomp_cache.h"
#include "runtime/security.h"
#include "unit.h"
#include "util/cleanup.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *parse(const char *text)
{
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fprintf(stderr, "bad test JSON: %s: %s\n", text, je.text);
        return j;
}

/* The error text of validating `text`, or "ok". Caller frees. */
static char *validate(const char *text)
{
        json_t *j = parse(text);
        nk_error *e = NULL;
        int r = nk_seccomp_validate(j, "linux.seccomp", &e);
        json_decref(j);
        char *out = r == 0 ? strdup("ok") : strdup(e->msg);
        nk_error_free(e);
        return out;
}

static const struct {
        const char *json, *msg;
} bad[] = {
        {"[]", "linux.seccomp: must be an object"},
        {"{}", "linux.seccomp: missing \"defaultAction\""},
        {"{\"defaultAction\":\"SCMP_ACT_FOO\"}",
         "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\""},
        {"{\"defaultAction\":7}", "linux.seccomp.defaultAction: must be a string"},
        {"{\"defaultAction\":\"SCMP_ACT_NOTIFY\",\"listenerPath\":\"/x\"}",
         "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
        {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}",
         "linux.seccomp.defaultErrnoRet: must be an integer from 0 to 4095"},
        {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":5000}",
         "linux.seccomp.defaultErrnoRet: must be an integer from 0 to 4095"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_"
         "ARCH_VAX\"]}",
         "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_"
         "FILTER_FLAG_NOPE\"]}",
         "linux.seccomp.flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_NOPE\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":\"SECCOMP_FILTER_FLAG_LOG\"}",
         "linux.seccomp.flags: must be an array"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}",
         "linux.seccomp.syscalls: must be an array"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\"},"
         "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ERRNO\"},{\"names\":[\"b\"],\"action\":\"SCMP_"
         "ACT_ERRNO\"},"
         "{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_FOO\"}]}",
         "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"]}]}",
         "linux.seccomp.syscalls[0]: missing \"action\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}",
         "linux.seccomp.syscalls[0]: missing \"names\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_"
         "ERRNO\"}]}",
         "linux.seccomp.syscalls[0].names: must list at least one syscall"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\",\"\"],"
         "\"action\":\"SCMP_ACT_ERRNO\"}]}",
         "linux.seccomp.syscalls[0].names[1]: empty syscall name"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\",3],\"action\":"
         "\"SCMP_ACT_ERRNO\"}]}",
         "linux.seccomp.syscalls[0].names[1]: must be a string"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_KILL\",\"errnoRet\":1}]}",
         "linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
         "not SCMP_ACT_KILL"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\",\"errnoRet\":70000}]}",
         "linux.seccomp.syscalls[0].errnoRet: must be an integer from 0 to 4095"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\","
         "\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
         "linux.seccomp.syscalls[0].args[0].index: must be an integer from 0 to 5"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\","
         "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},{\"index\":1,\"value\":1,"
         "\"op\":\"SCMP_CMP_XOR\"}]}]}",
         "linux.seccomp.syscalls[0].args[1].op: unknown operator \"SCMP_CMP_XOR\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\","
         "\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}",
         "linux.seccomp.syscalls[0].args[0]: missing \"value\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\","
         "\"args\":[{\"index\":0,\"value\":\"1\",\"op\":\"SCMP_CMP_EQ\"}]}]}",
         "linux.seccomp.syscalls[0].args[0].value: must be an unsigned 64-bit integer"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
         "\"SCMP_ACT_ERRNO\","
         "\"args\":[{\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
         "linux.seccomp.syscalls[0].args[0]: missing \"index\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":"
         "\"SCMP_ACT_NOTIFY\"}]}",
         "linux.seccomp.listenerPath: required by SCMP_ACT_NOTIFY"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"agent.sock\","
         "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
         "linux.seccomp.listenerPath: must be an absolute path, not \"agent.sock\""},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/a.sock\","
         "\"syscalls\":[{\"names\":[\"mkdir\",\"sendmsg\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
         "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for sendmsg (nook "
         "sends the listener fd with it)"},
        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":3}",
         "linux.seccomp.listenerPath: must be a string"},
};

static const char *const good[] = {
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
        /* null counts as absent */
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":null,\"architectures\":null}",
        /* a listener path without notify rules is ignored (runc) */
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"\"}",
        "{\"defaultAction\":\"SCMP_ACT_KILL_PROCESS\",\"architectures\":[\"SCMP_ARCH_X86_64\","
        "\"SCMP_ARCH_X86\","
        "\"SCMP_ARCH_X32\",\"SCMP_ARCH_LOONGARCH64\"],\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\","
        "\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\",\"SECCOMP_FILTER_FLAG_WAIT_"
        "KILLABLE_RECV\"]}",
        /* value above INT64_MAX as the spec parser stores it */
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
        "\"SCMP_ACT_TRACE\","
        "\"errnoRet\":3,\"args\":[{\"index\":5,\"value\":-1,\"valueTwo\":0,\"op\":\"SCMP_CMP_"
        "MASKED_EQ\"}]}]}",
};

static void test_validation(void)
{
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_free_ char *m = validate(bad[i].json);
                CHECK_STR(m, bad[i].msg);
        }
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                _cleanup_free_ char *m = validate(good[i]);
                CHECK_STR(m, "ok");
        }
}

/* The PFC text libseccomp prints for a profile. */
static char *pfc(const char *text)
{
        json_t *j = parse(text);
        int fd = memfd_create("pfc", MFD_CLOEXEC);
        nk_error *e = NULL;
        char *out = NULL;
        if (nk_seccomp_export_pfc(j, fd, &e) < 0) {
                out = strdup(e->msg);
                nk_error_free(e);
        } else {
                off_t n = lseek(fd, 0, SEEK_CUR);
                out = calloc(1, (size_t)n + 1);
                if (pread(fd, out, (size_t)n, 0) != n)
                        out[0] = '\0';
        }
        close(fd);
        json_decref(j);
        return out;
}

static bool has(const char *text, const char *needle)
{
        bool r = text && strstr(text, needle);
        if (!r)
                fprintf(stderr, "missing in filter: %s\n", needle);
        return r;
}

static void test_build(void)
{
        _cleanup_free_ char *p =
                pfc("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
                    "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
                    "\"syscalls\":["
                    "{\"names\":[\"read\",\"write\",\"no_such_syscall\"],\"action\":\"SCMP_ACT_"
                    "ALLOW\"},"
                    "{\"names\":[\"getpgid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":33,"
                    " \"args\":[{\"index\":0,\"value\":255,\"valueTwo\":7,\"op\":\"SCMP_CMP_MASKED_"
                    "EQ\"}]},"
                    "{\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ALLOW\","
                    " \"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_GT\"},{\"index\":1,"
                    "\"value\":9,\"op\":\"SCMP_CMP_LE\"}]},"
                    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\","
                    " \"args\":[{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,"
                    "\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
                    "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
                    "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
                    "{\"names\":[\"socketcall\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
        CHECK(has(p, "filter for arch x86_64"));
        CHECK(has(p, "filter for arch x86 "));
        CHECK(has(p, "action ERRNO(38);"));
        CHECK(has(p, "if ($syscall == 0)")); /* read */
        CHECK(has(p, "if ($a0.lo32 & 0x000000ff == 7)"));
        CHECK(has(p, "action ERRNO(33);"));
        CHECK(has(p, "if ($a0.lo32 > 1)"));
        CHECK(has(p, "if ($a1.lo32 > 9)"));
        /* one argument compared twice: two rules, either matches */
        CHECK(has(p, "if ($a0.lo32 == 0)"));
        CHECK(has(p, "if ($a0.lo32 == 8)"));
        CHECK(has(p, "action KILL_PROCESS;"));
        /* socketcall exists for x86 only */
        CHECK(has(p, "if ($syscall == 102)"));
        /* getppid repeats the default action: no rule of its own */
        CHECK(!strstr(p, "\"getppid\""));
        /* execve was forgotten: nook adds it */
        CHECK(has(p, "\"execve\""));
        CHECK(has(p, "\"execveat\""));

        /* named execve: taken as written (default action applies) */
        _cleanup_free_ char *q = pfc("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                                     "{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_KILL\"}]}");
        CHECK(has(q, "\"execve\""));
        CHECK(!strstr(q, "\"execveat\""));
        CHECK(has(q, "action KILL;"));
        /* allow by default: nothing to add */
        _cleanup_free_ char *r = pfc("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                                     "{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
        CHECK(!strstr(r, "\"execve\""));
        CHECK(has(r, "action ERRNO(1);")); /* errnoRet defaults to EPERM */
}

static void test_prepare(void)
{
        json_t *j = parse(
                "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
                "\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
                "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
        struct nk_seccomp *s = NULL;
        nk_error *e = NULL;
        CHECK(nk_seccomp_prepare(j, &s, &e) == 0);
        CHECK(s && nk_seccomp_insn_count(s) > 3 && nk_seccomp_insn_count(s) < 100);
        nk_seccomp_free(s);
        json_decref(j);

        /* the agent must be there before anything starts */
        j = parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/nonexistent/"
                  "agent.sock\","
                  "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}");
        s = NULL;
        CHECK(nk_seccomp_prepare(j, &s, &e) < 0 && !s);
        CHECK_STR(e ? e->msg : NULL, "linux.seccomp.listenerPath: connect to the seccomp agent at "
                                     "`/nonexistent/agent.sock`");
        nk_error_free(e);
        json_decref(j);

        CHECK(nk_seccomp_prepare(NULL, &s, NULL) == 0 && s == NULL);
}

static void test_default_profile(void)
{
        nk_error *e = NULL;
        const char *txt = nk_seccomp_default_profile_text();
        CHECK(txt && strstr(txt, "\"defaultAction\""));

        json_t *none = nk_seccomp_default_profile(0, &e);
        CHECK(none != NULL);
        _cleanup_free_ char *t = json_dumps(none, JSON_COMPACT);
        CHECK(t && !strstr(t, "includes") && !strstr(t, "archMap") && !strstr(t, "\"mount\""));
        /* the build's own architecture and its 32-bit compat one */
#if defined(__x86_64__)
        CHECK(t && strstr(t, "\"SCMP_ARCH_X86_64\"") && strstr(t, "\"SCMP_ARCH_X86\""));
#elif defined(__aarch64__)
        CHECK(t && strstr(t, "\"SCMP_ARCH_AARCH64\"") && strstr(t, "\"SCMP_ARCH_ARM\""));
        CHECK(t && !strstr(t, "\"SCMP_ARCH_X86"));
#endif
        CHECK(t && strstr(t, "\"errnoRet\":38")); /* clone3 -> ENOSYS */
        struct nk_seccomp *s = NULL;
        CHECK(nk_seccomp_prepare(none, &s, &e) == 0);
        /* seccomp(2) takes at most 4096 instructions */
        CHECK(s && nk_seccomp_insn_count(s) < 4096);
        nk_seccomp_free(s);

        json_t *admin = nk_seccomp_default_profile(1ULL << 21 /* CAP_SYS_ADMIN */, &e);
        _cleanup_free_ char *a = json_dumps(admin, JSON_COMPACT);
        CHECK(a && strstr(a, "\"mount\"") && strstr(a, "\"unshare\""));
        /* with CAP_SYS_ADMIN, clone and clone3 are allowed outright */
        CHECK(a && !strstr(a, "\"errnoRet\":38") && !strstr(a, "2114060288"));
        CHECK(t && strstr(t, "2114060288"));
        json_t *ptr = nk_seccomp_default_profile(1ULL << 19 /* CAP_SYS_PTRACE */, &e);
        _cleanup_free_ char *pt = json_dumps(ptr, JSON_COMPACT);
        CHECK(pt && strstr(pt, "\"kcmp\"") && !strstr(t, "\"kcmp\""));
        /* ptrace and process_vm_* without it, as in Docker's; no io_uring */
        CHECK(t && strstr(t, "\"ptrace\"") && strstr(t, "\"process_vm_readv\""));
        CHECK(t && !strstr(t, "io_uring"));
        json_decref(none);
        json_decref(admin);
        json_decref(ptr);
        CHECK(e == NULL);

        /* Resolved for the build, not for uname: PER_LINUX32 makes uname
         * say i686, and the x86_64 profile must not change with it. */
        int old = personality(0xffffffff);
        CHECK(personality(PER_LINUX32) >= 0);
        json_t *p32 = nk_seccomp_default_profile(0, &e);
        personality((unsigned long)old);
        _cleanup_free_ char *t32 = json_dumps(p32, JSON_COMPACT);
        CHECK(t && t32 && streq(t, t32));
#ifdef __x86_64__
        CHECK(t32 && strstr(t32, "\"arch_prctl\"") &&
              strstr(t32, "[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]"));
#endif
        json_decref(p32);
}

/* ---- the program itself, run on made-up seccomp_data ------------------ */

/* A classic BPF interpreter for what libseccomp and nook's prefix emit,
 * so the i386 and x32 parts of a filter are checked on a kernel that
 * cannot enter them (this one has no int $0x80 gate and no x32). An
 * unknown instruction returns 0xdeadbeef. */
static uint32_t run_bpf(const struct sock_filter *f, size_t n, const struct seccomp_data *d)
{
        uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *i = &f[pc];
                uint32_t src = BPF_SRC(i->code) == BPF_X ? x : i->k;
                switch (BPF_CLASS(i->code)) {
                case BPF_LD:
                        if (BPF_MODE(i->code) == BPF_ABS && i->k + 4 <= sizeof *d)
                                memcpy(&a, (const char *)d + i->k, 4);
                        else if (BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS)
                                a = mem[i->k];
                        else
                                return 0xdeadbeef;
                        break;
                case BPF_LDX:
                        if (BPF_MODE(i->code) != BPF_MEM || i->k >= BPF_MEMWORDS)
                                return 0xdeadbeef;
                        x = mem[i->k];
                        break;
                case BPF_ST:
                case BPF_STX:
                        if (i->k >= BPF_MEMWORDS)
                                return 0xdeadbeef;
                        mem[i->k] = BPF_CLASS(i->code) == BPF_ST ? a : x;
                        break;
                case BPF_ALU:
                        if (BPF_OP(i->code) == BPF_AND)
                                a &= src;
                        else if (BPF_OP(i->code) == BPF_OR)
                                a |= src;
                        else
                                return 0xdeadbeef;
                        break;
                case BPF_JMP: {
                        bool t;
                        switch (BPF_OP(i->code)) {
                        case BPF_JA:
                                pc += i->k;
                                continue;
                        case BPF_JEQ:
                                t = a == src;
                                break;
                        case BPF_JGT:
                                t = a > src;
                                break;
                        case BPF_JGE:
                                t = a >= src;
                                break;
                        case BPF_JSET:
                                t = (a & src) != 0;
                                break;
                        default:
                                return 0xdeadbeef;
                        }
                        pc += t ? i->jt : i->jf;
                        break;
                }
                case BPF_RET:
                        return BPF_RVAL(i->code) == BPF_A ? a : i->k;
                case BPF_MISC:
                        if (BPF_MISCOP(i->code) == BPF_TAX)
                                x = a;
                        else
                                a = x;
                        break;
                default:
                        return 0xdeadbeef;
                }
        }
        return 0xdeadbeef; /* fell off the end: the kernel refuses such programs */
}

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (e))
#define X32          0x40000000u

static const struct {
        uint32_t arch, nr;
        uint64_t a0;
        uint32_t want;
        const char *what;
} default_cases[] = {
#if defined(__aarch64__)
        /* The default profile of an aarch64 build covers aarch64 and arm
         * (asm-generic numbers; arm's own table, EABI without socketcall). */
        {AUDIT_ARCH_AARCH64, 172, 0, SECCOMP_RET_ALLOW, "getpid"},
        {AUDIT_ARCH_AARCH64, 219, 0, RET_ERRNO(EPERM), "keyctl: known, refused"},
        {AUDIT_ARCH_AARCH64, 425, 0, RET_ERRNO(EPERM), "io_uring_setup"},
        {AUDIT_ARCH_AARCH64, 468, 0, RET_ERRNO(ENOSYS), "file_getattr: newer than the profile"},
        {AUDIT_ARCH_AARCH64, 0xffffffff, 0, RET_ERRNO(ENOSYS), "syscall -1"},
        {AUDIT_ARCH_AARCH64, 462, 0, SECCOMP_RET_ALLOW, "mseal: by number"},
        {AUDIT_ARCH_AARCH64, 117, 0, SECCOMP_RET_ALLOW, "ptrace"},
        {AUDIT_ARCH_AARCH64, 198, 0x100000028, RET_ERRNO(EPERM), "socket(AF_VSOCK | 1 << 32)"},
        {AUDIT_ARCH_AARCH64, 198, 0x100000001, SECCOMP_RET_ALLOW, "socket(AF_UNIX | 1 << 32)"},
        {AUDIT_ARCH_AARCH64, 198, 38, RET_ERRNO(EPERM), "socket(AF_ALG)"},
        {AUDIT_ARCH_AARCH64, 198, 10, SECCOMP_RET_ALLOW, "socket(AF_INET6)"},
        {AUDIT_ARCH_AARCH64, 199, 40, RET_ERRNO(EPERM), "socketpair(AF_VSOCK)"},
        {AUDIT_ARCH_ARM, 20, 0, SECCOMP_RET_ALLOW, "arm getpid"},
        {AUDIT_ARCH_ARM, 311, 0, RET_ERRNO(EPERM), "arm keyctl"},
        {AUDIT_ARCH_ARM, 425, 0, RET_ERRNO(EPERM), "arm io_uring_setup"},
        {AUDIT_ARCH_ARM, 468, 0, RET_ERRNO(ENOSYS), "arm file_getattr"},
        {AUDIT_ARCH_ARM, 462, 0, SECCOMP_RET_ALLOW, "arm mseal"},
        {AUDIT_ARCH_ARM, 281, 40, RET_ERRNO(EPERM), "arm socket(AF_VSOCK)"},
        {AUDIT_ARCH_ARM, 281, 1, SECCOMP_RET_ALLOW, "arm socket(AF_UNIX)"},
        {AUDIT_ARCH_ARM, 26, 0, SECCOMP_RET_ALLOW, "arm ptrace"},
#else
        {AUDIT_ARCH_X86_64, 39, 0, SECCOMP_RET_ALLOW, "getpid"},
        {AUDIT_ARCH_X86_64, 250, 0, RET_ERRNO(EPERM), "keyctl: known, refused"},
        {AUDIT_ARCH_X86_64, 425, 0, RET_ERRNO(EPERM), "io_uring_setup"},
        {AUDIT_ARCH_X86_64, 468, 0, RET_ERRNO(ENOSYS), "file_getattr: newer than the profile"},
        {AUDIT_ARCH_X86_64, 0xffffffff, 0, RET_ERRNO(ENOSYS), "syscall -1"},
        {AUDIT_ARCH_X86_64, 462, 0, SECCOMP_RET_ALLOW, "mseal: by number"},
        {AUDIT_ARCH_X86_64, 101, 0, SECCOMP_RET_ALLOW, "ptrace"},
        {AUDIT_ARCH_X86_64, 41, 0x100000028, RET_ERRNO(EPERM), "socket(AF_VSOCK | 1 << 32)"},
        {AUDIT_ARCH_X86_64, 41, 0x100000001, SECCOMP_RET_ALLOW, "socket(AF_UNIX | 1 << 32)"},
        {AUDIT_ARCH_X86_64, 41, 38, RET_ERRNO(EPERM), "socket(AF_ALG)"},
        {AUDIT_ARCH_X86_64, 41, 10, SECCOMP_RET_ALLOW, "socket(AF_INET6)"},
        {AUDIT_ARCH_I386, 20, 0, SECCOMP_RET_ALLOW, "i386 getpid"},
        {AUDIT_ARCH_I386, 288, 0, RET_ERRNO(EPERM), "i386 keyctl"},
        {AUDIT_ARCH_I386, 425, 0, RET_ERRNO(EPERM), "i386 io_uring_setup"},
        {AUDIT_ARCH_I386, 468, 0, RET_ERRNO(ENOSYS), "i386 file_getattr"},
        {AUDIT_ARCH_I386, 462, 0, SECCOMP_RET_ALLOW, "i386 mseal"},
        {AUDIT_ARCH_I386, 102, 1, RET_ERRNO(EPERM), "i386 socketcall(SYS_SOCKET)"},
        {AUDIT_ARCH_I386, 102, 3, SECCOMP_RET_ALLOW, "i386 socketcall(SYS_CONNECT)"},
        {AUDIT_ARCH_I386, 102, 8, RET_ERRNO(EPERM), "i386 socketcall(SYS_SOCKETPAIR)"},
        {AUDIT_ARCH_I386, 360, 40, RET_ERRNO(EPERM), "i386 socketpair(AF_VSOCK)"},
        {AUDIT_ARCH_I386, 360, 1, SECCOMP_RET_ALLOW, "i386 socketpair(AF_UNIX)"},
        {AUDIT_ARCH_X86_64, 53, 0x100000028, RET_ERRNO(EPERM), "socketpair(AF_VSOCK | 1 << 32)"},
        {AUDIT_ARCH_X86_64, 53, 0x100000001, SECCOMP_RET_ALLOW, "socketpair(AF_UNIX | 1 << 32)"},
        {AUDIT_ARCH_X86_64, 53, 38, RET_ERRNO(EPERM), "socketpair(AF_ALG)"},
        {AUDIT_ARCH_I386, 359, 40, RET_ERRNO(EPERM), "i386 socket(AF_VSOCK)"},
        {AUDIT_ARCH_I386, 359, 1, SECCOMP_RET_ALLOW, "i386 socket(AF_UNIX)"},
        {AUDIT_ARCH_I386, 26, 0, SECCOMP_RET_ALLOW, "i386 ptrace"},
        {AUDIT_ARCH_X86_64, X32 | 39, 0, SECCOMP_RET_ALLOW, "x32 getpid"},
        {AUDIT_ARCH_X86_64, X32 | 250, 0, RET_ERRNO(EPERM), "x32 keyctl"},
        {AUDIT_ARCH_X86_64, X32 | 468, 0, RET_ERRNO(ENOSYS), "x32 file_getattr"},
        {AUDIT_ARCH_X86_64, X32 | 462, 0, SECCOMP_RET_ALLOW, "x32 mseal"},
        {AUDIT_ARCH_X86_64, X32 | 512, 0, SECCOMP_RET_ALLOW, "x32 rt_sigaction (private range)"},
        {AUDIT_ARCH_X86_64, X32 | 600, 0, RET_ERRNO(ENOSYS), "x32 above its private range"},
        {AUDIT_ARCH_X86_64, X32 | 41, 0x28, RET_ERRNO(EPERM), "x32 socket(AF_VSOCK)"},
#endif
};

static uint32_t verdict(const struct nk_seccomp *s, uint32_t arch, uint32_t nr, uint64_t a0)
{
        struct seccomp_data d = {.nr = (int)nr, .arch = arch, .args = {a0}};
        return run_bpf(nk_seccomp_program(s), nk_seccomp_insn_count(s), &d);
}

static void test_default_program(void)
{
        nk_error *e = NULL;
        json_t *def = nk_seccomp_default_profile(0, &e);
        struct nk_seccomp *s = NULL;
        CHECK(def && nk_seccomp_prepare(def, &s, &e) == 0);
        for (size_t i = 0; s && i < sizeof default_cases / sizeof default_cases[0]; i++) {
                uint32_t got =
                        verdict(s, default_cases[i].arch, default_cases[i].nr, default_cases[i].a0);
                if (got != default_cases[i].want)
                        fprintf(stderr, "%s: got %#x, want %#x\n", default_cases[i].what, got,
                                default_cases[i].want);
                CHECK(got == default_cases[i].want);
        }
        nk_seccomp_free(s);
        json_decref(def);

        /* The PFC text shows the prefix too. */
        json_t *d = nk_seccomp_default_profile(0, &e);
        _cleanup_free_ char *dt = json_dumps(d, JSON_COMPACT);
        _cleanup_free_ char *text = dt ? pfc(dt) : NULL;
        json_decref(d);
#if defined(__x86_64__)
        CHECK(text && strstr(text, "# nook's prefix") && strstr(text, "nr > 466 -> ERRNO(38)") &&
              strstr(text, "socketcall(SYS_SOCKET) -> 0x50001") &&
              strstr(text, "socketcall(SYS_SOCKETPAIR) -> 0x50001") &&
              strstr(text, "nr == 462 -> 0x7fff0000"));
#else
        CHECK(text && strstr(text, "# nook's prefix") && strstr(text, "nr == 462 -> 0x7fff0000"));
#endif

        /* Allowed by default: no ENOSYS and no socketcall rule, but a name
         * libseccomp lacks is still filtered, by number, on every arch. */
        json_t *allow = parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":"
                              "[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
                              "\"syscalls\":[{\"names\":[\"mseal\"],\"action\":\"SCMP_ACT_ERRNO\","
                              "\"errnoRet\":22},{\"names\":[\"socket\"],\"action\":"
                              "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":40,"
                              "\"op\":\"SCMP_CMP_EQ\"}]}]}");
        CHECK(nk_seccomp_prepare(allow, &s, &e) == 0);
        CHECK(verdict(s, AUDIT_ARCH_X86_64, 468, 0) == SECCOMP_RET_ALLOW);
        CHECK(verdict(s, AUDIT_ARCH_X86_64, 462, 0) == RET_ERRNO(22));
        CHECK(verdict(s, AUDIT_ARCH_I386, 462, 0) == RET_ERRNO(22));
        CHECK(verdict(s, AUDIT_ARCH_X86_64, X32 | 462, 0) == RET_ERRNO(22));
        CHECK(verdict(s, AUDIT_ARCH_X86_64, 39, 0) == SECCOMP_RET_ALLOW);
        nk_seccomp_free(s);
        json_decref(allow);

        /* arm's private range (0xf0000...) has a line of its own; aarch64
         * beside it in one filter. */
        json_t *arm = parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":"
                            "[\"SCMP_ARCH_AARCH64\",\"SCMP_ARCH_ARM\"],\"syscalls\":[{\"names\":"
                            "[\"getpid\",\"read\",\"set_tls\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
        CHECK(nk_seccomp_prepare(arm, &s, &e) == 0);
        CHECK(verdict(s, AUDIT_ARCH_ARM, 20, 0) == SECCOMP_RET_ALLOW);      /* getpid */
        CHECK(verdict(s, AUDIT_ARCH_ARM, 0xf0005, 0) == SECCOMP_RET_ALLOW); /* set_tls */
        CHECK(verdict(s, AUDIT_ARCH_ARM, 0xf0002, 0) == RET_ERRNO(EPERM));  /* cacheflush */
        CHECK(verdict(s, AUDIT_ARCH_ARM, 0xf0006, 0) == RET_ERRNO(ENOSYS));
        CHECK(verdict(s, AUDIT_ARCH_ARM, 0x1000, 0) == RET_ERRNO(ENOSYS));
        CHECK(verdict(s, AUDIT_ARCH_ARM, 322, 0) == RET_ERRNO(EPERM));      /* openat */
        CHECK(verdict(s, AUDIT_ARCH_AARCH64, 172, 0) == SECCOMP_RET_ALLOW); /* getpid */
        CHECK(verdict(s, AUDIT_ARCH_AARCH64, 98, 0) == RET_ERRNO(EPERM));   /* futex */
        /* execveat (281), added by nook, is the highest aarch64 number */
        CHECK(verdict(s, AUDIT_ARCH_AARCH64, 281, 0) == SECCOMP_RET_ALLOW);
        CHECK(verdict(s, AUDIT_ARCH_AARCH64, 282, 0) == RET_ERRNO(ENOSYS));
        nk_seccomp_free(s);
        json_decref(arm);

        /* A name libseccomp lacks with argument comparisons: refused. */
        json_t *args = parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
                             "[\"mseal\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,"
                             "\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}");
        s = NULL;
        CHECK(nk_seccomp_prepare(args, &s, &e) < 0 && s == NULL);
        CHECK(e && strstr(e->msg, "linux.seccomp.syscalls[0]: mseal is unknown to libseccomp") &&
              strstr(e->msg, "without args"));
        nk_error_free(e);
        json_decref(args);
}

/* Whether a create may hand over to nook-init (see may_hand_over()). */
static void test_allows_plainly(void)
{
        static const char *const used[] = {"accept4", "close", "execve", "execveat", NULL};
        static const struct {
                const char *json;
                bool want;
        } cases[] = {
                {"{\"defaultAction\":\"SCMP_ACT_ALLOW\"}", true},
                {"{\"defaultAction\":\"SCMP_ACT_LOG\"}", true},
                {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\","
                 "\"close\"],"
                 "\"action\":\"SCMP_ACT_ERRNO\"}]}",
                 false},
                /* an allow-list naming them all; execve* get added when unnamed */
                {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"accept4\","
                 "\"close\"],"
                 "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                 true},
                {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"accept4\","
                 "\"close\","
                 "\"execve\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
                 false}, /* execveat named by none */
                {"{\"defaultAction\":\"SCMP_ACT_KILL\",\"syscalls\":[{\"names\":[\"close\"],"
                 "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                 false},
                /* conditions, or rules that disagree: assume the worst */
                {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"accept4\","
                 "\"close\"],"
                 "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":3,\"op\":\"SCMP_"
                 "CMP_EQ\"}]}]}",
                 false},
                {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"close\"],"
                 "\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"close\"],\"action\":\"SCMP_ACT_"
                 "TRACE\"}]}",
                 false},
                {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/agent.sock\"}",
                 false},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                json_t *j = parse(cases[i].json);
                bool got = nk_seccomp_allows_plainly(j, used);
                if (got != cases[i].want)
                        fprintf(stderr, "case %zu: %s\n", i, cases[i].json);
                CHECK(got == cases[i].want);
                json_decref(j);
        }
        CHECK(nk_seccomp_allows_plainly(NULL, used));
        /* the engine's default profile lets nook-init through */
        nk_error *e = NULL;
        json_t *def = nk_seccomp_default_profile(0, &e);
        CHECK(def && nk_seccomp_allows_plainly(def, used));
        json_decref(def);
}

static void test_features(void)
{
        json_t *f = nk_seccomp_features();
        _cleanup_free_ char *t = json_dumps(f, JSON_COMPACT);
        CHECK(t && strstr(t, "\"SCMP_ACT_NOTIFY\"") && strstr(t, "\"SCMP_CMP_MASKED_EQ\""));
        CHECK(t && strstr(t, "\"SCMP_ARCH_X86_64\"") && !strstr(t, "LOONGARCH"));
        json_t *sup = json_object_get(f, "supportedFlags");
        CHECK(json_array_size(sup) == 4); /* kernel 6.18 has all of them */
        json_decref(f);
}

/* ---- the cache of built programs ------------------------------------------ */

static bool same_program(const struct nk_seccomp *a, const struct nk_seccomp *b)
{
        return a && b && nk_seccomp_insn_count(a) == nk_seccomp_insn_count(b) &&
               memcmp(nk_seccomp_program(a), nk_seccomp_program(b),
                      nk_seccomp_insn_count(a) * sizeof(struct sock_filter)) == 0;
}

/* The one entry in `dir` (its path in buf), or false. */
static bool only_entry(const char *dir, char *buf, size_t size)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.' && ++n == 1)
                        snprintf(buf, size, "%s/%s", dir, de->d_name);
        if (d)
                closedir(d);
        return n == 1;
}

static struct nk_seccomp *prepare_in(json_t *j, const char *dir)
{
        struct nk_seccomp *s = NULL;
        nk_error *e = NULL;
        if (nk_seccomp_prepare_cached(j, dir, &s, &e) < 0) {
                fprintf(stderr, "prepare: %s\n", e ? e->msg : "?");
                nk_error_free(e);
        }
        return s;
}

static void test_cache(void)
{
        char dir[] = "/tmp/nook-unit-seccomp.XXXXXX", cache[64], entry[512];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(cache, sizeof cache, "%s/cache", dir);
        nk_error *e = NULL;
        json_t *def = nk_seccomp_default_profile(0, &e);
        struct nk_seccomp *plain = NULL;
        CHECK(def && nk_seccomp_prepare(def, &plain, &e) == 0);

        /* a miss builds the program and keeps it, in a directory of ours */
        struct nk_seccomp *s = prepare_in(def, cache);
        CHECK(same_program(s, plain));
        nk_seccomp_free(s);
        struct stat st;
        CHECK(stat(cache, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(only_entry(cache, entry, sizeof entry));
        CHECK(stat(entry, &st) == 0 && (st.st_mode & 0777) == 0600);

        /* a hit is what the entry holds: put a made-up program under the
         * profile's canonical text, keys in another order give it too */
        struct sock_filter fake[2] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
                                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        struct nk_seccomp_built b = {
                .prog = fake, .n_prog = 2, .n_used = 1, .used = {SECCOMP_RET_ALLOW}};
        json_t *j1 = parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":"
                           "[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
        json_t *j2 = parse("{\"syscalls\":[{\"action\":\"SCMP_ACT_ALLOW\",\"names\":"
                           "[\"getpid\"]}],\"defaultAction\":\"SCMP_ACT_ERRNO\"}");
        _cleanup_free_ char *key = json_dumps(j1, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        nk_seccomp_cache_put(cache, key, strlen(key), &b);
        s = prepare_in(j2, cache);
        CHECK(s && nk_seccomp_insn_count(s) == 2 &&
              memcmp(nk_seccomp_program(s), fake, sizeof fake) == 0);
        nk_seccomp_free(s);
        /* ... and never for another profile */
        s = prepare_in(def, cache);
        CHECK(same_program(s, plain));
        nk_seccomp_free(s);

        /* a torn or altered entry is built again (and rewritten) */
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
        CHECK(system(cmd) == 0);
        s = prepare_in(def, cache);
        nk_seccomp_free(s);
        CHECK(only_entry(cache, entry, sizeof entry));
        struct stat before;
        CHECK(stat(entry, &before) == 0);
        int fd = open(entry, O_RDWR);
        char byte = 0;
        CHECK(fd >= 0 && pread(fd, &byte, 1, before.st_size - 3) == 1);
        byte ^= 0x40; /* the program's last instruction */
        CHECK(pwrite(fd, &byte, 1, before.st_size - 3) == 1);
        s = prepare_in(def, cache);
        CHECK(same_program(s, plain));
        nk_seccomp_free(s);
        CHECK(fd >= 0 && ftruncate(fd, before.st_size / 2) == 0);
        s = prepare_in(def, cache);
        CHECK(same_program(s, plain));
        nk_seccomp_free(s);
        if (fd >= 0)
                close(fd);
        CHECK(stat(entry, &st) == 0 && st.st_size == before.st_size); /* written again */

        /* an entry others may write is not taken */
        nk_seccomp_cache_put(cache, key, strlen(key), &b);
        s = prepare_in(j1, cache);
        CHECK(s && nk_seccomp_insn_count(s) == 2);
        nk_seccomp_free(s);
        char fake_entry[512] = "";
        DIR *d = opendir(cache);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.' && strcmp(entry + strlen(cache) + 1, de->d_name) != 0)
                        snprintf(fake_entry, sizeof fake_entry, "%s/%s", cache, de->d_name);
        if (d)
                closedir(d);
        CHECK(fake_entry[0] && chmod(fake_entry, 0620) == 0);
        s = prepare_in(j1, cache);
        CHECK(s && nk_seccomp_insn_count(s) > 2);
        nk_seccomp_free(s);
        CHECK(chmod(cache, 0770) == 0); /* a directory others may write: no cache at all */
        nk_seccomp_cache_put(cache, key, strlen(key), &b);
        s = prepare_in(j1, cache);
        CHECK(s && nk_seccomp_insn_count(s) > 2);
        nk_seccomp_free(s);

        json_decref(j1);
        json_decref(j2);
        json_decref(def);
        nk_seccomp_free(plain);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
}

int main(void)
{
        /* libseccomp asks the kernel which actions it may use */
        unit_require_syscall(SYS_seccomp, "seccomp");
        test_validation();
        test_build();
        test_prepare();
        test_default_profile();
        test_default_program();
        test_cache();
        test_allows_plainly();
        test_features();
        return UNIT_END();
}
