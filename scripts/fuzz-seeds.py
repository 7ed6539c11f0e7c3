#!/usr/bin/env python3
"""Seed inputs for the cargo-fuzz targets, made from the repository's own data and the shared
capture corpus instead of being committed: `scripts/fuzz` runs this first and passes
crates/<crate>/fuzz/seeds/<target>/ to libFuzzer next to the target's (gitignored) working
corpus, so a fresh clone starts from real inputs (assembly programs, filter expressions, captures,
tcpdump's programs, small executables) rather than from nothing.

    scripts/fuzz-seeds.py [CRATE...]     # default: every crate with a fuzz directory

Each seed file is named after what it came from. Seeds are rewritten on every run (cheap).
Targets whose input is entropy for a program generator (cbpf_jit, cbpf_random_programs,
ebpf_vm, llvm_random_programs) and the Mach-O load-command target need no seeds.
"""
import glob
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CORPUS = os.path.abspath(os.path.join(ROOT, "..", "shared", "corpus"))
FILTER_DATA = os.path.join(ROOT, "crates", "filter", "tests", "data")
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
SMALL_CAPTURE = 64 * 1024  # libFuzzer's inputs stay small; larger captures add nothing here


def seed_dir(crate, target):
    path = os.path.join(ROOT, "crates", crate, "fuzz", "seeds", target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write_seed(directory, name, data):
    if isinstance(data, str):
        data = data.encode()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    digest = hashlib.sha1(data).hexdigest()[:8]
    with open(os.path.join(directory, f"{safe}-{digest}"), "wb") as f:
        f.write(data)


def expressions():
    """Every expression of the filter crate's hand-written lists (comments and blanks skipped;
    a line may carry an expected outcome after ' ## ', which is cut)."""
    exprs = []
    for path in sorted(glob.glob(os.path.join(FILTER_DATA, "*.txt"))):
        with open(path) as f:
            for line in f:
                line = line.split(" ## ")[0].strip()
                if line and not line.startswith("#"):
                    exprs.append(line)
    return exprs


def captures():
    """(name, bytes, is_pcapng) of the shared corpus's small captures."""
    found = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "**", "*"), recursive=True)):
        if not os.path.isfile(path) or os.path.getsize(path) > SMALL_CAPTURE:
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] in PCAP_MAGICS:
            found.append((os.path.basename(path), data, False))
        elif data[:4] == PCAPNG_MAGIC:
            found.append((os.path.basename(path), data, True))
    return found


def first_packet(data):
    """The first record's bytes of a classic little-endian microsecond pcap, or None."""
    if data[:4] != b"\xd4\xc3\xb2\xa1" or len(data) < 40:
        return None
    incl = struct.unpack_from("<I", data, 32)[0]
    return data[40 : 40 + min(incl, 256)] or None


def ethernet_capture():
    for name, data, ng in captures():
        if not ng and data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack_from("<I", data, 20)[0] == 1:
            return name, data
    return None


def tcpdump_programs(exprs, capture_path):
    """(expr, -d text, -ddd text) for each expression tcpdump compiles on an Ethernet capture."""
    out = []
    for expr in exprs:
        runs = [
            subprocess.run(["tcpdump", flag, "-r", capture_path, expr], capture_output=True, text=True)
            for flag in ("-d", "-ddd")
        ]
        if all(r.returncode == 0 for r in runs):
            out.append((expr, runs[0].stdout, runs[1].stdout))
    return out


def ddd_to_bytes(ddd):
    lines = ddd.split("\n")[1:]
    insns = b""
    for line in lines:
        if line.strip():
            code, jt, jf, k = (int(x) for x in line.split())
            insns += struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)
    return insns


def seeds_x86():
    d = seed_dir("x86", "text_asm")
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "asm", "*.s"))):
        with open(path, "rb") as f:
            write_seed(d, os.path.basename(path), f.read())


def seeds_filter():
    d = seed_dir("filter", "compile_expr")
    for expr in expressions():
        # An even first byte selects the target's raw-text mode: lead with a space.
        write_seed(d, expr, " " + expr)


