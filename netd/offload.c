/*
 * TSO segmentation, checksum completion and TCP coalescing for the TUN's
 * virtio_net_hdr (see offload.h).  Written for this project after reading
 * how wireguard-go's tun/offload_linux.go does the same job.
 */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "bytes.h"
#include "offload.h"

#define TCP_FIN	0x01
#define TCP_SYN	0x02
#define TCP_RST	0x04
#define TCP_PSH	0x08
#define TCP_ACK	0x10
#define TCP_URG	0x20
#define TCP_ECE	0x40
#define TCP_CWR	0x80

#define GRO_MAX_SEGS	64

/* Summed in native order 32 bits at a time; the ones' complement sum is
 * byte-order independent (RFC 1071), so one swap at the end suffices. */
uint32_t
offload_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	uint16_t w16;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		acc += (w >> 32) + (w & 0xffffffffu);
		p += 8;
		len -= 8;
	}
	while (len >= 2) {
		memcpy(&w16, p, 2);
		acc += w16;
		p += 2;
		len -= 2;
	}
	if (len == 1) {
		uint8_t b[2] = { p[0], 0 };

		memcpy(&w16, b, 2);
		acc += w16;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	w16 = (uint16_t)acc;
	sum += ntohs(w16);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

uint16_t
offload_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Pseudo-header sum (not folded, not complemented). */
static uint32_t
pseudo_sum(const uint8_t *ip, bool v6, uint32_t l4len)
{
	uint32_t sum;

	if (v6)
		sum = offload_csum_add(0, ip + 8, 32);
	else
		sum = offload_csum_add(0, ip + 12, 8);
	return sum + IPPROTO_TCP + (l4len >> 16) + (l4len & 0xffff);
}

static void
ipv4_fix_csum(uint8_t *ip, unsigned ihl)
{
	wr16(ip + 10, 0);
	wr16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, ihl)));
}

/* A checksum the kernel left partial: the field holds the pseudo-header
 * sum; add everything from csum_start on. */
static int
finish_csum(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len)
{
	size_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
	uint16_t v;

	if (start >= len || off + 2 > len - start)
		return -EPROTO;
	v = offload_csum_fold(offload_csum_add(0, pkt + start, len - start));
	wr16(pkt + start + off, v == 0 ? 0xffff : v);
	return 0;
}

int
offload_tx_init(struct offload_tx *t, const struct virtio_net_hdr *h,
    uint8_t *pkt, size_t len)
{
	unsigned gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	unsigned l4off, thlen;
	size_t payload;

	memset(t, 0, sizeof(*t));
	t->pkt = pkt;
	t->len = len;
	t->nseg = 1;
	if (len == 0)
		return -EINVAL;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return finish_csum(h, pkt, len);
		return 0;
	}
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return -EPROTO;
	t->v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
	if (t->v6) {
		/* No extension headers: the kernel does not build TSO
		 * packets with them for a TUN. */
		if (len < 40 || pkt[0] >> 4 != 6 || pkt[6] != IPPROTO_TCP)
			return -EPROTO;
		l4off = 40;
	} else {
		if (len < 20 || pkt[0] >> 4 != 4 || pkt[9] != IPPROTO_TCP)
			return -EPROTO;
		l4off = (pkt[0] & 0xf) * 4u;
		if (l4off < 20 || (rd16(pkt + 6) & 0x3fff) != 0)
			return -EPROTO;	/* fragments cannot be TSO */
	}
	if (len < l4off + 20u)
		return -EPROTO;
	thlen = (pkt[l4off + 12] >> 4) * 4u;
	if (thlen < 20 || len < l4off + thlen)
		return -EPROTO;
	t->l4off = l4off;
	t->hlen = l4off + thlen;
	t->gso_size = le16toh(h->gso_size);
	payload = len - t->hlen;
	if (t->gso_size == 0 || payload == 0)
		return -EPROTO;
	t->tso = true;
	t->nseg = (unsigned)((payload + t->gso_size - 1) / t->gso_size);
	return 0;
}

size_t
offload_tx_segment(const struct offload_tx *t, unsigned i, uint8_t *out)
{
	size_t off, plen, total;
	uint8_t *tcp = out + t->l4off;
	uint32_t sum;

	if (!t->tso) {
		memcpy(out, t->pkt, t->len);
		return t->len;
	}
	off = t->hlen + (size_t)i * t->gso_size;
	plen = t->len - off < t->gso_size ? t->len - off : t->gso_size;
	total = t->hlen + plen;
	memcpy(out, t->pkt, t->hlen);
	memcpy(out + t->hlen, t->pkt + off, plen);
	if (t->v6) {
		wr16(out + 4, (uint16_t)(total - 40));
	} else {
		wr16(out + 2, (uint16_t)total);
		wr16(out + 4, (uint16_t)(rd16(t->pkt + 4) + i));
		ipv4_fix_csum(out, t->l4off);
	}
	wr32(tcp + 4, rd32(t->pkt + t->l4off + 4) + (uint32_t)(i * t->gso_size));
	if (i + 1 < t->nseg)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	wr16(tcp + 16, 0);
	sum = pseudo_sum(out, t->v6, (uint32_t)(total - t->l4off));
	sum = offload_csum_add(sum, tcp, total - t->l4off);
	wr16(tcp + 16, offload_csum_fold(sum));
	return total;
}

/* ---- Coalescing -------------------------------------------------------- */

