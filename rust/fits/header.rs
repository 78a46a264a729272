//! A FITS header: the card images of one HDU, grouped as astropy groups them (a card plus the
//! CONTINUE cards after it), with keyword lookup. Values are parsed on demand.

use super::card::{self, Value};
use crate::error::{Error, Result};
use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::OnceLock;

pub const BLOCK: usize = 2880;
pub const CARD: usize = 80;

/// One logical card: its keyword and the byte range of its image(s) in `Header::bytes`.
#[derive(Debug, Clone)]
pub struct CardRef {
    pub key: CompactString,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The card images up to (not including) END.
    pub bytes: Vec<u8>,
    pub cards: Vec<CardRef>,
    /// Each card's keyword as [`packed_key`] gives it ([`NOT_PACKED`] for other keywords):
    /// lookups compare one integer per card.
    pub packed: Vec<u64>,
    /// Upper-cased keyword -> first card, built on the first lookup in a long header.
    index: OnceLock<HashMap<CompactString, usize>>,
}

/// [`Header::packed`] for keywords longer than 8 bytes or not ASCII (no packed key has a
/// 0xFF byte).
pub const NOT_PACKED: u64 = u64::MAX;

/// An ASCII keyword of at most 8 bytes, upper-cased, as one integer (equal integers: equal
/// keywords, ignoring ASCII case); None for any other keyword.
#[inline]
pub fn packed_key(key: &str) -> Option<u64> {
    let b = key.as_bytes();
    if b.len() > 8 || !b.is_ascii() {
        return None;
    }
    // Byte by byte (a copy into a buffer read back as u64 stalls store forwarding).
    Some(b.iter().enumerate().fold(0u64, |v, (i, &c)| {
        v | (u64::from(c.to_ascii_uppercase()) << (8 * i))
    }))
}

/// [`packed_key`] of an upper-case ASCII keyword, at compile time.
const fn pack(k: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < k.len() {
        v |= (k[i] as u64) << (8 * i);
        i += 1;
    }
    v
}

/// The keyword and packed key of the common card, an upper-case standard keyword padded with
/// blanks and then `= ` (what [`card::parse_keyword`] and [`packed_key`] give it), found
/// eight bytes at a time; None for any other card.
#[inline(always)]
fn standard_key(img: &[u8]) -> Option<(CompactString, u64)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const BLANKS: u64 = 0x2020_2020_2020_2020;
    let head = img.first_chunk::<8>()?;
    if img.get(8..10)? != b"= " {
        return None;
    }
    let w = u64::from_le_bytes(*head);
    let x = w ^ BLANKS;
    // The lowest zero byte of `x` (the first blank) is exact in this test.
    let z = x.wrapping_sub(ONES) & !x & (ONES << 7);
    let n = if z == 0 {
        8
    } else {
        (z.trailing_zeros() / 8) as usize
    };
    let mask = if n == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    };
    // A keyword, then only blanks.
    if n == 0 || x & !mask != 0 || !head[..n].iter().all(|&c| card::KEY_CHARS[usize::from(c)]) {
        return None;
    }
    let packed = w & mask;
    const OTHER: [u64; 5] = [
        pack(b"COMMENT"),
        pack(b"HISTORY"),
        pack(b"END"),
        pack(b"CONTINUE"),
        pack(b"HIERARCH"),
    ];
    if OTHER.contains(&packed) {
        return None;
    }
    let key = CompactString::new(std::str::from_utf8(&head[..n]).ok()?);
    Some((key, packed))
}

/// Headers shorter than this are searched linearly.
const INDEX_MIN_CARDS: usize = 24;

/// A lookup key without surrounding blanks or a leading "HIERARCH ".
fn lookup_key(key: &str) -> &str {
    let k = card::trim(key);
    match k.get(..9) {
        Some(p) if p.eq_ignore_ascii_case("HIERARCH ") => k[9..].trim(),
        _ => k,
    }
}

/// Is this 80-byte image the END card (END followed by blanks)?
fn is_end(img: &[u8]) -> bool {
    img.len() >= 3 && &img[..3] == b"END" && img[3..].iter().all(|&b| b == b' ')
}

/// Find the END card in `buf` (starting at a block boundary). Returns the number of header bytes
/// (whole blocks) including the END block, and the offset of the END card.
/// `Ok(None)` when `buf` ends before END was found.
pub fn find_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut off = 0;
    while off + CARD <= buf.len() {
        if is_end(&buf[off..off + CARD]) {
            let hdr_len = (off / BLOCK + 1) * BLOCK;
            return Some((hdr_len, off));
        }
        off += CARD;
    }
    None
}

