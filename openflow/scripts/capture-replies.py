#!/usr/bin/env python3
"""Capture real OpenFlow 1.3 bytes from a live ovs-vswitchd into tests/golden/captured.golden.

Starts a private ovsdb-server + ovs-vswitchd (netdev datapath) in a temporary directory, as the
crate's OVS tests do (tests/common/mod.rs), holding /tmp/ovs-netdev.lock for its lifetime. Every
`ovs-ofctl -O OpenFlow13 ...` command, `ovs-ofctl monitor` included, is pointed at a recording
proxy (a unix socket that forwards to the bridge's `<bridge>.mgmt` and logs each whole message
in both directions), so the requests are OVS's own encoder and the replies, PACKET_IN2s and other
async messages are ovs-vswitchd's. Requests ovs-ofctl has no command for (ROLE, GET_ASYNC, an
ECHO with a payload) are hand-assembled below and sent through the same proxy; their replies are
still the switch's. For every kept message the golden holds how it was obtained, its hex, and
what `ovs-ofctl ofp-parse` (ofp-print of a file) prints for it.

Usage: openflow/scripts/capture-replies.py   (from anywhere; needs OVS 3.1 in PATH)
"""

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(HERE, "tests", "golden", "captured.golden")
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
# One netdev ovs-vswitchd per host (its datapath is the tap `ovs-netdev`): every sandbox on the
# machine holds this lock, so a fixed bridge name cannot collide with another sandbox's.
NETDEV_LOCK = "/tmp/ovs-netdev.lock"
BRIDGE = "kcapbr"
SWITCH = "SWITCH"  # ovs-ofctl argument placeholder, replaced by the proxy's unix: address

TO_SWITCH, FROM_SWITCH = ">", "<"


def split_frames(buf):
    """Whole OpenFlow messages at the start of `buf`, and the unconsumed rest."""
    out = []
    while len(buf) >= 8:
        n = int.from_bytes(buf[2:4], "big")
        if n < 8 or len(buf) < n:
            break
        out.append(bytes(buf[:n]))
        buf = buf[n:]
    return out, buf


class Proxy:
    """A unix socket that relays each accepted connection to the bridge's mgmt socket and records
    every message of it as (direction, bytes) in arrival order."""

    def __init__(self, path, upstream):
        self.path, self.upstream = path, upstream
        self.lock = threading.Lock()
        self.conns = []  # per accepted connection: {"log": [(direction, bytes)], "open": n}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.sock.accept()
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.upstream)
            conn = {"log": [], "open": 2}
            with self.lock:
                self.conns.append(conn)
            for src, dst, d in ((client, up, TO_SWITCH), (up, client, FROM_SWITCH)):
                threading.Thread(target=self._pump, args=(conn, src, dst, d), daemon=True).start()

    def _pump(self, conn, src, dst, direction):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                frames, buf = split_frames(buf + data)
                with self.lock:
                    conn["log"].extend((direction, f) for f in frames)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                conn["open"] -= 1

    def mark(self):
        """A position in the connection list, for `messages`."""
        with self.lock:
            return len(self.conns)

    def messages(self, since, wait=True):
        """The messages of the connections accepted after `since`, one connection after another;
        with `wait`, once they have all closed."""
        deadline = time.time() + 10
        while True:
            with self.lock:
                conns = self.conns[since:]
                if not wait or all(c["open"] == 0 for c in conns):
                    return [m for c in conns for m in c["log"]]
            if time.time() > deadline:
                sys.exit("proxy: a connection did not close")
            time.sleep(0.02)


