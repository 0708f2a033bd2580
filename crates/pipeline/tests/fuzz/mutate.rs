//! Mutations of a valid file: the damage real files suffer (truncation, flipped bits, lost or
//! repeated chunks) and the values a hostile or buggy writer puts where a count, a size or a
//! number belongs (all-ones words, NaN, 1e38, huge digit strings in text).

use proptest::prelude::*;
use proptest::sample::Index;

/// Bytes that sit at the edges of signed and unsigned ranges.
const BYTES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/// Little-endian words: counts past any file, sign edges, and non-finite or absurd floats.
const WORDS: [&[u8]; 14] = [
    &[0xff, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0x00, 0x00, 0x00, 0x80],
    &[0x00, 0x00, 0x00, 0x00],
    &[0x00, 0x00, 0xc0, 0x7f],                         // f32 NaN
    &[0x00, 0x00, 0x80, 0x7f],                         // f32 +inf
    &[0x99, 0x76, 0x96, 0x7e],                         // f32 1e38
    &[0x00, 0x00, 0x80, 0x00],                         // f32 smallest normal
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // u64::MAX
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f], // f64 NaN
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f], // f64 +inf
    &[0x9c, 0x75, 0x88, 0x3c, 0xe4, 0x37, 0x7e, 0x7f], // f64 1e306
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40], // 2^62 as u64 (and f64 2.0)
    &[0x00, 0xca, 0x9a, 0x3b],                         // 1e9
];

/// Tokens written over a word of a text file.
const TOKENS: [&str; 22] = [
    "",
    "0",
    "-1",
    "-0",
    "1e38",
    "-1e38",
    "1e308",
    "1e400",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999999",
    "1e30",
    "0.0",
    "\"\"",
    "null",
    "[]",
    "{}",
    "true",
];

#[derive(Debug, Clone)]
pub enum Mutation {
    Truncate(Index),
    FlipBit(Index, u8),
    SetByte(Index, u8),
    SetWord(Index, &'static [u8]),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Insert(Index, Vec<u8>),
    ReplaceToken(Index, &'static str),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), proptest::sample::select(&BYTES[..]))
            .prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), proptest::sample::select(&WORDS[..]))
            .prop_map(|(i, w)| Mutation::SetWord(i, w)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), proptest::sample::select(&TOKENS[..]))
            .prop_map(|(i, t)| Mutation::ReplaceToken(i, t)),
        (any::<Index>(), proptest::sample::select(&TOKENS[..]))
            .prop_map(|(i, t)| Mutation::ReplaceToken(i, t)),
    ]
}

/// One to three mutations, applied in order.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=3)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._+-".contains(&b)
}

pub fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let n = data.len();
    match m {
        Mutation::Truncate(i) => data.truncate(i.index(n)),
        Mutation::FlipBit(i, b) => data[i.index(n)] ^= 1 << b,
        Mutation::SetByte(i, b) => data[i.index(n)] = *b,
        Mutation::SetWord(i, w) => {
            let at = i.index(n);
            let end = (at + w.len()).min(n);
            data[at..end].copy_from_slice(&w[..end - at]);
        }
        Mutation::Delete(i, len) => {
            let at = i.index(n);
            data.drain(at..(at + len).min(n));
        }
        Mutation::Duplicate(i, len) => {
            let at = i.index(n);
            let chunk = data[at..(at + len).min(n)].to_vec();
            data.splice(at..at, chunk);
        }
        Mutation::Insert(i, bytes) => {
            let at = i.index(n + 1);
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::ReplaceToken(i, t) => {
            // The word at or after the index (its whole run of word bytes), else the end.
            let mut at = i.index(n);
            while at < n && !is_word(data[at]) {
                at += 1;
            }
            while at > 0 && is_word(data[at - 1]) {
                at -= 1;
            }
            let mut end = at;
            while end < n && is_word(data[end]) {
                end += 1;
            }
            data.splice(at..end, t.bytes());
        }
    }
}
