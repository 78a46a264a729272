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
    /// Each card's normalized keyword ([`card::normalize_key`]) as [`packed_key`] gives it
    /// ([`NOT_PACKED`] for other keywords): lookups compare one integer per card.
    pub packed: Vec<u64>,
    /// The record-valued keyword cards ([`card::Keyword::rvkc`]): (card index, byte length of
    /// the raw keyword at the start of the card's key), in card order. Usually empty.
    pub rvkc: Vec<(usize, usize)>,
    /// Normalized keyword -> first card, built on the first lookup in a long header.
    index: OnceLock<HashMap<CompactString, usize>>,
}

/// [`Header::packed`] for keywords longer than 8 bytes or not ASCII (no packed key has a
/// 0xFF byte).
pub const NOT_PACKED: u64 = u64::MAX;

/// An ASCII keyword of at most 8 bytes without a `.`, upper-cased, as one integer (equal
/// integers: equal keywords, ignoring ASCII case); None for any other keyword (a `.` makes the
/// case of what follows it count: see [`card::normalize_key`]).
#[inline]
pub fn packed_key(key: &str) -> Option<u64> {
    let b = key.as_bytes();
    if b.len() > 8 || !b.is_ascii() || b.contains(&b'.') {
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
/// blanks and then `= ` (what [`card::parse_keyword`] and [`packed_key`] give it, unless the
/// card is record-valued: see [`record_valued`]), found eight bytes at a time; None for any
/// other card.
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

/// Find the record-valued keyword cards among `cards` and give them astropy's keyword
/// (`RAW.FIELD`); returns [`Header::rvkc`]. Such a card holds `'FIELD: NUMBER'`, so only the
/// cards holding a ':' are looked at again, with the general rules on the whole image (astropy
/// matches its pattern up to the end of the text: a comment runs on over CONTINUE cards).
fn record_valued(bytes: &[u8], cards: &mut [CardRef], packed: &mut [u64]) -> Vec<(usize, usize)> {
    let mut rvkc = Vec::new();
    let mut i = 0;
    let mut seen = usize::MAX;
    for pos in memchr::memchr_iter(b':', bytes) {
        while i < cards.len() && cards[i].start + cards[i].len <= pos {
            i += 1;
        }
        if i >= cards.len() {
            break;
        }
        if i == seen {
            continue;
        }
        seen = i;
        let c = &mut cards[i];
        let img = &bytes[c.start..c.start + c.len];
        // A quick test first: most values with a ':' (times, comments) are not record-valued.
        let vstart = if img.get(8..10) == Some(b"= ") { 10 } else { 0 };
        if c.len == CARD && vstart == 10 && !card::maybe_rvkc(&img[10..]) {
            continue;
        }
        let kw = card::parse_keyword(img);
        if let Some(raw) = kw.rvkc {
            rvkc.push((i, usize::from(raw)));
        }
        if kw.key != c.key {
            packed[i] = packed_of(&kw.key);
            c.key = kw.key;
        }
    }
    rvkc
}

/// Headers shorter than this are searched linearly.
const INDEX_MIN_CARDS: usize = 24;

/// Does a card keyword normalize ([`card::normalize_key`]) to `nk`?
fn key_matches(card_key: &str, nk: &str) -> bool {
    let b = card_key.as_bytes();
    if b.is_ascii()
        && !b.contains(&b'.')
        && !(b.len() > 9 && b[..9].eq_ignore_ascii_case(b"HIERARCH "))
    {
        // Normalizing strips and upper-cases it.
        card::trim(card_key).eq_ignore_ascii_case(nk)
    } else {
        card::normalize_key(card_key) == nk
    }
}

/// [`packed_key`] of a standard keyword (0-8 bytes of `A-Z 0-9 - _`, what
/// [`card::normalize_key`] leaves as it is); None for any other key.
#[inline(always)]
fn standard_packed(key: &str) -> Option<u64> {
    let b = key.as_bytes();
    if b.len() > 8 {
        return None;
    }
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate() {
        if !card::KEY_CHARS[usize::from(c)] {
            return None;
        }
        v |= u64::from(c) << (8 * i);
    }
    Some(v)
}

/// The position of the `n`-th true item, and how many true items were seen.
fn nth(mut matches: impl Iterator<Item = bool>, n: usize) -> (Option<usize>, usize) {
    let mut seen = 0;
    let hit = matches.position(|m| {
        seen += usize::from(m);
        m && seen == n + 1
    });
    (hit, seen)
}

/// The packed key of a card keyword's normalized form.
#[inline]
fn packed_of(card_key: &str) -> u64 {
    if let Some(p) = standard_packed(card_key) {
        return p;
    }
    // Normalizing makes a longer keyword short enough to pack only by dropping blanks or a
    // `HIERARCH ` prefix (a HIERARCH card's keyword can start with one).
    let b = card_key.as_bytes();
    if b.len() > 8
        && !b[0].is_ascii_whitespace()
        && !b[b.len() - 1].is_ascii_whitespace()
        && !b[..9].eq_ignore_ascii_case(b"HIERARCH ")
    {
        return NOT_PACKED;
    }
    packed_key(&card::normalize_key(card_key)).unwrap_or(NOT_PACKED)
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
                    let key = card::parse_keyword_plain(img).key;
                    let p = packed_of(&key);
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
        let rvkc = record_valued(&bytes, &mut cards, &mut packed);
        Ok(Header {
            bytes,
            cards,
            packed,
            rvkc,
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

    /// Position of the first card with this keyword, as astropy's `header[key]` finds it
    /// (see [`Header::find`]).
    pub fn position(&self, key: &str) -> Option<usize> {
        self.find(key, 0)
    }

    /// astropy's `Header._cardindex((key, n))`: the `n`-th card whose normalized keyword
    /// ([`card::normalize_key`]: case-insensitive, blanks and a `HIERARCH ` prefix dropped; the
    /// field specifier of `RAW.FIELD` as written) is `key`'s. When there is none and `key` could
    /// be a raw keyword (non-empty, at most 8 characters, no `.`), the `n`-th record-valued card
    /// with that raw keyword.
    pub fn find(&self, key: &str, n: usize) -> Option<usize> {
        // The common key: a standard keyword, its own normalized form.
        if n == 0 {
            if let Some(p) = standard_packed(key) {
                return match self.packed.iter().position(|&x| x == p) {
                    Some(i) => Some(i),
                    None => self.find_raw(key, 0, None),
                };
            }
        }
        let nk = card::normalize_key(key);
        let (hit, seen) = match packed_key(&nk) {
            Some(p) if n == 0 => {
                let hit = self.packed.iter().position(|&x| x == p);
                (hit, usize::from(hit.is_some()))
            }
            Some(p) => nth(self.packed.iter().map(|&x| x == p), n),
            None => nth(self.cards.iter().map(|c| key_matches(&c.key, &nk)), n),
        };
        match hit {
            Some(i) => Some(i),
            // astropy: cards with the keyword but fewer than n + 1 is an IndexError.
            None if seen > 0 => None,
            None => self.find_raw(&nk, n, None),
        }
    }

    /// [`Header::find`] among the cards `within` (card indices in order): astropy's lookup in
    /// a header made of those cards (a slice or a wildcard match of this one).
    pub fn find_within(&self, key: &str, n: usize, within: &[usize]) -> Option<usize> {
        let nk = card::normalize_key(key);
        let cards = within.iter().filter_map(|&i| self.cards.get(i));
        match nth(cards.map(|c| key_matches(&c.key, &nk)), n) {
            (Some(j), _) => Some(within[j]),
            (None, seen) if seen > 0 => None,
            (None, _) => self.find_raw(&nk, n, Some(within)),
        }
    }

    /// The `n`-th record-valued card (among `within`, if given) whose raw keyword is the
    /// normalized keyword `nk`, as astropy looks one up when no card has that keyword.
    fn find_raw(&self, nk: &str, n: usize, within: Option<&[usize]>) -> Option<usize> {
        if self.rvkc.is_empty() || nk.is_empty() || nk.contains('.') || nk.chars().count() > 8 {
            return None;
        }
        self.rvkc
            .iter()
            .filter(|&&(i, raw)| {
                self.cards[i].key.get(..raw) == Some(nk) && within.is_none_or(|w| w.contains(&i))
            })
            .nth(n)
            .map(|&(i, _)| i)
    }

    /// Like `position`, through a keyword index built on first use: for callers that look up
    /// many keywords in one header.
    pub fn position_indexed(&self, key: &str) -> Option<usize> {
        if self.cards.len() < INDEX_MIN_CARDS {
            return self.position(key);
        }
        let index = self.index.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.cards.len());
            for (i, c) in self.cards.iter().enumerate() {
                m.entry(CompactString::from(card::normalize_key(&c.key)))
                    .or_insert(i);
            }
            m
        });
        let nk = card::normalize_key(key);
        match index.get(&*nk) {
            Some(&i) => Some(i),
            None => self.find_raw(&nk, 0, None),
        }
    }

    /// The raw keyword of card `i` when it is a record-valued keyword card.
    #[inline]
    pub fn rvkc_raw(&self, i: usize) -> Option<&str> {
        if self.rvkc.is_empty() {
            return None;
        }
        let at = self.rvkc.binary_search_by_key(&i, |&(k, _)| k).ok()?;
        self.cards[i].key.get(..self.rvkc[at].1)
    }

    /// The raw value (`Card.rawvalue`, the text between the quotes) of record-valued card `i`;
    /// unparsable when astropy cannot convert its number.
    pub fn rvkc_rawvalue(&self, i: usize) -> Option<Value> {
        self.rvkc_raw(i)?;
        let img = self.image(&self.cards[i]);
        let vstart = card::parse_keyword(img).vstart;
        let rest = &img[vstart.min(img.len())..];
        let m = card::match_rvkc(rest)?;
        let text = String::from_utf8_lossy(&rest[m.raw]).into_owned();
        Some(match card::rvkc_value(&rest[m.number]) {
            Some(_) => Value::Str(text),
            None => Value::Unparsable(text),
        })
    }

    /// The keyword of the first record-valued card whose number astropy cannot convert (a `D`
    /// exponent): astropy then cannot build the header at all.
    pub fn refused_card(&self) -> Option<&str> {
        self.rvkc
            .iter()
            .find_map(|&(i, _)| match self.rvkc_rawvalue(i) {
                Some(Value::Unparsable(_)) => Some(self.cards[i].key.as_str()),
                _ => None,
            })
    }

    /// The value `header[key]` gives for card `i` found by `key` (as astropy's `__getitem__`
    /// compares it: stripped for a string key): astropy gives the raw value of a record-valued
    /// card looked up by its raw keyword as written, the card's value otherwise.
    #[inline]
    pub fn value_for(&self, i: usize, key: &str) -> Value {
        if let Some(raw) = self.rvkc_raw(i) {
            if key == raw {
                if let Some(v) = self.rvkc_rawvalue(i) {
                    return v;
                }
            }
        }
        self.value_only(i)
    }

    /// The value of card `i` (its comment not built).
    pub fn value_only(&self, i: usize) -> Value {
        card::parse_value(self.image(&self.cards[i]))
    }

    pub fn value_at(&self, i: usize) -> (Value, String) {
        card::parse_value_comment(self.image(&self.cards[i]))
    }

    /// The value astropy's `header[key]` gives (None when there is no such card).
    pub fn get(&self, key: &str) -> Option<Value> {
        let key = match key.as_bytes() {
            [b' ', ..] | [.., b' '] => card::trim(key),
            _ => key,
        };
        self.position(key).map(|i| self.value_for(i, key))
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
                    let want = card::parse_keyword(&img);
                    assert_eq!(
                        (key.as_str(), want.vstart, want.hierarch, want.invalid),
                        (want.key.as_str(), 10, false, false)
                    );
                    assert_eq!(Some(p), packed_key(&want.key), "{h:?}");
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

    #[test]
    fn record_valued_lookups() {
        let h = Header::from_cards(cards(&[
            "SIMPLE  =                    T",
            "DP1     = 'NAXES: 2'           / naxes",
            "DP1     = 'AXIS.1: 1'",
            "DP1     = 'AXIS.2: 2'",
            "DP2     = 'NAXES: 3'",
            "DP2     = 'plain'",
            "DP3     = 'X: 1' / c",
            "CONTINUE  'y'",
            "DP5     = 'X: 1'",
            "CONTINUE  'y'",
            "D2IM1   = 'EXTVER: 1'",
            "D2IM1   = 'EXTVER: 1.5D3'",
        ]))
        .unwrap();
        let keys: Vec<&str> = h.cards.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "SIMPLE",
                "DP1.NAXES",
                "DP1.AXIS.1",
                "DP1.AXIS.2",
                "DP2.NAXES",
                "DP2",
                "DP3.X",
                "DP5",
                "D2IM1.EXTVER",
                "D2IM1.EXTVER"
            ]
        );
        assert_eq!(
            h.rvkc.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 2, 3, 4, 6, 8, 9]
        );
        assert_eq!(h.get("DP1.AXIS.2"), Some(Value::Float(2.0)));
        // The raw keyword: a card with that keyword first, else the first record-valued one,
        // whose raw value astropy gives when the key is written as the raw keyword.
        assert_eq!(h.get("DP1"), Some(Value::Str("NAXES: 2".into())));
        assert_eq!(h.get(" DP1 "), Some(Value::Str("NAXES: 2".into())));
        assert_eq!(h.position("dp1"), Some(1));
        assert_eq!(h.value_for(1, "dp1"), Value::Float(2.0));
        assert_eq!(h.get("DP2"), Some(Value::Str("plain".into())));
        assert_eq!((h.find("DP1", 2), h.find("DP1", 3)), (Some(3), None));
        assert_eq!((h.find("DP2", 0), h.find("DP2", 1)), (Some(5), None));
        assert_eq!(h.find("DP1.axis.1", 0), None);
        assert_eq!(h.find("dp1.AXIS.1", 0), Some(2));
        assert_eq!(h.find_within("DP1", 0, &[0, 3, 5]), Some(3));
        assert_eq!(h.find_within("DP1.NAXES", 0, &[0, 3]), None);
        assert_eq!(h.value_at(6).0, Value::Float(1.0));
        assert_eq!(h.refused_card(), Some("D2IM1.EXTVER"));
        // Without a comment running on, DP5 is an ordinary card, whose first card holds a
        // record-valued float: astropy refuses it.
        assert!(matches!(h.value_at(7).0, Value::Unparsable(_)));
        assert!(matches!(h.get("D2IM1"), Some(Value::Str(_))));
        assert!(matches!(h.value_for(9, "D2IM1"), Value::Unparsable(_)));
        for key in [
            "DP1",
            "DP1.NAXES",
            "DP2",
            "DP2.NAXES",
            "D2IM1.EXTVER",
            "NONE",
            "DP1.",
        ] {
            assert_eq!(h.position_indexed(key), h.position(key), "{key}");
        }
    }
}
