/* privd's part of `privmesh status`: its own view and the supervision table. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privd.h"
#include "procinfo.h"
#include "privd_to_ctrld.pb-c.h"

static void
fill_child(const struct child *k, Pm__ChildStatus *cs)
{
	cs->proc = k->proc;
	cs->pid = (uint32_t)(k->pid > 0 ? k->pid : 0);
	cs->user = (char *)k->user;
	cs->state = k->state;
	cs->restarts = k->restarts;
	cs->uptime_ms = k->pid > 0 ? now_ms() - k->started_ms : 0;
	cs->last_exit = (char *)k->last_exit;
}

int
privd_send_status(struct privd *pd, uint64_t id)
{
	Pm__PrivdToCtrld env = PM__PRIVD_TO_CTRLD__INIT;
	Pm__StatusReply rep = PM__STATUS_REPLY__INIT;
	Pm__ProcInfo self = PM__PROC_INFO__INIT;
	Pm__ChannelStats st[PRIVD_NCHILD], *stp[PRIVD_NCHILD];
	Pm__ChildStatus cs[PRIVD_NCHILD], *csp[PRIVD_NCHILD];
	struct procinfo pi;
	struct child *ctrld = privd_child(pd, PM__PROC__PROC_CTRLD);

	if (procinfo_read_fd(pd->status_fd, &pi) == 0) {
		self.pid = pi.pid;
		self.uid = pi.uid;
		self.gid = pi.gid;
		self.cap_eff = pi.cap_eff;
		self.cap_prm = pi.cap_prm;
		self.cap_bnd = pi.cap_bnd;
		self.seccomp = pi.seccomp;
		self.no_new_privs = pi.no_new_privs;
	}
	self.proc = PM__PROC__PROC_PRIVD;
	self.user = "root";
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		pm__channel_stats__init(&st[i]);
		pm__child_status__init(&cs[i]);
		ipc_chan_stats(&pd->kids[i].chan, &st[i]);
		st[i].peer = pd->kids[i].proc;
		stp[i] = &st[i];
		fill_child(&pd->kids[i], &cs[i]);
		csp[i] = &cs[i];
	}
	self.n_channels = PRIVD_NCHILD;
	self.channels = stp;
	rep.id = id;
	rep.privd = &self;
	rep.uptime_ms = now_ms() - pd->started_ms;
	rep.n_children = PRIVD_NCHILD;
	rep.children = csp;
	env.msg_case = PM__PRIVD_TO_CTRLD__MSG_STATUS_REPLY;
	env.status_reply = &rep;
	return ipc_send(&ctrld->chan, &env.base, -1);
}
