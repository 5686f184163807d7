/*
 * What every child of privd does the same way: check the descriptors privd
 * placed (ipc/fds.h), close everything else, open what it needs while still
 * root, enter its sandbox, open its channels, report Ready, run the loop.
 * Each child supplies one dispatch function per channel.
 */
#ifndef PM_CHILD_H
#define PM_CHILD_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "fds.h"
#include "ipc.h"
#include "sandbox.h"

struct child_ctx {
	Pm__Proc	 self;
	enum sandbox_role role;
	const char	*name;
	const char	*user;
	uid_t		 uid;
	gid_t		 gid;
	const char	*root;
	bool		 debug;
	uv_loop_t	*loop;
	int		 status_fd;	/* /proc/self/status, opened as root */
	struct ipc_chan	 chans[PM_NPROC + 1];	/* by Pm__Proc; [self] unused */
	ipc_dispatch_fn	 dispatch[PM_NPROC + 1];
	uv_signal_t	 sig[2];
	void		*arg;		/* the process's own state */
};

/* Start-up before the sandbox: argv, fixed fds, /proc/self/status, loop. */
void	child_init(struct child_ctx *, Pm__Proc self, enum sandbox_role,
	    int argc, char **argv);
/* sandbox_enter() with the uid/gid/root privd passed. */
void	child_sandbox(struct child_ctx *);
/* Opens the channel to every peer privd gave us and sends Ready. */
void	child_start(struct child_ctx *);
int	child_run(struct child_ctx *);

/* The channel to `peer`, or NULL when it is down (peer restarting). */
struct ipc_chan *child_chan(struct child_ctx *, Pm__Proc peer);

/* Handlers every child shares. */
void	child_handle_peer_channel(struct child_ctx *, const Pm__PeerChannel *,
	    struct ipc_msg *);
/* Answers ctrld's ProcInfoRequest (netd, dnsd). */
int	child_reply_proc_info(struct child_ctx *, const Pm__ProcInfoRequest *);
/* Fills `pi` (with storage in `st`/`stp`, PM_NPROC entries) from
 * /proc/self/status and the channel counters. */
void	child_procinfo(struct child_ctx *, Pm__ProcInfo *pi,
	    Pm__ChannelStats *st, Pm__ChannelStats **stp);
#ifdef PM_TEST_HOOKS
void	child_test_forbidden_syscall(struct child_ctx *)
	    __attribute__((noreturn));
#endif

#endif
