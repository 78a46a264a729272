//! The HDU index of a FITS file: where each header and data unit starts and ends, its name,
//! version, kind and shape. Every extent is checked against the file size here, once, so nothing
//! later can read past the end of the file.

use super::card::{self, Value};
use super::header::{find_end, Header, BLOCK, CARD};
use crate::error::{Error, Result};

/// Highest NAXIS the standard allows.
const MAX_NAXIS: i128 = 999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Primary,
    Image,
    BinTable,
    Table,
    /// An extension type astropy does not model (e.g. FOREIGN); data kept raw.
    Other,
    /// A primary header with `SIMPLE = F` (astropy's `_NonstandardHDU`): its data is every byte
    /// after the header, to the end of the file, and no HDU follows it.
    Nonstandard,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Image => "image",
            Kind::BinTable => "bintable",
            Kind::Table => "table",
            Kind::Other => "other",
            Kind::Nonstandard => "nonstandard",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hdu {
    pub index: usize,
    pub header: Header,
    /// Byte offset of the header's first card in the file.
    pub header_start: usize,
    /// Byte offset of the data.
    pub data_start: usize,
    /// Bytes of data (main table + heap for tables), without padding. Always within the file.
    pub data_len: usize,
    pub name: String,
    pub ver: i64,
    pub kind: Kind,
    pub bitpix: i64,
    /// NAXIS1..NAXISn in FITS order.
    pub naxes: Vec<usize>,
    pub pcount: usize,
    pub gcount: usize,
    /// Random-groups primary HDU (GROUPS = T, NAXIS1 = 0).
    pub groups: bool,
    /// Tile-compressed image stored as a binary table (ZIMAGE = T).
    pub compressed: bool,
}

impl Hdu {
    /// Data shape in NumPy order (NAXISn reversed); empty when there is no data.
    pub fn shape(&self) -> Vec<usize> {
        if self.kind == Kind::Nonstandard {
            return vec![self.data_len];
        }
        if self.naxes.is_empty() || self.data_len == 0 && self.naxes.iter().all(|&n| n == 0) {
            return Vec::new();
        }
        if self.kind == Kind::BinTable || self.kind == Kind::Table {
            return vec![self.naxes.get(1).copied().unwrap_or(0)];
        }
        if self.groups {
            return vec![self.gcount];
        }
        self.naxes.iter().rev().copied().collect()
    }

    pub fn has_data(&self) -> bool {
        !self.naxes.is_empty() && self.naxes.iter().all(|&n| n > 0) || self.data_len > 0
    }
}

/// "HDU n" in messages, formatted only when an error is made.
struct What(usize);

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HDU {}", self.0)
    }
}

fn int_key(h: &Header, key: &str, what: &What) -> Result<Option<i128>> {
    match h.get(key) {
        None => Ok(None),
        Some(Value::Int(i)) => Ok(Some(i)),
        Some(Value::BigInt(_)) => Err(Error::format(format!("{what}: {key} is absurdly large"))),
        Some(other) => Err(Error::format(format!(
            "{what}: {key} is not an integer ({other:?})"
        ))),
    }
}

/// Parse the structure of one HDU whose header starts at `start` in the whole-file buffer `buf`.
/// Returns the HDU and the offset of the next one.
fn parse_hdu(buf: &[u8], start: usize, index: usize) -> Result<(Hdu, usize)> {
    let rest = &buf[start..];
    let (hdr_len, end_off) = match find_end(rest) {
        Some(x) => x,
        None => {
            return Err(Error::format(format!(
                "HDU {index}: header has no END card (file ends {} bytes into the header)",
                rest.len()
            )))
        }
    };
    let header = Header::from_cards(rest[..end_off].to_vec())?;
    from_header(header, index, start, hdr_len, buf.len() as u64)
}

