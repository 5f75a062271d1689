/* chunker.c - FastCDC content-defined chunking, see chunker.h.
 *
 * The algorithm is normative (doc/FORMAT.md, "Chunker"): another
 * implementation must find exactly the same cut points, so the gear table,
 * the masks and the loop bounds below must never change, in any format
 * version.
 */
#include "config.h"

#include "chunker.h"

/*
 * gear[i] for i = 0..255: the successive outputs of splitmix64 seeded with
 * 0x6266732d67656172 ("bfs-gear" in ASCII, big-endian):
 *
 *	state += 0x9e3779b97f4a7c15;
 *	z = state;
 *	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
 *	gear[i] = z ^ (z >> 31);
 *
 * A static table (not computed at run time) so there is no init step and
 * no lock; tests/unit/test-chunker.c regenerates it and compares.
 */
static const uint64_t gear[256] = {
    0xe54744ef79990948ull, 0xe1d524a50612ab03ull, 0xcdfe67b8403088d7ull,
    0x0524132161faa38dull, 0x88f53ce8dc979929ull, 0xd5675cad99cac873ull,
    0x406bd613988ac282ull, 0x9524f2cbaf23f0acull, 0x6e8541998959804aull,
    0xdc7af2d58004e845ull, 0x49c52ac1b1f79922ull, 0xa77246f5a26c2bfcull,
    0x3410e8cf7ca218fbull, 0x95be743e5af593caull, 0xb0403104f15fab87ull,
    0x9eadd58e594316fcull, 0x3c2b3b5e93a2248full, 0x4b9f9b862733e9c6ull,
    0xf34eea13e00dd5edull, 0x5147f3218df0130aull, 0x0acec669d01c3ae6ull,
    0xee370c4db692ec52ull, 0xb479e0fc6435602full, 0x209d16bf130c7183ull,
    0x5c94ff7d842de4e3ull, 0xeace8ec29b6c8ae5ull, 0x91f7fffdc9815dc5ull,
    0x7d82f7b0ede07063ull, 0x03d370b025dda9c8ull, 0x2b750784934cecfcull,
    0xf1be00ac5944e501ull, 0x1a9b53aaeceb0c02ull, 0x17a664a256cffe73ull,
    0xacc5e02637ae2b21ull, 0x4d796c6117c0d0fdull, 0xc000e21b234cad4aull,
    0x7b4a0f0296747b3dull, 0x24f1425a6f893eb9ull, 0xc431e5f14c6718a3ull,
    0x012e68fd0c631a89ull, 0x0448800b63659e63ull, 0x993ac49b4fcd6f8bull,
    0x9e9c40642f05bacdull, 0x99a92e2363cd2a64ull, 0x104a93ebfc16caacull,
    0x6cf213ea2a55246aull, 0x3677e56f3d9a3ec3ull, 0x516fa9c390d7c5b4ull,
    0x167a8a91a3311552ull, 0x9a80b78bb6c1af64ull, 0x45fbb398571329f5ull,
    0xa3cb43ad054de053ull, 0x1a662db531a3d9b8ull, 0x644e311e8086f2e0ull,
    0x436a9c080ddf58f1ull, 0x60c80f8238fd577eull, 0xf7fb41441fab254bull,
    0xae11b016fe103eaaull, 0x2a4e0d7e24175117ull, 0x439a0d9e1386a934ull,
    0x9c3c3309481893e8ull, 0x5f39faba17e006f7ull, 0xb28c66c73c64f71bull,
    0xf4888d47578fba84ull, 0x87b733e5c1c66608ull, 0xc731bfd389c3e147ull,
    0xa9c352397b0d5734ull, 0x835606f295269be4ull, 0x650a17c6efc84f91ull,
    0x2976d232741d25abull, 0xdc5bdab31db7f51bull, 0xea163c8a37d1da19ull,
    0xde7e220123a47d63ull, 0xae39e8151668ba06ull, 0x1825da44029ceeaaull,
    0xa4b3abd02977f0a2ull, 0x1e6be142d71bbad9ull, 0xfea84e870301db30ull,
    0xd9fab4c7c95acc8eull, 0x01a5956c5efeaee0ull, 0xf04255e71810325full,
    0x7b571ff338c5e7e9ull, 0x92193b27c75bf021ull, 0x1f0684e93aa54e62ull,
    0x36939cf3d6cad497ull, 0x89c0c8a17a15aa78ull, 0x0e7c2f5afc883b52ull,
    0x8bfeb5a53ddc57c3ull, 0xf3b7af174f4634f1ull, 0x2b610aafc5e17783ull,
    0x93cc68d41cab8839ull, 0x87075d881e0fc4efull, 0xc2350ac21c4746cfull,
    0xfdbebab20492711cull, 0x958048aa6d5359ffull, 0xf057c85d020388b6ull,
    0xaaee2f71d584d207ull, 0x6d5a3996ae603a83ull, 0xe9ffa5dfdc59a107ull,
    0x778620dcb3184421ull, 0x5dc037e4212b8f15ull, 0x6703e12ac92f5dc7ull,
    0x6552ce9927218843ull, 0x08222a2de68a4c74ull, 0x0f7dbbee6602fa46ull,
    0x953577bdc3232c42ull, 0x98fe172d7e8be145ull, 0x5f0ea41d4edbd62dull,
    0xd570053355f76e80ull, 0x7fb9eded04366947ull, 0x74beb92ca34962feull,
    0x6173de11b4f1facdull, 0x070220236b379d69ull, 0xc1551117d3e6c83dull,
    0xedb49c118cfb5cb9ull, 0x89deafb22be73badull, 0x44d2c066fa1b1772ull,
    0xac0688716d14a1e8ull, 0x27094c9d0deeb124ull, 0xc2345ac54944d81aull,
    0xbd165064e20ae59aull, 0x25f016a99a7dfc0full, 0x4f52d7d350bf2461ull,
    0x7e29db2ab5bde39aull, 0xcfe70f41669fe1f8ull, 0xa133d376a6d91c8cull,
    0xf01b3813c10059e2ull, 0xe29d1110c24145f5ull, 0xbcb44d86667f414bull,
    0xb4ed075c029202abull, 0x4d374d4be3dbf4feull, 0xda37be8a3310ae5dull,
    0x2e3dba08555e74acull, 0xdb54013e6cda8d95ull, 0x8c689def8e6a3a5full,
    0xdfd0a8a607a75be5ull, 0x04e5edaf7a6192d6ull, 0x592948bab93605a2ull,
    0x583e60af353d0cd8ull, 0xd33376f5c6354134ull, 0xd2f72f250fdef505ull,
    0x97c73441efc054f2ull, 0xb181b97a90a1d8e8ull, 0x04ec05f38f3655d0ull,
    0x05d41d85594546e5ull, 0xbcd71e70afbb341eull, 0x9fd885dd5d628932ull,
    0xf15ef37ecbba8c7full, 0xf85f43e53ef65b3aull, 0x11e0f75b58173fe2ull,
    0x3cec01b0f2a9dd7dull, 0x13c70ea6182fe925ull, 0xb2e165430af80fbeull,
    0x9e30522a689e21dfull, 0x1ee4749c938a6d5aull, 0xc6b4866ceeb09388ull,
    0xe109ffaa207c2aabull, 0xaa75e82dc0b0fb28ull, 0x4bc86bb114d5a80eull,
    0xa38029727ec56f54ull, 0x6fef35fcd2adc7c7ull, 0x0b918ffc97a5aa97ull,
    0xff5d0a6e2dc6aa71ull, 0x6ecee2243c21a589ull, 0x52bef266a288fb57ull,
    0x3caf75e590147405ull, 0xab75151e700dfd6full, 0x85f2a00fdff9c8a5ull,
    0x8e7f18bc516452f0ull, 0x5e062f0170d5192full, 0x6ca40ee9c09d80d4ull,
    0x9956313e9f160611ull, 0x423c24e59ba8ea50ull, 0x7bad451fc9e1ff55ull,
    0x9ed50e35f149e2cdull, 0x77901b38e1760a26ull, 0xb87e8d5c08326fbdull,
    0xe80ee49253e7de5eull, 0x367df31480fb2725ull, 0x8b3836face5c41adull,
    0xfd5e5031b7a1e283ull, 0xf84bb49b1383ea5eull, 0x7011e2e6f0645040ull,
    0x3b96383f6ed4bba8ull, 0xe3edd6c80f6cabc5ull, 0x8d297d057fffa838ull,
    0x998c94515b01cbb7ull, 0xc40e04e96695cfb2ull, 0xf0f27d6b2bda1716ull,
    0x985c3c5c95418dadull, 0xe0921d8f08db3e57ull, 0x2b8fd23900c083afull,
    0xa6cbef7e8b385e13ull, 0xe329ddd1fac33c7bull, 0xbbb2af4985debbd1ull,
    0x7b5c77ae6cf730f3ull, 0x99a9e1646b11e8c4ull, 0x4656eca9dda815a7ull,
    0x7aff092412be4eecull, 0x337386f3e1cbb9c5ull, 0x84ac26d85f074baeull,
    0xa4a1f419a6ddf433ull, 0x410d1b853c7e8a6full, 0x6f7894b3ec0d55c7ull,
    0x819e817f29f51298ull, 0x29b7432947c765dfull, 0xa2209f4faa188361ull,
    0xfc4569509b742a64ull, 0xa4d6f50f1a7e9a11ull, 0xfbd586946ca9b5a4ull,
    0x4d97ac3e5f5bcc43ull, 0x6c3e308e03d455caull, 0x7e9c96b60e380b77ull,
    0xc2e95643cb1210e7ull, 0x88ced0e9c4bbe622ull, 0x97f2e3c942eeaf99ull,
    0x9f58fa0cb2eb136cull, 0x31111b705b874858ull, 0x67e8805c84fcea56ull,
    0xaa73ce59f7f19f0full, 0x0d0dc749df0b88b4ull, 0xc3f9affb5e6bba79ull,
    0xc1a330012338439dull, 0x8e54e4e33a4a7a69ull, 0x1fa03effd8515014ull,
    0x341d238093cdc7b6ull, 0xc447d16b3064988aull, 0x52c97c35821bb5dbull,
    0xc4d7882392b5b1eaull, 0xd732d34091eb76c3ull, 0xf0ca9136d98c67baull,
    0xce0872b38c201304ull, 0x14aef76a19f54038ull, 0x0c6fdfea27bf8c0bull,
    0x9830c9727c2df1d8ull, 0x764a4c18e31cd676ull, 0x635f4dc2a4e4240aull,
    0x031dce4fc78be6a9ull, 0x4e65dae73aebd470ull, 0xc78ae96379a78d70ull,
    0xc23347adf1050685ull, 0x51c0344452f51de5ull, 0x92477cc066582d3aull,
    0xc6f70ce08b160fabull, 0x6b507f9d83d82a02ull, 0x3ff1304af87b4124ull,
    0xe22b5de1b9c5d6c5ull, 0xb684d669521c746full, 0x02ab018d5c9b6754ull,
    0x4bf93a6a48f1b84eull, 0x2520cca30c34f24cull, 0xa561d5944eecbc85ull,
    0x81bf52ff44ca5f43ull, 0x85aca8812dfc4950ull, 0x70bda66a327549a4ull,
    0x2883f0b864425501ull,
};

