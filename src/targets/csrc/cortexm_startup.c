/*
 * cortexm_startup.c - minimal Cortex-M reset path for the semihosted device harness.
 *
 * The vector table's reset entry copies .data from its load address in flash to RAM, then enters the
 * newlib/libgloss crt0 `_start` (--specs=rdimon.specs), which zeroes .bss, initialises semihosting and
 * the heap, calls main and exits through SYS_EXIT (qemu then exits with main's status).
 */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top, __data_load, __data_start, __data_end;

void Reset_Handler(void);
void Default_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end)
        *dst++ = *src++;
    _start();
    for (;;)
        ;
}

void Default_Handler(void)
{
    for (;;)
        ;
}

typedef void (*lp_handler_t)(void);
typedef union {
    lp_handler_t handler;
    uint32_t *stack;
} lp_vector_t;

__attribute__((section(".isr_vector"), used)) const lp_vector_t lp_vector_table[16] = {
    {.stack = &__stack_top}, {Reset_Handler}, {Default_Handler}, {Default_Handler},
    {Default_Handler}, {Default_Handler}, {Default_Handler}, {0}, {0}, {0}, {0},
    {Default_Handler}, {Default_Handler}, {0}, {Default_Handler}, {Default_Handler},
};