/// Build an HDU from its parsed header: `start` is the header's file offset, `hdr_len` the header
/// size in bytes (whole blocks), `file_len` the file size. Checks the data extent against the file
/// size. Returns the HDU and the offset of the next HDU. Used by the index and by the scanner
/// (which reads headers with pread instead of a map).
pub fn from_header(
    header: Header,
    index: usize,
    start: usize,
    hdr_len: usize,
    file_len: u64,
) -> Result<(Hdu, usize)> {
    let what = What(index);
    let first_key = header.cards.first().map(|c| c.key.as_str()).unwrap_or("");
    let kind = if index == 0 {
        if first_key != "SIMPLE" {
            return Err(Error::format("not a FITS file: first card is not SIMPLE"));
        }
        if is_nonstandard(&header) {
            return Ok(nonstandard(header, start, hdr_len, file_len));
        }
        Kind::Primary
    } else {
        if first_key != "XTENSION" {
            return Err(Error::format(format!("{what}: first card is not XTENSION")));
        }
        match header
            .get_str("XTENSION")
            .as_deref()
            .map(|s| s.trim().to_ascii_uppercase())
        {
            Some(x) if x == "IMAGE" => Kind::Image,
            Some(x) if x == "BINTABLE" || x == "A3DTABLE" => Kind::BinTable,
            Some(x) if x == "TABLE" => Kind::Table,
            _ => Kind::Other,
        }
    };
    let bitpix = int_key(&header, "BITPIX", &what)?
        .ok_or_else(|| Error::format(format!("{what}: BITPIX missing")))?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err(Error::format(format!(
            "{what}: BITPIX = {bitpix} is not a FITS value"
        )));
    }
    let naxis = int_key(&header, "NAXIS", &what)?
        .ok_or_else(|| Error::format(format!("{what}: NAXIS missing")))?;
    if !(0..=MAX_NAXIS).contains(&naxis) {
        return Err(Error::format(format!(
            "{what}: NAXIS = {naxis} out of range 0..999"
        )));
    }
    let file_len = file_len as u128;
    let mut naxes = Vec::with_capacity(naxis as usize);
    for i in 1..=naxis {
        const KEYS: [&str; 10] = [
            "NAXIS0", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4", "NAXIS5", "NAXIS6", "NAXIS7",
            "NAXIS8", "NAXIS9",
        ];
        let key: std::borrow::Cow<'_, str> = match KEYS.get(i as usize) {
            Some(k) => (*k).into(),
            None => format!("NAXIS{i}").into(),
        };
        let n = int_key(&header, &key, &what)?
            .ok_or_else(|| Error::format(format!("{what}: {key} missing")))?;
        if n < 0 || n > u32::MAX as i128 {
            return Err(Error::format(format!(
                "{what}: {key} = {n} is out of range"
            )));
        }
        naxes.push(n as usize);
    }
    let is_ext = index > 0;
    // Looked up once: a missing keyword costs a scan of the whole header.
    let groups_card = index == 0 && header.get_bool("GROUPS") == Some(true);
    let pcount = if is_ext || groups_card {
        int_key(&header, "PCOUNT", &what)?.unwrap_or(0)
    } else {
        0
    };
    let gcount = if is_ext || groups_card {
        int_key(&header, "GCOUNT", &what)?.unwrap_or(1)
    } else {
        1
    };
    if pcount < 0 || pcount as u128 > file_len {
        return Err(Error::format(format!(
            "{what}: PCOUNT = {pcount} is impossible for a {file_len}-byte file"
        )));
    }
    if gcount < 0 || gcount as u128 > file_len * 8 + 1 {
        return Err(Error::format(format!(
            "{what}: GCOUNT = {gcount} out of range"
        )));
    }
    let groups = groups_card && naxes.first() == Some(&0);
    // Data size in bits, computed in u128 so no header value can overflow it.
    let data_bits: u128 = if naxes.is_empty() {
        0
    } else {
        let mut prod: u128 = 1;
        let axes = if groups { &naxes[1..] } else { &naxes[..] };
        for &n in axes {
            prod = prod.saturating_mul(n as u128);
        }
        if naxes.iter().all(|&n| n == 0) && !groups {
            prod = 0;
        }
        (bitpix.unsigned_abs() as u128)
            .saturating_mul(gcount as u128)
            .saturating_mul(prod.saturating_add(pcount as u128))
    };
    let data_len128 = data_bits / 8;
    let mut data_start = start as u128 + hdr_len as u128;
    if data_len128 == 0 {
        // A header-only last HDU whose final block is cut short is tolerated.
        data_start = data_start.min(file_len);
    }
    if data_start + data_len128 > file_len {
        return Err(Error::format(format!(
            "{what}: header says {data_len128} data bytes at offset {data_start} but the file has only {file_len} bytes (truncated?)"
        )));
    }
    let data_len = data_len128 as usize;
    let data_start = data_start as usize;
    let padded = data_len.div_ceil(BLOCK) * BLOCK;
    let next = data_start + padded;
    let (name, ver) = name_ver(&header, index);
    let compressed = kind == Kind::BinTable && header.get_bool("ZIMAGE") == Some(true);
    let hdu = Hdu {
        index,
        header,
        header_start: start,
        data_start,
        data_len,
        name,
        ver,
        kind,
        bitpix: bitpix as i64,
        naxes,
        pcount: pcount as usize,
        gcount: gcount as usize,
        groups,
        compressed,
    };
    Ok((hdu, next))
}

