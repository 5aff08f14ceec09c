"""Networking library: bridges, veths, addresses, routes (rtnetlink), IPAM,
the nftables table `inet nook` (masquerade, DNAT map elements), driven
through `nook network` and its hidden _attach/_detach/_publish/_reconcile.

Safety: every test makes a network namespace of its own that plays the
host (`ip netns add`; nook runs in it through `ip netns exec`) and more that
play containers, with its own store dir. Nothing here touches the real
host's interfaces, routes, sysctls or nftables (test_real_host_untouched
checks), and all traffic stays inside the test's namespaces.

Run: NOOK_BIN=build/nook /usr/bin/python3 -m pytest -q tests/integration/test_net.py"""
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import wait_for

BUSYBOX = "/bin/busybox"


def run(*args, check=True, input=None, timeout=30):
    p = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def masqnets(host, fam="4"):
    """The subnets nook masquerades (set masqnet4/6), as CIDR text."""
    return sorted(f"{e['prefix']['addr']}/{e['prefix']['len']}" if isinstance(e, dict) else e
                  for e in host.nft()[f"masqnet{fam}"])


def host_links():
    """Link names of the namespace pytest runs in (the real host's)."""
    return sorted(l["ifname"] for l in json.loads(run("ip", "-j", "link").stdout))


class Netns:
    def __init__(self, name):
        self.name = name
        run("ip", "netns", "add", name)
        self.path = f"/run/netns/{name}"
        self.sh("ip link set lo up")

    def run(self, *args, check=True, input=None, timeout=30):
        return run("ip", "netns", "exec", self.name, *args, check=check, input=input,
                   timeout=timeout)

    def sh(self, script, check=True):
        return self.run("sh", "-c", script, check=check)

    def links(self):
        return {l["ifname"]: l for l in json.loads(self.run("ip", "-j", "-d", "link").stdout)}

    def addrs(self, dev):
        out = json.loads(self.run("ip", "-j", "addr", "show", "dev", dev).stdout)
        return sorted(f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"]
                      if a.get("scope") != "link")

    def routes(self, family="-4"):
        return json.loads(self.run("ip", family, "-j", "route").stdout)

    def nft(self):
        """`nft -j list table inet nook` as {set name: [elements]}, None when
        there is no table."""
        p = self.run("nft", "-j", "list", "table", "inet", "nook", check=False)
        if p.returncode != 0:
            return None
        out = {}
        for item in json.loads(p.stdout)["nftables"]:
            s = item.get("set") or item.get("map")
            if s:
                out[s["name"]] = s.get("elem", [])
        return out

    def delete(self):
        run("ip", "netns", "del", self.name, check=False)


class Host(Netns):
    """The test's host: a netns, a store, and `nook` run inside it."""

    def __init__(self, name, engine_bin, store):
        super().__init__(name)
        self.engine = engine_bin
        self.store = store
        self.containers = []

    def nook(self, *args, check=True):
        return self.run(self.engine, "--store", self.store, *args, check=check)

    def fail(self, *args):
        p = self.nook(*args, check=False)
        assert p.returncode != 0, f"nook {' '.join(args)} succeeded: {p.stdout}"
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        return lines[0]

    def container(self):
        c = Netns(f"{self.name}-c{len(self.containers)}")
        self.containers.append(c)
        return c

    def attach(self, net, cid, c, *ips):
        return json.loads(self.nook("network", "_attach", net, cid, c.path, *ips).stdout)

    def create(self, *args):
        return self.nook("network", "create", *args).stdout.strip()

    def inspect(self, name):
        return json.loads(self.nook("network", "inspect", name).stdout)[0]

    def records(self):
        d = os.path.join(self.store, "networks")
        return sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []

    def state(self):
        """What nook has made here: links, nft elements, records, IPAM."""
        ipam = os.path.join(self.store, "networks", "ipam")
        files = {}
        for f in sorted(os.listdir(ipam)) if os.path.isdir(ipam) else []:
            if f.endswith(".json"):
                with open(os.path.join(ipam, f)) as fh:
                    # the allocations (the "last" cursor moves on purpose)
                    files[f] = {k: v["addresses"] for k, v in json.load(fh)["pools"].items()}
        return {"links": sorted(self.links()), "nft": self.nft(), "records": self.records(),
                "ipam": files}


