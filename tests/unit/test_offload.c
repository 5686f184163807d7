/* TUN offloads: checksums, TSO segmentation (IPv4, IPv6), partial
 * checksums, malformed headers, and TCP coalescing back to a super-packet. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "offload.h"

#define MSS	1368
#define PAYLOAD	5000	/* 3 full segments and one of 896 bytes */
#define TH	32	/* TCP header with 12 bytes of options */

static uint8_t super[65536];
static uint8_t seg[8][2048];
static size_t seglen[8];

/* RFC 1071, the slow way, independent of offload.c. */
static uint16_t
ref_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
pseudo(const uint8_t *ip, bool v6, size_t l4len)
{
	uint32_t s = v6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);

	return s + 6 + (uint32_t)l4len;
}

/* A TCP super-packet as the kernel hands it over: partial checksum. */
static size_t
make_super(bool v6, struct virtio_net_hdr *h, uint8_t flags)
{
	unsigned ihl = v6 ? 40 : 20;
	size_t total = ihl + TH + PAYLOAD;
	uint8_t *tcp = super + ihl;
	uint16_t ps;

	memset(super, 0, ihl + TH);
	if (v6) {
		super[0] = 0x60;
		super[4] = (uint8_t)((total - 40) >> 8);
		super[5] = (uint8_t)(total - 40);
		super[6] = 6;
		super[7] = 64;
		inet_pton(AF_INET6, "fd00::1", super + 8);
		inet_pton(AF_INET6, "fd00::2", super + 24);
	} else {
		super[0] = 0x45;
		super[2] = (uint8_t)(total >> 8);
		super[3] = (uint8_t)total;
		super[4] = 0x12;
		super[5] = 0x34;
		super[6] = 0x40;	/* DF */
		super[8] = 64;
		super[9] = 6;
		inet_pton(AF_INET, "10.77.0.1", super + 12);
		inet_pton(AF_INET, "10.77.0.2", super + 16);
	}
	tcp[0] = 0x9c; tcp[1] = 0x40; tcp[2] = 0x14; tcp[3] = 0x51;
	tcp[4] = 0xff; tcp[5] = 0xff; tcp[6] = 0xfa; tcp[7] = 0x00; /* wraps */
	tcp[8] = 0x01; tcp[11] = 0x07;
	tcp[12] = (TH / 4) << 4;
	tcp[13] = flags;
	tcp[14] = 0x01; tcp[15] = 0xf5;
	tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10;	/* timestamps */
	for (int i = 24; i < 32; i++)
		tcp[i] = (uint8_t)i;
	for (size_t i = 0; i < PAYLOAD; i++)
		super[ihl + TH + i] = (uint8_t)(i * 7 + 3);
	ps = ref_sum(NULL, 0, pseudo(super, v6, total - ihl));
	tcp[16] = (uint8_t)(ps >> 8);
	tcp[17] = (uint8_t)ps;
	memset(h, 0, sizeof(*h));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr_len = (uint16_t)(ihl + TH);
	h->gso_size = MSS;
	h->csum_start = (uint16_t)ihl;
	h->csum_offset = 16;
	return total;
}

static void
check_segments(bool v6, unsigned n, uint8_t flags)
{
	unsigned ihl = v6 ? 40 : 20;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = seg[i], *tcp = p + ihl;
		size_t plen = i + 1 < n ? MSS : PAYLOAD - (n - 1) * MSS;
		uint8_t want = flags;

		assert_int_equal(seglen[i], ihl + TH + plen);
		if (v6) {
			assert_int_equal(rd16(p + 4), TH + plen);
		} else {
			assert_int_equal(rd16(p + 2), seglen[i]);
			assert_int_equal(rd16(p + 4), 0x1234 + i);
			assert_int_equal(ref_sum(p, 20, 0), 0xffff);
		}
		assert_int_equal(rd32(tcp + 4), 0xfffffa00u + i * MSS);
		if (i + 1 < n)
			want &= (uint8_t)~0x09;		/* FIN, PSH */
		if (i > 0)
			want &= (uint8_t)~0x80;		/* CWR */
		assert_int_equal(tcp[13], want);
		assert_int_equal(ref_sum(tcp, seglen[i] - ihl,
		    pseudo(p, v6, seglen[i] - ihl)), 0xffff);
		assert_memory_equal(tcp + TH, super + ihl + TH + i * MSS, plen);
	}
}