impl Header {
    /// Build from the card images before END (a multiple of 80 bytes).
    pub fn from_cards(bytes: Vec<u8>) -> Result<Header> {
        if bytes.len() % CARD != 0 {
            return Err(Error::format("header length is not a multiple of 80 bytes"));
        }
        let mut cards: Vec<CardRef> = Vec::with_capacity(bytes.len() / CARD);
        let mut packed: Vec<u64> = Vec::with_capacity(bytes.len() / CARD);
        let mut off = 0;
        while off < bytes.len() {
            let img = &bytes[off..off + CARD];
            if &img[..8] == b"CONTINUE" {
                if let Some(last) = cards.last_mut() {
                    last.len += CARD;
                    off += CARD;
                    continue;
                }
            }
            let (key, p) = match standard_key(img) {
                Some(kp) => kp,
                None => {
                    let (key, _, _, _) = card::parse_keyword(img);
                    let p = packed_key(&key).unwrap_or(NOT_PACKED);
                    (key, p)
                }
            };
            packed.push(p);
            cards.push(CardRef {
                key,
                start: off,
                len: CARD,
            });
            off += CARD;
        }
        Ok(Header {
            bytes,
            cards,
            packed,
            index: OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.cards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    pub fn image(&self, c: &CardRef) -> &[u8] {
        &self.bytes[c.start..c.start + c.len]
    }

    /// Position of the first card with this keyword (case-insensitive; HIERARCH prefix optional).
    pub fn position(&self, key: &str) -> Option<usize> {
        let k = lookup_key(key);
        match packed_key(k) {
            Some(p) => self.packed.iter().position(|&x| x == p),
            None => self
                .cards
                .iter()
                .position(|c| c.key.eq_ignore_ascii_case(k)),
        }
    }

    /// Like `position`, through a keyword index built on first use: for callers that look up
    /// many keywords in one header.
    pub fn position_indexed(&self, key: &str) -> Option<usize> {
        if self.cards.len() < INDEX_MIN_CARDS {
            return self.position(key);
        }
        let k = lookup_key(key);
        let index = self.index.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.cards.len());
            for (i, c) in self.cards.iter().enumerate() {
                m.entry(c.key.to_ascii_uppercase()).or_insert(i);
            }
            m
        });
        if k.bytes().any(|b| b.is_ascii_lowercase()) {
            index.get(k.to_ascii_uppercase().as_str()).copied()
        } else {
            index.get(k).copied()
        }
    }

    /// The value of card `i` (its comment not built).
    pub fn value_only(&self, i: usize) -> Value {
        card::parse_value(self.image(&self.cards[i]))
    }

    pub fn value_at(&self, i: usize) -> (Value, String) {
        card::parse_value_comment(self.image(&self.cards[i]))
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.value_only(i))
    }

    pub fn get_int(&self, key: &str) -> Option<i128> {
        match self.get(key)? {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::BigInt(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The whole header as astropy's `str(header)` gives it: the card images, END, blank padding
    /// to a whole block.
    pub fn to_fits_string(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.bytes).into_owned();
        s.push_str("END");
        s.push_str(&" ".repeat(77));
        let pad = (BLOCK - s.len() % BLOCK) % BLOCK;
        s.push_str(&" ".repeat(pad));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards(list: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for c in list {
            let mut b = c.as_bytes().to_vec();
            b.resize(80, b' ');
            v.extend(b);
        }
        v
    }

    #[test]
    fn lookup_and_continue() {
        let h = Header::from_cards(cards(&[
            "SIMPLE  =                    T",
            "LONG    = 'ab&'",
            "CONTINUE  'cd'",
            "HIERARCH ESO X = 4",
            "naxis   = 0",
        ]))
        .unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h.get_str("long").as_deref(), Some("abcd"));
        assert_eq!(h.get_int("ESO X"), Some(4));
        assert_eq!(h.get_int("HIERARCH ESO X"), Some(4));
        assert_eq!(h.get_int("NAXIS"), Some(0));
        assert!(h.get("MISSING").is_none());
    }

    #[test]
    fn standard_keys_as_the_general_rules() {
        // Wherever the eight-byte path takes a card, it gives the general keyword and key.
        let heads = [
            "NAXIS", "NAXIS1", "A", "ABCDEFGH", "A-B_C9", "naxis", "NA XIS", " NAXIS", "COMMENT",
            "HISTORY", "END", "CONTINUE", "HIERARCH", "", "DATE-OBS", "\u{e9}T",
        ];
        let mut taken = 0;
        for h in heads {
            for eq in ["= ", "=", " =", "=x"] {
                let mut img = format!("{h:<8}{eq}1").into_bytes();
                img.resize(80, b' ');
                if let Some((key, p)) = standard_key(&img) {
                    taken += 1;
                    let (want, at, hier, bad) = card::parse_keyword(&img);
                    assert_eq!(
                        (key.as_str(), at, hier, bad),
                        (want.as_str(), 10, false, false)
                    );
                    assert_eq!(Some(p), packed_key(&want), "{h:?}");
                }
            }
        }
        assert_eq!(taken, 6);
    }

    #[test]
    fn end_detection() {
        let mut b = cards(&["SIMPLE  =                    T", "END"]);
        b.resize(2880, b' ');
        assert_eq!(find_end(&b), Some((2880, 80)));
        assert_eq!(find_end(&b[..80]), None);
    }
}
