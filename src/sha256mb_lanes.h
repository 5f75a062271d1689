/* sha256mb_lanes.h - the rounds of SHA-256 in eight 32-bit lanes, for
 * src/sha256mb.c only, which includes it once per instruction set with
 * LANES_NAME, LANES_TARGET and the primitives LANES_ROR (rotate right),
 * LANES_XOR3, LANES_CH and LANES_MAJ defined; they are undefined after.
 *
 * LANES_NAME(st, q, step, nblk): nblk blocks of each lane into st (st[j]:
 * word j of every lane's state); lane i starts at q[i] and moves step[i]
 * bytes a block (0: an idle lane, which hashes the same dummy block
 * again).  FIPS 180-4, 6.2.2. */
LANES_TARGET static void LANES_NAME(__m256i st[8],
				    const uint8_t *const q[LANES],
				    const size_t step[LANES], size_t nblk)
{
	__m256i w[16], a, b, c, d, e, f, g, h, t1, t2, s0, s1;
	const uint8_t *p[LANES];
	size_t blk;
	int t, i;

	for (i = 0; i < LANES; i++)
		p[i] = q[i];
	for (blk = 0; blk < nblk; blk++) {
		load8(w, p, 0);
		load8(w + 8, p, 32);
		for (i = 0; i < LANES; i++)
			p[i] += step[i];
		a = st[0], b = st[1], c = st[2], d = st[3];
		e = st[4], f = st[5], g = st[6], h = st[7];
		for (t = 0; t < 64; t++) {
			__m256i wt;

			if (t < 16) {
				wt = w[t];
			} else {
				__m256i w2 = w[(t - 2) & 15],
					w15 = w[(t - 15) & 15];

				s1 = LANES_XOR3(LANES_ROR(w2, 17),
						LANES_ROR(w2, 19),
						_mm256_srli_epi32(w2, 10));
				s0 = LANES_XOR3(LANES_ROR(w15, 7),
						LANES_ROR(w15, 18),
						_mm256_srli_epi32(w15, 3));
				wt = _mm256_add_epi32(
				    _mm256_add_epi32(s1, w[(t - 7) & 15]),
				    _mm256_add_epi32(s0, w[t & 15]));
				w[t & 15] = wt;
			}
			t1 = _mm256_add_epi32(
			    _mm256_add_epi32(h, LANES_XOR3(LANES_ROR(e, 6),
							   LANES_ROR(e, 11),
							   LANES_ROR(e, 25))),
			    _mm256_add_epi32(
				LANES_CH(e, f, g),
				_mm256_add_epi32(_mm256_set1_epi32((int)K[t]),
						 wt)));
			t2 = _mm256_add_epi32(LANES_XOR3(LANES_ROR(a, 2),
							 LANES_ROR(a, 13),
							 LANES_ROR(a, 22)),
					      LANES_MAJ(a, b, c));
			h = g, g = f, f = e;
			e = _mm256_add_epi32(d, t1);
			d = c, c = b, b = a;
			a = _mm256_add_epi32(t1, t2);
		}
		st[0] = _mm256_add_epi32(st[0], a);
		st[1] = _mm256_add_epi32(st[1], b);
		st[2] = _mm256_add_epi32(st[2], c);
		st[3] = _mm256_add_epi32(st[3], d);
		st[4] = _mm256_add_epi32(st[4], e);
		st[5] = _mm256_add_epi32(st[5], f);
		st[6] = _mm256_add_epi32(st[6], g);
		st[7] = _mm256_add_epi32(st[7], h);
	}
}

#undef LANES_NAME
#undef LANES_TARGET
#undef LANES_ROR
#undef LANES_XOR3
#undef LANES_CH
#undef LANES_MAJ
