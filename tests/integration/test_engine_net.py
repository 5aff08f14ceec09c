"""`nook run` on networks: the default bridge, user networks, -p/-P, names,
live port and network changes, the life cycle (stop/start, a lost netns,
--rm, rm -f, kill -9) and what is left after (nothing).

Safety: every test runs the engine inside a network + mount namespace of
its own that plays the host (`unshare --net --mount`, nook run in it through
`nsenter`), with its store, runtime root and cgroup parent of its own; the
real host's interfaces, routes, sysctls and nftables are never touched and
all traffic stays in that namespace (and the containers' own). The other
engine tests get NOOK_NETWORK=none from conftest; these drop it.

Run: NOOK_BIN=build/nook /usr/bin/python3 -m pytest -q tests/integration/test_engine_net.py"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import wait_for
from engine_util import Engine, _procs_with

HOST_IP = "10.200.0.1"  # the test host's own address (on its lo)
GET = "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n'"
HTTPD = "echo hello-from-$(hostname) > /tmp/index.html; exec httpd -f -p 80 -h /tmp"


class NetEngine(Engine):
    """The engine, run in a namespace pair of the test's own."""

    def __init__(self, bin_, tmp):
        super().__init__(bin_, tmp)
        self.env.pop("NOOK_NETWORK", None)
        self.holder = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private",
                                        "sleep", "infinity"])
        me = os.readlink("/proc/self/ns/net")
        wait_for(lambda: os.readlink(f"/proc/{self.holder.pid}/ns/net") != me, 5,
                 "the test host's namespace")
        self.ns = ["nsenter", "-t", str(self.holder.pid), "-n", "-m", "--"]
        self.sh(f"ip link set lo up; ip addr add {HOST_IP}/24 dev lo")
        self.forward0 = self.sysctl("net/ipv4/ip_forward")

    def popen(self, *args, **kw):
        return subprocess.Popen(self.ns + [self.bin, *args], env=self.env, **kw)

    def run(self, *args, check=True, timeout=60, input=None):
        p = subprocess.run(self.ns + [self.bin, *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            pytest.fail(f"nook {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}",
                        pytrace=False)
        return p

    def fail(self, *args):
        """A refused run: exit 125 and one line."""
        p = self.run(*args, check=False)
        assert p.returncode == 125, (args, p.returncode, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        return lines[0]

    def sh(self, script, check=True, timeout=30):
        p = subprocess.run(self.ns + ["sh", "-c", script], capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(f"host: {script}: {p.returncode} {p.stderr}", pytrace=False)
        return p

    def sysctl(self, name):
        return self.sh(f"cat /proc/sys/{name}").stdout.strip()

    def exec_sh(self, ctr, script, check=True):
        return self.run("exec", ctr, "sh", "-c", script, check=check)

    def http(self, addr, port, where=None):
        """GET /index.html through nc, from the host or a container."""
        cmd = f"{GET} | nc -w 3 {addr} {port}"
        p = self.exec_sh(where, cmd, check=False) if where else \
            self.sh(f"{GET} | busybox nc -w 3 {addr} {port}", check=False)
        return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""

    def links(self):
        return {l["ifname"]: l for l in json.loads(self.sh("ip -j -d link").stdout)}

    def veths(self):
        return sorted(n for n in self.links() if n.startswith("nkv"))

    def nft(self):
        p = self.sh("nft -j list table inet nook", check=False)
        if p.returncode != 0:
            return None
        out = {}
        for item in json.loads(p.stdout)["nftables"]:
            s = item.get("set") or item.get("map")
            if s:
                out[s["name"]] = s.get("elem", [])
        return out

    def ipam(self, net="bridge"):
        path = os.path.join(self.store, "networks", "ipam", f"{net}.json")
        if not os.path.exists(path):
            return {}, {}
        with open(path) as f:
            doc = json.load(f)
        addrs = {}
        for pool in doc.get("pools", {}).values():
            addrs.update(pool.get("addresses", {}))
        return addrs, doc.get("ports", {})

    def netns_files(self):
        d = os.path.join(self.root, "netns")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def ns_mounts(self):
        mi = self.sh("cat /proc/self/mountinfo").stdout.splitlines()
        return [l.split()[4] for l in mi if l.split()[4].startswith(self.tmp)]

    def leaks(self):
        out = [l for l in super().leaks() if not l.startswith("runtime state")]
        state = [f for f in (os.listdir(self.root) if os.path.isdir(self.root) else [])
                 if f != "netns"]
        if state:
            out.append(f"runtime state {state}")
        if self.ns_mounts():
            out.append(f"mounts {self.ns_mounts()}")
        for _ in range(50):  # a removed namespace takes its veth a moment later
            if not self.veths():
                break
            time.sleep(0.05)
        if self.veths():
            out.append(f"veths {self.veths()}")
        if self.netns_files():
            out.append(f"netns files {self.netns_files()}")
        ipam = os.path.join(self.store, "networks", "ipam")
        for f in sorted(os.listdir(ipam)) if os.path.isdir(ipam) else []:
            if f.endswith(".json"):
                a, p = self.ipam(f[:-5])
                if a or p:
                    out.append(f"IPAM {f}: {a} {p}")
        t = self.nft() or {}
        for m in ("pub4", "pub4any", "pub6", "pub6any"):
            if t.get(m):
                out.append(f"nft {m} {t[m]}")
        return out

    def close(self):
        self.holder.kill()
        self.holder.wait()


@pytest.fixture
def net(engine_bin, tmp_path):
    e = NetEngine(engine_bin, str(tmp_path))
    try:
        yield e
        for _ in range(250):
            if not _procs_with(f"--root {e.root} "):
                break
            time.sleep(0.02)
        leaked = e.leaks()
        e.cleanup()
        still = e.leaks()
        assert not leaked, "the test left: " + "; ".join(leaked)
        assert not still, "rm -f did not clean up: " + "; ".join(still)
    finally:
        e.cleanup()
        e.close()
        e.remove_parent()


def addr_of(net, ctr, dev="eth0"):
    out = net.exec_sh(ctr, f"ip -4 -o addr show dev {dev}").stdout
    m = re.search(r"inet (\S+)", out)
    return m.group(1) if m else None


def test_default_bridge_address_route_hosts_and_rm(net):
    cid = net.run("run", "-d", "--name", "a", "busybox", "sleep", "100").stdout.strip()
    bridge = json.loads(net.run("network", "inspect", "bridge").stdout)[0]
    subnet = bridge["IPAM"]["Config"][0]["Subnet"]
    gw = bridge["IPAM"]["Config"][0]["Gateway"]
    ins = net.inspect("a")
    ep = ins["NetworkSettings"]["Networks"]["bridge"]
    assert ins["HostConfig"]["NetworkMode"] == "bridge"
    # what the container sees: its address, the default route, /etc/hosts
    assert addr_of(net, "a") == f"{ep['IPAddress']}/{ep['IPPrefixLen']}"
    assert ep["Gateway"] == gw and ep["IPAddress"].startswith(subnet.split(".0.0/")[0])
    routes = net.exec_sh("a", "ip route").stdout
    assert f"default via {gw} dev eth0" in routes, routes
    mac = net.exec_sh("a", "cat /sys/class/net/eth0/address").stdout.strip()
    assert mac == ep["MacAddress"]
    # an IPv4-only network: no IPv6 link-local address (nor its DAD) on
    # either side of the veth
    assert "fe80" not in net.exec_sh("a", "ip -6 addr show dev eth0").stdout
    assert "fe80" not in net.sh(f"ip -6 addr show dev {ep['EndpointID']}").stdout
    hosts = net.exec_sh("a", "cat /etc/hosts").stdout
    assert f"{ep['IPAddress']}\t{cid[:12]}" in hosts, hosts
    # what the host keeps: the veth on the bridge, the address in IPAM
    assert net.veths() == [ep["EndpointID"]]
    assert net.links()[ep["EndpointID"]].get("master") == "nook0"
    assert net.ipam()[0] == {ep["IPAddress"]: cid}
    assert net.netns_files() == [cid]
    assert net.sysctl("net/ipv4/ip_forward") == "1"
    assert net.sysctl("net/ipv4/conf/nook0/route_localnet") == "1"
    # outbound NAT by subnet: a rule for the subnet, no element per container
    assert [e["prefix"]["addr"] for e in net.nft()["masqnet4"]] == [subnet.split("/")[0]]
    net.run("rm", "-f", "a")
    assert net.ipam()[0] == {} and net.netns_files() == []
    # the veth goes with the namespace (the kernel's cleanup, a moment later)
    wait_for(lambda: net.veths() == [], 5, "the veth gone")


def test_publish_host_loopback_hairpin_and_port(net):
    net.run("run", "-d", "--name", "web", "-p", "8080:80", "-p", f"{HOST_IP}::80",
            "-p", "9000-9001:90-91/udp", "busybox", "sh", "-c", HTTPD)
    wait_for(lambda: net.http(HOST_IP, 8080).startswith("hello"), 5, "httpd via the port")
    cid = net.inspect("web")["Id"]
    assert net.http("127.0.0.1", 8080) == f"hello-from-{cid[:12]}"  # route_localnet
    net.run("run", "-d", "--name", "cli", "busybox", "sleep", "100")
    assert net.http(HOST_IP, 8080, where="cli") == f"hello-from-{cid[:12]}"  # hairpin
    ports = net.inspect("web")["NetworkSettings"]["Ports"]
    picked = ports["80/tcp"][1]["HostPort"]
    assert ports["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": "8080"}
    assert ports["80/tcp"][1]["HostIp"] == HOST_IP and int(picked) > 1024
    assert ports["90/udp"] == [{"HostIp": "0.0.0.0", "HostPort": "9000"}]
    assert net.http(HOST_IP, int(picked)).startswith("hello")
    bindings = net.inspect("web")["HostConfig"]["PortBindings"]
    assert bindings["80/tcp"] == [{"HostIp": "", "HostPort": "8080"},
                                  {"HostIp": HOST_IP, "HostPort": ""}]
    out = net.run("port", "web").stdout.splitlines()
    assert "80/tcp -> 0.0.0.0:8080" in out and f"80/tcp -> {HOST_IP}:{picked}" in out
    assert net.run("port", "web", "91/udp").stdout.strip() == "0.0.0.0:9001"
    assert "0.0.0.0:8080->80/tcp" in net.run("ps").stdout
    t = net.nft()
    assert len(t["pub4any"]) == 3 and len(t["pub4"]) == 1
    net.run("rm", "-f", "web", "cli")
    t = net.nft()
    assert t["pub4any"] == [] and t["pub4"] == []
    assert net.ipam()[1] == {}


def test_run_rm_frees_everything(net):
    p = net.run("run", "--rm", "-p", "7000:80", "busybox", "sh", "-c",
                "ip -4 -o addr show dev eth0")
    assert re.search(r"inet 172\.\d+\.0\.\d+/16", p.stdout), p.stdout
    # the monitor of a --rm container detached it before run returned
    assert net.ipam() == ({}, {}) and net.nft()["pub4any"] == []
    # the netns file goes once run has its exit code (its unmount waits on
    # the kernel), the veth with the namespace
    wait_for(lambda: net.netns_files() == [] and net.veths() == [], 5, "netns file and veth gone")


def test_bad_input_leaves_nothing(net):
    net.run("network", "create", "--subnet", "10.89.0.0/24", "u1")
    net.run("run", "-d", "--name", "a", "--network", "u1", "--ip", "10.89.0.50", "-p",
            "8080:80", "busybox", "sleep", "100")
    net.run("run", "-d", "--name", "b", "busybox", "sleep", "100")  # the default network
    before = (net.veths(), net.ipam(), net.ipam("u1"), net.nft(), net.netns_files())
    refused = {
        ("--network", "nope"): "network nope not found",
        ("--ip", "10.1.1.1"): "--ip 10.1.1.1: a chosen address is only for user-defined "
                              "networks, not bridge",
        ("--network", "u1", "--ip", "10.1.1.1"): "--ip 10.1.1.1 is not in network u1",
        ("--network", "u1", "--ip", "10.89.0.50"): "10.89.0.50 is already in use",
        ("--network", "u1", "-p", "8080:80"): "port 8080/tcp is already published",
        ("-p", "80000:80"): "host port `80000`",
        ("-p", "1-3:1-2"): "ranges differ",
        ("--network", "none", "--ip", "172.17.0.9"): "conflicting options: --ip and --network none",
        ("--network", "host", "-p", "1:1"): "conflicting options: --publish and --network host",
        ("--network-alias", "x"): "only on user-defined networks",
        ("--mac-address", "01:00:00:00:00:01"): "multicast",
    }
    for args, text in refused.items():
        line = net.fail("run", "--rm", *args, "busybox", "true")
        assert text in line, (args, line)
        # each leaves nothing itself (a later rm -f would sweep a netns file)
        assert net.netns_files() == before[-1], args
    # refused at the gate (the port is published while the monitor has the
    # container created, not started): the creation is undone, -d or not
    for mode in ("-d", "-i"):
        line = net.fail("run", mode, "--network", "u1", "-p", "8080:80", "busybox", "true")
        assert "port 8080/tcp is already published" in line, line
        assert net.netns_files() == before[-1], mode
    # a refused attach leaves its veth to the namespace, which the kernel
    # takes down a moment after its last user (a work queue)
    wait_for(lambda: net.veths() == before[0], 5, "the refused runs' veths gone")
    assert (net.veths(), net.ipam(), net.ipam("u1"), net.nft(), net.netns_files()) == before
    assert len(os.listdir(os.path.join(net.store, "containers"))) == 2
    net.run("rm", "-f", "a", "b")
    net.run("network", "rm", "u1")


def test_names_on_a_user_network_then_network_rm_restores_sysctls(net):
    net.run("network", "create", "--subnet", "10.88.0.0/24", "n1")
    c1 = net.run("run", "-d", "--name", "c1", "--network", "n1", "--network-alias", "alpha",
                 "--mac-address", "02:42:0a:58:00:99", "busybox", "sleep", "100").stdout.strip()
    net.run("run", "-d", "--name", "c2", "--network", "n1", "busybox", "sleep", "100")
    net.run("run", "-d", "--name", "other", "busybox", "sleep", "100")  # default bridge
    ip1 = net.inspect("c1")["NetworkSettings"]["Networks"]["n1"]["IPAddress"]
    assert net.exec_sh("c1", "cat /sys/class/net/eth0/address").stdout.strip() == \
        "02:42:0a:58:00:99"
    for name in ("c1", "alpha", c1[:12]):
        out = net.exec_sh("c2", f"ping -c1 -W2 {name}").stdout
        assert f"({ip1})" in out and "1 packets received" in out, out
    # the default bridge has no names (Docker's rule)
    assert net.exec_sh("other", "ping -c1 -W1 c1", check=False).returncode != 0
    net.run("rm", "-f", "c1")
    words = net.exec_sh("c2", "cat /etc/hosts").stdout.split()
    assert "c1" not in words and "alpha" not in words and ip1 not in words
    assert net.exec_sh("c2", "ping -c1 -W1 c1", check=False).returncode != 0
    net.run("rm", "-f", "c2", "other")
    wait_for(lambda: net.veths() == [], 5, "the veths gone")
    net.run("network", "rm", "n1", "bridge")
    # no link, no table, no sysctl change of ours left
    assert sorted(net.links()) == ["lo"]
    assert net.nft() is None
    assert net.sysctl("net/ipv4/ip_forward") == net.forward0


def test_dns_add_host_and_host_and_container_modes(net):
    p = net.run("run", "--rm", "--dns", "10.9.9.9", "--dns-search", "example.test",
                "--dns-option", "ndots:2", "--add-host", "db:10.1.2.3", "busybox", "sh", "-c",
                "cat /etc/resolv.conf /etc/hosts")
    assert "nameserver 10.9.9.9" in p.stdout and "search example.test" in p.stdout
    assert "options ndots:2" in p.stdout and "10.1.2.3\tdb" in p.stdout
    host = net.run("run", "--rm", "--network", "host", "busybox", "ip", "-4", "-o", "addr").stdout
    assert HOST_IP in host
    net.run("run", "-d", "--name", "a", "busybox", "sleep", "100")
    ip = net.inspect("a")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    joined = net.run("run", "--rm", "--network", "container:a", "busybox", "ip", "-4", "-o",
                     "addr", "show", "dev", "eth0").stdout
    assert ip in joined
    assert "eth0" not in net.run("run", "--rm", "--network", "none", "busybox", "ip", "-o",
                                 "link").stdout
    net.run("rm", "-f", "a")


def test_stop_start_and_a_lost_netns_keep_address_and_ports(net):
    cid = net.run("run", "-d", "--name", "web", "-p", "8080:80", "busybox", "sh", "-c",
                  HTTPD).stdout.strip()
    ip = net.inspect("web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    net.run("stop", "-t", "1", "web")
    net.run("start", "web")
    assert addr_of(net, "web").split("/")[0] == ip
    wait_for(lambda: net.http(HOST_IP, 8080).startswith("hello"), 5, "httpd after start")
    net.run("stop", "-t", "1", "web")
    # as after a reboot: the namespace (and its veth) gone, the records kept
    netns = os.path.join(net.root, "netns", cid)
    net.sh(f"umount {netns} && rm {netns}")
    wait_for(lambda: not net.veths(), 5, "the veth gone with its namespace")
    net.run("start", "web")
    assert addr_of(net, "web").split("/")[0] == ip
    wait_for(lambda: net.http(HOST_IP, 8080).startswith("hello"), 5, "httpd after a lost netns")
    net.run("rm", "-f", "web")


ECHO_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
def rt(m):
    s.sendall(m)
    got = b""
    while len(got) < len(m):
        c = s.recv(100)
        if not c:
            break
        got += c
    return got == m
print("ok" if rt(b"first\n") else "bad", flush=True)
for line in sys.stdin:
    print("ok" if rt(line.encode()) else "bad", flush=True)
"""


def test_live_port_add_rm_keeps_a_connection(net):
    net.run("run", "-d", "--name", "echo", "-p", "8080:80", "busybox", "sh", "-c",
            "nc -ll -p 80 -e cat & nc -ll -p 81 -e cat & wait")
    wait_for(lambda: net.sh(f"echo x | busybox nc -w 1 {HOST_IP} 8080", check=False).stdout
             == "x\n", 5, "the echo server")
    cli = subprocess.Popen(net.ns + ["/usr/bin/python3", "-c", ECHO_CLIENT, HOST_IP, "8080"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout.readline().strip() == "ok"
        net.run("port", "add", "echo", "8081:81")
        assert net.sh(f"echo y | busybox nc -w 2 {HOST_IP} 8081").stdout == "y\n"
        cli.stdin.write("second\n")
        cli.stdin.flush()
        assert cli.stdout.readline().strip() == "ok"
        assert "80/tcp -> 0.0.0.0:8080" in net.run("port", "echo").stdout
        net.run("port", "rm", "echo", "8081:81")
        assert net.sh(f"echo z | busybox nc -w 1 {HOST_IP} 8081", check=False).stdout == ""
        cli.stdin.write("third\n")
        cli.stdin.flush()
        assert cli.stdout.readline().strip() == "ok"
        assert "81/tcp" not in net.run("port", "echo").stdout
        assert "port 8080/tcp is already published" in \
            net.run("port", "add", "echo", "8080:81", check=False).stderr
    finally:
        cli.kill()
        cli.wait()
    net.run("rm", "-f", "echo")


def test_network_connect_disconnect_live(net):
    net.run("network", "create", "--subnet", "10.89.0.0/24", "n2")
    net.run("run", "-d", "--name", "a", "busybox", "sleep", "100")
    net.run("run", "-d", "--name", "b", "--network", "n2", "busybox", "sleep", "100")
    net.run("network", "connect", "--ip", "10.89.0.77", "--alias", "aa", "n2", "a")
    assert addr_of(net, "a", "eth1") == "10.89.0.77/24"
    assert "(10.89.0.77)" in net.exec_sh("b", "ping -c1 -W2 aa").stdout
    assert set(net.inspect("a")["NetworkSettings"]["Networks"]) == {"bridge", "n2"}
    net.run("network", "disconnect", "n2", "a")
    assert "eth1" not in net.exec_sh("a", "ip -o link").stdout
    assert net.exec_sh("b", "ping -c1 -W1 aa", check=False).returncode != 0
    assert net.ipam("n2")[0] == {"10.89.0.2": net.inspect("b")["Id"]}
    net.run("rm", "-f", "a", "b")
    net.run("network", "rm", "n2")


def test_kill9_of_run_then_rm_f_and_prune(net):
    net.run("network", "create", "n3")
    for i, delay in enumerate((0.05, 0.15, 0.3, 0.6)):
        p = net.popen("run", "-d", "--name", f"k{i}", "--network", "n3", "-p", f"{7100 + i}:80",
                      "busybox", "sleep", "100", stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
    # what a command killed after attaching leaves when its container's
    # directory is gone too: an address and a netns file nobody owns
    ghost = "f" * 64
    nsf = os.path.join(net.root, "netns", ghost)
    net.sh(f"mkdir -p {net.root}/netns && touch {nsf} && unshare --net={nsf} true")
    net.run("network", "_attach", "n3", ghost, nsf)
    assert net.ipam("n3")[0] and len(net.veths()) >= 1
    net.run("run", "-d", "--name", "last", "--network", "n3", "busybox", "sleep", "100")
    for c in net.run("ps", "-aq", "--no-trunc").stdout.split():
        net.run("rm", "-f", c)
    assert net.netns_files() == [] and net.ipam("n3")[0] == {}  # rm -f's reconcile
    net.run("network", "prune", "-f")
    assert "n3" not in net.run("network", "ls").stdout
    assert net.netns_files() == []
    wait_for(lambda: net.veths() == [], 5, "the veths gone")


def test_networks_are_isolated_from_each_other(net):
    """As Docker: no forwarding between two nook networks (bridge or
    routed), in either direction; inside a network, and through a published
    port, traffic passes."""
    net.run("network", "create", "--subnet", "10.91.0.0/24", "n1")
    net.run("network", "create", "--subnet", "10.92.0.0/24", "n2")
    net.run("network", "create", "--driver", "routed", "--subnet", "10.93.0.0/24", "r1")
    for name, nw, extra in [("a1", "n1", []), ("a2", "n1", []), ("r1", "r1", []),
                            ("r2", "r1", []), ("b1", "n2", ["-p", "8091:80"]),
                            ("s1", "r1", ["-p", "8093:80"])]:
        net.run("run", "-d", "--name", name, "--network", nw, *extra, "busybox", "sh", "-c",
                HTTPD)
    ip = {c: addr_of(net, c).split("/")[0] for c in ("a1", "a2", "r1", "r2", "b1", "s1")}
    wait_for(lambda: net.http(HOST_IP, 8091).startswith("hello"), 5, "httpd b1 via its port")

    def reach(src, dst):
        return net.http(ip[dst], 80, where=src).startswith("hello")

    def ping(src, dst):
        return net.exec_sh(src, f"ping -c 1 -W 1 {ip[dst]}", check=False).returncode == 0

    # routed: the host has each container's address at its MAC for good
    # (no ARP; beyond 512 containers the gc of resolved entries broke pings)
    for c in ("r1", "r2"):
        mac = net.exec_sh(c, "cat /sys/class/net/eth0/address").stdout.strip()
        neigh = net.sh(f"ip neigh show {ip[c]}").stdout.split()
        assert mac in neigh and "PERMANENT" in neigh, (c, neigh)
    # within a network: bridge and routed
    assert reach("a1", "a2") and ping("a2", "a1")
    assert reach("r1", "r2") and ping("r2", "r1") and reach("r1", "s1")
    # across networks, both ways, bridge-bridge and bridge-routed
    for src, dst in [("a1", "b1"), ("b1", "a1"), ("a1", "r1"), ("r1", "a1"), ("b1", "s1"),
                     ("s1", "b1")]:
        assert not ping(src, dst), f"{src} pinged {dst} across networks"
        assert not reach(src, dst), f"{src} reached {dst}:80 across networks"
    # published ports stay reachable from other networks, through the host
    assert net.http(HOST_IP, 8091, where="a1").startswith("hello")
    assert net.http(HOST_IP, 8093, where="a1").startswith("hello")
    assert net.http(HOST_IP, 8091, where="r1").startswith("hello")
    # --format templates over networks (Docker's ls fields and inspect's)
    names = net.run("network", "ls", "--format", "{{.Name}}:{{.Driver}}").stdout.split()
    assert {"n1:bridge", "n2:bridge", "r1:routed"} <= set(names), names
    assert net.run("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}",
                   "r1").stdout == "10.93.0.0/24\n"
    # the rule set does not grow per network: one element per subnet
    t = net.nft()
    assert len(t["nets4"]) == 3 and len(t["samenet4"]) == 3
    net.run("rm", "-f", "a1", "a2", "r1", "r2", "b1", "s1")
    net.run("network", "rm", "n1", "n2", "r1")
    assert net.nft() is None
