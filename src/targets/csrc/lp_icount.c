/*
 * lp_icount.c - QEMU TCG plugin (plugin API v1, as in QEMU 7.2) counting the guest instructions executed
 * between two marker functions of the device harness (lp_mark_begin / lp_mark_end).
 *
 * Debian ships QEMU with plugin support but without qemu-plugin.h, so the few API declarations used are
 * written out below. Build: cc -O2 -shared -fPIC -o lp_icount.so lp_icount.c
 * Use:   qemu-<arch> -plugin ./lp_icount.so,begin=0x...,end=0x... -d plugin -D log.txt prog
 *
 * Counting: every translation block adds its instruction count to `total` when it starts executing
 * (inline add, exact for straight-line blocks, which is all our code runs: no exceptions). A marker's
 * first instruction starts a block (it is a call target), so at the marker callback `total` already
 * includes that marker's block. Region r's count is total(end_r) - total(begin_r): every instruction from
 * the begin marker's block to the end marker's block inclusive. The harness's first region is empty
 * (begin(); end();), and its count is the fixed glue that is subtracted from every other region.
 * Output: "lp_icount regions=R calib=C sum=S min=A max=B" (over regions 1..R-1, after subtraction).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t total, begin_addr, end_addr, at_begin, calib, sum, lo = UINT64_MAX, hi;
static uint64_t regions;
static int open_region;

static void on_begin(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    at_begin = total;
    open_region = 1;
}

static void on_end(unsigned int vcpu, void *udata)
{
    uint64_t n;
    (void)vcpu;
    (void)udata;
    if (!open_region)
        return;
    open_region = 0;
    n = total - at_begin;
    if (regions == 0) {
        calib = n;
    } else {
        n = n >= calib ? n - calib : 0;
        sum += n;
        if (n < lo)
            lo = n;
        if (n > hi)
            hi = n;
    }
    regions += 1;
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == begin_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        else if (pc == end_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

static void on_atexit(qemu_plugin_id_t id, void *udata)
{
    char buf[256];
    (void)id;
    (void)udata;
    snprintf(buf, sizeof buf, "lp_icount regions=%llu calib=%llu sum=%llu min=%llu max=%llu total=%llu\n",
             (unsigned long long)regions, (unsigned long long)calib, (unsigned long long)sum,
             (unsigned long long)(regions > 1 ? lo : 0), (unsigned long long)hi, (unsigned long long)total);
    qemu_plugin_outs(buf);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (!strncmp(argv[i], "begin=", 6))
            begin_addr = strtoull(argv[i] + 6, NULL, 0);
        else if (!strncmp(argv[i], "end=", 4))
            end_addr = strtoull(argv[i] + 4, NULL, 0);
    }
    if (!begin_addr || !end_addr || begin_addr == end_addr) {
        fprintf(stderr, "lp_icount: need distinct begin=ADDR and end=ADDR\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
