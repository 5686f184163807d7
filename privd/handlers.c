/* Handlers shared by the three child channels. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "privd.h"

void
privd_handle_ready(struct child *k, const Pm__Ready *r)
{
	const Pm__ProcInfo *pi = r->info;

	log_info("%s ready: pid %u uid %u caps %#llx seccomp %u "
	    "no_new_privs %u", k->name, pi->pid, pi->uid,
	    (unsigned long long)pi->cap_eff, pi->seccomp, pi->no_new_privs);
	privd_child_ready(k);
}

/*
 * A child reports that a peer floods it with garbage.  The worst a lying
 * child can do with this is restart another child, which it could provoke
 * anyway by sending that child garbage.
 */
void
privd_handle_peer_misbehaved(struct child *k, const Pm__PeerMisbehaved *pm)
{
	struct child *bad = privd_child(k->pd, pm->peer);
	char why[96];

	if (bad == NULL)
		return;
	snprintf(why, sizeof(why), "%s received %llu bad messages from it",
	    k->name, (unsigned long long)pm->dropped);
	privd_cut_off(bad, why);
}

ipc_dispatch_fn
privd_dispatch_for(Pm__Proc p)
{
	switch (p) {
	case PM__PROC__PROC_NETD:
		return privd_dispatch_netd;
	case PM__PROC__PROC_CTRLD:
		return privd_dispatch_ctrld;
	case PM__PROC__PROC_DNSD:
		return privd_dispatch_dnsd;
	default:
		return NULL;
	}
}

/*
 * Channel events.  Drops are logged at a limited rate; a cut-off (garbage
 * flood) or EOF from a child ends that child, and reaping restarts it.
 */
void
privd_chan_event(struct ipc_chan *c, enum ipc_event ev, int detail, void *arg)
{
	static struct ratelimit rl = RATELIMIT_INIT(1000, 10);
	struct child *k = arg;
	unsigned missed;

	switch (ev) {
	case IPC_EV_DROP:
		if (ratelimit_ok(&rl, now_ms(), &missed))
			log_warnx("%s: dropped message: %s (%llu dropped so far"
			    "%s)", c->rx_pol->name,
			    ipc_drop_name((enum ipc_drop)detail),
			    (unsigned long long)c->st.dropped,
			    missed ? ", some lines suppressed" : "");
		break;
	case IPC_EV_CUTOFF:
		privd_cut_off(k, "too many bad messages");
		break;
	case IPC_EV_EOF:
	case IPC_EV_ERROR:
		/* Normally the child is exiting and SIGCHLD follows.  One that
		 * hangs up (or sends an empty datagram) and lives on has left
		 * supervision: end it, and reaping restarts it. */
		log_debug("%s: channel closed", c->rx_pol->name);
		ipc_chan_close(c);
		if (k->pid > 0 && !k->pd->stopping)
			kill(k->pid, SIGKILL);
		break;
	case IPC_EV_TX_DROP:
		log_warnx("%s: send queue full, message dropped",
		    c->tx_pol->name);
		break;
	}
}