/* See chunker.h: min <= avg <= max within the limits, avg a power of two.
 * NULL is invalid.  Thread-safe. */
const uint64_t *bfs_chunker_gear(void)
{
	return gear;
}

bool bfs_chunker_params_valid(const struct bfs_chunker_params *p)
{
	if (!p)
		return false;
	if (p->min < BFS_CHUNK_MIN_LIMIT || p->max > BFS_CHUNK_MAX_LIMIT)
		return false;
	if (p->min > p->avg || p->avg > p->max)
		return false;
	return (p->avg & (p->avg - 1)) == 0;
}

/* floor(log2(v)) for v > 0. */
static unsigned ilog2(uint32_t v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

/* A mask of the `bits` most significant bits of a 64-bit word.  The gear
 * hash shifts left, so the top bits depend on the last 64 bytes seen. */
static uint64_t top_mask(unsigned bits)
{
	return bits >= 64 ? ~0ull : ~(~0ull >> bits);
}

/*
 * Normalised chunking (FastCDC, normalisation level 2): with b =
 * log2(avg), positions [min, avg) need the b+2 top bits of the hash to be
 * zero (cuts are rarer), positions [avg, max) only b-2 bits (cuts are more
 * likely).  The hash starts at 0 at offset min; the byte at offset i is
 * hashed as h = (h << 1) + gear[buf[i]] and a cut after byte i (chunk
 * length i + 1) happens when (h & mask) == 0.
 *
 * p must be valid (bfs_chunker_params_valid).  Stateless: a caller that
 * gets 0 adds input and calls again with the same start, which rescans
 * from min; feed it large reads (>= max / 16).  Thread-safe.
 */
size_t bfs_chunker_cut(const struct bfs_chunker_params *p, const uint8_t *buf,
		       size_t n, bool eof)
{
	size_t i, limit, center;
	uint64_t h = 0, mask_s, mask_l;
	unsigned bits;

	if (n == 0)
		return 0;
	limit = n < p->max ? n : p->max;
	if (limit <= p->min) {
		if (n >= p->max)
			return p->max;
		return eof ? n : 0;
	}
	bits = ilog2(p->avg);
	mask_s = top_mask(bits + 2);
	mask_l = top_mask(bits - 2);
	center = p->avg < limit ? p->avg : limit;

	for (i = p->min; i < center; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & mask_s))
			return i + 1;
	}
	for (; i < limit; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & mask_l))
			return i + 1;
	}
	if (limit == p->max)
		return limit;
	return eof ? n : 0;
}
