#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "dns_intercept.h"
#include "log.h"
#include "netd.h"
#include "offload.h"
#include "netd_to_dnsd.pb-c.h"

#define IPPROTO_UDP_	17
#define IPPROTO_TCP_	6
#define DNS_PORT	53
/* Protobuf framing per packet (tags, lengths, addresses, port, conn), so
 * a full batch stays within the channel's 64 KiB. */
#define PKT_OVERHEAD	64

static const uint8_t quad100_v4[4] = { 100, 100, 100, 100 };
static const uint8_t quad100_v6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0,
    [15] = 0x53 };

struct dns_icpt_counters dns_icpt_ctr;

/* The batch for dnsd: preallocated, reused every wakeup. */
static struct {
	Pm__DnsPacket	 pkts[DNS_BATCH_MAX];
	Pm__DnsPacket	*ptrs[DNS_BATCH_MAX];
	uint8_t		 addrs[DNS_BATCH_MAX][2][16];
	size_t		 n, used;
	uint8_t		 arena[DNS_BATCH_BYTES + 65536];
} batch;

void
dns_intercept_flush(struct netd *nd)
{
	Pm__NetdToDnsd env = PM__NETD_TO_DNSD__INIT;
	Pm__DnsPackets ps = PM__DNS_PACKETS__INIT;
	struct ipc_chan *ch;

	if (batch.n == 0)
		return;
	ps.n_packets = batch.n;
	ps.packets = batch.ptrs;
	env.msg_case = PM__NETD_TO_DNSD__MSG_QUERIES;
	env.queries = &ps;
	if ((ch = child_chan(&nd->c, PM__PROC__PROC_DNSD)) == NULL ||
	    ipc_send(ch, &env.base, -1) < 0)
		dns_icpt_ctr.send_errors += batch.n;
	batch.n = batch.used = 0;
}

void
dns_intercept_queue(struct netd *nd, bool v6, const uint8_t *client,
    uint16_t client_port, const uint8_t *server, uint32_t tcp_conn,
    const uint8_t *msg, size_t len)
{
	size_t alen = v6 ? 16 : 4;
	Pm__DnsPacket *p;

	if (len == 0 || len > 65535)
		return;
	if (batch.n == DNS_BATCH_MAX ||
	    batch.used + len + PKT_OVERHEAD > DNS_BATCH_BYTES) {
		dns_icpt_ctr.batch_full++;
		dns_intercept_flush(nd);
	}
	p = &batch.pkts[batch.n];
	pm__dns_packet__init(p);
	memcpy(batch.addrs[batch.n][0], client, alen);
	memcpy(batch.addrs[batch.n][1], server, alen);
	p->client.data = batch.addrs[batch.n][0];
	p->client.len = alen;
	p->server.data = batch.addrs[batch.n][1];
	p->server.len = alen;
	p->client_port = client_port;
	p->tcp_conn = tcp_conn;
	memcpy(batch.arena + batch.used, msg, len);
	p->msg.data = batch.arena + batch.used;
	p->msg.len = len;
	batch.used += len + PKT_OVERHEAD;
	batch.ptrs[batch.n++] = p;
}

/* Locates the L4 header of a packet to quad-100; NULL if it is not one. */
static const uint8_t *
quad100_l4(const uint8_t *pkt, size_t len, bool *v6, uint8_t *proto,
    size_t *l4len)
{
	if (len >= 20 && pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0xf) * 4, tot = rd16(pkt + 2);
		if (memcmp(pkt + 16, quad100_v4, 4) != 0 || ihl < 20 ||
		    tot > len || tot < ihl || (rd16(pkt + 6) & 0x3fff) != 0)
			return NULL;
		*v6 = false;
		*proto = pkt[9];
		*l4len = tot - ihl;
		return pkt + ihl;
	}
	if (len >= 40 && pkt[0] >> 4 == 6) {
		size_t pl = rd16(pkt + 4);
		if (memcmp(pkt + 24, quad100_v6, 16) != 0 || 40 + pl > len)
			return NULL;
		*v6 = true;
		*proto = pkt[6];	/* no extension headers expected */
		*l4len = pl;
		return pkt + 40;
	}
	return NULL;
}

static bool
udp_in(struct netd *nd, const uint8_t *pkt, bool v6, const uint8_t *l4,
    size_t l4len)
{
	size_t ulen;

	if (l4len < 8 || rd16(l4 + 2) != DNS_PORT)
		return false;
	ulen = rd16(l4 + 4);
	if (ulen < 8 || ulen > l4len)
		return true;	/* ours, malformed: dropped */
	dns_icpt_ctr.udp_queries++;
	dns_intercept_queue(nd, v6, v6 ? pkt + 8 : pkt + 12, rd16(l4),
	    v6 ? quad100_v6 : quad100_v4, 0, l4 + 8, ulen - 8);
	return true;
}