class Sandbox:
    def __init__(self):
        self.lockfile = open(NETDEV_LOCK, "a")
        fcntl.flock(self.lockfile, fcntl.LOCK_EX)
        self.dir = tempfile.mkdtemp(prefix="ovscap")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir, OVS_DBDIR=self.dir)
        self.db = "unix:" + self.p("db.sock")
        self.run("ovsdb-tool", "create", self.p("conf.db"), SCHEMA)
        self.run("ovsdb-server", "--remote=punix:" + self.p("db.sock"),
                 "--pidfile=" + self.p("ovsdb-server.pid"),
                 "--unixctl=" + self.p("ovsdb-server.ctl"),
                 "--log-file=" + self.p("ovsdb-server.log"), "--detach", self.p("conf.db"))
        self.vsctl("--no-wait", "init")
        self.run("ovs-vswitchd", self.db, "--pidfile=" + self.p("ovs-vswitchd.pid"),
                 "--unixctl=" + self.p("ovs-vswitchd.ctl"),
                 "--log-file=" + self.p("ovs-vswitchd.log"), "--detach")
        # A fixed datapath id and two patch ports (no devices, fixed OpenFlow port numbers) keep
        # the captures the same from one run to the next, apart from durations, MACs and uuids.
        # OpenFlow 1.0 is allowed only for the one capture that needs it (NXET_VENDOR).
        self.vsctl("--timeout=20", "add-br", BRIDGE, "--", "set", "Bridge", BRIDGE,
                   "datapath_type=netdev", "protocols=OpenFlow10,OpenFlow13", "fail_mode=secure",
                   "other_config:datapath-id=000000000000ca9e",
                   "--", "add-port", BRIDGE, "pa", "--", "set", "Interface", "pa", "type=patch",
                   "options:peer=pb", "ofport_request=1",
                   "--", "add-port", BRIDGE, "pb", "--", "set", "Interface", "pb", "type=patch",
                   "options:peer=pa", "ofport_request=2")
        self.mgmt = self.p(BRIDGE + ".mgmt")
        deadline = time.time() + 30
        while not os.path.exists(self.mgmt):
            if time.time() > deadline:
                sys.exit(BRIDGE + ".mgmt did not appear")
            time.sleep(0.05)

    def p(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args):
        out = subprocess.run(args, env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{args} failed: {out.stderr}")
        return out.stdout

    def vsctl(self, *args):
        return self.run("ovs-vsctl", "--db=" + self.db, *args)

    def close(self):
        subprocess.run(["ovs-vsctl", "--db=" + self.db, "--timeout=5", "--if-exists", "del-br",
                        BRIDGE], env=self.env, capture_output=True)
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            try:
                pid = int(open(self.p(daemon + ".pid")).read().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
            deadline = time.time() + 5
            while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
                time.sleep(0.02)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.lockfile.close()


def subtype(msg):
    """The multipart type of a MULTIPART message, the subtype of an EXPERIMENTER one."""
    if msg[1] in (18, 19):
        return int.from_bytes(msg[8:10], "big")
    if msg[1] == 4:
        return int.from_bytes(msg[12:16], "big")
    return None


def pick(log, direction, kind, sub=None, nth=0):
    """The `nth` message of `kind` (and multipart type / experimenter subtype `sub`) sent in
    `direction`; -1 for the last."""
    found = [m for d, m in log if d == direction and m[1] == kind
             and (sub is None or subtype(m) == sub)]
    if not found or nth >= len(found):
        sys.exit(f"no message type {kind}/{sub} {direction} in {[(d, m[:16].hex()) for d, m in log]}")
    return found[nth]


def count(log, direction, kind, sub=None):
    return sum(1 for d, m in log if d == direction and m[1] == kind
               and (sub is None or subtype(m) == sub))


def ofp_print(msg, scratch):
    """What `ovs-ofctl ofp-parse` (the file form of ofp-print, no limit on the argument size)
    prints for `msg`, its lines joined with `|` as in messages.golden."""
    with open(scratch, "wb") as f:
        f.write(msg)
    out = subprocess.run(["ovs-ofctl", "ofp-parse", scratch], capture_output=True, text=True)
    if out.returncode != 0 or out.stderr:
        sys.exit(f"ofp-parse {msg[:16].hex()}...: {out.stderr}")
    return "|".join(out.stdout.rstrip("\n").split("\n"))


class Capture:
    def __init__(self, sb):
        self.sb = sb
        self.proxy = Proxy(sb.p("proxy.sock"), sb.mgmt)
        self.golden = []  # (name, source, bytes)

    def keep(self, name, source, msg):
        self.golden.append((name, source, msg))

    def ofctl(self, *args, version="OpenFlow13", ok=True):
        """Run `ovs-ofctl -O <version> ARGS` with SWITCH pointing at the proxy; return the
        messages of its connections and the command as text for the golden."""
        argv = ["ovs-ofctl", "-O", version] + ["unix:" + self.proxy.path if a == SWITCH else a
                                                for a in args]
        mark = self.proxy.mark()
        out = subprocess.run(argv, capture_output=True, text=True, env=self.sb.env)
        if (out.returncode == 0) != ok:
            sys.exit(f"{argv}: rc {out.returncode}: {out.stderr}")
        text = " ".join(["ovs-ofctl", "-O", version] +
                        [repr(a) if " " in a or "(" in a else a for a in args])
        return self.proxy.messages(mark), f"`{text}`"

    def grab(self, log, cmd, picks):
        """Keep the messages `picks` = [(name, direction, kind, sub[, nth])] from `log`."""
        for name, direction, kind, sub, *nth in picks:
            source = (f"sent by {cmd}" if direction == TO_SWITCH
                      else f"ovs-vswitchd's reply to {cmd}")
            self.keep(name, source, pick(log, direction, kind, sub, *nth))

    def exchange(self, requests):
        """Send hand-assembled `requests` (hex) after a HELLO through the proxy, read one reply
        per request, and return the messages of that connection."""
        mark = self.proxy.mark()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.proxy.path)
        s.settimeout(10)
        s.sendall(bytes.fromhex("04000010000000010001000800000010"))
        for r in requests:
            s.sendall(bytes.fromhex(r))
        buf, replies = b"", []
        while len(replies) < len(requests) + 1:  # + the switch's HELLO
            buf += s.recv(65536)
            frames, buf = split_frames(buf)
            replies += frames
        s.close()
        return self.proxy.messages(mark)

    def wait_for(self, mark, what, cond):
        deadline = time.time() + 15
        while not cond(self.proxy.messages(mark, wait=False)):
            if time.time() > deadline:
                sys.exit("timed out waiting for " + what)
            time.sleep(0.05)

    def monitor(self, options, args, barriers):
        """Start `ovs-ofctl -O OpenFlow13 OPTIONS monitor SWITCH ARGS` through the proxy; return
        (process, proxy mark) once the switch has answered its `barriers` setup barriers."""
        mark = self.proxy.mark()
        proc = subprocess.Popen(["ovs-ofctl", "-O", "OpenFlow13", *options, "monitor",
                                 "unix:" + self.proxy.path, *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.sb.env)
        self.wait_for(mark, "the monitor's setup",
                      lambda log: count(log, FROM_SWITCH, 21) >= barriers)
        return proc, mark

    def stop(self, proc, mark):
        proc.terminate()  # our own child, by its pid
        proc.wait()
        return self.proxy.messages(mark)


# The flows whose stats are captured: NX actions, a paused controller action for PACKET_IN2 and
# NXT_RESUME, a group and a meter on the path of the one packet sent, so their counters move.
# The packet is sent as if from LOCAL; after the resume, group 1 sends it out of patch port 2,
# and it comes back in on port 1 through the meter into table 2, where it is dropped.
FLOWS = """\
cookie=0x2a, table=0, priority=100, in_port=LOCAL, ip actions=load:0x7->NXM_NX_REG2[],controller(pause,userdata=01.02.03),resubmit(,1)
table=0, priority=90, in_port=1, ip actions=meter:1,goto_table:2
table=1, priority=100, reg2=0x7 actions=controller(userdata=04.05),group:1
table=2, priority=10, ip actions=ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[])),note:6b.61.6b.69.6e.65
cookie=0x5, table=2, priority=5, idle_timeout=300, send_flow_rem ip,nw_dst=10.0.0.0/24 actions=drop
table=3, priority=200, ip, nw_src=10.10.0.2 actions=conjunction(1001,1/2)
table=3, priority=200, ip, reg1=0x3 actions=conjunction(1001,2/2)
table=3, priority=190, conj_id=1001, ip actions=learn(table=6,idle_timeout=10,priority=100,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_NX_REG0[]->NXM_NX_REG1[],output:NXM_OF_IN_PORT[]),output:3
cookie=0x4, table=4, priority=1 actions=CONTROLLER:64
table=5, priority=7, tun_metadata0=0x1234 actions=multipath(eth_src,50,hrw,12,0,NXM_NX_REG0[0..3]),output:NXM_NX_REG0[0..3]
"""
# Ethernet broadcast from 00:00:00:00:00:01, IPv4 10.0.0.1 -> 10.0.0.2, protocol 0 (34 bytes).
PACKET = "ffffffffffff0000000000010800" "45000014000100004000f9e50a0000010a000002"

T, F = TO_SWITCH, FROM_SWITCH
MP_DESC, MP_FLOW, MP_AGGREGATE, MP_TABLE, MP_PORT_STATS, MP_QUEUE = 0, 1, 2, 3, 4, 5
MP_GROUP, MP_GROUP_DESC, MP_GROUP_FEATURES, MP_METER, MP_METER_CONFIG = 6, 7, 8, 9, 10
MP_METER_FEATURES, MP_TABLE_FEATURES, MP_PORT_DESC = 11, 12, 13


def run(c):
    log, cmd = c.ofctl("show", SWITCH)
    c.grab(log, cmd, [("hello", F, 0, None),
                      ("features_request", T, 5, None), ("features_reply", F, 6, None),
                      ("get_config_request", T, 7, None), ("get_config_reply", F, 8, None)])

    log, cmd = c.ofctl("add-tlv-map", SWITCH, "{class=0xffff,type=0x80,len=4}->tun_metadata0")
    c.grab(log, cmd, [("tlv_table_mod", T, 4, 24),
                      ("barrier_request", T, 20, None), ("barrier_reply", F, 21, None)])
    log, cmd = c.ofctl("dump-tlv-map", SWITCH)
    c.grab(log, cmd, [("tlv_table_request", T, 4, 25), ("tlv_table_reply", F, 4, 26)])

    log, cmd = c.ofctl("add-group", SWITCH, "group_id=1,type=select,"
                       "bucket=weight:100,actions=output:2,"
                       "bucket=weight:50,actions=load:0x1->NXM_NX_REG3[],output:2")
    c.grab(log, cmd, [("group_mod_add_select", T, 15, None)])
    log, cmd = c.ofctl("add-group", SWITCH, "group_id=2,type=ff,"
                       "bucket=watch_port:2,actions=output:2,bucket=watch_group:1,actions=group:1")
    c.grab(log, cmd, [("group_mod_add_ff", T, 15, None)])
    log, cmd = c.ofctl("add-meter", SWITCH,
                       "meter=1,kbps,burst,stats,band=type=drop,rate=1000,burst_size=100")
    c.grab(log, cmd, [("meter_mod_add", T, 29, None)])

    flows = c.sb.p("flows.txt")
    with open(flows, "w") as f:
        f.write(FLOWS)
    c.ofctl("add-flows", SWITCH, flows)

    # Role, async config and echo: no ovs-ofctl command sends these, so the requests are
    # hand-assembled (OF1.3 §7.3.9, §7.3.10, §7.5.2); the replies are the switch's. A second
    # ROLE_REQUEST for PRIMARY with an older generation id is refused as stale (OF1.3 §6.3.6).
    log = c.exchange(["041800180000000a00000002000000000000000000000007",
                      "041a00080000000b",
                      "0402000c0000000cdeadbeef",
                      "041800180000000d00000002000000000000000000000005"])
    how = "hand-assembled in capture-replies.py"
    c.keep("role_request", how, pick(log, T, 24, None))
    c.keep("role_reply", "ovs-vswitchd's reply to role_request", pick(log, F, 25, None))
    c.keep("get_async_request", how, pick(log, T, 26, None))
    c.keep("get_async_reply", "ovs-vswitchd's reply to get_async_request", pick(log, F, 27, None))
    c.keep("echo_request", how, pick(log, T, 2, None))
    c.keep("echo_reply", "ovs-vswitchd's reply to echo_request", pick(log, F, 3, None))
    c.keep("error_role_stale", "ovs-vswitchd's reply to a ROLE_REQUEST (primary) with "
           "generation_id 5 after role_request's 7", pick(log, F, 1, None))

    # PACKET_IN2 with a continuation, ovs-ofctl's NXT_RESUME of it, and the PACKET_IN2 the
    # resumed pipeline sends; then a PORT_STATUS (a port added) and a FLOW_REMOVED (hard timeout)
    # on the same monitor connection.
    proc, mark = c.monitor(["-P", "nxt_packet_in2"], ["resume"], barriers=2)
    out_log, out_cmd = c.ofctl("packet-out", SWITCH,
                               f"in_port=LOCAL packet={PACKET} actions=table")
    c.wait_for(mark, "two PACKET_IN2", lambda log: count(log, F, 4, 30) >= 2)
    c.sb.vsctl("add-port", BRIDGE, "pc", "--", "set", "Interface", "pc", "type=patch",
               "options:peer=pd", "ofport_request=3")
    c.wait_for(mark, "a PORT_STATUS", lambda log: count(log, F, 12) >= 1)
    c.ofctl("add-flow", SWITCH, "cookie=0x77, table=6, priority=1, hard_timeout=1, "
            "send_flow_rem, ip, nw_src=10.0.0.1 actions=drop")
    c.wait_for(mark, "a FLOW_REMOVED", lambda log: count(log, F, 11) >= 1)
    log = c.stop(proc, mark)
    mon = "`ovs-ofctl -O OpenFlow13 -P nxt_packet_in2 monitor SWITCH resume`"
    c.keep("set_config", f"sent by {mon}", pick(log, T, 9, None))
    c.keep("set_packet_in_format", f"sent by {mon}", pick(log, T, 4, 16))
    c.keep("packet_out", f"sent by {out_cmd}", pick(out_log, T, 13, None))
    c.keep("packet_in2_paused", f"sent by ovs-vswitchd to {mon} for {out_cmd}",
           pick(log, F, 4, 30, 0))
    c.keep("resume", f"sent by {mon} for packet_in2_paused", pick(log, T, 4, 28))
    c.keep("packet_in2_resumed", f"sent by ovs-vswitchd to {mon} after resume",
           pick(log, F, 4, 30, 1))
    c.keep("port_status_add", f"sent by ovs-vswitchd to {mon} for "
           "`ovs-vsctl add-port kcapbr pc -- set Interface pc type=patch ...`",
           pick(log, F, 12, None))
    c.keep("flow_removed_hard_timeout", f"sent by ovs-vswitchd to {mon} when a "
           "hard_timeout=1,send_flow_rem flow expired", pick(log, F, 11, None))

    # An OFPT_PACKET_IN (the OF1.3 format) from `actions=CONTROLLER:64`.
    proc, mark = c.monitor(["-P", "standard"], ["65535"], barriers=2)
    _, out_cmd = c.ofctl("packet-out", SWITCH,
                         f"in_port=2 packet={PACKET} actions=resubmit(,4)")
    c.wait_for(mark, "a PACKET_IN", lambda log: count(log, F, 10) >= 1)
    log = c.stop(proc, mark)
    c.keep("packet_in", f"sent by ovs-vswitchd to `ovs-ofctl -O OpenFlow13 -P standard monitor SWITCH 65535` "
           f"for {out_cmd}", pick(log, F, 10, None))

    for command, name, sub in [
            ("dump-desc", "desc", MP_DESC),
            ("dump-flows", "flow_stats", MP_FLOW),
            ("dump-aggregate", "aggregate", MP_AGGREGATE),
            ("dump-tables", "table_stats", MP_TABLE),
            ("dump-ports", "port_stats", MP_PORT_STATS),
            ("dump-ports-desc", "port_desc", MP_PORT_DESC),
            ("queue-stats", "queue_stats", MP_QUEUE),
            ("dump-group-stats", "group_stats", MP_GROUP),
            ("dump-groups", "group_desc", MP_GROUP_DESC),
            ("dump-group-features", "group_features", MP_GROUP_FEATURES),
            ("meter-stats", "meter_stats", MP_METER),
            ("dump-meters", "meter_config", MP_METER_CONFIG),
            ("meter-features", "meter_features", MP_METER_FEATURES)]:
        log, cmd = c.ofctl(command, SWITCH)
        c.grab(log, cmd, [(name + "_request", T, 18, sub), (name + "_reply", F, 19, sub)])

    # Table names show up in TABLE_FEATURES (`ovs-vsctl` Flow_Table rows).
    c.sb.vsctl("--", "--id=@a", "create", "Flow_Table", "name=audit",
               "--", "--id=@b", "create", "Flow_Table", "name=egress",
               "--", "set", "Bridge", BRIDGE, "flow_tables:244=@a", "flow_tables:253=@b")
    # OVS answers with ~20 parts of ~60 KiB for its 254 tables; only the last part (tables
    # 244-253, without OFPMPF_REPLY_MORE) is kept, to keep the golden file small.
    log, cmd = c.ofctl("dump-table-features", SWITCH)
    c.grab(log, cmd, [("table_features_request", T, 18, MP_TABLE_FEATURES),
                      ("table_features_reply_last", F, 19, MP_TABLE_FEATURES, -1)])

    # Errors from the switch: an OF1.3 error, a Nicira experimenter error, and NXET_VENDOR.
    log, cmd = c.ofctl("add-flow", SWITCH, "table=7, priority=1 actions=group:99", ok=False)
    c.grab(log, cmd, [("error_bad_out_group", F, 1, None)])
    log, cmd = c.ofctl("add-flow", SWITCH, "table=7, priority=1, tun_metadata1=0x5 actions=drop",
                       ok=False)
    c.grab(log, cmd, [("error_nx_invalid_tlv_field", F, 1, None)])
    # OVS encodes Nicira errors as NXET_VENDOR only on OpenFlow 1.0/1.1 connections
    # (lib/ofp-errors.c ofperr_encode_msg__: `ofp_version <= OFP11_VERSION`); on 1.2+ it uses
    # the experimenter form above, and its OF1.3 printer cannot decode NXET_VENDOR at all.
    log, cmd = c.ofctl("add-flow", SWITCH, "table=7, priority=1, tun_metadata1=0x5 actions=drop",
                       version="OpenFlow10", ok=False)
    c.grab(log, cmd, [("error_nx_vendor_of10", F, 1, None)])
    of10 = pick(log, F, 1, None)
    c.keep("error_nx_vendor_of13", "hand-assembled: error_nx_vendor_of10 with the header "
           "version set to 0x04 (OVS never sends this on OF1.3)", b"\x04" + of10[1:])

    # FLOW_MODs other than ADD, as ovs-ofctl encodes them; each is answered by a barrier only.
    for args, name in [
            (["mod-flows", SWITCH, "table=4 actions=CONTROLLER:128"], "flow_mod_modify"),
            (["mod-flows", SWITCH, "cookie=0x5/0xff, table=2 actions=drop"],
             "flow_mod_modify_cookie"),
            (["--strict", "mod-flows", SWITCH, "table=2, priority=10, ip actions=drop"],
             "flow_mod_modify_strict"),
            (["del-flows", SWITCH, "cookie=0x5/0xff"], "flow_mod_delete_cookie"),
            (["del-flows", SWITCH, "out_port=3"], "flow_mod_delete_out_port"),
            (["del-flows", SWITCH, "out_group=1"], "flow_mod_delete_out_group"),
            (["--strict", "del-flows", SWITCH, "table=2, priority=10, ip"],
             "flow_mod_delete_strict"),
            (["del-flows", SWITCH], "flow_mod_delete_all")]:
        log, cmd = c.ofctl(*args)
        c.grab(log, cmd, [(name, T, 14, None)])


def main():
    sb = Sandbox()
    try:
        c = Capture(sb)
        version = subprocess.run(["ovs-vswitchd", "--version"], capture_output=True,
                                 text=True).stdout.split("\n")[0]
        run(c)
        scratch = sb.p("msg.bin")
        with open(GOLDEN, "w") as out:
            out.write(
                "# Generated by scripts/capture-replies.py from a live " + version + "\n"
                "# (netdev datapath, bridge " + BRIDGE + " with patch ports pa=1, pb=2, later "
                "pc=3). Every\n"
                "# ovs-ofctl command, monitor included, ran against a proxy (SWITCH below) that "
                "records\n"
                "# each message in both directions. Do not edit: rerun the script (durations, "
                "MACs and\n"
                "# UUIDs change from run to run). Per message: name, how it was obtained, hex, "
                "and\n"
                "# `ovs-ofctl ofp-parse` of those bytes (lines joined with |).\n\n")
            for name, source, msg in c.golden:
                out.write(f"message: {name}\nsource: {source}\nhex: {msg.hex()}\n"
                          f"ofp-print: {ofp_print(msg, scratch)}\n\n")
        print(f"wrote {len(c.golden)} messages to {GOLDEN}")
    finally:
        sb.close()


if __name__ == "__main__":
    main()