/// astropy opens a primary header as a `_NonstandardHDU` when its first card, read on its own
/// (as astropy's fast header parser reads it), is `SIMPLE = F`, unless `GROUPS = T` makes it a
/// random-groups HDU.
fn is_nonstandard(h: &Header) -> bool {
    let first = &h.bytes[..h.bytes.len().min(CARD)];
    card::parse_value(first) == Value::Bool(false) && h.get_bool("GROUPS") != Some(true)
}

/// The HDU of a `SIMPLE = F` primary header starting at `start`: astropy reads none of its
/// structure keywords; its data runs from the end of the header to the end of the file.
fn nonstandard(header: Header, start: usize, hdr_len: usize, file_len: u64) -> (Hdu, usize) {
    let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
    let data_start = start.saturating_add(hdr_len).min(file_len);
    let (name, ver) = name_ver(&header, 1);
    let hdu = Hdu {
        index: 0,
        header,
        header_start: start,
        data_start,
        data_len: file_len - data_start,
        name,
        ver,
        kind: Kind::Nonstandard,
        bitpix: 8,
        naxes: Vec::new(),
        pcount: 0,
        gcount: 1,
        groups: false,
        compressed: false,
    };
    (hdu, file_len)
}

/// EXTNAME as astropy's `hdu.name` gives it (right-stripped, its case kept; "PRIMARY" for HDU
/// 0 without one, "" for other HDUs), EXTVER default 1.
fn name_ver(h: &Header, index: usize) -> (String, i64) {
    let name = match h.get("EXTNAME") {
        Some(Value::Str(s)) => s.trim_end().to_string(),
        Some(Value::Int(i)) => i.to_string(),
        _ => {
            if index == 0 {
                "PRIMARY".to_string()
            } else {
                String::new()
            }
        }
    };
    let ver = match h.get("EXTVER") {
        Some(Value::Int(i)) if i >= i64::MIN as i128 && i <= i64::MAX as i128 => i as i64,
        _ => 1,
    };
    (name, ver)
}

/// Index every HDU of a FITS byte buffer (the whole file).
pub fn index(buf: &[u8]) -> Result<Vec<Hdu>> {
    if buf.is_empty() {
        return Err(Error::format("empty file"));
    }
    if buf.len() < CARD || &buf[..9.min(buf.len())] != b"SIMPLE  =" {
        return Err(Error::format(
            "not a FITS file: does not start with 'SIMPLE  ='",
        ));
    }
    let mut hdus = Vec::new();
    let mut off = 0usize;
    loop {
        let (hdu, next) = parse_hdu(buf, off, hdus.len())?;
        if hdus.is_empty() {
            if let Some(key) = hdu.header.refused_card() {
                // astropy cannot build this header, which it builds at open for the primary
                // HDU: it refuses the file (in another HDU, only reading that header fails).
                return Err(Error::format(format!(
                    "HDU 0: record-valued card {key:?} holds a number astropy cannot convert (a D exponent): astropy refuses the file"
                )));
            }
        }
        let last = hdu.kind == Kind::Nonstandard;
        hdus.push(hdu);
        if last {
            // astropy reads nothing after a non-standard primary HDU: its data runs to EOF.
            break;
        }
        // Stop at EOF (a missing final padding block is tolerated) or at anything that is not
        // another extension (astropy ignores trailing bytes that are not an HDU).
        if next >= buf.len() {
            break;
        }
        let tail = &buf[next..];
        if tail.len() < 8 || &tail[..8] != b"XTENSION" {
            break;
        }
        off = next;
    }
    Ok(hdus)
}

