/* Path choice for one peer (magicsock's endpoint logic); see disco_path.h. */
#include <string.h>

#include "disco_path.h"

static const uint8_t derp_ip[4] = { 127, 3, 3, 40 };

void
dp_derp_addr(struct ipport *ap, uint32_t region)
{
	ipport_set_v4(ap, derp_ip, (uint16_t)region);
}

bool
dp_is_derp(const struct ipport *ap, uint32_t *region)
{
	if (!ipport_is_v4(ap) || memcmp(ap->ip + 12, derp_ip, 4) != 0)
		return false;
	if (region != NULL)
		*region = ap->port;
	return true;
}

static bool
same(const struct ipport *a, const struct ipport *b)
{
	return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

static int
find_cand(const struct disco_path *p, const struct ipport *ap)
{
	for (int i = 0; i < p->ncand; i++)
		if (same(&p->cand[i].ap, ap))
			return i;
	return -1;
}

/* Addresses no direct path can use: unspecified, port 0, DERP's. */
static bool
usable(const struct ipport *ap)
{
	static const uint8_t zero[16];
	static const uint8_t v4zero[16] = { [10] = 0xff, [11] = 0xff };

	return ap->port != 0 && memcmp(ap->ip, zero, 16) != 0 &&
	    memcmp(ap->ip, v4zero, 16) != 0 && !dp_is_derp(ap, NULL);
}

int
dp_add_candidate(struct disco_path *p, const struct ipport *ap, uint8_t from)
{
	int i = find_cand(p, ap);

	if (i >= 0) {
		p->cand[i].from |= from;
		return i;
	}
	if (!usable(ap) || p->ncand == DP_CAND_MAX)
		return -1;
	i = p->ncand++;
	memset(&p->cand[i], 0, sizeof(p->cand[i]));
	p->cand[i].ap = *ap;
	p->cand[i].from = from;
	return i;
}

static void
remove_cand(struct disco_path *p, int i)
{
	p->cand[i] = p->cand[--p->ncand];
}

void
dp_call_me_maybe(struct disco_path *p, const struct ipport *eps, size_t n)
{
	for (int i = 0; i < p->ncand; i++)
		p->cand[i].from &= (uint8_t)~DP_FROM_CMM;
	for (size_t i = 0; i < n; i++) {
		/* Link-local IPv6 is sent but, as magicsock, not pinged. */
		if (!ipport_is_v4(&eps[i]) && eps[i].ip[0] == 0xfe &&
		    (eps[i].ip[1] & 0xc0) == 0x80)
			continue;
		(void)dp_add_candidate(p, &eps[i], DP_FROM_CMM);
	}
	/* As magicsock's deleteEndpointLocked: a dropped best goes too. */
	for (int i = p->ncand - 1; i >= 0; i--) {
		if (p->cand[i].from != 0)
			continue;
		if (p->has_best && same(&p->cand[i].ap, &p->best)) {
			p->has_best = false;
			p->trust_until = 0;
		}
		remove_cand(p, i);
	}
	for (int i = 0; i < p->ncand; i++)
		p->cand[i].last_ping = 0;
}

bool
dp_trusted(const struct disco_path *p, uint64_t now)
{
	return p->has_best && now < p->trust_until;
}

const struct ipport *
dp_send_addr(const struct disco_path *p, uint64_t now)
{
	return dp_trusted(p, now) ? &p->best : NULL;
}

bool
dp_want_full_ping(const struct disco_path *p, uint64_t now)
{
	if (!p->has_best || p->last_full_ping == 0 || !dp_trusted(p, now))
		return true;
	if (p->best_latency <= DP_GOOD_ENOUGH_NS)
		return false;
	return now - p->last_full_ping >= DP_UPGRADE_NS;
}

bool
dp_cand_due(const struct dp_cand *c, uint64_t now)
{
	return c->last_ping == 0 || now - c->last_ping >= DP_PING_INTERVAL_NS;
}

bool
dp_session_active(const struct disco_path *p, uint64_t now)
{
	return p->last_send != 0 && now - p->last_send < DP_SESSION_ACTIVE_NS;
}

bool
dp_idle(const struct disco_path *p, uint64_t now)
{
	return !dp_session_active(p, now) && !dp_trusted(p, now) &&
	    p->nsent == 0 && (p->last_ping_rx == 0 ||
	    now - p->last_ping_rx >= DP_SESSION_ACTIVE_NS);
}

bool
dp_want_heartbeat(const struct disco_path *p, uint64_t now)
{
	return p->has_best && dp_session_active(p, now) &&
	    (p->last_heartbeat == 0 || now - p->last_heartbeat >=
	    DP_HEARTBEAT_NS);
}

void
dp_sent_add(struct disco_path *p, const uint8_t txid[DISCO_TXID_LEN],
    const struct ipport *to, uint64_t now, enum dp_purpose purpose,
    uint64_t cli_id)
{
	struct dp_sent *s;
	int i;

	if (p->nsent == DP_SENT_MAX) {
		/* The oldest is first: drop it. */
		memmove(&p->sent[0], &p->sent[1],
		    (DP_SENT_MAX - 1) * sizeof(p->sent[0]));
		p->nsent--;
	}
	s = &p->sent[p->nsent++];
	memcpy(s->txid, txid, DISCO_TXID_LEN);
	s->to = *to;
	s->at = now;
	s->purpose = (uint8_t)purpose;
	s->cli_id = cli_id;
	/* A CLI ping does not hold back discovery's next round (magicsock's
	 * startDiscoPingLocked leaves lastPing alone for pingCLI). */
	if (purpose != DP_CLI && (i = find_cand(p, to)) >= 0)
		p->cand[i].last_ping = now;
	if (purpose == DP_HEARTBEAT)
		p->last_heartbeat = now;
}

static bool
is_private(const struct ipport *ap)
{
	const uint8_t *v4 = ap->ip + 12;

	if (ipport_is_v4(ap))
		return v4[0] == 10 || (v4[0] == 172 && (v4[1] & 0xf0) == 16) ||
		    (v4[0] == 192 && v4[1] == 168);
	return (ap->ip[0] & 0xfe) == 0xfc;
}

bool
dp_better(const struct ipport *a, uint64_t la, const struct ipport *b,
    uint64_t lb)
{
	int ap = 0, bp = 0;

	if (same(a, b))
		return false;
	if (la > lb && la > 0)
		bp = (int)(100 - (lb * 100) / la);
	else if (lb > 0)
		ap = (int)(100 - (la * 100) / lb);
	if (is_private(a))
		ap += 20;
	if (is_private(b))
		bp += 20;
	if (!ipport_is_v4(a))
		ap += 10;
	if (!ipport_is_v4(b))
		bp += 10;
	if (ap <= 1 && bp == 0)
		return false;
	return ap > bp;
}

bool
dp_pong(struct disco_path *p, const uint8_t txid[DISCO_TXID_LEN],
    uint64_t now, struct dp_sent *out, uint64_t *latency)
{
	int i, c;

	for (i = 0; i < p->nsent; i++)
		if (memcmp(p->sent[i].txid, txid, DISCO_TXID_LEN) == 0)
			break;
	if (i == p->nsent)
		return false;
	*out = p->sent[i];
	memmove(&p->sent[i], &p->sent[i + 1],
	    (size_t)(p->nsent - i - 1) * sizeof(p->sent[0]));
	p->nsent--;
	*latency = now - out->at;
	if (dp_is_derp(&out->to, NULL))
		return true;
	if ((c = find_cand(p, &out->to)) >= 0) {
		p->cand[c].last_pong = now;
		p->cand[c].latency = *latency;
	}
	if (!dp_trusted(p, now) || dp_better(&out->to, *latency, &p->best,
	    p->best_latency)) {
		p->has_best = true;
		p->best = out->to;
	}
	if (same(&p->best, &out->to)) {
		p->best_latency = *latency;
		p->trust_until = now + DP_TRUST_NS;
	}
	return true;
}

size_t
dp_expire(struct disco_path *p, uint64_t now)
{
	size_t n = 0;
	int j = 0;

	for (int i = 0; i < p->nsent; i++) {
		if (now - p->sent[i].at >= DP_PING_TIMEOUT_NS) {
			n++;
			continue;
		}
		p->sent[j++] = p->sent[i];
	}
	p->nsent = (uint8_t)j;
	return n;
}
