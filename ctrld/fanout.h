/*
 * Fan-out (fanout.c): the netmap as desired state for netd (PeerUpdate
 * transactions) and privd (NetState), sent only when it changed; and
 * netd's direct endpoints, which MapRequest.Endpoints carries.
 */
#ifndef PM_CTRLD_FANOUT_H
#define PM_CTRLD_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "netmap.h"
#include "prefs.h"

#define FANOUT_EP_MAX	16
#define FANOUT_EP_TEXT	64

struct ctrld;

/* After every applied netmap change (and prefs change). */
void	fanout_apply(struct ctrld *, const struct netmap *, const struct prefs *);
/* netd (re)connected: the next transaction replaces its whole set. */
void	fanout_netd_restarted(void);
/* A new channel to netd or dnsd (Pm__Proc): everything is sent again. */
void	fanout_sibling_restarted(int proc);

void	fanout_set_endpoints(char **eps, size_t n);
bool	fanout_same_endpoints(char **eps, size_t n);
json_t *fanout_endpoints_json(void);

#endif
