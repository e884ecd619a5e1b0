/* cbl_image.c: the check of an MCUboot image before it may boot.
 *
 * Format (imgtool, little endian): a 32-byte header (magic 0x96f3b83d, load address, header
 * size, protected-TLV size, payload size, flags, version major.minor.revision+build), the
 * payload, the protected TLV area (info 0x6908: security counter 0x50, board type 0xA0), then
 * the TLV area (info 0x6907: key hash 0x01, SHA-256 0x10, Ed25519 0x24). The hash covers the
 * header, the payload and the protected TLVs; the Ed25519 signature (non-"pure" imgtool) signs
 * that 32-byte digest. The check is strict, so that no byte of the image can change unnoticed:
 * every TLV length must walk exactly to its area's end, every TLV type must be known, each may
 * appear once, the key hash must be the SHA-256 of the provisioned key's SubjectPublicKeyInfo
 * (what imgtool writes), and the unprotected area holds nothing else. Order: header, sizes,
 * structure, hash, signature, then the signed facts (board type, security counter).
 */
#include <string.h>
#include "cbl_image.h"
#include "cbl_crypto.h"

#define IMAGE_MAGIC 0x96f3b83du
#define TLV_INFO_MAGIC 0x6907u
#define TLV_PROT_INFO_MAGIC 0x6908u
#define TLV_KEYHASH 0x01u
#define TLV_SHA256 0x10u
#define TLV_ED25519 0x24u
#define TLV_SEC_CNT 0x50u
#define IMAGE_F_ROM_FIXED 0x100u

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

/* the SubjectPublicKeyInfo DER prefix of an Ed25519 key (RFC 8410) */
static const uint8_t SPKI_ED25519[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

uint32_t cbl_image_check(const uint8_t *img, uint32_t cap, const uint8_t key[32], uint32_t board_type,
                         uint32_t min_seccnt, uint32_t slot_addr, cbl_image_info_t *info)
{
    memset(info, 0, sizeof *info);
    if (cap < 32u) return CBL_IMG_HEADER;
    if (rd32(img) != IMAGE_MAGIC) {
        for (uint32_t k = 0; k < 32u; k++)
            if (img[k] != 0xFFu) return CBL_IMG_HEADER;
        return CBL_IMG_NO_PROGRAM;
    }
    uint32_t load = rd32(img + 4), hdr = rd16(img + 8), prot = rd16(img + 10), size = rd32(img + 12);
    uint32_t flags = rd32(img + 16);
    info->hdr_size = hdr;
    info->img_size = size;
    info->version = (uint32_t)img[20] << 24 | (uint32_t)img[21] << 16 | rd16(img + 22);
    if (hdr < 32u || hdr > cap || rd32(img + 28) != 0u) return CBL_IMG_HEADER;
    if ((flags & ~IMAGE_F_ROM_FIXED) != 0u) return CBL_IMG_FORMAT_UNKNOWN;
    if ((flags & IMAGE_F_ROM_FIXED) && slot_addr != CBL_IMAGE_ANY_ADDR && load != slot_addr) return CBL_IMG_ADDRESS;
    /* sizes, without overflow: header + payload + protected + 4-byte info must fit */
    if (size > cap - hdr || prot > cap - hdr - size || cap - hdr - size - prot < 4u) return CBL_IMG_TOO_LARGE;
    uint32_t hashed = hdr + size + prot;
    const uint8_t *p = img + hdr + size;
    uint32_t seccnt = 0, board = 0;
    int have_seccnt = 0, have_board = 0;
    if (prot != 0u) {
        if (prot < 4u || rd16(p) != TLV_PROT_INFO_MAGIC || rd16(p + 2) != prot) return CBL_IMG_FORMAT;
        for (uint32_t off = 4; off < prot;) {
            if (prot - off < 4u) return CBL_IMG_FORMAT;
            uint32_t type = rd16(p + off), len = rd16(p + off + 2);
            if (len > prot - off - 4u) return CBL_IMG_FORMAT;
            const uint8_t *v = p + off + 4;
            if (type == TLV_SEC_CNT && len == 4u && !have_seccnt) {
                seccnt = rd32(v);
                have_seccnt = 1;
            } else if (type == CBL_TLV_BOARD_TYPE && len == 4u && !have_board) {
                board = rd32(v);
                have_board = 1;
            } else {
                return CBL_IMG_FORMAT;
            }
            off += 4u + len;
        }
    }
    const uint8_t *t = img + hashed;
    uint32_t tot = rd16(t + 2);
    if (rd16(t) != TLV_INFO_MAGIC || tot < 4u) return CBL_IMG_FORMAT;
    if (tot > cap - hashed) return CBL_IMG_TOO_LARGE;
    info->total = hashed + tot;
    const uint8_t *hash = NULL, *sig = NULL, *keyhash = NULL;
    for (uint32_t off = 4; off < tot;) {
        if (tot - off < 4u) return CBL_IMG_FORMAT;
        uint32_t type = rd16(t + off), len = rd16(t + off + 2);
        if (len > tot - off - 4u) return CBL_IMG_FORMAT;
        const uint8_t *v = t + off + 4;
        if (type == TLV_SHA256 && len == 32u && hash == NULL) hash = v;
        else if (type == TLV_ED25519 && len == 64u && sig == NULL) sig = v;
        else if (type == TLV_KEYHASH && len == 32u && keyhash == NULL) keyhash = v;
        else return CBL_IMG_FORMAT;
        off += 4u + len;
    }
    uint8_t digest[32];
    if (hash == NULL) return CBL_IMG_HASH;
    if (crypto_hash_sha256(digest, img, hashed) != 0 || memcmp(digest, hash, 32) != 0) return CBL_IMG_HASH;
    if (sig == NULL || keyhash == NULL) return CBL_IMG_SIGNATURE;
    uint8_t spki[44], kh[32];
    memcpy(spki, SPKI_ED25519, sizeof SPKI_ED25519);
    memcpy(spki + sizeof SPKI_ED25519, key, 32);
    if (crypto_hash_sha256(kh, spki, sizeof spki) != 0 || memcmp(kh, keyhash, 32) != 0) return CBL_IMG_SIGNATURE;
    if (cbl_ed25519_verify(sig, key, digest, 32) != 0) return CBL_IMG_SIGNATURE;
    info->seccnt = seccnt;
    info->board_type = board;
    if (!have_board || board != board_type) return CBL_IMG_BOARD;
    if (!have_seccnt || seccnt < min_seccnt) return CBL_IMG_SECCNT;
    return CBL_IMG_OK;
}
