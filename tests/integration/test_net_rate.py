"""Per-container bandwidth limits (src/net/tc.c): tbf at the root of the
container's host-side veth for what it receives, tbf at the root of its
eth0 (set from the host through a socket in its namespace) for what it
sends, driven through the hidden `nook network _rate NET ID NETNS [EGRESS
INGRESS]`. No ifb: its module makes ifb0/ifb1 on the real host.

Measured, not inferred: a bulk TCP transfer each way between the test's
"host" namespace and a "container" namespace, its rate taken by the
receiver over a window after a warm-up, must be within 25% of the limit.

Safety: as tests/integration/test_net.py, everything happens in network
namespaces the test makes (one plays the host, with its own store) and
removes; traffic stays between them; the real host's links are checked
unchanged.

Run: NOOK_BIN=build/nook /usr/bin/python3 -m pytest -q tests/integration/test_net_rate.py"""
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from conftest import wait_for
from test_net import Host, host_links, run

# The receiver prints "ready", then the rate (bit/s) it saw over WINDOW
# seconds after WARM seconds of warm-up (slow start, the bucket's burst).
# The sender stops at a byte bound or a time bound, whichever comes first.
BULK = r"""
import socket, sys, time
mode = sys.argv[1]
if mode == "recv":
    warm, window = float(sys.argv[3]), float(sys.argv[4])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], 5201)); s.listen(1)
    print("ready", flush=True)
    s.settimeout(10)
    c, _ = s.accept()
    c.settimeout(5)
    t0 = time.monotonic(); start = None; n = 0
    while True:
        b = c.recv(1 << 16)
        now = time.monotonic()
        if not b:
            break
        if start is None:
            if now - t0 >= warm:
                start = now
        else:
            n += len(b)
            if now - start >= window:
                break
    print(int(n * 8 / (now - start)) if start and now > start else 0, flush=True)
else:
    addr, secs, limit = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    s = socket.create_connection((addr, 5201), timeout=5)
    buf = b"x" * (1 << 16); end = time.monotonic() + secs; sent = 0
    try:
        while time.monotonic() < end and sent < limit:
            sent += s.send(buf)
    except OSError:
        pass
"""
WARM, WINDOW = 0.5, 1.5


