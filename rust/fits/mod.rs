//! FITS structure: cards, headers and the HDU index.

pub mod card;
pub mod format;
pub mod hdu;
pub mod header;
pub mod write;

pub use card::Value;
pub use hdu::{Hdu, Kind};
pub use header::Header;

/// Helpers shared by the unit tests of the FITS and scan modules.
#[cfg(test)]
pub(crate) mod testutil {
    use super::header::BLOCK;

    /// A header block: the cards, END, blank padding to 2880 bytes.
    pub(crate) fn block(cards: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for c in cards.iter().chain(["END"].iter()) {
            let mut b = c.as_bytes().to_vec();
            b.resize(80, b' ');
            v.extend(b);
        }
        let n = v.len().div_ceil(BLOCK) * BLOCK;
        v.resize(n, b' ');
        v
    }
}