static unsigned
segment_all(bool v6, uint8_t flags)
{
	struct virtio_net_hdr h;
	struct offload_tx t;
	size_t len = make_super(v6, &h, flags);

	assert_int_equal(offload_tx_init(&t, &h, super, len), 0);
	assert_true(t.tso);
	assert_int_equal(t.nseg, 4);
	for (unsigned i = 0; i < t.nseg; i++)
		seglen[i] = offload_tx_segment(&t, i, seg[i]);
	return t.nseg;
}

static void
test_csum_rfc1071(void **state)
{
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint8_t odd[301];

	(void)state;
	assert_int_equal(offload_csum_add(0, b, sizeof(b)), 0xddf2);
	assert_int_equal(offload_csum_fold(0xddf2), 0x220d);
	for (size_t i = 0; i < sizeof(odd); i++)
		odd[i] = (uint8_t)(i * 31 + 5);
	for (size_t n = 0; n <= sizeof(odd); n++)
		assert_int_equal(offload_csum_add(0, odd, n),
		    ref_sum(odd, n, 0));
}

static void
test_tso_v4(void **state)
{
	(void)state;
	check_segments(false, segment_all(false, 0x18 | 0x80 | 0x01), 0x99);
}

static void
test_tso_v6(void **state)
{
	(void)state;
	check_segments(true, segment_all(true, 0x18), 0x18);
}

/* A single packet with a partial UDP checksum is finished in place. */
static void
test_partial_csum(void **state)
{
	uint8_t p[20 + 8 + 101];
	struct virtio_net_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.csum_start = 20, .csum_offset = 6,
	};
	struct offload_tx t;
	uint16_t ps;
	uint8_t out[sizeof(p)];

	(void)state;
	memset(p, 0, sizeof(p));
	p[0] = 0x45; p[2] = 0; p[3] = sizeof(p); p[8] = 64; p[9] = 17;
	inet_pton(AF_INET, "10.0.0.1", p + 12);
	inet_pton(AF_INET, "10.0.0.2", p + 16);
	p[20] = 0x30; p[22] = 0x00; p[23] = 0x35; p[25] = sizeof(p) - 20;
	for (size_t i = 28; i < sizeof(p); i++)
		p[i] = (uint8_t)i;
	ps = ref_sum(p + 12, 8, 17 + sizeof(p) - 20);
	p[26] = (uint8_t)(ps >> 8);
	p[27] = (uint8_t)ps;
	assert_int_equal(offload_tx_init(&t, &h, p, sizeof(p)), 0);
	assert_false(t.tso);
	assert_int_equal(t.nseg, 1);
	assert_int_equal(offload_tx_segment(&t, 0, out), sizeof(p));
	assert_int_equal(ref_sum(out + 20, sizeof(p) - 20,
	    ref_sum(p + 12, 8, 17 + sizeof(p) - 20)), 0xffff);
}

static void
test_bad_headers(void **state)
{
	struct virtio_net_hdr h, g;
	struct offload_tx t;
	size_t len;

	(void)state;
	len = make_super(false, &h, 0x10);
	g = h;
	g.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;		/* IPv4 inside */
	assert_int_equal(offload_tx_init(&t, &g, super, len), -EPROTO);
	g = h;
	g.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(offload_tx_init(&t, &g, super, len), -EPROTO);
	g = h;
	g.gso_size = 0;
	assert_int_equal(offload_tx_init(&t, &g, super, len), -EPROTO);
	assert_int_equal(offload_tx_init(&t, &h, super, 30), -EPROTO);
	assert_int_equal(offload_tx_init(&t, &h, super, 20 + TH), -EPROTO);
	g = h;
	g.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	g.csum_start = (uint16_t)len;
	assert_int_equal(offload_tx_init(&t, &g, super, len), -EPROTO);
	g.csum_start = (uint16_t)(len - 1);
	assert_int_equal(offload_tx_init(&t, &g, super, len), -EPROTO);
	assert_int_equal(offload_tx_init(&t, &h, super, 0), -EINVAL);
	super[6] = 0x20;				/* more fragments */
	assert_int_equal(offload_tx_init(&t, &h, super, len), -EPROTO);
}