/* TCP super-packets (TSO) are cut into segments before the responder. */
static void
tcp_in(struct netd *nd, const struct virtio_net_hdr *h, uint8_t *pkt,
    size_t len)
{
	static uint8_t seg[65536];
	struct offload_tx t;
	bool v6;
	uint8_t proto;
	size_t l4len;

	if (offload_tx_init(&t, h, pkt, len) < 0)
		return;
	for (unsigned i = 0; i < t.nseg; i++) {
		size_t n = offload_tx_segment(&t, i, seg);
		const uint8_t *l4 = quad100_l4(seg, n, &v6, &proto, &l4len);
		if (l4 != NULL)
			dns_tcp_input(nd, v6, v6 ? seg + 8 : seg + 12,
			    v6 ? seg + 24 : seg + 16, l4, l4len);
	}
}

bool
dns_intercept(struct netd *nd, uint8_t *buf, size_t len)
{
	struct virtio_net_hdr h;
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN, proto;
	const uint8_t *l4;
	size_t plen, l4len;
	bool v6;

	if (len < OFFLOAD_VNET_HDR_LEN)
		return false;
	plen = len - OFFLOAD_VNET_HDR_LEN;
	if ((l4 = quad100_l4(pkt, plen, &v6, &proto, &l4len)) == NULL)
		return false;
	if (proto == IPPROTO_UDP_)
		return udp_in(nd, pkt, v6, l4, l4len);
	if (proto == IPPROTO_TCP_ && l4len >= 20 && rd16(l4 + 2) == DNS_PORT) {
		memcpy(&h, buf, sizeof(h));
		tcp_in(nd, &h, pkt, plen);
		return true;
	}
	return false;
}

/*
 * The IP header for l4len bytes of payload at ip; returns its length.
 * IPv4 IDs advance by nid: the segments of a USO super-packet take
 * consecutive ones, the kernel numbering them from the first.
 */