void
offload_gro_init(struct offload_gro *g, uint8_t *buf)
{
	memset(g, 0, sizeof(*g));
	g->buf = buf;
}

/* A plain in-order TCP data packet without IP options or extension
 * headers; returns the IP header length or 0. */
static unsigned
gro_candidate(const uint8_t *pkt, size_t len, unsigned *thlen)
{
	unsigned ihl, th;

	if (len >= 40 && pkt[0] >> 4 == 6) {
		if (pkt[6] != IPPROTO_TCP || rd16(pkt + 4) + 40u != len)
			return 0;
		ihl = 40;
	} else if (len >= 40 && pkt[0] == 0x45) {
		if (pkt[9] != IPPROTO_TCP || rd16(pkt + 2) != len ||
		    (rd16(pkt + 6) & 0x3fff) != 0)
			return 0;
		ihl = 20;
	} else {
		return 0;
	}
	th = (pkt[ihl + 12] >> 4) * 4u;
	if (th < 20 || len <= ihl + th)
		return 0;
	if ((pkt[ihl + 13] & ~(TCP_ACK | TCP_PSH)) != 0 ||
	    !(pkt[ihl + 13] & TCP_ACK))
		return 0;
	*thlen = th;
	return ihl;
}

/* Same flow, same everything but lengths, IDs, checksums, seq and PSH. */
static bool
gro_same(const struct offload_gro *g, const uint8_t *pkt, unsigned ihl,
    unsigned thlen)
{
	const uint8_t *a = g->buf, *ta = a + ihl, *tb = pkt + ihl;

	if (g->hlen != ihl + thlen || g->v6 != (ihl == 40))
		return false;
	if (g->v6) {
		if (memcmp(a, pkt, 4) != 0 || a[7] != pkt[7] ||
		    memcmp(a + 8, pkt + 8, 32) != 0)
			return false;
	} else {
		if (a[1] != pkt[1] || a[8] != pkt[8] || a[6] != pkt[6] ||
		    memcmp(a + 12, pkt + 12, 8) != 0)
			return false;
	}
	/* ports, ack, then offset/flags/window with PSH masked, options */
	return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 4) == 0 &&
	    ta[12] == tb[12] && (ta[13] & ~TCP_PSH) == (tb[13] & ~TCP_PSH) &&
	    memcmp(ta + 14, tb + 14, 2) == 0 &&
	    memcmp(ta + 20, tb + 20, thlen - 20) == 0;
}

bool
offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len)
{
	unsigned ihl, thlen = 0;
	size_t payload;

	if (len > OFFLOAD_GRO_MAX)
		return false;
	ihl = gro_candidate(pkt, len, &thlen);
	if (g->len == 0) {
		memcpy(g->buf, pkt, len);
		g->len = len;
		g->nseg = 1;
		if (ihl == 0) {
			g->closed = true;
			return true;
		}
		g->v6 = ihl == 40;
		g->hlen = ihl + thlen;
		g->gso_size = (unsigned)(len - g->hlen);
		g->last_payload = g->gso_size;
		g->next_seq = rd32(pkt + ihl + 4) + g->gso_size;
		g->closed = (pkt[ihl + 13] & TCP_PSH) != 0;
		return true;
	}
	if (g->closed || ihl == 0 || g->nseg >= GRO_MAX_SEGS)
		return false;
	payload = len - ihl - thlen;
	if (payload > g->gso_size || g->len + payload > OFFLOAD_GRO_MAX ||
	    rd32(pkt + ihl + 4) != g->next_seq || !gro_same(g, pkt, ihl, thlen))
		return false;
	memcpy(g->buf + g->len, pkt + ihl + thlen, payload);
	g->len += payload;
	g->nseg++;
	g->next_seq += (uint32_t)payload;
	if (pkt[ihl + 13] & TCP_PSH) {
		g->buf[ihl + 13] |= TCP_PSH;
		g->closed = true;
	}
	if (payload < g->gso_size)
		g->closed = true;
	return true;
}

size_t
offload_gro_finish(struct offload_gro *g)
{
	struct virtio_net_hdr h;
	size_t total = g->len;
	unsigned ihl = g->v6 ? 40 : 20;
	uint8_t *tcp = g->buf + ihl;

	if (total == 0)
		return 0;
	memset(&h, 0, sizeof(h));
	if (g->nseg == 1) {
		/* Authenticated by WireGuard, as the kernel's wg marks it. */
		h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	} else {
		if (g->v6) {
			wr16(g->buf + 4, (uint16_t)(total - 40));
		} else {
			wr16(g->buf + 2, (uint16_t)total);
			ipv4_fix_csum(g->buf, 20);
		}
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
		    VIRTIO_NET_HDR_GSO_TCPV4;
		h.hdr_len = htole16((uint16_t)g->hlen);
		h.gso_size = htole16((uint16_t)g->gso_size);
		h.csum_start = htole16((uint16_t)ihl);
		h.csum_offset = htole16(16);
		/* Partial: the pseudo-header sum, folded, not complemented. */
		wr16(tcp + 16, (uint16_t)~offload_csum_fold(
		    pseudo_sum(g->buf, g->v6, (uint32_t)(total - ihl))));
	}
	memcpy(g->buf - OFFLOAD_VNET_HDR_LEN, &h, sizeof(h));
	g->len = 0;
	g->nseg = 0;
	g->closed = false;
	return total + OFFLOAD_VNET_HDR_LEN;
}