/* Segments merge back into the super-packet they came from; cutting
 * that again gives the same packets. */
static void
roundtrip(bool v6)
{
	static uint8_t gbuf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_GRO_MAX];
	uint8_t orig[4][2048];
	size_t origlen[4];
	struct offload_gro g;
	struct virtio_net_hdr h;
	struct offload_tx t;
	unsigned n = segment_all(v6, 0x18), ihl = v6 ? 40 : 20;
	size_t out;

	for (unsigned i = 0; i < n; i++) {
		memcpy(orig[i], seg[i], seglen[i]);
		origlen[i] = seglen[i];
	}
	offload_gro_init(&g, gbuf + OFFLOAD_VNET_HDR_LEN);
	for (unsigned i = 0; i < n; i++)
		assert_true(offload_gro_add(&g, orig[i], origlen[i]));
	out = offload_gro_finish(&g);
	assert_int_equal(out, OFFLOAD_VNET_HDR_LEN + ihl + TH + PAYLOAD);
	memcpy(&h, gbuf, sizeof(h));
	assert_int_equal(h.gso_type, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
	    VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, MSS);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, ihl);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(offload_tx_init(&t, &h, gbuf + OFFLOAD_VNET_HDR_LEN,
	    out - OFFLOAD_VNET_HDR_LEN), 0);
	assert_int_equal(t.nseg, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(offload_tx_segment(&t, i, seg[i]), origlen[i]);
		assert_memory_equal(seg[i], orig[i], origlen[i]);
	}
	assert_int_equal(offload_gro_finish(&g), 0);
}

static void
test_gro_roundtrip_v4(void **state)
{
	(void)state;
	roundtrip(false);
}

static void
test_gro_roundtrip_v6(void **state)
{
	(void)state;
	roundtrip(true);
}

static void
test_gro_refuses(void **state)
{
	static uint8_t gbuf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_GRO_MAX];
	struct offload_gro g;
	struct virtio_net_hdr h;
	uint8_t other[2048];
	unsigned n = segment_all(false, 0x10);

	(void)state;
	(void)n;
	offload_gro_init(&g, gbuf + OFFLOAD_VNET_HDR_LEN);
	/* out of order */
	assert_true(offload_gro_add(&g, seg[0], seglen[0]));
	assert_false(offload_gro_add(&g, seg[2], seglen[2]));
	/* another flow (source port) */
	memcpy(other, seg[1], seglen[1]);
	other[21] ^= 1;
	assert_false(offload_gro_add(&g, other, seglen[1]));
	/* different ack */
	memcpy(other, seg[1], seglen[1]);
	other[31] ^= 1;
	assert_false(offload_gro_add(&g, other, seglen[1]));
	/* a SYN never merges */
	memcpy(other, seg[1], seglen[1]);
	other[33] |= 0x02;
	assert_false(offload_gro_add(&g, other, seglen[1]));
	/* the short last segment closes the run */
	assert_true(offload_gro_add(&g, seg[1], seglen[1]));
	assert_true(offload_gro_add(&g, seg[2], seglen[2]));
	assert_true(offload_gro_add(&g, seg[3], seglen[3]));
	assert_false(offload_gro_add(&g, seg[0], seglen[0]));
	assert_int_equal(offload_gro_finish(&g),
	    OFFLOAD_VNET_HDR_LEN + 20 + TH + PAYLOAD);
	/* anything but TCP goes alone, with a plain header */
	memcpy(other, seg[0], seglen[0]);
	other[9] = 17;
	assert_true(offload_gro_add(&g, other, seglen[0]));
	assert_false(offload_gro_add(&g, seg[0], seglen[0]));
	assert_int_equal(offload_gro_finish(&g),
	    OFFLOAD_VNET_HDR_LEN + seglen[0]);
	memcpy(&h, gbuf, sizeof(h));
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_memory_equal(gbuf + OFFLOAD_VNET_HDR_LEN, other, seglen[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071),
		cmocka_unit_test(test_tso_v4),
		cmocka_unit_test(test_tso_v6),
		cmocka_unit_test(test_partial_csum),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_gro_roundtrip_v4),
		cmocka_unit_test(test_gro_roundtrip_v6),
		cmocka_unit_test(test_gro_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
