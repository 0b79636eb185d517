/* lp_config.h - compiler/ISA feature switches of the native kernels (internal). */
#ifndef LP_CONFIG_H
#define LP_CONFIG_H

/* x86-64 with GCC or Clang: the popcnt/AVX2/AVX-512 paths are compiled with per-function target attributes
 * (the rest of the file stays baseline x86-64) and chosen at run time with __builtin_cpu_supports. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LP_HAVE_X86_PATHS 1
#define LP_TARGET(s) __attribute__((target(s)))
#else
#define LP_TARGET(s)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LP_INLINE static inline __attribute__((always_inline))
#else
#define LP_INLINE static inline
#endif

#endif /* LP_CONFIG_H */
