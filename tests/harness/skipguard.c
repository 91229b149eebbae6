// SPDX-License-Identifier: GPL-2.0
/*
 * Harness self-test (tests/vm/plans/splat-silent.plan, a run that MUST
 * fail): the exporter programs' SKIP() guard (tests/exporter/common.h)
 * and the runner's skip lists (tests/vm/skips/).
 *
 *   skip_after_failed_expect  an EXPECT fails, then the case SKIPs: the
 *                             guard must report it "not ok", never SKIP
 *   unlisted_skip             a plain SKIP that is on no skip list: the
 *                             runner must fail the run and name it
 *   passes                    a case that passes, so the program's own
 *                             failure is the first case's alone
 */
#include "../exporter/common.h"

#include "kselftest_harness.h"

TEST(skip_after_failed_expect)
{
	EXPECT_EQ(1, 2) TH_LOG("deliberate failure before a SKIP");
	SKIP(return, "deliberate SKIP after a failed EXPECT");
}

TEST(unlisted_skip)
{
	SKIP(return, "deliberate SKIP that no skip list allows");
}

TEST(passes)
{
	EXPECT_EQ(1, 1);
}

TEST_HARNESS_MAIN
