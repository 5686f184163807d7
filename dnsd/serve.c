/*
 * The query path: every packet of a batch from netd is parsed, answered
 * here or handed to the forwarder, and the replies collect in one batch
 * (preallocated, no per-query allocation) sent back at the end of the
 * wakeup.  A malformed query gets FORMERR; one without a readable header
 * is dropped and counted.
 */
#include <errno.h>
#include <string.h>

#include "dnsd.h"
#include "log.h"
#include "dnsd_to_netd.pb-c.h"

static void
client_of(const Pm__DnsPacket *p, struct dns_client *cl)
{
	cl->alen = (uint8_t)p->client.len;
	memcpy(cl->addr, p->client.data, p->client.len);
	memcpy(cl->server, p->server.data, p->server.len);
	cl->port = (uint16_t)p->client_port;
	cl->tcp_conn = p->tcp_conn;
}

void
dnsd_flush(struct dnsd *dd)
{
	struct dnsd_batch *b = &dd->batch;
	Pm__DnsdToNetd env = PM__DNSD_TO_NETD__INIT;
	Pm__DnsPackets ps = PM__DNS_PACKETS__INIT;
	struct ipc_chan *ch;

	if (b->n == 0)
		return;
	ps.n_packets = b->n;
	ps.packets = b->ptrs;
	env.msg_case = PM__DNSD_TO_NETD__MSG_REPLIES;
	env.replies = &ps;
	if ((ch = child_chan(&dd->c, PM__PROC__PROC_NETD)) == NULL ||
	    ipc_send(ch, &env.base, -1) < 0)
		dd->ctr.reply_send_errors += b->n;
	b->n = 0;
	b->used = 0;
}

void
dnsd_reply(struct dnsd *dd, const struct dns_client *cl, const uint8_t *msg,
    size_t len)
{
	struct dnsd_batch *b = &dd->batch;
	Pm__DnsPacket *p;

	if (len == 0 || len > DNS_TCP_MAX)
		return;
	if (b->n == DNSD_BATCH_MAX ||
	    b->used + len + DNSD_PKT_OVERHEAD > DNSD_BATCH_BYTES)
		dnsd_flush(dd);
	b->cl[b->n] = *cl;
	p = &b->pkts[b->n];
	pm__dns_packet__init(p);
	p->client.data = b->cl[b->n].addr;
	p->client.len = cl->alen;
	p->server.data = b->cl[b->n].server;
	p->server.len = cl->alen;
	p->client_port = cl->port;
	p->tcp_conn = cl->tcp_conn;
	memcpy(b->arena + b->used, msg, len);
	p->msg.data = b->arena + b->used;
	p->msg.len = len;
	b->used += len + DNSD_PKT_OVERHEAD;
	b->ptrs[b->n++] = p;
	dd->ctr.replies++;
	/* Every answer passes here: local, cached and forwarded alike. */
	if (len >= DNS_HDR_LEN) {
		unsigned rcode = msg[3] & 0xf;
		dd->ctr.nxdomain += rcode == DNS_RCODE_NXDOMAIN;
		dd->ctr.servfail += rcode == DNS_RCODE_SERVFAIL;
	}
}

unsigned
dnsd_default_upstreams(struct dnsd *dd, const struct upstream **out)
{
	if (dd->zone.ndefaults > 0) {
		*out = dd->zone.defaults;
		return dd->zone.ndefaults;
	}
	if (dd->nhost_up > 0) {
		*out = dd->host_up;
		return dd->nhost_up;
	}
	*out = dd->zone.fallback;
	return dd->zone.nfallback;
}

static void
serve_one(struct dnsd *dd, const Pm__DnsPacket *p)
{
	static uint8_t out[DNS_TCP_MAX];
	const struct zone_route *rt;
	struct dns_client cl;
	struct dns_query q;
	size_t len = 0, cap;
	int r;

	dd->ctr.queries++;
	client_of(p, &cl);
	r = dns_parse_query(p->msg.data, p->msg.len, &q);
	if (r == DNS_PARSE_DROP) {
		dd->ctr.dropped++;
		return;
	}
	cap = answer_limit(&q, cl.tcp_conn != 0);
	if (cap > DNSD_TCP_REPLY_MAX)
		cap = DNSD_TCP_REPLY_MAX;
	if (r < 0) {
		static struct ratelimit rl = RATELIMIT_INIT(1000, 5);
		unsigned missed;

		if (r == -DNS_RCODE_FORMERR)
			dd->ctr.formerr++;
		else
			dd->ctr.notimp++;
		if (ratelimit_ok(&rl, now_ms(), &missed))
			log_debug("malformed query (%u bytes): %s (%llu FORMERR, "
			    "%llu NOTIMP so far)", (unsigned)p->msg.len,
			    r == -DNS_RCODE_FORMERR ? "FORMERR" : "NOTIMP",
			    (unsigned long long)dd->ctr.formerr,
			    (unsigned long long)dd->ctr.notimp);
		len = answer_error(&q, false, (unsigned)-r, out, cap);
	} else if (q.edns && q.edns_version > 0)
		len = answer_error(&q, true, DNS_RCODE_BADVERS, out, cap);
	else if (answer_local(&dd->zone, &q, out, cap, &len, &rt) ==
	    ANSWER_FORWARD) {
		fwd_query(&dd->fwd, &cl, &q, rt);
		return;
	} else
		dd->ctr.local++;
	dnsd_reply(dd, &cl, out, len);
}

void
dnsd_serve(struct dnsd *dd, const Pm__DnsPackets *ps)
{
	for (size_t i = 0; i < ps->n_packets; i++)
		serve_one(dd, ps->packets[i]);
	dnsd_flush(dd);
}
