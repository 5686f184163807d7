/*
 * Supervision: reap children, restart them with exponential backoff, give
 * up on one that keeps crashing fast, cut off one that sends garbage, and
 * stop everything in order on SIGTERM/SIGINT.
 *
 *   crash -> BACKOFF (250 ms, 500 ms, 1 s, ... 30 s) -> STARTING -> RUNNING
 *   MAX_FAST_CRASHES crashes in a row, each within FAST_CRASH_MS of its
 *   start -> FAILED (reported in status; SIGHUP tries again)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "privd.h"

uint64_t
backoff_ms(unsigned fast_crashes)
{
	uint64_t ms = BACKOFF_BASE_MS;

	for (unsigned i = 1; i < fast_crashes && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void
describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)) ?
		    sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, len, "status 0x%x", status);
}

static void
on_restart_timer(uv_timer_t *t)
{
	struct child *k = t->data;
	int r;

	if (k->pd->stopping)
		return;
	k->restarts++;
	if ((r = privd_spawn(k)) < 0) {
		log_warnx("%s: restart failed: %s", k->name, strerror(-r));
		k->fast_crashes++;
		uv_timer_start(&k->timer, on_restart_timer,
		    backoff_ms(k->fast_crashes), 0);
	}
}

static void
child_died(struct child *k, int status)
{
	uint64_t lived = now_ms() - k->started_ms;
	uint64_t delay;

	describe_exit(status, k->last_exit, sizeof(k->last_exit));
	ipc_chan_close(&k->chan);
	logpipe_close(k);
	k->pid = 0;
	if (k->pd->stopping) {
		k->state = PM__CHILD_STATE__CHILD_UNSPEC;
		log_info("%s %s", k->name, k->last_exit);
		return;
	}
	k->fast_crashes = lived < FAST_CRASH_MS ? k->fast_crashes + 1 : 1;
	if (k->fast_crashes >= MAX_FAST_CRASHES) {
		k->state = PM__CHILD_STATE__CHILD_FAILED;
		log_warnx("%s %s; it crashed %u times in a row within %d s of "
		    "starting: giving up (SIGHUP to retry)", k->name,
		    k->last_exit, k->fast_crashes, FAST_CRASH_MS / 1000);
		return;
	}
	delay = backoff_ms(k->fast_crashes);
	k->state = PM__CHILD_STATE__CHILD_BACKOFF;
	log_warnx("%s %s after %llu ms; restarting in %llu ms", k->name,
	    k->last_exit, (unsigned long long)lived, (unsigned long long)delay);
	uv_timer_start(&k->timer, on_restart_timer, delay, 0);
}

void
privd_reap(struct privd *pd)
{
	struct child *k;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((k = privd_child_by_pid(pd, pid)) != NULL)
			child_died(k, status);
	}
	if (pd->stopping) {
		for (int i = 0; i < PRIVD_NCHILD; i++)
			if (pd->kids[i].pid > 0)
				return;
		uv_stop(pd->loop);
	}
}

/* Garbage or a failed sandbox check: kill it; reaping restarts it. */
void
privd_cut_off(struct child *k, const char *why)
{
	if (k->pid <= 0)
		return;
	log_warnx("cutting off %s (pid %d): %s", k->name, (int)k->pid, why);
	ipc_chan_close(&k->chan);
	kill(k->pid, SIGKILL);
}

static void
on_stop_timer(uv_timer_t *t)
{
	struct privd *pd = t->data;

	for (int i = 0; i < PRIVD_NCHILD; i++)
		if (pd->kids[i].pid > 0) {
			log_warnx("%s did not stop in time; killing it",
			    pd->kids[i].name);
			kill(pd->kids[i].pid, SIGKILL);
		}
}

/* Children first: SIGTERM, then SIGKILL after STOP_GRACE_MS; the loop ends
 * when the last one is reaped. */
void
privd_stop(struct privd *pd)
{
	bool any = false;

	if (pd->stopping)
		return;
	pd->stopping = true;
	log_info("stopping");
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *k = &pd->kids[i];

		uv_timer_stop(&k->timer);
		if (k->pid > 0) {
			kill(k->pid, SIGTERM);
			any = true;
		}
	}
	if (!any) {
		uv_stop(pd->loop);
		return;
	}
	pd->stop_timer.data = pd;
	uv_timer_start(&pd->stop_timer, on_stop_timer, STOP_GRACE_MS, 0);
}

void
privd_resume_failed(struct privd *pd)
{
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *k = &pd->kids[i];

		if (k->state != PM__CHILD_STATE__CHILD_FAILED)
			continue;
		log_info("%s: trying again", k->name);
		k->fast_crashes = 0;
		k->state = PM__CHILD_STATE__CHILD_BACKOFF;
		uv_timer_start(&k->timer, on_restart_timer, 0, 0);
	}
}