def seeds_pcap():
    classic, ng = seed_dir("pcap", "read_pcap"), seed_dir("pcap", "read_pcapng")
    for name, data, is_ng in captures():
        write_seed(ng if is_ng else classic, name, data)


def seeds_bpf_and_llvm(crates):
    eth = ethernet_capture()
    if eth is None:
        print("fuzz-seeds: no small Ethernet capture in the corpus; bpf/llvm seeds skipped", file=sys.stderr)
        return
    name, data = eth
    packet = first_packet(data) or b""
    everyday = []
    with open(os.path.join(FILTER_DATA, "everyday.txt")) as f:
        everyday = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    with tempfile.NamedTemporaryFile(suffix=".pcap") as tmp:
        tmp.write(data)
        tmp.flush()
        programs = tcpdump_programs(everyday, tmp.name)
    if "bpf" in crates:
        text = seed_dir("bpf", "cbpf_text")
        with_packet = [seed_dir("bpf", t) for t in ("cbpf_validate_interp", "ebpf_convert")]
        for expr, listing, ddd in programs:
            write_seed(text, expr + ".d", listing)
            write_seed(text, expr + ".ddd", ddd)
            insns = ddd_to_bytes(ddd)
            n = len(insns) // 8
            if n <= 255:
                # [n: u8][n instructions][wire_len: u32][packet]
                seed = bytes([n]) + insns + struct.pack("<I", len(packet)) + packet
                for d in with_packet:
                    write_seed(d, expr, seed)
    if "llvm" in crates:
        d = seed_dir("llvm", "llvm_any_program")
        for expr, _, ddd in programs:
            insns = ddd_to_bytes(ddd)
            if len(insns) // 8 <= 64:
                # [instructions (at most 64)][packet]: the packet must not parse as more code,
                # so programs of exactly 64 instructions only
                write_seed(d, expr, insns + packet if len(insns) // 8 == 64 else insns)


EXIT_PROGRAM = """
    .globl _start
_start:
    mov $60, %eax
    mov $7, %edi
    syscall
"""

HELLO_C = '#include <stdio.h>\nint main(int c, char **v) { printf("hello %d\\n", c); return 0; }\n'


def seeds_emu():
    d = seed_dir("emu", "loader")
    with tempfile.TemporaryDirectory() as tmp:
        builds = [
            ("exit-static", [["as", "-o", "exit.o", "exit.s"], ["ld", "-static", "-o", "exit-static", "exit.o"]]),
            ("hello-musl", [["musl-gcc", "-static", "-Os", "-s", "-o", "hello-musl", "hello.c"]]),
            ("hello-pie", [["gcc", "-Os", "-s", "-o", "hello-pie", "hello.c"]]),
        ]
        with open(os.path.join(tmp, "exit.s"), "w") as f:
            f.write(EXIT_PROGRAM)
        with open(os.path.join(tmp, "hello.c"), "w") as f:
            f.write(HELLO_C)
        for name, steps in builds:
            try:
                for step in steps:
                    subprocess.run(step, cwd=tmp, check=True, capture_output=True)
            except (OSError, subprocess.CalledProcessError) as e:
                print(f"fuzz-seeds: {name} not built ({e}); skipped", file=sys.stderr)
                continue
            with open(os.path.join(tmp, name), "rb") as f:
                write_seed(d, name, f.read())


def main():
    crates = sys.argv[1:] or ["x86", "filter", "pcap", "bpf", "llvm", "emu"]
    for crate in crates:
        if not os.path.isdir(os.path.join(ROOT, "crates", crate, "fuzz")):
            continue
        {"x86": seeds_x86, "filter": seeds_filter, "pcap": seeds_pcap, "emu": seeds_emu}.get(
            crate, lambda: None
        )()
    if "bpf" in crates or "llvm" in crates:
        seeds_bpf_and_llvm(crates)
    for crate in crates:
        seeds = os.path.join(ROOT, "crates", crate, "fuzz", "seeds")
        if os.path.isdir(seeds):
            for target in sorted(os.listdir(seeds)):
                n = len(os.listdir(os.path.join(seeds, target)))
                print(f"fuzz-seeds: crates/{crate}/fuzz/seeds/{target}: {n} inputs", file=sys.stderr)


if __name__ == "__main__":
    main()
