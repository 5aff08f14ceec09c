/* `nook stats`' NET I/O and BLOCK I/O arithmetic (engine/container/iostats.h):
 * /proc/net/dev text with lo left out, malformed and truncated lines, and
 * the blkio sums of v1 and v2 shaped stats. */
#include "engine/container/iostats.h"
#include "unit.h"

static const char dev[] =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n"
        "    lo:  999999     100    0    0    0     0          0         0   999999     100    0 "
        "   0    0     0       0          0\n"
        "  eth0:    1500      10    0    0    0     0          0         0      700       5    0 "
        "   0    0     0       0          0\n"
        "veth-long-name:25 1 0 0 0 0 0 0 75 1 0 0 0 0 0 0\n";

static void test_net_dev(void)
{
        uint64_t rx = 1, tx = 1;
        CHECK(nk_net_dev_totals(dev, &rx, &tx) == 0);
        CHECK(rx == 1525 && tx == 775);
        /* only lo: zero, not an error */
        const char only_lo[] = "    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n";
        CHECK(nk_net_dev_totals(only_lo, &rx, &tx) == 0 && rx == 0 && tx == 0);
        /* a line cut before its transmit bytes is skipped; the rest counts */
        const char cut[] = "  eth0: 10 1 0 0 0 0 0 0\n  eth1: 1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0";
        CHECK(nk_net_dev_totals(cut, &rx, &tx) == 0 && rx == 1 && tx == 2);
        /* negative or overflowing numbers are not numbers */
        const char bad[] = "  eth0: -1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n"
                           "  eth1: 99999999999999999999999 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n";
        rx = tx = 7;
        CHECK(nk_net_dev_totals(bad, &rx, &tx) == -1 && rx == 7 && tx == 7);
        CHECK(nk_net_dev_totals("", &rx, &tx) == -1);
        CHECK(nk_net_dev_totals("Inter-|\n face |\n", &rx, &tx) == -1);
}

static void test_blkio(void)
{
        json_t *v1 = json_pack(
                "{s:{s:[{s:i,s:i,s:s,s:i},{s:i,s:i,s:s,s:i},{s:i,s:i,s:s,s:i},{s:i,s:i,s:s,s:i},"
                "{s:i,s:i,s:s,s:i}]}}",
                "blkio", "ioServiceBytesRecursive", "major", 254, "minor", 0, "op", "Read", "value",
                4096, "major", 254, "minor", 0, "op", "Write", "value", 8192, "major", 254, "minor",
                0, "op", "Sync", "value", 12288, "major", 8, "minor", 0, "op", "read", "value", 1,
                "major", 8, "minor", 0, "op", "Total", "value", 99);
        uint64_t r = 0, w = 0;
        nk_blkio_totals(v1, &r, &w);
        CHECK(r == 4097 && w == 8192);
        json_decref(v1);
        json_t *none = json_pack("{s:{}}", "blkio");
        r = w = 5;
        nk_blkio_totals(none, &r, &w);
        CHECK(r == 0 && w == 0);
        nk_blkio_totals(NULL, &r, &w);
        CHECK(r == 0 && w == 0);
        json_decref(none);
}

int main(void)
{
        test_net_dev();
        test_blkio();
        return UNIT_END();
}