@pytest.fixture
def host(engine_bin, tmp_path):
    before = host_links()
    h = Host(f"nkt-{uuid.uuid4().hex[:8]}", engine_bin, str(tmp_path / "store"))
    try:
        yield h
    finally:
        for c in h.containers:
            c.delete()
        h.delete()
        assert host_links() == before, "the real host's links changed"


def ping(c, addr, family="-4"):
    return c.run(BUSYBOX, "ping", family, "-c", "1", "-W", "2", addr, check=False).returncode == 0


def bridge_of(h, name):
    return h.inspect(name)["Link"]


def test_bridge_with_mtu_and_clean_rm(host):
    nid = host.create("--subnet", "10.61.0.0/24", "--opt", "mtu=1400", "--label", "a=b", "n1")
    assert len(nid) == 64
    info = host.inspect("n1")
    assert info["Id"] == nid and info["Driver"] == "bridge" and info["Labels"] == {"a": "b"}
    assert info["IPAM"]["Config"] == [{"Subnet": "10.61.0.0/24", "Gateway": "10.61.0.1"}]
    br = info["Link"]
    link = host.links()[br]
    assert link["mtu"] == 1400 and link["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in link["flags"]
    assert host.addrs(br) == ["10.61.0.1/24"]
    assert host.inspect(nid[:10])["Name"] == "n1"
    assert "n1" in host.nook("network", "ls").stdout
    assert host.nook("network", "ls", "-q").stdout.split() == [nid[:12]]
    host.nook("network", "rm", "n1")
    assert br not in host.links()
    assert host.nft() is None
    assert host.records() == []
    assert "not found" in host.fail("network", "inspect", "n1")


def test_veth_address_route_ping_and_detach(host):
    host.create("--subnet", "10.62.0.0/24", "--opt", "mtu=1400", "n1")
    br = bridge_of(host, "n1")
    c1, c2 = host.container(), host.container()
    e1 = host.attach("n1", "ctr1", c1)
    e2 = host.attach("n1", "ctr2", c2)
    assert e1["Addresses"] == [{"Address": "10.62.0.2", "PrefixLen": 24, "Gateway": "10.62.0.1"}]
    assert e2["Addresses"][0]["Address"] == "10.62.0.3"
    eth0 = c1.links()["eth0"]
    assert eth0["mtu"] == 1400 and "UP" in eth0["flags"]
    assert "UP" in c1.links()["lo"]["flags"]
    assert c1.addrs("eth0") == ["10.62.0.2/24"]
    default = [r for r in c1.routes() if r["dst"] == "default"]
    assert default == [{"dst": "default", "gateway": "10.62.0.1", "dev": "eth0",
                        "protocol": "static", "flags": []}]
    hl = host.links()
    assert hl[e1["HostLink"]]["master"] == br and hl[e2["HostLink"]]["master"] == br
    assert "eth0" not in hl  # the peer was made in the container, never here
    assert ping(c1, "10.62.0.3") and ping(c2, "10.62.0.2") and ping(c1, "10.62.0.1")
    assert masqnets(host) == ["10.62.0.0/24"]  # by subnet: no element per container
    host.nook("network", "_detach", "n1", "ctr1")
    assert e1["HostLink"] not in host.links() and "eth0" not in c1.links()
    assert masqnets(host) == ["10.62.0.0/24"]
    assert "in use" in host.fail("network", "rm", "n1")
    assert br in host.links()  # a refused rm changed nothing
    host.nook("network", "_detach", "n1", "ctr2")
    host.nook("network", "_detach", "n1", "ctr2")  # twice is fine
    host.nook("network", "rm", "n1")
    assert sorted(host.links()) == ["lo"] and host.nft() is None and host.records() == []


def test_dnat_map_element_to_nc(host):
    host.create("--subnet", "10.63.0.0/24", "n1")
    c1 = host.container()
    host.attach("n1", "web", c1)
    host.nook("network", "_publish", "n1", "web", "8080:80")
    assert host.nft()["pub4any"] == [[{"concat": ["tcp", 8080]}, {"concat": ["10.63.0.2", 80]}]]
    # the same host port again: refused, naming it; from another network too
    assert host.fail("network", "_publish", "n1", "web", "8080:81") == (
        "nook: publish a port of web: port 8080/tcp is already published by web: File exists")
    host.create("--subnet", "10.163.0.0/24", "n2")
    other = host.container()
    host.attach("n2", "other", other)
    assert "port 8080/tcp is already published" in host.fail("network", "_publish", "n2",
                                                              "other", "8080:80")
    assert host.fail("network", "_unpublish", "n1", "other", "8080:80").startswith(
        "nook: unpublish a port of other: ")
    assert host.fail("network", "_unpublish", "n1", "web", "8090:80") == (
        "nook: unpublish a port of web: port 8090/tcp is not published by web: "
        "No such file or directory")
    host.nook("network", "_detach", "n2", "other")
    host.nook("network", "rm", "n2")
    assert len(host.nft()["pub4any"]) == 1
    # an "outside" machine on a link of the host's
    out = host.container()
    host.run("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "wan", "netns",
             out.name)
    host.sh("ip addr add 192.0.2.1/24 dev uplink && ip link set uplink up && "
            "echo 1 > /proc/sys/net/ipv4/ip_forward")
    out.sh("ip addr add 192.0.2.2/24 dev wan && ip link set wan up")
    host.nook("network", "_publish", "n1", "web", "192.0.2.1:9090:80")
    assert host.nft()["pub4"] == [[{"concat": ["192.0.2.1", "tcp", 9090]},
                                   {"concat": ["10.63.0.2", 80]}]]

    def through(client, addr, port, text):
        srv = subprocess.Popen(["ip", "netns", "exec", c1.name, BUSYBOX, "nc", "-l", "-p", "80"],
                               stdout=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: ":0050 " in c1.run("cat", "/proc/net/tcp", "/proc/net/tcp6").stdout, 5,
                     "nc listening on port 80")
            client.run(BUSYBOX, "nc", "-w", "2", addr, str(port), input=text)
            got, _ = srv.communicate(timeout=5)
            return got
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()

    # from the host itself (output hook), to its own address on the bridge
    assert through(host, "10.63.0.1", 8080, "from host\n") == "from host\n"
    # from another machine, through prerouting DNAT and forwarding
    assert through(out, "192.0.2.1", 9090, "from outside\n") == "from outside\n"
    assert through(out, "192.0.2.1", 8080, "any address\n") == "any address\n"
    host.nook("network", "_unpublish", "n1", "web", "8080:80")
    assert host.nft()["pub4any"] == []
    p = out.run(BUSYBOX, "nc", "-w", "2", "192.0.2.1", "8080", input="x\n", check=False)
    assert p.returncode != 0  # nothing listens on the host itself
    # detach takes the remaining published port with it, then rm everything
    host.nook("network", "_detach", "n1", "web")
    assert host.nft()["pub4"] == []
    host.nook("network", "rm", "n1")
    assert host.nft() is None


def test_masquerade_only_for_non_internal(host):
    out = host.container()
    host.run("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "wan", "netns",
             out.name)
    host.sh("ip addr add 192.0.2.1/24 dev uplink && ip link set uplink up && "
            "echo 1 > /proc/sys/net/ipv4/ip_forward")
    out.sh("ip addr add 192.0.2.2/24 dev wan && ip link set wan up")
    host.create("--subnet", "10.64.0.0/24", "pub")
    host.create("--subnet", "10.65.0.0/24", "--internal", "priv")
    assert host.inspect("priv")["Internal"] is True
    a, b = host.container(), host.container()
    host.attach("pub", "a", a)
    host.attach("priv", "b", b)
    t = host.nft()
    assert masqnets(host) == ["10.64.0.0/24"]
    assert t["internal4"] == [{"prefix": {"addr": "10.65.0.0", "len": 24}}]
    # the outside has no route back to 10.64/24: only a masqueraded ping answers
    assert ping(a, "192.0.2.2")
    assert not [r for r in b.routes() if r["dst"] == "default"]
    assert not ping(b, "192.0.2.2")
    assert ping(b, "10.65.0.1")  # its own gateway still answers
    # the rules stay the same however many containers there are
    rules = host.run("nft", "-j", "list", "table", "inet", "nook").stdout.count('"rule"')
    c = host.container()
    host.attach("pub", "c", c)
    assert host.run("nft", "-j", "list", "table", "inet", "nook").stdout.count('"rule"') == rules
    for net, cid in (("pub", "a"), ("priv", "b"), ("pub", "c")):
        host.nook("network", "_detach", net, cid)
    host.nook("network", "rm", "pub", "priv")
    assert sorted(host.links()) == ["lo", "uplink"] and host.nft() is None


def test_default_network_avoids_host_routes(host):
    other = host.container()
    host.run("ip", "link", "add", "lan", "type", "veth", "peer", "name", "x", "netns", other.name)
    host.sh("ip addr add 172.17.5.1/16 dev lan && ip link set lan up && "
            "ip route add 172.18.0.0/15 dev lan")
    c = host.container()
    e = host.attach("bridge", "c", c)
    info = host.inspect("bridge")
    assert info["Link"] == "nook0"
    assert info["IPAM"]["Config"][0]["Subnet"] == "172.20.0.0/16"
    assert e["Addresses"][0]["Address"] == "172.20.0.2"
    # a user network without --subnet gets the next free one
    host.create("auto")
    assert host.inspect("auto")["IPAM"]["Config"][0]["Subnet"] == "172.21.0.0/16"
    err = host.fail("network", "create", "--subnet", "172.17.128.0/24", "clash")
    assert err == ("nook: create network clash: subnet 172.17.128.0/24 overlaps host route "
                   "172.17.0.0/16")
    host.nook("network", "_detach", "bridge", "c")
    assert "Deleted Networks:\nauto" in host.nook("network", "prune").stdout
    host.nook("network", "rm", "bridge")
    assert sorted(host.links()) == ["lan", "lo"] and host.nft() is None


def test_bad_input_leaves_nothing(host):
    host.create("--subnet", "10.66.0.0/24", "n1")
    c1 = host.container()
    host.attach("n1", "c1", c1, "10.66.0.50")
    before = host.state()
    cases = [
        (("network", "create", "--subnet", "10.66.0.128/25", "n2"),
         "nook: create network n2: subnet 10.66.0.128/25 overlaps network n1 (10.66.0.0/24)"),
        (("network", "create", "--subnet", "10.67.0.0/24", "--gateway", "10.68.0.1", "n2"),
         "nook: create network n2: gateway 10.68.0.1 is not inside subnet 10.67.0.0/24"),
        (("network", "create", "--subnet", "10.67.0.0/24", "--ip-range", "10.67.1.0/28", "n2"),
         "nook: create network n2: ip range 10.67.1.0/28 is not inside subnet 10.67.0.0/24"),
        (("network", "create", "--subnet", "10.67.0.1/24", "n2"),
         "nook: create network n2: --subnet: `10.67.0.1/24` has host bits set "
         "(the subnet would be 10.67.0.0/24)"),
        (("network", "create", "--subnet", "fd00:1::/64", "n2"),
         "nook: create network n2: --subnet fd00:1::/64: an IPv6 subnet needs --ipv6"),
        (("network", "create", "--driver", "overlay", "n2"),
         "nook: --driver `overlay`: bridge or routed"),
        (("network", "create", "--subnet", "10.67.0.0/24", "n1"),
         "nook: create network n1: network n1 already exists: File exists"),
        (("network", "create", "../evil"), "network name `../evil`"),
        (("network", "create", "--opt", "mtu=20", "n2"), "--opt `mtu=20`: mtu is 68 to 65535"),
        (("network", "_attach", "n1", "c2", c1.path, "10.66.0.50"),
         "nook: connect c2 to network n1: allocate an address on network n1: address 10.66.0.50 "
         "is already in use on 10.66.0.0/24"),
        (("network", "_attach", "n1", "c2", c1.path, "10.99.0.5"),
         "nook: connect c2 to network n1: allocate an address on network n1: address 10.99.0.5 "
         "is not inside subnet 10.66.0.0/24"),
        (("network", "_attach", "n1", "c2", c1.path, "10.66.0.1"),
         "nook: connect c2 to network n1: allocate an address on network n1: address 10.66.0.1 "
         "is the gateway of 10.66.0.0/24"),
        (("network", "_attach", "nope", "c2", c1.path), "nook: network nope not found: "
                                                         "No such file or directory"),
        (("network", "rm", "nope"), "nook: remove network nope: network nope not found: "
                                     "No such file or directory"),
    ]
    for args, want in cases:
        err = host.fail(*args)
        if want.startswith("nook: "):
            assert err == want
        else:
            assert want in err
        assert host.state() == before, f"{args} left something"
    # a veth whose peer name is taken in the container: the error names the
    # netlink op, and the address taken for it is given back
    c2 = host.container()
    c2.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other")
    before_links = sorted(c2.links())
    err = host.fail("network", "_attach", "n1", "c2", c2.path)
    assert err.startswith("nook: connect c2 to network n1: create veth nkv") and \
        err.endswith("(peer eth0): File exists"), err
    assert host.state() == before and sorted(c2.links()) == before_links
    host.nook("network", "_detach", "n1", "c1")
    host.nook("network", "rm", "n1")


def test_ipv6_ula(host):
    host.create("--ipv6", "--subnet", "10.69.0.0/24", "--subnet", "fd00:69::/64", "v6")
    info = host.inspect("v6")
    assert info["EnableIPv6"] is True
    assert [c["Subnet"] for c in info["IPAM"]["Config"]] == ["10.69.0.0/24", "fd00:69::/64"]
    c1, c2 = host.container(), host.container()
    host.attach("v6", "a", c1)
    host.attach("v6", "b", c2, "fd00:69::b")
    assert c1.addrs("eth0") == ["10.69.0.2/24", "fd00:69::2/64"]
    assert c2.addrs("eth0") == ["10.69.0.3/24", "fd00:69::b/64"]
    assert [r["gateway"] for r in c1.routes("-6") if r["dst"] == "default"] == ["fd00:69::1"]
    assert ping(c1, "fd00:69::b", "-6")
    assert masqnets(host, "6") == ["fd00:69::/64"]
    # --ipv6 alone: a random ULA /64
    host.create("--ipv6", "auto6")
    sub = host.inspect("auto6")["IPAM"]["Config"][1]["Subnet"]
    assert sub.startswith("fd") and sub.endswith("::/64")
    for cid in ("a", "b"):
        host.nook("network", "_detach", "v6", cid)
    host.nook("network", "rm", "v6", "auto6")
    assert host.nft() is None and sorted(host.links()) == ["lo"]


def test_routed_driver(host):
    host.sh("echo 1 > /proc/sys/net/ipv4/ip_forward")
    host.create("--driver", "routed", "--subnet", "10.70.0.0/24", "r1")
    assert host.inspect("r1")["Link"] == ""
    c1, c2 = host.container(), host.container()
    e1 = host.attach("r1", "a", c1)
    e2 = host.attach("r1", "b", c2)
    assert sorted(host.links()) == sorted(["lo", e1["HostLink"], e2["HostLink"]])  # no bridge
    assert c1.addrs("eth0") == ["10.70.0.2/32"]
    hr = {r["dst"]: r["dev"] for r in host.routes()}
    assert hr["10.70.0.2"] == e1["HostLink"] and hr["10.70.0.3"] == e2["HostLink"]
    assert ping(c1, "10.70.0.3") and ping(c2, "10.70.0.2")
    assert sorted(host.nft()["links"]) == sorted([e1["HostLink"], e2["HostLink"]])
    host.nook("network", "_detach", "r1", "a")
    assert e1["HostLink"] not in host.links()
    host.nook("network", "_detach", "r1", "b")
    host.nook("network", "rm", "r1")
    assert sorted(host.links()) == ["lo"] and host.nft() is None


def test_reconcile_frees_dead_containers(host):
    host.create("--subnet", "10.71.0.0/29", "n1")  # .2-.6: five addresses
    cs = [host.container() for _ in range(5)]
    eps = [host.attach("n1", f"c{i}", c) for i, c in enumerate(cs)]
    assert "no free address in 10.71.0.0/29" in host.fail(
        "network", "_attach", "n1", "late", host.container().path)
    # c1 and c3 die with their namespaces (their veths go with them); the
    # commands that made them never ran their teardown
    for i in (1, 3):
        cs[i].delete()
    wait_for(lambda: eps[1]["HostLink"] not in host.links(), 5, "veth of c1 gone")
    assert host.nook("network", "_reconcile", "n1", "c0", "c2", "c4").stdout.strip() == "2"
    assert masqnets(host) == ["10.71.0.0/29"]
    # their addresses are free again, never one still held
    late = [host.attach("n1", f"new{i}", host.container()) for i in range(2)]
    got = sorted(e["Addresses"][0]["Address"] for e in late)
    assert got == ["10.71.0.3", "10.71.0.5"]
    # reconcile with nobody alive takes everything
    assert host.nook("network", "_reconcile", "n1").stdout.strip() == "5"
    assert sorted(host.links())[0:1] == ["lo"] and len(host.links()) == 2  # lo + bridge
    host.nook("network", "rm", "n1")
    assert host.nft() is None and sorted(host.links()) == ["lo"]


def test_parallel_attach_and_table_race(host):
    """Twelve attaches at once on a routed network (whose table is made by
    the first attach): distinct addresses, one table, the fixed rule set."""
    host.sh("echo 1 > /proc/sys/net/ipv4/ip_forward")
    host.create("--driver", "routed", "--subnet", "10.72.0.0/24", "r")
    assert masqnets(host) == ["10.72.0.0/24"]  # masquerade by subnet, from create on
    cs = [host.container() for _ in range(12)]
    procs = [subprocess.Popen(["ip", "netns", "exec", host.name, host.engine, "--store",
                               host.store, "network", "_attach", "r", f"p{i}", c.path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, c in enumerate(cs)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12, [o[1] for o in outs]
    addrs = [json.loads(o[0])["Addresses"][0]["Address"] for o in outs]
    assert len(set(addrs)) == 12
    assert sorted(e for e in host.nft()["links"]) == sorted(
        l for l in host.links() if l.startswith("nkv"))
    items = json.loads(host.run("nft", "-j", "list", "ruleset").stdout)["nftables"]
    assert [i["table"]["name"] for i in items if "table" in i] == ["nook"]
    assert len([i for i in items if "rule" in i]) == 16  # table_def, once
    assert ping(cs[0], addrs[11]) and ping(cs[11], addrs[0])
    # attaching one again is refused and leaves the first connection whole
    err = host.fail("network", "_attach", "r", "p0", cs[0].path)
    assert "connect p0 to network r: already connected (veth nkv" in err
    assert ping(cs[0], addrs[11])
    assert host.nook("network", "_reconcile", "r").stdout.strip() == "12"
    host.nook("network", "rm", "r")
    assert sorted(host.links()) == ["lo"] and host.nft() is None


def test_hairpin_to_own_network(host):
    """A container reaches a port published by its neighbour through the
    host's address: DNAT back onto the same bridge, masqueraded so the
    answer comes back through the host."""
    host.sh("echo 1 > /proc/sys/net/ipv4/ip_forward")
    host.create("--subnet", "10.73.0.0/24", "n")
    c1, c2 = host.container(), host.container()
    host.attach("n", "srv", c1)
    host.attach("n", "cli", c2)
    host.nook("network", "_publish", "n", "srv", "10.73.0.1:8080:80")
    srv = subprocess.Popen(["ip", "netns", "exec", c1.name, BUSYBOX, "nc", "-l", "-p", "80"],
                           stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: ":0050 " in c1.run("cat", "/proc/net/tcp", "/proc/net/tcp6").stdout, 5,
                 "nc listening on port 80")
        c2.run(BUSYBOX, "nc", "-w", "2", "10.73.0.1", "8080", input="hairpin\n")
        got, _ = srv.communicate(timeout=5)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    assert got == "hairpin\n"
    for cid in ("srv", "cli"):
        host.nook("network", "_detach", "n", cid)
    host.nook("network", "rm", "n")
    assert host.nft() is None


def test_kernel_state_lost_is_remade(host):
    """The store outlives the kernel's objects (a reboot, a create killed
    after its record): attach makes the bridge and the table's elements
    again, and rm removes whatever is there."""
    host.create("--subnet", "10.74.0.0/24", "--opt", "mtu=1300", "n")
    br = bridge_of(host, "n")
    c1 = host.container()
    host.attach("n", "a", c1)
    host.nook("network", "_detach", "n", "a")
    host.run("ip", "link", "del", br)
    host.run("nft", "delete", "table", "inet", "nook")
    c2 = host.container()
    host.attach("n", "b", c2)
    assert host.links()[br]["mtu"] == 1300 and host.addrs(br) == ["10.74.0.1/24"]
    assert host.nft()["links"] == [br] and masqnets(host) == ["10.74.0.0/24"]
    assert ping(c2, "10.74.0.1")
    host.nook("network", "_detach", "n", "b")
    host.run("ip", "link", "del", br)
    host.nook("network", "rm", "n")  # the bridge already gone: fine
    assert sorted(host.links()) == ["lo"] and host.nft() is None and host.records() == []


def test_container_on_two_networks(host):
    """A second network's interface (eth1) beside eth0: its address and
    subnet route, the default route left to the first network; detaching
    one leaves the other whole."""
    host.create("--subnet", "10.76.0.0/24", "front")
    host.create("--subnet", "10.77.0.0/24", "back")
    c, peer = host.container(), host.container()
    host.attach("front", "app", c)
    e2 = host.attach("back", "app", c, "if=eth1")
    host.attach("back", "db", peer)
    assert e2["Ifname"] == "eth1" and c.addrs("eth1") == ["10.77.0.2/24"]
    assert c.addrs("eth0") == ["10.76.0.2/24"]
    assert [r["gateway"] for r in c.routes() if r["dst"] == "default"] == ["10.76.0.1"]
    assert ping(c, "10.77.0.3") and ping(c, "10.76.0.1")
    assert masqnets(host) == ["10.76.0.0/24", "10.77.0.0/24"]
    host.nook("network", "_detach", "back", "app")
    assert "eth1" not in c.links() and c.addrs("eth0") == ["10.76.0.2/24"]
    # 10.77.0.3 does not answer through the host either: networks are
    # isolated from each other (the forward chain's nets/samenet rule)
    assert not ping(c, "10.77.0.3")
    assert ping(c, "10.76.0.1")
    assert not [r for r in c.routes() if r.get("dev") == "eth1"]
    for net, cid in (("front", "app"), ("back", "db")):
        host.nook("network", "_detach", net, cid)
    host.nook("network", "rm", "front", "back")
    assert sorted(host.links()) == ["lo"] and host.nft() is None


def _ipam(host, net):
    try:
        with open(os.path.join(host.store, "networks", "ipam", f"{net}.json")) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@pytest.mark.parametrize("stage", ["allocated", "veth", "eth0-address", "port-recorded"])
def test_kill9_halfway_then_reconcile(host, stage):
    """attach + publish killed with SIGKILL as soon as it has reached a
    stage of its work (an address in the IPAM file, the host veth, eth0's
    address in the container, the port recorded): reconcile with the ids
    still alive leaves exactly theirs: veths, addresses, masquerade and
    port elements, and the freed addresses can be had again."""
    import signal
    host.create("--subnet", "10.75.0.0/24", "n")
    br = bridge_of(host, "n")
    keep = host.container()
    host.attach("n", "keep", keep)
    host.nook("network", "_publish", "n", "keep", "6999:80")
    cs = [host.container() for _ in range(3)]
    killed = 0
    for i, c in enumerate(cs):
        cid = f"k{i}"
        script = (f"{host.engine} --store {host.store} network _attach n {cid} {c.path} && "
                  f"{host.engine} --store {host.store} network _publish n {cid} {7000 + i}:80")
        p = subprocess.Popen(["ip", "netns", "exec", host.name, "sh", "-c", script],
                             stdout=subprocess.DEVNULL, start_new_session=True)

        def reached():
            if p.poll() is not None:
                return True
            ipam = _ipam(host, "n")
            owners = [o for pool in ipam.get("pools", {}).values()
                      for o in pool["addresses"].values()]
            if stage == "allocated":
                return cid in owners
            if stage == "port-recorded":
                return cid in ipam.get("ports", {}).values()
            if stage == "veth":
                return run("ip", "-n", host.name, "-o", "link", "show", "type", "veth",
                           check=False).stdout.count("nkv") == 2 + i
            return "10.75.0." in run("ip", "-n", c.name, "-o", "addr", "show",
                                     check=False).stdout
        wait_for(reached, 30, f"{cid} reaching {stage}", interval=0.001)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=30)
        killed += p.returncode == -signal.SIGKILL
    assert killed >= 1, "no command was caught half-way"
    freed = int(host.nook("network", "_reconcile", "n", "keep").stdout)
    assert freed >= 1
    ipam = _ipam(host, "n")
    assert list(ipam["pools"]["10.75.0.0/24"]["addresses"].items()) == [("10.75.0.2", "keep")]
    assert list(ipam["ports"].values()) == ["keep"]
    t = host.nft()
    assert masqnets(host) == ["10.75.0.0/24"]
    assert [e[1]["concat"][0] for e in t["pub4any"]] == ["10.75.0.2"]
    assert len([n for n in host.links() if n.startswith("nkv")]) == 1
    assert ["eth0" in c.links() for c in cs] == [False] * 3
    assert ping(keep, "10.75.0.1")
    for i, c in enumerate(cs):  # each one again, from scratch
        host.attach("n", f"k{i}", c)
        host.nook("network", "_publish", "n", f"k{i}", f"{7000 + i}:80")
    assert len(host.nft()["pub4any"]) == 4
    assert host.nook("network", "_reconcile", "n").stdout.strip() == "4"
    host.nook("network", "rm", "n")
    assert br not in host.links() and host.nft() is None


def test_real_host_untouched():
    """After everything above: nothing of nook's in the real namespace."""
    names = host_links()
    # ifb*: the ifb module, once loaded, makes ifb0 and ifb1 here (the
    # initial namespace) whatever namespace asked for an ifb
    assert not [n for n in names if n.startswith(("nk", "nook0", "ifb"))], names
    p = run("nft", "list", "table", "inet", "nook", check=False)
    assert p.returncode != 0
    assert not [n for n in run("ip", "netns", "list").stdout.split() if n.startswith("nkt-")]
