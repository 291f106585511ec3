"""tools/capture/questions.py: the capture exercises' questions, shared by the
checker students run (tools/capture/check, which scores an answer file) and
the instructors' key (instructors/capture-key, which the handout leaves out).

It reads a capture with tshark into packets, finds the conversations the
scene played, and holds each lab's questions: the key in the answer file,
how answers compare, the function of the capture that gives the right
answer, and the hint shown for a wrong one. To score an answer the checker
has to work the right one out, so this file necessarily knows how; what the
handout leaves out is a command that prints them.
"""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDE_SECTION = "Capture exercise"

FIELDS = [
    "frame.number", "frame.time_relative", "tcp.srcport", "tcp.dstport", "tcp.stream",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.flags.push",
    "tcp.seq", "tcp.seq_raw", "tcp.ack", "tcp.ack_raw", "tcp.len", "tcp.window_size",
    "tcp.payload", "udp.srcport", "udp.dstport", "udp.payload", "icmp.type", "icmp.code",
]


class Packet:
    """One frame of the capture, with the fields the questions need."""

    def __init__(self, values):
        v = dict(zip(FIELDS, values))
        self.no = int(v["frame.number"])
        self.time = float(v["frame.time_relative"] or 0)
        self.icmp = v["icmp.type"] != ""
        self.icmp_type = int(v["icmp.type"]) if self.icmp else None
        self.icmp_code = int(v["icmp.code"]) if self.icmp else None
        self.tcp = v["tcp.srcport"] != "" and not self.icmp
        self.udp = v["udp.srcport"] != "" and not self.icmp
        num = lambda k: int(v[k]) if v[k] != "" else 0
        if self.tcp:
            self.sport, self.dport = num("tcp.srcport"), num("tcp.dstport")
            self.stream = num("tcp.stream")
            self.syn, self.ack_flag = num("tcp.flags.syn"), num("tcp.flags.ack")
            self.fin, self.rst, self.psh = num("tcp.flags.fin"), num("tcp.flags.reset"), num("tcp.flags.push")
            self.seq, self.seq_raw = num("tcp.seq"), num("tcp.seq_raw")
            self.ack, self.ack_raw = num("tcp.ack"), num("tcp.ack_raw")
            self.len, self.window = num("tcp.len"), num("tcp.window_size")
            self.payload = bytes.fromhex(v["tcp.payload"].replace(":", ""))
        elif self.udp:
            self.sport, self.dport = num("udp.srcport"), num("udp.dstport")
            self.payload = bytes.fromhex(v["udp.payload"].replace(":", ""))
        else:
            self.sport = self.dport = None
            self.payload = b""


