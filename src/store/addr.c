/*
 * Content addresses: SHA-256 from libcrypto, truncated to 128 bits. 128 bits
 * keep accidental collisions out of reach (2^64 nodes for a 50% chance) and
 * keep branch nodes small; SHA-256 runs on the SHA extensions of current x86
 * CPUs. Rejected: BLAKE2b from libsodium (no hardware path, a second crypto
 * dependency), non-cryptographic hashes (a store shared by several processes
 * must not be poisonable by crafted content).
 *
 * OpenSSL 3's one-shot SHA256() fetches the algorithm on every call; the
 * digest is fetched once and each thread keeps its own context.
 */
#include "store/store.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;  /* per-thread EVP_MD_CTX, freed at thread exit */

static void ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void md_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&ctx_key, ctx_free);
}

void cairn_addr_of(cairn_addr *out, const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx;
    pthread_once(&md_once, md_init);
    ctx = pthread_getspecific(ctx_key);
    if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    if (ctx && sha256_md && EVP_DigestInit_ex(ctx, sha256_md, NULL) &&
        EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, md, &n)) {
        memcpy(out->bytes, md, CAIRN_ADDR_LEN);
        return;
    }
    /* libcrypto could not allocate: fall back to the one-shot path */
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    memcpy(out->bytes, md, CAIRN_ADDR_LEN);
}

void cairn_addr_hex(char *out, const cairn_addr *a)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < CAIRN_ADDR_LEN; i++) {
        out[2 * i] = hex[a->bytes[i] >> 4];
        out[2 * i + 1] = hex[a->bytes[i] & 15];
    }
    out[2 * CAIRN_ADDR_LEN] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int cairn_addr_parse(cairn_addr *out, const char *hex, size_t len)
{
    if (len != 2 * CAIRN_ADDR_LEN)
        return CAIRN_EINVALID;
    for (int i = 0; i < CAIRN_ADDR_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CAIRN_EINVALID;
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
