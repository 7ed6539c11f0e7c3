# Shared by scripts/setup and scripts/test: go to the repository root and install the Debian
# packages the project needs, idempotently (nothing is downloaded when they are all present).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Oracles and tools the build, the tests and the benchmarks use:
#   libpcap-dev      libpcap, the in-process oracle for filters (the `pcap` crate, tests only)
#   tcpdump          `tcpdump -ddd` programs and `tcpdump -r -w` outputs to compare with
#   binutils         GNU as / objcopy / objdump: the oracle for x86 encodings
#   musl-tools       musl-gcc: static musl test programs for the emulator
#   busybox-static   /bin/busybox: a real static program to emulate
#   bpftool          loading eBPF objects into the kernel
#   qemu-user        qemu-x86_64: reference for the emulator's speed and system calls
#   clang-14 lld-14  Mach-O test programs (ld64.lld-14) and BPF objects
#   llvm-14-dev      LLVM 14 for the llvm crate (inkwell)
JITKIT_PACKAGES=(build-essential pkg-config python3 libpcap-dev tcpdump binutils musl-tools
  busybox-static bpftool qemu-user clang-14 lld-14 llvm-14-dev zlib1g-dev libzstd-dev)

ensure_packages() {
  local missing=()
  local pkg
  for pkg in "${JITKIT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo=()
  if [[ $(id -u) != 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# llvm-sys (under inkwell) finds LLVM 14 through this prefix.
export LLVM_SYS_140_PREFIX=${LLVM_SYS_140_PREFIX:-/usr/lib/llvm-14}