static size_t
ip_hdr(uint8_t *ip, bool v6, const uint8_t *src, const uint8_t *dst,
    uint8_t proto, size_t l4len, unsigned nid)
{
	static uint16_t ip_id;

	if (v6) {
		memset(ip, 0, 40);
		ip[0] = 0x60;
		wr16(ip + 4, (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		return 40;
	}
	memset(ip, 0, 20);
	ip[0] = 0x45;
	wr16(ip + 2, (uint16_t)(20 + l4len));
	wr16(ip + 4, (uint16_t)(ip_id + 1));
	ip_id = (uint16_t)(ip_id + nid);
	wr16(ip + 6, 0x4000);		/* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	wr16(ip + 10, offload_csum_fold(offload_csum_add(0, ip, 20)));
	return 20;
}

/* Pseudo-header sum (RFC 768, 8200 8.1), not folded. */
static uint32_t
pseudo_sum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
    size_t l4len)
{
	size_t alen = v6 ? 16 : 4;

	return offload_csum_add(offload_csum_add(0, src, alen), dst, alen) +
	    proto + (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
}

void
dns_ip_send(struct netd *nd, bool v6, const uint8_t *src, const uint8_t *dst,
    uint8_t proto, uint8_t *l4, size_t l4len, size_t csum_off)
{
	static uint8_t out[OFFLOAD_VNET_HDR_LEN + 40 + 65536];
	uint8_t *ip = out + OFFLOAD_VNET_HDR_LEN;
	size_t hl;
	uint32_t sum;

	if (l4len > 65535 - 40 || nd->tun_fd < 0)
		return;
	memset(out, 0, OFFLOAD_VNET_HDR_LEN);	/* no offload requested */
	hl = ip_hdr(ip, v6, src, dst, proto, l4len, 1);
	wr16(l4 + csum_off, 0);
	sum = offload_csum_add(pseudo_sum(v6, src, dst, proto, l4len), l4,
	    l4len);
	uint16_t c = offload_csum_fold(sum);
	/* UDP sends 0 as all ones (RFC 768); for TCP both mean the same. */
	wr16(l4 + csum_off, c == 0 ? 0xffff : c);
	memcpy(ip + hl, l4, l4len);
	if (write(nd->tun_fd, out, OFFLOAD_VNET_HDR_LEN + hl + l4len) < 0)
		dns_icpt_ctr.tun_write_errors++;
}

static void
udp_reply(struct netd *nd, const Pm__DnsPacket *p)
{
	static uint8_t l4[8 + 65535];
	size_t n = p->msg.len;

	if (n > 65535 - 8 - 40)
		return;
	wr16(l4, DNS_PORT);
	wr16(l4 + 2, (uint16_t)p->client_port);
	wr16(l4 + 4, (uint16_t)(8 + n));
	memcpy(l4 + 8, p->msg.data, n);
	dns_ip_send(nd, p->client.len == 16, p->server.data, p->client.data,
	    IPPROTO_UDP_, l4, 8 + n, 6);
}

/*
 * UDP segmentation offload on the way back: answers of one size to one
 * client socket in a batch from dnsd go into the TUN as one super-packet
 * (VIRTIO_NET_HDR_GSO_UDP_L4, partial checksum), which the kernel routes
 * and looks up once and cuts into datagrams at the socket (the socket has
 * no UDP_GRO, so udp_rcv_segment()).  One write instead of one per answer:
 * the per-write IP input, route lookup and wake-up were most of the cost.
 */
#define USO_SEGS	64	/* the kernel's UDP_MAX_SEGMENTS (older ones) */
#define USO_FLOWS	32	/* client sockets x answer sizes per batch */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4	5	/* virtio 1.2, 5.1.6.2; older headers lack it */
#endif

static struct uso_flow {
	const Pm__DnsPacket	*p[USO_SEGS];
	unsigned		 n;
} flows[USO_FLOWS];
static unsigned nflows;
static bool uso_off;		/* the kernel refused a UDP GSO write */

static bool
same_flow(const Pm__DnsPacket *a, const Pm__DnsPacket *b)
{
	return a->client_port == b->client_port &&
	    a->msg.len == b->msg.len && a->client.len == b->client.len &&
	    a->server.len == b->server.len &&
	    memcmp(a->client.data, b->client.data, a->client.len) == 0 &&
	    memcmp(a->server.data, b->server.data, a->server.len) == 0;
}

static void
uso_send(struct netd *nd, struct uso_flow *f)
{
	static uint8_t out[OFFLOAD_VNET_HDR_LEN + 65536];
	const Pm__DnsPacket *p = f->p[0];
	struct virtio_net_hdr h;
	uint8_t *ip = out + OFFLOAD_VNET_HDR_LEN, *udp;
	bool v6 = p->client.len == 16;
	size_t seg = p->msg.len, l4len = 8 + f->n * seg, hl;

	if (f->n == 1 || uso_off || nd->tun_fd < 0)
		goto one_by_one;
	hl = ip_hdr(ip, v6, p->server.data, p->client.data, IPPROTO_UDP_,
	    l4len, f->n);
	udp = ip + hl;
	wr16(udp, DNS_PORT);
	wr16(udp + 2, (uint16_t)p->client_port);
	wr16(udp + 4, (uint16_t)l4len);
	/* Partial: the pseudo-header sum, folded, not complemented. */
	wr16(udp + 6, (uint16_t)~offload_csum_fold(pseudo_sum(v6,
	    p->server.data, p->client.data, IPPROTO_UDP_, l4len)));
	for (unsigned i = 0; i < f->n; i++)
		memcpy(udp + 8 + i * seg, f->p[i]->msg.data, seg);
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	h.hdr_len = htole16((uint16_t)(hl + 8));
	h.gso_size = htole16((uint16_t)seg);
	h.csum_start = htole16((uint16_t)hl);
	h.csum_offset = htole16(6);
	memcpy(out, &h, sizeof(h));
	if (write(nd->tun_fd, out, OFFLOAD_VNET_HDR_LEN + hl + l4len) >= 0) {
		dns_icpt_ctr.uso_writes++;
		f->n = 0;
		return;
	}
	if (errno != EINVAL) {
		dns_icpt_ctr.tun_write_errors++;
		f->n = 0;
		return;
	}
	uso_off = true;
	log_warn("TUN refuses UDP segmentation offload: one write per "
	    "DNS answer from now on");
one_by_one:
	for (unsigned i = 0; i < f->n; i++)
		udp_reply(nd, f->p[i]);
	f->n = 0;
}

static void
udp_queue_reply(struct netd *nd, const Pm__DnsPacket *p)
{
	struct uso_flow *f;
	unsigned i;

	if (uso_off || p->msg.len == 0 || p->msg.len > 65535 - 8 - 40) {
		udp_reply(nd, p);
		return;
	}
	for (i = 0; i < nflows; i++)
		if (same_flow(flows[i].p[0], p))
			break;
	if (i == nflows) {
		if (nflows == USO_FLOWS) {
			udp_reply(nd, p);
			return;
		}
		flows[nflows++].n = 0;
	}
	f = &flows[i];
	if (f->n == USO_SEGS || 40 + 8 + (f->n + 1) * p->msg.len > 65535)
		uso_send(nd, f);
	f->p[f->n++] = p;
}

void
dns_intercept_replies(struct netd *nd, const Pm__DnsPackets *ps)
{
	for (size_t i = 0; i < ps->n_packets; i++) {
		const Pm__DnsPacket *p = ps->packets[i];

		/* check_dns_packets() held the source to quad-100. */
		dns_icpt_ctr.replies++;
		if (p->tcp_conn == 0)
			udp_queue_reply(nd, p);
		else if (!dns_tcp_reply(nd, p->tcp_conn, p->client.len == 16,
		    p->client.data, (uint16_t)p->client_port, p->msg.data,
		    p->msg.len))
			dns_icpt_ctr.bad_replies++;
	}
	for (unsigned i = 0; i < nflows; i++)
		uso_send(nd, &flows[i]);
	nflows = 0;
}
