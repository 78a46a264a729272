//! FITS structure: cards, headers and the HDU index.

pub mod card;
pub mod hdu;
pub mod header;

pub use card::Value;
pub use hdu::{Hdu, Kind};
pub use header::Header;