def measure(receiver, recv_addr, sender, rate):
    """Bits per second a bulk TCP transfer from `sender` to `receiver` (two
    Netns) reaches; the sender is bounded to four times what `rate` allows
    in the time it runs."""
    secs = WARM + WINDOW + 1.5
    limit = int(rate / 8 * secs * 4)
    r = subprocess.Popen(["ip", "netns", "exec", receiver.name, sys.executable, "-c", BULK,
                          "recv", recv_addr, str(WARM), str(WINDOW)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert r.stdout.readline().strip() == "ready", r.stderr.read()
        sender.run(sys.executable, "-c", BULK, "send", recv_addr, str(secs), str(limit),
                   timeout=secs + 10)
        out, errs = r.communicate(timeout=15)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    assert r.returncode == 0, errs
    return int(out.strip())


def near(got, want):
    return abs(got - want) <= 0.25 * want


def qdiscs(h, dev):
    """`tc -j qdisc show dev DEV` in the test's host: {parent or "root": qdisc}."""
    p = h.run("tc", "-j", "qdisc", "show", "dev", dev, check=False)
    if p.returncode != 0:
        return None
    return {q.get("parent", "root") if not q.get("root") else "root": q
            for q in json.loads(p.stdout)}


def filters(h, dev):
    return json.loads(h.run("tc", "-j", "filter", "show", "dev", dev, "ingress").stdout or "[]")


def rates(h, net, cid, *set_to):
    return json.loads(h.nook("network", "_rate", net, cid, h.netns_of[cid], *set_to).stdout)


def no_ifb(*nss):
    """No link of kind ifb in any of these namespaces."""
    for ns in nss:
        links = json.loads(ns.run("ip", "-d", "-j", "link").stdout)
        assert not [l["ifname"] for l in links
                    if l.get("linkinfo", {}).get("info_kind") == "ifb"
                    or l["ifname"].startswith(("ifb", "nki"))], links


@pytest.fixture
def host(engine_bin, tmp_path):
    before = host_links()
    h = Host(f"nkr-{uuid.uuid4().hex[:8]}", engine_bin, str(tmp_path / "store"))
    h.netns_of = {}
    try:
        yield h
    finally:
        for c in h.containers:
            c.delete()
        h.delete()
        assert host_links() == before, "the real host's links changed"
        assert not [n for n in host_links() if n.startswith(("ifb", "nki"))]


@pytest.fixture
def attached(host):
    host.create("--subnet", "10.71.0.0/24", "n1")
    c = host.container()
    ep = host.attach("n1", "ctr1", c)
    host.netns_of["ctr1"] = host.netns_of["ghost"] = c.path
    return host, c, ep["HostLink"]


def test_limits_measured_both_ways_changed_in_place_and_removed(attached):
    h, c, veth = attached
    gw, addr = "10.71.0.1", "10.71.0.2"
    assert rates(h, "n1", "ctr1") == {"EgressRate": 0, "IngressRate": 0}
    assert rates(h, "n1", "ctr1", "10mbit", "5mbit") == {"EgressRate": 10_000_000,
                                                          "IngressRate": 5_000_000}
    # what the kernel has: a tbf at the root of each side of the pair
    q = qdiscs(h, veth)
    assert list(q) == ["root"] and q["root"]["kind"] == "tbf", q
    assert q["root"]["options"]["rate"] == 625000
    assert qdiscs(c, "eth0")["root"]["kind"] == "tbf"
    assert qdiscs(c, "eth0")["root"]["options"]["rate"] == 1250000
    no_ifb(h, c)

    got_in = measure(c, addr, h, 5_000_000)    # host -> container: ingress
    got_out = measure(h, gw, c, 10_000_000)    # container -> host: egress
    assert near(got_in, 5_000_000), f"ingress 5mbit measured {got_in} bit/s"
    assert near(got_out, 10_000_000), f"egress 10mbit measured {got_out} bit/s"

    # a change is made in place: the same qdiscs (handles) with new rates,
    # so there is no moment without a limit
    h_root, h_eth0 = qdiscs(h, veth)["root"]["handle"], qdiscs(c, "eth0")["root"]["handle"]
    assert rates(h, "n1", "ctr1", "3mbit", "12mbit") == {"EgressRate": 3_000_000,
                                                          "IngressRate": 12_000_000}
    assert qdiscs(h, veth)["root"]["handle"] == h_root
    assert qdiscs(c, "eth0")["root"]["handle"] == h_eth0
    got_in = measure(c, addr, h, 12_000_000)
    got_out = measure(h, gw, c, 3_000_000)
    assert near(got_in, 12_000_000), f"ingress 12mbit measured {got_in} bit/s"
    assert near(got_out, 3_000_000), f"egress 3mbit measured {got_out} bit/s"

    # one direction alone ("-" keeps the other)
    assert rates(h, "n1", "ctr1", "-", "none") == {"EgressRate": 3_000_000, "IngressRate": 0}
    assert qdiscs(h, veth)["root"]["kind"] == "noqueue"
    assert qdiscs(c, "eth0")["root"]["handle"] == h_eth0
    # removed: no tbf on either side
    assert rates(h, "n1", "ctr1", "0", "-") == {"EgressRate": 0, "IngressRate": 0}
    assert qdiscs(h, veth)["root"]["kind"] == "noqueue"
    assert qdiscs(c, "eth0")["root"]["kind"] == "noqueue"
    no_ifb(h, c)


def test_detach_and_reconcile_leave_nothing(attached):
    h, c, veth = attached
    rates(h, "n1", "ctr1", "20mbit", "20mbit")
    h.nook("network", "_detach", "n1", "ctr1")
    assert sorted(h.links()) == ["lo", h.inspect("n1")["Link"]]
    assert "tbf" not in json.dumps(qdiscs(c, "lo"))
    # a container whose commands were killed: reconcile frees it all
    c2 = h.container()
    e2 = h.attach("n1", "ctr2", c2)
    h.netns_of["ctr2"] = c2.path
    rates(h, "n1", "ctr2", "1mbit", "-")
    c2.delete()  # its namespace gone, the veth and both qdiscs with it
    # the kernel tears a namespace down in a work queue, after the last
    # reference went: the veth goes a moment later, not at once
    deadline = time.monotonic() + 10
    while e2["HostLink"] in h.links() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert e2["HostLink"] not in h.links()
    assert h.nook("network", "_reconcile", "n1").stdout.strip() == "1"
    assert sorted(h.links()) == ["lo", h.inspect("n1")["Link"]]
    h.nook("network", "rm", "n1")
    assert sorted(h.links()) == ["lo"]


def test_bad_values_refused_with_nothing_changed(attached):
    h, c, veth = attached
    rates(h, "n1", "ctr1", "10mbit", "5mbit")
    before = (qdiscs(h, veth), qdiscs(c, "eth0"))
    for bad, why in [("10mbits", "unknown unit `mbits`"), ("-1mbit", "not a number"),
                     ("1e6", "unknown unit `e6`"), ("", "empty"), ("2tbit", "above"),
                     ("4bit", "below"), ("0x10", "unknown unit")]:
        line = h.fail("network", "_rate", "n1", "ctr1", c.path, bad, "1mbit")
        assert f"`{bad}`" in line and why in line, line
        line = h.fail("network", "_rate", "n1", "ctr1", c.path, "1mbit", bad)
        assert "ingress rate" in line and f"`{bad}`" in line, line
    assert (qdiscs(h, veth), qdiscs(c, "eth0")) == before
    assert rates(h, "n1", "ctr1") == {"EgressRate": 10_000_000, "IngressRate": 5_000_000}
    # a container with no veth: the error names the link
    line = h.fail("network", "_rate", "n1", "ghost", c.path, "1mbit", "1mbit")
    assert "look up link nkv" in line and "No such file" in line
    # a namespace that is not there: the error names the path
    line = h.fail("network", "_rate", "n1", "ctr1", "/nonexistent/ns", "1mbit", "1mbit")
    assert "open `/nonexistent/ns`" in line, line
    assert (qdiscs(h, veth), qdiscs(c, "eth0")) == before


# ---- the engine: nook run/update --egress-rate/--ingress-rate ----

from test_engine_net import HOST_IP, net  # noqa: E402,F401  (the fixture)


def tc_root(net, dev):
    out = json.loads(net.sh(f"tc -j qdisc show dev {dev} root").stdout or "[]")
    return out[0] if out else {}


def eth0_root(net, cid):
    """The root qdisc of eth0 in the container's namespace."""
    netns = os.path.join(net.root, "netns", cid)
    out = json.loads(net.sh(f"nsenter --net={netns} tc -j qdisc show dev eth0 root").stdout
                     or "[]")
    return out[0] if out else {}


def measure_out(net, ctr, rate):
    """What container `ctr` sends to the test's host (busybox nc from
    /dev/zero, cut by timeout), measured by a receiver on the host."""
    r = subprocess.Popen(net.ns + [sys.executable, "-c", BULK, "recv", HOST_IP, str(WARM),
                                   str(WINDOW)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert r.stdout.readline().strip() == "ready", r.stderr.read()
        net.exec_sh(ctr, f"timeout {WARM + WINDOW + 2} nc {HOST_IP} 5201 < /dev/zero",
                    check=False)
        out, errs = r.communicate(timeout=15)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    assert r.returncode == 0, errs
    return int(out.strip())


def test_engine_run_update_restore_rm(net):
    cid = net.run("run", "-d", "--name", "a", "--egress-rate", "10mbit", "--ingress-rate",
                  "5mbit", "busybox", "sleep", "1000").stdout.strip()
    ins = net.inspect("a")
    assert ins["HostConfig"]["EgressRate"] == 10_000_000
    assert ins["HostConfig"]["IngressRate"] == 5_000_000
    veth = ins["NetworkSettings"]["Networks"]["bridge"]["EndpointID"]
    assert tc_root(net, veth)["kind"] == "tbf" and tc_root(net, veth)["options"]["rate"] == 625000
    assert eth0_root(net, cid)["options"]["rate"] == 1_250_000
    # the container (no CAP_NET_ADMIN) cannot lift its own egress limit
    p = net.exec_sh("a", "tc qdisc del dev eth0 root 2>&1 || ip link set eth0 txqueuelen 5 2>&1; "
                    "echo rc=$?", check=False)
    assert eth0_root(net, cid)["options"]["rate"] == 1_250_000, p.stdout
    got = measure_out(net, "a", 10_000_000)
    assert near(got, 10_000_000), f"egress 10mbit measured {got} bit/s"

    # live change: the same qdisc, a new rate; the other direction removed
    handle = eth0_root(net, cid)["handle"]
    assert net.run("update", "--egress-rate", "3mbit", "--ingress-rate", "none",
                   "a").stdout.strip() == "a"
    assert eth0_root(net, cid)["handle"] == handle
    assert eth0_root(net, cid)["options"]["rate"] == 375_000
    assert tc_root(net, veth)["kind"] == "noqueue"
    hc = net.inspect("a")["HostConfig"]
    assert (hc["EgressRate"], hc["IngressRate"]) == (3_000_000, 0)
    got = measure_out(net, "a", 3_000_000)
    assert near(got, 3_000_000), f"egress 3mbit measured {got} bit/s"

    # refused: one line naming the value, nothing changed
    p = net.run("update", "--egress-rate", "3mbits", "a", check=False)
    assert p.returncode == 125 and "--egress-rate: rate `3mbits`: unknown unit" in p.stderr
    assert eth0_root(net, cid)["options"]["rate"] == 375_000

    # as after a reboot (namespace and veth gone): start makes it all again,
    # the limits from the record
    net.run("stop", "-t", "0", "a")
    netns = os.path.join(net.root, "netns", cid)
    net.sh(f"umount {netns} && rm {netns}")
    wait_for(lambda: veth not in net.links(), 5, "the veth gone with its namespace")
    net.run("start", "a")
    veth = net.inspect("a")["NetworkSettings"]["Networks"]["bridge"]["EndpointID"]
    assert eth0_root(net, cid)["options"]["rate"] == 375_000
    assert tc_root(net, veth)["kind"] == "noqueue"
    assert [l for l in net.links() if l.startswith(("nki", "ifb"))] == []

    net.run("rm", "-f", "a")


def test_engine_refusals_and_run_rm(net):
    line = net.fail("run", "--egress-rate", "5mbitz", "busybox", "true")
    assert line.endswith('invalid argument "5mbitz" for "--egress-rate" flag: unknown unit '
                         '`mbitz` (bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps, tbps, or '
                         'kibit, mibps... for 1024)'), line
    line = net.fail("run", "--ingress-rate", "-1", "busybox", "true")
    assert '"-1" for "--ingress-rate"' in line
    line = net.fail("run", "--network", "none", "--egress-rate", "1mbit", "busybox", "true")
    assert "conflicting options: --egress-rate and --network none" in line
    net.run("run", "-d", "--name", "n", "--network", "none", "busybox", "sleep", "100")
    p = net.run("update", "--ingress-rate", "1mbit", "n", check=False)
    assert p.returncode == 1 and "is on no network of nook's" in p.stderr, p.stderr
    assert net.veths() == [] and [l for l in net.links() if l.startswith(("nki", "ifb"))] == []
    net.run("rm", "-f", "n")
    # --rm: the qdiscs go with the veth pair and its namespace
    p = net.run("run", "--rm", "--egress-rate", "1mbit", "--ingress-rate", "2mbit", "busybox",
                "sh", "-c", "ip -o link show eth0")
    assert "eth0" in p.stdout and "tbf" in p.stdout
    assert [l for l in net.links() if l.startswith(("nki", "ifb"))] == []
