/*
 * ctrld's NetState request: checked against privd's invariants and turned
 * into an intent for netapply.c.  Refusals name the first offending field.
 */
#ifndef PM_PRIVD_NETREQ_H
#define PM_PRIVD_NETREQ_H

#include <stddef.h>

#include "netstate.h"

typedef struct Pm__NetState Pm__NetState;
struct child;

/* What privd owns; a request may name these and nothing else. */
struct netreq_own {
	const char	*ifname;
	unsigned	 table;
};

/* 0 and `out` filled, or -EINVAL with the reason in `err`.  Pure. */
int	netreq_parse(const Pm__NetState *, const struct netreq_own *,
	    struct intent *out, char *err, size_t errlen);
void	privd_handle_net_state(struct child *ctrld, const Pm__NetState *);

#endif