/// Find an HDU by name (case-insensitive, blanks around it ignored) and optional version, as
/// astropy's `HDUList.index_of`: `PRIMARY` also names HDU 0 (whose EXTVER must still match
/// `ver`). First match wins.
/// `find` for files with many HDUs: the first position of every (name, ver) and every name,
/// built once (names compared as `find` compares them: trimmed, ASCII case ignored).
#[derive(Debug, Default)]
pub struct NameIndex {
    by_name: std::collections::HashMap<String, usize>,
    by_name_ver: std::collections::HashMap<(String, i64), usize>,
}

impl NameIndex {
    pub fn new(hdus: &[Hdu]) -> NameIndex {
        let mut ix = NameIndex::default();
        for (i, h) in hdus.iter().enumerate() {
            let key = h.name.trim().to_ascii_uppercase();
            ix.by_name_ver.entry((key.clone(), h.ver)).or_insert(i);
            ix.by_name.entry(key).or_insert(i);
        }
        ix
    }

    /// The same answer as `find(hdus, name, ver)` for the `hdus` the index was built from.
    pub fn find(&self, hdus: &[Hdu], name: &str, ver: Option<i64>) -> Option<usize> {
        let key = name.trim().to_ascii_uppercase();
        let hit = match ver {
            None => self.by_name.get(&key).copied(),
            Some(v) => self.by_name_ver.get(&(key.clone(), v)).copied(),
        };
        if key == "PRIMARY" && !hdus.is_empty() && ver.is_none_or(|v| hdus[0].ver == v) {
            return Some(0);
        }
        hit
    }
}

