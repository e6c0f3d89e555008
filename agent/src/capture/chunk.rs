//! Content-defined chunking of bodies, so parts that repeat from call to call (system
//! prompts, tool definitions, earlier turns of a conversation) are stored once.
//!
//! Cut points depend only on the bytes around them (a gear rolling hash, as in FastCDC),
//! so text inserted or appended elsewhere leaves the chunks of the repeated parts — and
//! their SHA-256 names — unchanged. Bodies are kept byte for byte.
use ring::digest::{SHA256, digest};

/// No chunk is shorter than this, except the last.
pub const MIN_CHUNK: usize = 1024;
/// No chunk is longer than this.
pub const MAX_CHUNK: usize = 32 * 1024;
/// A cut where the hash's top 12 bits are zero: chunks average about 4 KiB past the
/// minimum, small enough that one changed message costs a few KiB, not a whole prompt.
/// The top bits of a shift-left gear hash depend on the last 64 bytes (the low bits only
/// on the last 12), so cuts stay regular even in text with a small vocabulary.
const CUT_SHIFT: u32 = 64 - 12;

/// The gear table: 256 fixed pseudo-random words (splitmix64), the same in every build.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state = 0x676c_6173_7362_6f78_u64; // "glassbox"
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// The SHA-256 name of a chunk.
pub type ChunkId = [u8; 32];

/// Length of the first chunk of `data`.
fn first_cut(data: &[u8]) -> usize {
    if data.len() <= MIN_CHUNK {
        return data.len();
    }
    let end = data.len().min(MAX_CHUNK);
    let mut hash = 0u64;
    for (i, byte) in data.iter().enumerate().take(end).skip(MIN_CHUNK) {
        hash = (hash << 1).wrapping_add(GEAR[usize::from(*byte)]);
        if hash >> CUT_SHIFT == 0 {
            return i + 1;
        }
    }
    end
}

/// Splits `data` into content-defined chunks.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(first_cut(rest));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

pub fn id(chunk: &[u8]) -> ChunkId {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, chunk).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_text(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                b"abcdefghij klmnopqrstuvwxyz,.\"{}:"[(state >> 59) as usize % 33]
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_body_exactly_within_bounds() {
        let body = pseudo_text(1, 300_000);
        let chunks = split(&body);
        assert_eq!(chunks.concat(), body);
        for chunk in &chunks[..chunks.len() - 1] {
            assert!(chunk.len() >= MIN_CHUNK && chunk.len() <= MAX_CHUNK, "{}", chunk.len());
        }
        assert!(chunks.len() > 300_000 / MAX_CHUNK, "content-defined cuts happen");
        assert!(split(&[]).is_empty());
        assert_eq!(split(b"tiny"), vec![&b"tiny"[..]]);
    }

    #[test]
    fn a_repeated_prefix_keeps_its_chunks_when_the_rest_changes() {
        // Turn 1: system prompt + tools + first message; turn 2: same, plus more messages.
        let shared = pseudo_text(2, 85_000);
        let turn1 = [shared.clone(), pseudo_text(3, 3_000)].concat();
        let turn2 = [shared, pseudo_text(4, 9_000)].concat();
        let ids1: Vec<_> = split(&turn1).into_iter().map(id).collect();
        let ids2: Vec<_> = split(&turn2).into_iter().map(id).collect();
        let common = ids1.iter().filter(|c| ids2.contains(c)).count();
        // Only the chunk that straddles the end of the shared part, and the tail, differ.
        assert!(common + 2 >= ids1.len(), "the shared part's chunks repeat: {common} of {}", ids1.len());
        assert!(common >= 5, "85 KB of shared text makes several chunks: {common}");
    }

    #[test]
    fn an_insertion_resynchronises() {
        let a = pseudo_text(5, 100_000);
        let mut b = a.clone();
        b.splice(10_000..10_000, pseudo_text(6, 500));
        let ids_a: Vec<_> = split(&a).into_iter().map(id).collect();
        let ids_b: Vec<_> = split(&b).into_iter().map(id).collect();
        let common = ids_a.iter().filter(|c| ids_b.contains(c)).count();
        assert!(common + 3 >= ids_a.len(), "only the chunks around the insertion differ: {common}/{}", ids_a.len());
    }
}
