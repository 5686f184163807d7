/*
 * privd's check of ctrld's NetState (the prefix text in it is parsed by
 * privd, beyond what protobuf checks), the desired state built from what
 * passes, and the state file parser.  Whatever is accepted must stay
 * inside privd's invariants: its table, its rule priorities, bounded
 * counts, exact prefixes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netreq.h"
#include "netstate.h"
#include "statefile.h"
#include "netstate.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct intent in;
static struct netstate st;

static bool
prio_ours(uint32_t p)
{
	for (size_t i = 0; i < ns_npriorities; i++)
		if (ns_priorities[i] == p)
			return true;
	return false;
}

static void
check_state(const struct netstate *s)
{
	if (s->nroutes > NS_MAX_ROUTES || s->nrules > NS_MAX_RULES ||
	    s->naddrs > NS_MAX_ADDRS)
		__builtin_trap();
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].table != PM_TABLE ||
		    !prefix_valid(&s->routes[i].dst))
			__builtin_trap();
	for (size_t i = 0; i < s->nrules; i++)
		if (!prio_ours(s->rules[i].priority) ||
		    (s->rules[i].table != 0 && s->rules[i].table != PM_TABLE &&
		    s->rules[i].table != 253 && s->rules[i].table != 254))
			__builtin_trap();
	if (s->nft.on && strcmp(s->nft.ifname, "pm0") != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netreq_own own = { "pm0", PM_TABLE };
	struct ns_opts o = { .ifname = "pm0", .table = PM_TABLE,
	    .mtu = 1280 };
	struct saved_state ss;
	Pm__NetState *ns;
	char err[200];

	if ((ns = pm__net_state__unpack(NULL, size, data)) != NULL) {
		if (netreq_parse(ns, &own, &in, err, sizeof(err)) == 0) {
			netstate_build(&o, &in, &st);
			check_state(&st);
		} else if (memchr(err, '\0', sizeof(err)) == NULL || !err[0]) {
			__builtin_trap();
		}
		pm__net_state__free_unpacked(ns, NULL);
	}
	if (statefile_parse(data, size, &ss) == 0) {
		if (ss.table >= 253 && ss.table <= 255)
			__builtin_trap();
		for (int k = 0; k < NS_NSYSCTL; k++)
			if (ss.sysctl[k] && ss.original[k] > 2)
				__builtin_trap();
	}
	return 0;
}
