/* libFuzzer target: network strings -> address, prefix and port-mapping
 * parsers, pools and address picking. Each must accept or return an
 * error, never crash or leak; what parses must format back to text that
 * parses to the same value, and a picked address must be in its pool's
 * range, usable, and not the gateway. Input: up to three NUL-separated
 * strings (subnet, range, gateway). */
#include "net/ipam.h"
#include "net/nft.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int r, nk_error **err)
{
        if (r < 0 && (!*err || !(*err)->msg))
                __builtin_trap();
        nk_error_free(*err);
        *err = NULL;
}

static void roundtrip(const struct nk_cidr *c)
{
        char buf[NK_CIDR_STR_MAX];
        struct nk_cidr back;
        nk_cidr_format(c, buf);
        if (nk_cidr_parse(buf, &back, NULL) < 0 || back.len != c->len ||
            !nk_ip_equal(&back.ip, &c->ip))
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size + 3);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = buf[size + 1] = buf[size + 2] = '\0';
        const char *sub = buf, *range = sub + strlen(sub) + 1;
        const char *gw = range < buf + size + 1 ? range + strlen(range) + 1 : buf + size + 2;
        if (gw > buf + size + 2)
                gw = buf + size + 2;
        nk_error *err = NULL;
        struct nk_cidr s, r;
        struct nk_ip g, got;
        struct nk_port port;
        check(nk_port_parse(sub, &port, &err), &err);
        int rs = nk_cidr_parse(sub, &s, &err);
        check(rs, &err);
        if (rs < 0)
                goto out;
        roundtrip(&s);
        bool has_r = *range && nk_cidr_parse(range, &r, NULL) == 0;
        bool has_g = *gw && nk_ip_parse(gw, &g, NULL) == 0;
        struct nk_ipam_pool p;
        int rp = nk_ipam_pool_init(&p, &s, has_r ? &r : NULL, has_g ? &g : NULL, &err);
        check(rp, &err);
        if (rp < 0)
                goto out;
        struct nk_ip taken[3];
        size_t n = 0;
        for (int i = 0; i < 3; i++) {
                int rk = nk_ipam_pick(&p, taken, n, n ? &taken[n - 1] : NULL, &got, &err);
                check(rk, &err);
                if (rk < 0)
                        break;
                struct nk_ip first, last;
                nk_ipam_usable(&s, &first, &last);
                if (!nk_cidr_contains(&p.range, &got) || nk_ip_equal(&got, &p.gateway) ||
                    nk_ip_cmp(&got, &first) < 0 || nk_ip_cmp(&got, &last) > 0)
                        __builtin_trap();
                for (size_t k = 0; k < n; k++)
                        if (nk_ip_equal(&got, &taken[k]))
                                __builtin_trap();
                check(nk_ipam_check(&p, &got, taken, n, &err), &err);
                taken[n++] = got;
        }
out:
        free(buf);
        return 0;
}
