/* Parsing /proc/<pid>/status for the sandbox report. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "procinfo.h"

static const char sample[] =
    "Name:\tnetd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
    "Pid:\t4242\nPPid:\t1\nUid:\t994\t994\t994\t994\n"
    "Gid:\t993\t993\t993\t993\nGroups:\t\n"
    "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
    "CapEff:\t0000000000001000\nCapBnd:\t0000000000000000\n"
    "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    "Seccomp_filters:\t1\n";

static void
test_parse_sample(void **state)
{
	struct procinfo pi;

	(void)state;
	assert_int_equal(procinfo_parse(sample, strlen(sample), &pi), 0);
	assert_int_equal(pi.pid, 4242);
	assert_int_equal(pi.uid, 994);
	assert_int_equal(pi.gid, 993);
	assert_int_equal(pi.cap_eff, 0x1000);
	assert_int_equal(pi.seccomp, 2);
	assert_int_equal(pi.no_new_privs, 1);
}

static void
test_missing_or_bad_field(void **state)
{
	struct procinfo pi;
	char buf[sizeof(sample)];
	char *p;

	(void)state;
	memcpy(buf, sample, sizeof(sample));
	/* "Seccomp_filters:" must not be taken for "Seccomp:"; removing the
	 * real line makes the file incomplete. */
	p = strstr(buf, "Seccomp:\t2\n");
	memset(p, 'x', 10);
	assert_int_equal(procinfo_parse(buf, strlen(buf), &pi), -EINVAL);
	memcpy(buf, sample, sizeof(sample));
	p = strstr(buf, "CapEff:\t");
	p[8] = 'z';
	assert_int_equal(procinfo_parse(buf, strlen(buf), &pi), -EINVAL);
	assert_int_equal(procinfo_parse("", 0, &pi), -EINVAL);
}

static void
test_reads_own_status_twice(void **state)
{
	struct procinfo a, b;
	int fd = open("/proc/self/status", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(procinfo_read_fd(fd, &a), 0);
	assert_int_equal(procinfo_read_fd(fd, &b), 0);
	assert_int_equal(a.pid, (uint32_t)getpid());
	assert_int_equal(b.uid, getuid());
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sample),
		cmocka_unit_test(test_missing_or_bad_field),
		cmocka_unit_test(test_reads_own_status_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