def read_capture(path):
    if not shutil.which("tshark"):
        sys.exit("check-capture: tshark is not installed (sudo make setup installs it)")
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        print(f"check-capture: tshark cannot read {path}: {run.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    return [Packet(line.split("\t")) for line in run.stdout.splitlines() if line.strip()]


class Capture:
    """The packets, and the conversations the scene played, in order."""

    def __init__(self, path):
        self.path = path
        self.packets = read_capture(path)
        syns = [p for p in self.packets if p.tcp and p.syn and not p.ack_flag]
        udps = [p for p in self.packets if p.udp]
        # The server's port: where the first conversation went. A SYN answered
        # by RST, or a datagram answered by ICMP, went to the closed port.
        refused = {p.stream for p in self.packets if p.tcp and p.rst}
        first = next((p for p in syns if p.stream not in refused), None) or (udps[0] if udps else None)
        self.port = first.dport if first else None
        self.streams = []   # TCP streams to the server, in the order they opened
        for p in syns:
            if p.dport == self.port and p.stream not in self.streams:
                self.streams.append(p.stream)
        self.refused_streams = sorted(refused)

    def stream(self, index):
        """Packets of the index-th TCP connection to the server (0 = first)."""
        if index >= len(self.streams):
            return []
        s = self.streams[index]
        return [p for p in self.packets if p.tcp and p.stream == s]

    def to_server(self, pkts):
        return [p for p in pkts if p.dport == self.port]

    def to_client(self, pkts):
        return [p for p in pkts if p.sport == self.port]


def data(pkts):
    return [p for p in pkts if p.len > 0]


def first(pkts):
    return pkts[0] if pkts else None


def side(cap, pkt):
    if pkt is None:
        return None
    return "server" if pkt.sport == cap.port else "client"


def stream_bytes(pkts):
    return b"".join(p.payload for p in pkts)


def hexbytes(b):
    return " ".join(f"{c:02x}" for c in b)


# ----------------------------------------------------------------- answers --
#
# A question: the key in the answer file, its kind (how answers compare),
# a function of the capture that gives the right answer (None when the
# capture does not hold it), and a hint: a tshark display filter or command
# that shows the packet. {f} in a hint is the capture's path, {p} the port.

def q(key, kind, truth, hint, capture=None, make=None):
    """A question; capture/make name another capture (build/captures/NAME.pcapng,
    made by `make MAKE`) when the answer is in that one rather than labNN's."""
    return {"key": key, "kind": kind, "truth": truth, "hint": hint, "capture": capture, "make": make}


def tshark_count(cap, display_filter):
    """How many packets of the capture match a display filter."""
    run = subprocess.run(["tshark", "-n", "-r", cap.path, "-Y", display_filter],
                         capture_output=True, text=True, timeout=60)
    return len(run.stdout.splitlines()) if run.returncode == 0 else None


def lab01():
    def main(c): return c.stream(0)
    def synack(c): return first([p for p in main(c) if p.syn and p.ack_flag])
    def hello_ack(c): return first([p for p in c.to_client(main(c)) if p.ack > 1])
    def fin(c): return first([p for p in main(c) if p.fin])
    def refused(c):
        return first([p for p in c.packets if p.tcp and p.rst and p.stream in c.refused_streams])
    def segs(i): return lambda c: len(data(c.to_server(c.stream(i)))) if c.stream(i) else None
    return [
        q("client_isn", "int", lambda c: first(main(c)).seq_raw if main(c) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.seq_raw"),
        q("server_isn", "int", lambda c: synack(c).seq_raw if synack(c) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.syn==1 && tcp.flags.ack==1' -T fields -e tcp.seq_raw"),
        q("hello_ack_relative", "int", lambda c: hello_ack(c).ack if hello_ack(c) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.srcport=={p} && tcp.ack>1' -T fields -e frame.number -e tcp.ack"),
        q("hello_ack_absolute", "int", lambda c: hello_ack(c).ack_raw if hello_ack(c) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.srcport=={p} && tcp.ack>1' -T fields -e frame.number -e tcp.ack_raw"),
        q("fin_first", "side", lambda c: side(c, fin(c)),
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.fin==1'   (the first line; port {p} is the server)"),
        q("time_wait_side", "side", lambda c: side(c, fin(c)),
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.fin==1'   (TIME_WAIT stays with whoever closed first)"),
        q("psh_segments", "int", lambda c: len([p for p in main(c) if p.psh]) if main(c) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.push==1'"),
        q("closed_port_reply", "flags",
          lambda c: flag_names(refused(c)) if refused(c) else None,
          "tshark -r {f} -Y 'tcp.flags.reset==1'"),
        q("nagle_segments", "int", segs(1),
          "tshark -r {f} -Y 'tcp.dstport=={p} && tcp.len>0' -T fields -e tcp.stream | sort | uniq -c   (the second connection to {p})"),
        q("nodelay_segments", "int", segs(2),
          "tshark -r {f} -Y 'tcp.dstport=={p} && tcp.len>0' -T fields -e tcp.stream | sort | uniq -c   (the third connection to {p})"),
        q("loss_retransmissions", "int", lambda c: tshark_count(c, "tcp.analysis.retransmission"),
          "tshark -r {f} -Y tcp.analysis.retransmission | wc -l",
          capture="lab01-loss", make="netlab-tcp-loss"),
        q("loss_dup_acks", "int", lambda c: tshark_count(c, "tcp.analysis.duplicate_ack"),
          "tshark -r {f} -Y tcp.analysis.duplicate_ack | wc -l",
          capture="lab01-loss", make="netlab-tcp-loss"),
    ]


def flag_names(p):
    names = [("SYN", p.syn), ("ACK", p.ack_flag), ("FIN", p.fin), ("RST", p.rst), ("PSH", p.psh)]
    return ",".join(sorted(n for n, on in names if on))


def lab02():
    def requests(c): return [p for p in c.packets if p.udp and p.dport == c.port]
    def icmp(c): return first([p for p in c.packets if p.icmp])
    return [
        q("datagrams_to_server", "int", lambda c: len(requests(c)) if requests(c) else None,
          "tshark -r {f} -Y 'udp.dstport=={p} && !icmp'"),
        q("payload_lengths", "intlist",
          lambda c: ",".join(str(len(p.payload)) for p in requests(c)) if requests(c) else None,
          "tshark -r {f} -Y 'udp.dstport=={p} && !icmp' -T fields -e udp.length   (udp.length counts the 8-byte header too)"),
        q("client_port", "int", lambda c: requests(c)[0].sport if requests(c) else None,
          "tshark -r {f} -Y 'udp.dstport=={p} && !icmp' -T fields -e udp.srcport"),
        q("icmp_type", "int", lambda c: icmp(c).icmp_type if icmp(c) else None,
          "tshark -r {f} -Y icmp -T fields -e icmp.type -e icmp.code"),
        q("icmp_code", "int", lambda c: icmp(c).icmp_code if icmp(c) else None,
          "tshark -r {f} -Y icmp -T fields -e icmp.type -e icmp.code"),
        q("loss_requests_sent", "int", lambda c: len(requests(c)) if requests(c) else None,
          "tshark -r {f} -Y 'udp.dstport=={p} && !icmp' | wc -l",
          capture="lab02-loss", make="netlab-lab02"),
        q("loss_lines_resent", "int",
          lambda c: len({p.payload for p in requests(c) if [r.payload for r in requests(c)].count(p.payload) > 1})
          if requests(c) else None,
          "tshark -r {f} -Y 'udp.dstport=={p} && !icmp' -T fields -e udp.payload | sort | uniq -d | wc -l",
          capture="lab02-loss", make="netlab-lab02"),
    ]


def lab03():
    def korean(c, to_server):
        pkts = c.stream(0)
        pkts = c.to_server(pkts) if to_server else c.to_client(pkts)
        for line in stream_bytes(pkts).split(b"\n"):
            if any(b >= 0x80 for b in line):
                return hexbytes(line)
        return None
    def burst(c, to_server):
        pkts = c.stream(1)
        if not pkts:
            return None
        return len(data(c.to_server(pkts) if to_server else c.to_client(pkts)))
    return [
        q("korean_bytes", "hex", lambda c: korean(c, True),
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.dstport=={p} && tcp.len>0' -T fields -e tcp.payload"),
        q("korean_byte_count", "int",
          lambda c: len(korean(c, True).split()) if korean(c, True) else None,
          "count the bytes of the Korean line in: tshark -r {f} -Y 'tcp.stream==0 && tcp.dstport=={p} && tcp.len>0' -x"),
        q("korean_reply_bytes", "hex", lambda c: korean(c, False),
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.srcport=={p} && tcp.len>0' -T fields -e tcp.payload"),
        q("main_request_segments", "int",
          lambda c: len(data(c.to_server(c.stream(0)))) if c.stream(0) else None,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.dstport=={p} && tcp.len>0'"),
        q("burst_request_segments", "int", lambda c: burst(c, True),
          "tshark -r {f} -Y 'tcp.stream==1 && tcp.dstport=={p} && tcp.len>0'"),
        q("burst_reply_segments", "int", lambda c: burst(c, False),
          "tshark -r {f} -Y 'tcp.stream==1 && tcp.srcport=={p} && tcp.len>0'"),
    ]


def lab04():
    def served_while_waiting(c):
        a, b = c.stream(0), c.stream(1)
        if not a or not b:
            return None
        reply = first(data(c.to_client(b)))
        a_fin = first([p for p in c.to_server(a) if p.fin])
        if reply is None:
            return "no"
        return "yes" if a_fin is None or reply.time < a_fin.time else "no"
    return [
        q("connections", "int", lambda c: len(c.streams) or None,
          "tshark -r {f} -Y 'tcp.flags.syn==1 && tcp.flags.ack==0'"),
        q("a_port", "int", lambda c: first(c.stream(0)).sport if c.stream(0) else None,
          "tshark -r {f} -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e frame.number -e tcp.srcport"),
        q("b_port", "int", lambda c: first(c.stream(1)).sport if c.stream(1) else None,
          "tshark -r {f} -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e frame.number -e tcp.srcport"),
        q("b_served_while_a_waits", "yesno", served_while_waiting,
          "tshark -r {f} -Y '(tcp.srcport=={p} && tcp.len>0) || tcp.flags.fin==1'   (is B's echo before A's FIN?)"),
        q("b_fin_first", "side",
          lambda c: side(c, first([p for p in c.stream(1) if p.fin])),
          "tshark -r {f} -Y 'tcp.stream==1 && tcp.flags.fin==1'"),
        q("rtt_handshake_ms", "ms", handshake_ms,
          "tshark -r {f} -Y 'tcp.stream==0 && tcp.flags.syn==1' -T fields -e frame.time_relative",
          capture="lab04-rtt", make="netlab-rtt"),
    ]


def handshake_ms(c):
    pkts = c.stream(0)
    syn = first([p for p in pkts if p.syn and not p.ack_flag])
    synack = first([p for p in pkts if p.syn and p.ack_flag])
    return round((synack.time - syn.time) * 1000) if syn and synack else None


def lab06():
    def lines_to(c, i):
        return stream_bytes(c.to_client(c.stream(i))).decode("utf-8", "replace").split("\n")
    def line_with(c, i, prefix):
        return next((l for l in lines_to(c, i) if l.startswith(prefix)), None) if c.stream(i) else None
    def zero_window(c):
        return first([p for p in c.packets if p.tcp and p.window == 0 and not (p.syn or p.fin or p.rst)])
    return [
        q("nick_reply", "text", lambda c: line_with(c, 1, "* You are now"),
          "tshark -r {f} -Y 'tcp.stream==1 && tcp.srcport=={p} && tcp.len>0' -T fields -e tcp.payload | xxd -r -p"),
        q("bob_received", "text", lambda c: line_with(c, 0, "[alice]"),
          "tshark -r {f} -q -z follow,tcp,ascii,0   (what the server sent the first client, bob)"),
        q("zero_window_port", "int", lambda c: zero_window(c).sport if zero_window(c) else None,
          "tshark -r {f} -Y tcp.analysis.zero_window -T fields -e frame.number -e tcp.srcport | head -1"),
        q("slow_reader_syn_window", "int",
          lambda c: first(c.stream(2)).window if c.stream(2) else None,
          "tshark -r {f} -Y 'tcp.stream==2 && tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.srcport -e tcp.window_size"),
        q("slow_reader_closed_by", "side",
          lambda c: side(c, first([p for p in c.stream(2) if p.fin or p.rst])),
          "tshark -r {f} -Y 'tcp.stream==2 && (tcp.flags.fin==1 || tcp.flags.reset==1)'"),
    ]


LABS = {"01": lab01, "02": lab02, "03": lab03, "04": lab04, "06": lab06}


def normalise(kind, text):
    """The comparable form of an answer, or None when it is not of that kind."""
    t = text.strip().strip("\"'").strip()
    if t == "":
        return None
    low = t.lower()
    try:
        if kind == "int":
            return int(low.replace(",", "").replace("_", ""), 0)
        if kind == "intlist":
            return ",".join(str(int(x)) for x in re.split(r"[\s,;]+", low) if x)
        if kind == "hex":
            digits = re.sub(r"0x|\\x|[\s:,]", "", low)
            bytes.fromhex(digits)
            return digits
        if kind == "side":
            return low if low in ("client", "server") else None
        if kind == "yesno":
            return {"yes": "yes", "y": "yes", "true": "yes", "no": "no", "n": "no", "false": "no"}.get(low)
        if kind == "flags":
            names = set(re.findall(r"syn|ack|fin|rst|psh|reset", low))
            names = {"rst" if n == "reset" else n for n in names}
            return ",".join(sorted(n.upper() for n in names)) or None
        if kind == "text":
            return t
        if kind == "ms":
            return float(re.sub(r"\s*ms$", "", low))
    except ValueError:
        return None
    raise ValueError(kind)


def truth_text(kind, value):
    return str(value) if kind != "flags" else value.replace(",", ", ")


def read_answers(path):
    answers = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            answers[key.strip()] = value.strip()
    return answers


def shown(path):
    """A path as the student typed it: relative to the repository when inside it."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def lab_dir(lab):
    for tree in ("labs", "solutions"):
        base = os.path.join(ROOT, tree)
        for d in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            if d.startswith(lab + "-"):
                return d
    return lab


def open_captures(lab, capture):
    """The lab's questions and the captures they read: {None: the lab's
    capture, NAME: build/captures/NAME.pcapng beside it, or None when it was
    not recorded}. Exits 2, with what to do, when the lab's capture is missing."""
    if not os.path.isfile(capture):
        print(f"check-capture: no capture {capture}: record yours first with make capture-lab{lab}", file=sys.stderr)
        sys.exit(2)
    captures = {None: Capture(capture)}
    questions = LABS[lab]()
    for qu in questions:
        # The netlab exercises' captures sit beside labNN's.
        name = qu["capture"]
        if name is not None and name not in captures:
            path = os.path.join(os.path.dirname(capture), name + ".pcapng")
            captures[name] = Capture(path) if os.path.isfile(path) else None
    return questions, captures


def default_capture(lab):
    return os.path.join(ROOT, "build", "captures", f"lab{lab}.pcapng")


def describe(kind):
    return {"int": "number", "intlist": "list of numbers (5,12,40)", "hex": "list of hex bytes (c3 a9)",
            "side": "side (client or server)", "yesno": "yes or no", "flags": "set of TCP flags (RST, ACK)",
            "text": "line of text", "ms": "number of milliseconds"}[kind]
