// eBPF programs for the text tests: compiled by clang-14 -target bpf -O2 -c, disassembled by
// llvm-objdump-14 -d, and compared with our ELF reader and disassembler. No maps, no includes.
#define SEC(x) __attribute__((section(x), used))
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

struct skb { u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci,
             vlan_proto, priority, ingress_ifindex, ifindex, tc_index, cb[5], hash,
             tc_classid, data, data_end; };
struct xdp { u32 data, data_end, data_meta; };

u64 load_byte(void *skb, u64 off) asm("llvm.bpf.load.byte");
u64 load_half(void *skb, u64 off) asm("llvm.bpf.load.half");
u64 load_word(void *skb, u64 off) asm("llvm.bpf.load.word");

SEC("socket") int tcp_port_80(struct skb *skb) {
    if (load_half(skb, 12) != 0x0800 || load_byte(skb, 23) != 6)
        return 0;
    u32 ihl = (load_byte(skb, 14) & 0xf) * 4;
    u32 ports = load_word(skb, 14 + ihl);
    return ((ports >> 16) == 80 || (ports & 0xffff) == 80) ? skb->len : 0;
}

SEC("classifier") int arith(struct skb *skb) {
    u64 x = skb->len;
    long long s = (long long)x - 1000;
    u32 w = (u32)x * 2654435761u;
    x = (x << 7) ^ (x >> 3) ^ (u64)(s >> 5);
    x /= (skb->mark | 1);
    if ((int)w < 0) x += w; else x -= w;
    return (int)(x ^ (x >> 32)) + (skb->protocol == 0xdd86);
}

SEC("xdp") int parse(struct xdp *ctx) {
    u8 *data = (u8 *)(long)ctx->data, *end = (u8 *)(long)ctx->data_end;
    u32 sum = 0;
    if (data + 64 > end) return 1;
    for (int i = 0; i < 16; i++) {
        u32 v = *(u32 *)(data + i * 4);
        sum += (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    }
    return sum > 0x80000000u ? 2 : 1;
}

SEC("tc") int counters(struct skb *skb) {
    u64 counter[4] = {0};
    __sync_fetch_and_add(&counter[skb->len & 3], 1);
    u64 old = __sync_fetch_and_add(&counter[1], 5);
    u64 big = 0x123456789abcdefull * skb->hash;
    return (int)(counter[0] + counter[1] + old + (big >> 40));
}
