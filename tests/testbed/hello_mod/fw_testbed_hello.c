// SPDX-License-Identifier: GPL-2.0
/* tests/testbed/hello_mod/fw_testbed_hello.c: trivial module proving --module and the headers match
 * the guest kernel. */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/utsname.h>

static int fw_magic = 42;
module_param_named(magic, fw_magic, int, 0444);
MODULE_PARM_DESC(magic, "value reported in the kernel log");

static int __init fw_hello_init(void) {
  pr_info("fw_testbed_hello: loaded on %s (magic %d)\n", init_utsname()->release, fw_magic);
  return 0;
}

static void __exit fw_hello_exit(void) { pr_info("fw_testbed_hello: unloaded\n"); }

module_init(fw_hello_init);
module_exit(fw_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("FastWake testbed smoke-test module");