pub fn find(hdus: &[Hdu], name: &str, ver: Option<i64>) -> Option<usize> {
    let want = name.trim();
    let primary = want.eq_ignore_ascii_case("PRIMARY");
    hdus.iter().position(|h| {
        (h.name.trim().eq_ignore_ascii_case(want) || primary && h.index == 0)
            && ver.is_none_or(|v| h.ver == v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fits::testutil::block;

    fn sample() -> Vec<u8> {
        let mut f = block(&[
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "NAXIS   =                    0",
            "EXTEND  =                    T",
        ]);
        f.extend(block(&[
            "XTENSION= 'IMAGE   '",
            "BITPIX  =                   16",
            "NAXIS   =                    2",
            "NAXIS1  =                    3",
            "NAXIS2  =                    2",
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
            "EXTNAME = 'sci     '",
            "EXTVER  =                    2",
        ]));
        let mut data = vec![0u8; 12];
        data[1] = 7;
        data.resize(BLOCK, 0);
        f.extend(data);
        f
    }

    #[test]
    fn index_sample() {
        let f = sample();
        let h = index(&f).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].name, "PRIMARY");
        assert_eq!(h[1].name, "sci");
        assert_eq!(h[1].ver, 2);
        assert_eq!(h[1].shape(), vec![2, 3]);
        assert_eq!(h[1].data_len, 12);
        assert_eq!(find(&h, "sci ", Some(2)), Some(1));
        assert_eq!(find(&h, "SCI", Some(1)), None);
        assert_eq!(find(&h, "primary", None), Some(0));
    }

    #[test]
    fn name_index_answers_as_find() {
        let f = sample();
        let one = index(&f).unwrap().pop().unwrap();
        let names = [
            "sci", "SCI ", " Sci", "dq", "PRIMARY", "primary", "é", "É", "",
        ];
        let mut hdus = index(&f).unwrap();
        for k in 0..60usize {
            let mut h = one.clone();
            h.index = hdus.len();
            h.name = names[(k * 7) % names.len()].to_string();
            h.ver = (k % 4) as i64;
            hdus.push(h);
        }
        let ix = NameIndex::new(&hdus);
        for name in names.iter().chain(["nope", "  primary  ", "Dq"].iter()) {
            for ver in [None, Some(0), Some(1), Some(2), Some(3), Some(9)] {
                assert_eq!(
                    ix.find(&hdus, name, ver),
                    find(&hdus, name, ver),
                    "{name:?} {ver:?}"
                );
            }
        }
        assert_eq!(NameIndex::new(&[]).find(&[], "PRIMARY", None), None);
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        let f = sample();
        // Missing final padding is fine.
        assert!(index(&f[..2 * BLOCK + 12]).is_ok());
        assert_eq!(index(&f[..2880]).unwrap().len(), 1);
        for cut in [0, 1, 80, 2880 + 100, 2 * BLOCK + 5] {
            assert!(index(&f[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn absurd_naxis_refused() {
        let mut f = block(&[
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "NAXIS   =                    1",
            "NAXIS1  = 999999999999999999999999",
        ]);
        assert!(index(&f).is_err());
        f = block(&[
            "SIMPLE  =                    T",
            "BITPIX  =                   12",
            "NAXIS   =                    0",
        ]);
        assert!(index(&f).is_err());
    }

    #[test]
    fn simple_false_is_nonstandard() {
        let mut f = block(&[
            "SIMPLE  =                    F",
            "BITPIX  =                   12",
            "EXTNAME = 'raw '",
        ]);
        let header_len = f.len();
        f.extend(sample()); // a whole standard file after it: data of the non-standard HDU
        f.extend(b"tail");
        let h = index(&f).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].kind, Kind::Nonstandard);
        assert_eq!((h[0].name.as_str(), h[0].ver), ("raw", 1));
        assert_eq!(find(&h, " RAW", None), Some(0));
        assert_eq!(
            (h[0].data_start, h[0].data_len),
            (header_len, f.len() - header_len)
        );
        assert_eq!(h[0].shape(), vec![f.len() - header_len]);
        // Named "" without EXTNAME, still found as PRIMARY; GROUPS = T makes it random groups.
        let f = block(&["SIMPLE  =                    F"]);
        let h = index(&f).unwrap();
        assert_eq!(
            (h[0].kind, h[0].name.as_str(), h[0].data_len),
            (Kind::Nonstandard, "", 0)
        );
        assert_eq!(
            (find(&h, "", None), find(&h, "primary", Some(1))),
            (Some(0), Some(0))
        );
        assert_eq!(find(&h, "PRIMARY", Some(2)), None);
        let f = block(&[
            "SIMPLE  =                    F",
            "BITPIX  =                    8",
            "NAXIS   =                    1",
            "NAXIS1  =                    0",
            "GROUPS  =                    T",
        ]);
        let mut f = f;
        f.resize(2 * BLOCK, 0);
        assert_eq!(index(&f).unwrap()[0].kind, Kind::Primary);
    }

    #[test]
    fn headers_astropy_cannot_build() {
        // A record-valued card with a D exponent: astropy refuses the file when it is in the
        // primary header (it builds that header at open); elsewhere only that card fails.
        let bad = "DP1     = 'X: 1.5D3'";
        let primary = [
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "NAXIS   =                    0",
        ];
        let f = block(&[&primary[..], &[bad]].concat());
        assert!(index(&f).is_err());
        let mut f = sample();
        let n = index(&f).unwrap().len();
        f.extend(block(&[
            "XTENSION= 'IMAGE   '",
            "BITPIX  =                    8",
            "NAXIS   =                    0",
            bad,
        ]));
        let h = index(&f).unwrap();
        assert_eq!(h.len(), n + 1);
        assert!(matches!(
            h[n].header.get("DP1.X"),
            Some(Value::Unparsable(_))
        ));
    }
}
