#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "CTernSystem.h"

// CRC-32C, reflected polynomial 0x82F63B78. The table-driven loop is the portable fallback;
// the CPU's instruction does 8 octets per step where it exists.

static uint32_t table[256];

static void buildTable(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[n] = c;
    }
}

static uint32_t softwareCRC(uint32_t crc, const uint8_t *p, size_t length) {
    while (length--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t hardwareCRC(uint32_t crc, const uint8_t *p, size_t length) {
    uint64_t c = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

static bool hasHardware(void) { return __builtin_cpu_supports("sse4.2"); }

#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>

static uint32_t hardwareCRC(uint32_t crc, const uint8_t *p, size_t length) {
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        length -= 8;
    }
    while (length--) crc = __crc32cb(crc, *p++);
    return crc;
}

static bool hasHardware(void) { return true; }

#else
static uint32_t hardwareCRC(uint32_t crc, const uint8_t *p, size_t length) { return softwareCRC(crc, p, length); }
static bool hasHardware(void) { return false; }
#endif

static pthread_once_t setUp = PTHREAD_ONCE_INIT;
static bool hardware;

static void chooseImplementation(void) {
    hardware = hasHardware();
    if (!hardware) buildTable();
}

uint32_t tern_crc32c(uint32_t crc, const void *data, size_t length) {
    pthread_once(&setUp, chooseImplementation);
    const uint8_t *p = data;
    crc = ~crc;
    crc = hardware ? hardwareCRC(crc, p, length) : softwareCRC(crc, p, length);
    return ~crc;
}
