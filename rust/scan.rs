//! Parallel header scanning of many files: walk folders, read each file's header blocks with
//! positioned reads (no mmap), and pull the requested keywords out of the primary header and
//! named extensions, stopping at the last HDU needed. Data is never read on purpose: a read sized
//! from earlier files can run a few blocks past a shorter header. A bad file never stops a scan:
//! its error becomes that row's error text.

use crate::error::{Error, Result};
use crate::fits::card::{is_commentary, is_py_space, Value};
use crate::fits::hdu::{from_header, Hdu};
use crate::fits::header::{find_end, Header, BLOCK, CARD};
use rayon::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Headers larger than this without an END card are refused (astropy has no limit, but no real
/// header comes close and a missing END must not make us read a whole multi-GB file).
pub const MAX_HEADER: usize = 64 << 20;
/// Read sizes are clamped to this range (bytes) whatever earlier files suggested.
const MIN_READ: usize = BLOCK;
const MAX_HINT: usize = 1 << 20;

/// Which HDU a keyword is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HduSel {
    Primary,
    /// HDU by position (0 = primary).
    Index(usize),
    /// First HDU with this EXTNAME (case-insensitive, blanks around it ignored) and, if
    /// given, EXTVER.
    /// A missing EXTVER card counts as 1.
    Name(String, Option<i64>),
}

impl HduSel {
    pub(crate) fn matches(&self, hdu: &Hdu) -> bool {
        match self {
            HduSel::Primary => hdu.index == 0,
            HduSel::Index(i) => hdu.index == *i,
            HduSel::Name(n, v) => {
                hdu.name.trim().eq_ignore_ascii_case(n) && v.is_none_or(|v| v == hdu.ver)
            }
        }
    }
}

/// One requested value: `KEY` (primary header), `EXT:KEY` (EXTVER 1, as astropy's `getheader`),
/// `EXT,VER:KEY` or `N:KEY` (HDU index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub hdu: HduSel,
    pub key: String,
}

impl KeySpec {
    pub fn parse(text: &str) -> Result<KeySpec> {
        let bad = |why: &str| Error::format(format!("bad keyword spec {text:?}: {why}"));
        let (ext, key) = match text.split_once(':') {
            Some((e, k)) => (Some(e.trim()), k.trim()),
            None => (None, text.trim()),
        };
        if key.is_empty() {
            return Err(bad("empty keyword"));
        }
        let hdu = match ext {
            None => HduSel::Primary,
            Some("") => return Err(bad("empty extension")),
            Some(e) => {
                let (name, ver) = match e.split_once(',') {
                    Some((n, v)) => {
                        let v: i64 = v
                            .trim()
                            .parse()
                            .map_err(|_| bad("EXTVER is not an integer"))?;
                        (n.trim(), Some(v))
                    }
                    None => (e, None),
                };
                let upper = name.to_ascii_uppercase();
                if ver.is_none() && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                    HduSel::Index(name.parse().map_err(|_| bad("HDU index too large"))?)
                } else if upper == "PRIMARY" && ver.is_none_or(|v| v == 1) {
                    HduSel::Primary
                } else if name.is_empty() {
                    return Err(bad("empty extension name"));
                } else {
                    // As astropy's getheader(path, "SCI"): a name alone means EXTVER 1.
                    HduSel::Name(upper, Some(ver.unwrap_or(1)))
                }
            }
        };
        Ok(KeySpec {
            hdu,
            key: key.to_string(),
        })
    }
}

/// A header value as the scan reports it. Commentary keywords (COMMENT, HISTORY, blank) give
/// every matching card's text joined by newlines, which is `str()` of what astropy returns.
pub(crate) fn lookup(h: &Header, key: &str) -> Option<Value> {
    let upper = key.trim().to_ascii_uppercase();
    if is_commentary(&upper) {
        let texts: Vec<String> = h
            .cards
            .iter()
            .enumerate()
            .filter(|(_, c)| c.key == upper)
            .filter_map(|(i, _)| match h.value_at(i).0 {
                Value::Text(t) => Some(t),
                _ => None,
            })
            .collect();
        if texts.is_empty() {
            return None;
        }
        return Some(Value::Text(texts.join("\n")));
    }
    h.get(key)
}

/// Keywords `from_header` reads to learn an HDU's structure.
const STRUCTURE: [&str; 10] = [
    "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "GROUPS", "EXTNAME", "EXTVER",
    "ZIMAGE",
];

/// Picks, from their first 8 bytes, the card images a lookup of the requested keywords (or of
/// the HDU structure) could match, so only those are parsed. It keeps a superset of the cards
/// `Header::position` can find for those keys (leading blanks and case ignored, any card whose
/// keyword field starts with a wanted key or with a wanted record-valued name's raw keyword,
/// every HIERARCH card, CONTINUE cards of kept cards),
/// in file order, so every lookup gives the same card as on the whole header.
#[derive(Debug, Clone)]
pub struct CardFilter {
    /// (bytes, mask) of each wanted keyword prefix, as little-endian u64 of up to 8 bytes.
    prefixes: Vec<(u64, u64)>,
}

fn prefix_word(k: &[u8]) -> (u64, u64) {
    let mut b = [0u8; 8];
    let mut m = [0u8; 8];
    for i in 0..k.len().min(8) {
        b[i] = k[i];
        m[i] = 0xff;
    }
    (u64::from_le_bytes(b), u64::from_le_bytes(m))
}

const HIERARCH: &[u8] = b"HIERARCH";

impl CardFilter {
    pub fn new(specs: &[KeySpec]) -> CardFilter {
        let mut prefixes: Vec<(u64, u64)> = STRUCTURE
            .iter()
            .map(|k| prefix_word(k.as_bytes()))
            .collect();
        prefixes.push(prefix_word(HIERARCH));
        for s in specs {
            let k = s.key.trim().to_ascii_uppercase();
            let k = k.strip_prefix("HIERARCH ").map_or(k.as_str(), str::trim);
            // A record-valued name (`DP1.AXIS.1`) is found on cards of its raw keyword. Other
            // longer keys can only be HIERARCH keywords, which are always kept.
            let k = k.find('.').map_or(k, |dot| &k[..dot]);
            if k.len() <= 8 {
                let w = prefix_word(k.as_bytes());
                if !prefixes.contains(&w) {
                    prefixes.push(w);
                }
            }
        }
        CardFilter { prefixes }
    }

    fn keeps(&self, img: &[u8]) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let head = &img[..img.len().min(8)];
        // The blanks the keyword parser strips (Python's whitespace in latin-1).
        let lead = head.iter().take_while(|&&b| is_py_space(b)).count();
        let mut bytes = [0u8; 8];
        bytes[..head.len() - lead].copy_from_slice(&head[lead..]);
        let w = u64::from_le_bytes(bytes);
        // ASCII upper case, eight bytes at once: 0x20 off every byte in 'a'..='z'.
        let low7 = w & (ONES * 0x7f);
        let ge_a = low7 + ONES * (0x80 - u64::from(b'a'));
        let gt_z = low7 + ONES * (0x80 - u64::from(b'z') - 1);
        let lower = ge_a & !gt_z & !w & (ONES * 0x80);
        let w = w - (lower >> 2);
        // Without branches: a handful of prefixes compared at once.
        self.prefixes
            .iter()
            .fold(false, |hit, &(p, m)| hit | (w & m == p))
    }

    /// The kept card images of `cards` (whole 80-byte cards before END). The first card is
    /// always kept (it says SIMPLE or XTENSION).
    pub fn apply(&self, cards: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(cards.len().min(64 * CARD));
        let mut prev_kept = false;
        for (i, img) in cards.chunks_exact(CARD).enumerate() {
            let keep = if i == 0 {
                true
            } else if &img[..8] == b"CONTINUE" {
                prev_kept
            } else {
                self.keeps(img)
            };
            if keep {
                out.extend_from_slice(img);
            }
            prev_kept = keep;
        }
        out
    }
}

/// What to read from each file: the keyword specs and the card filter built from them.
#[derive(Debug, Clone)]
pub struct Query {
    pub specs: Vec<KeySpec>,
    filter: CardFilter,
}

impl Query {
    pub fn new(specs: Vec<KeySpec>) -> Query {
        let filter = CardFilter::new(&specs);
        Query { specs, filter }
    }

    /// Parse `KEY` / `EXT:KEY` / `EXT,VER:KEY` / `N:KEY` texts.
    pub fn parse<S: AsRef<str>>(keys: &[S]) -> Result<Query> {
        let specs = keys
            .iter()
            .map(|k| KeySpec::parse(k.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Query::new(specs))
    }
}

/// Read sizes learned from earlier files (per worker): JWST archives hold many files with headers
/// of similar size, so one read usually fetches every needed header block.
#[derive(Debug, Default, Clone)]
pub struct Hint {
    /// Bytes to read at offset 0.
    first: usize,
    /// Bytes to read at any later header offset.
    later: usize,
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, off)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, off)
}

/// Positioned reads into a buffer holding the file bytes `[off, off + buf.len())`.
struct Reader<'a> {
    file: &'a File,
    len: u64,
    buf: Vec<u8>,
    off: u64,
}

impl Reader<'_> {
    /// Append up to `want` bytes that follow the buffer; returns how many were read (0 at EOF).
    fn extend(&mut self, want: usize) -> Result<usize> {
        let at = self.off + self.buf.len() as u64;
        let left = self.len.saturating_sub(at);
        let want = (want as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            match read_at(self.file, &mut self.buf[old + got..], at + got as u64) {
                Ok(0) => break, // the file shrank under us
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old + got);
                    return Err(Error::io(&e));
                }
            }
        }
        self.buf.truncate(old + got);
        Ok(got)
    }

    /// The header starting at `start`: its card bytes before END and its size in whole blocks.
    /// `None` when `start` does not begin an extension (trailing bytes after the last HDU).
    fn header_at(
        &mut self,
        start: u64,
        first_read: usize,
        index: usize,
        filter: &CardFilter,
    ) -> Result<Option<(Header, usize)>> {
        let in_buf = start >= self.off && start <= self.off + self.buf.len() as u64;
        if !in_buf {
            self.buf.clear();
            self.off = start;
        }
        let rel = (start - self.off) as usize;
        let mut scanned = 0usize; // header bytes (whole blocks) already searched for END
        let mut grow = first_read.max(MIN_READ);
        let mut fresh = !in_buf || self.buf.len() == rel;
        loop {
            let have = &self.buf[rel..];
            if index == 0 && have.len() >= 9 && &have[..9] != b"SIMPLE  =" {
                return Err(Error::format(
                    "not a FITS file: does not start with 'SIMPLE  ='",
                ));
            }
            if index > 0 && have.len() >= 8 && &have[..8] != b"XTENSION" {
                return Ok(None);
            }
            let from = scanned.min(have.len());
            if let Some((hdr_len, end_off)) = find_end(&have[from..]) {
                let end = from + end_off;
                let header = Header::from_cards(filter.apply(&have[..end]))?;
                return Ok(Some((header, from + hdr_len)));
            }
            // Everything but a partial last block has been searched.
            scanned = have.len() / BLOCK * BLOCK;
            if have.len() >= MAX_HEADER {
                return Err(Error::format(format!(
                    "HDU {index}: no END card in the first {MAX_HEADER} header bytes"
                )));
            }
            let n = self.extend(if fresh { grow } else { grow.max(have.len()) })?;
            fresh = false;
            grow = grow.saturating_mul(2).min(MAX_HEADER);
            if n == 0 {
                let have = self.buf.len() - rel;
                if index > 0 && have < 8 {
                    // A few stray bytes after the last HDU.
                    return Ok(None);
                }
                return Err(Error::format(format!(
                    "HDU {index}: header has no END card (file ends {have} bytes into the header)"
                )));
            }
        }
    }
}

/// The outcome for one file: one value per requested key (None when missing), and the error
/// (with the file name) when the file could not be read completely. Values found before an error
/// are kept.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub error: Option<String>,
    pub values: Vec<Option<Value>>,
}

/// Scan one file for the query's keys, reading headers up to the last HDU it needs.
pub fn scan_file(path: &Path, query: &Query, hint: &mut Hint) -> FileResult {
    let mut values = vec![None; query.specs.len()];
    let error = scan_into(path, query, hint, &mut values)
        .err()
        .map(|e| e.with_path(path).to_string());
    FileResult {
        path: path.to_path_buf(),
        error,
        values,
    }
}

fn not_regular(path: &Path, ft: std::fs::FileType) -> Error {
    let what = if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    let mut e = Error::io(&std::io::Error::other(format!("is {what}")));
    if ft.is_dir() {
        e.io_kind = Some(std::io::ErrorKind::IsADirectory);
    }
    e.with_path(path)
}

fn scan_into(
    path: &Path,
    query: &Query,
    hint: &mut Hint,
    values: &mut [Option<Value>],
) -> Result<()> {
    // Refuse directories, FIFOs and devices before opening (opening a FIFO would block).
    let meta = std::fs::metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let len = meta.len();
    if len == 0 {
        return Err(Error::format("empty file"));
    }
    let specs = &query.specs;
    let mut pending: Vec<usize> = (0..specs.len()).collect();
    let mut r = Reader {
        file: &file,
        len,
        buf: Vec::new(),
        off: 0,
    };
    let mut start = 0u64;
    let mut index = 0usize;
    loop {
        let want = if index == 0 { hint.first } else { hint.later };
        let Some((header, hdr_len)) = r.header_at(start, want, index, &query.filter)? else {
            break;
        };
        let hdr_end = start + hdr_len as u64;
        if hdr_end > len {
            // astropy refuses a header whose last block is incomplete ("Empty or corrupt").
            return Err(Error::format(format!(
                "HDU {index}: header block cut short: the file ends {} bytes before the end of \
                 the header's last 2880-byte block (truncated?)",
                hdr_end - len
            )));
        }
        let (hdu, next) = from_header(header, index, start as usize, hdr_len, len)?;
        if r.off == 0 {
            // Every header so far came from one contiguous read at offset 0.
            hint.first = (hdr_end as usize).clamp(MIN_READ, MAX_HINT);
        } else {
            hint.later = hdr_len.clamp(MIN_READ, MAX_HINT);
        }
        pending.retain(|&i| {
            if specs[i].hdu.matches(&hdu) {
                values[i] = lookup(&hdu.header, &specs[i].key);
                false
            } else {
                true
            }
        });
        if pending.is_empty() || next as u64 >= len {
            break;
        }
        start = next as u64;
        index += 1;
    }
    Ok(())
}

/// A file to scan, or a path that failed while walking (its row gets the error).
#[derive(Debug, Clone)]
pub enum Entry {
    File(PathBuf),
    Failed(PathBuf, String),
}

impl Entry {
    pub fn path(&self) -> &Path {
        match self {
            Entry::File(p) | Entry::Failed(p, _) => p,
        }
    }
}

/// Shell-style glob patterns (`*`, `?`, `[..]`, `{a,b}`) matched against file names, not paths.
pub fn glob_set(patterns: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::format(format!("bad file pattern {p:?}: {e}")))?;
        b.add(g);
    }
    b.build()
        .map_err(|e| Error::format(format!("bad file patterns: {e}")))
}

/// List the files under `roots` whose names match `patterns` (sorted by name within each
/// folder; roots in the order given). A root that is a file is always listed. Symbolic links are
/// followed; a dangling link or a directory named like a product is listed (its scan reports the
/// error), and an unreadable directory is listed as a failed entry.
pub fn walk(roots: &[PathBuf], patterns: &globset::GlobSet, recursive: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    for root in roots {
        match std::fs::metadata(root) {
            Err(e) => {
                out.push(Entry::Failed(
                    root.clone(),
                    Error::io(&e).with_path(root).to_string(),
                ));
                continue;
            }
            Ok(m) if !m.is_dir() => {
                out.push(Entry::File(root.clone()));
                continue;
            }
            Ok(_) => {}
        }
        let mut w = walkdir::WalkDir::new(root)
            .min_depth(1)
            .follow_links(true)
            .sort_by_file_name();
        if !recursive {
            w = w.max_depth(1);
        }
        let matches = |p: &Path| p.file_name().is_some_and(|n| patterns.is_match(n));
        for item in w {
            match item {
                Ok(e) => {
                    if matches(e.path()) {
                        out.push(Entry::File(e.into_path()));
                    }
                }
                Err(err) => {
                    let Some(p) = err.path().map(Path::to_path_buf) else {
                        continue;
                    };
                    let dangling = std::fs::symlink_metadata(&p)
                        .is_ok_and(|m| m.file_type().is_symlink())
                        && std::fs::metadata(&p).is_err();
                    if dangling && !matches(&p) {
                        continue;
                    }
                    let msg = match err.io_error() {
                        Some(io) => Error::io(io).with_path(&p).to_string(),
                        None => format!("{}: {err}", p.display()),
                    };
                    out.push(Entry::Failed(p, msg));
                }
            }
        }
    }
    out
}

/// Shared progress of a running scan: files done, total (known once the walk is over), cancel.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicUsize,
    pub total: AtomicUsize,
    pub listed: AtomicBool,
    pub cancel: AtomicBool,
}

/// Scan every entry on a pool of `threads` workers (rayon's default when None). Results come
/// back in the entries' order.
pub fn scan_entries(
    entries: &[Entry],
    query: &Query,
    threads: Option<usize>,
    progress: &Progress,
) -> Result<Vec<FileResult>> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        b = b.num_threads(n.max(1));
    }
    let pool = b
        .build()
        .map_err(|e| Error::io(&std::io::Error::other(e.to_string())))?;
    let out = pool.install(|| {
        entries
            .par_iter()
            .with_min_len(8)
            .map_init(Hint::default, |hint, e| {
                let r = match e {
                    Entry::Failed(p, msg) => FileResult {
                        path: p.clone(),
                        error: Some(msg.clone()),
                        values: vec![None; query.specs.len()],
                    },
                    Entry::File(p) if progress.cancel.load(Ordering::Relaxed) => FileResult {
                        path: p.clone(),
                        error: Some(format!("{}: scan cancelled", p.display())),
                        values: vec![None; query.specs.len()],
                    },
                    Entry::File(p) => scan_file(p, query, hint),
                };
                progress.done.fetch_add(1, Ordering::Relaxed);
                r
            })
            .collect()
    });
    Ok(out)
}

/// Walk and scan in one call.
pub fn scan(
    roots: &[PathBuf],
    keys: &[String],
    patterns: &[String],
    recursive: bool,
    threads: Option<usize>,
    progress: &Progress,
) -> Result<Vec<FileResult>> {
    let query = Query::parse(keys)?;
    let globs = glob_set(patterns)?;
    let entries = walk(roots, &globs, recursive);
    progress.total.store(entries.len(), Ordering::Relaxed);
    progress.listed.store(true, Ordering::Release);
    scan_entries(&entries, &query, threads, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::fits::testutil::block;

    /// Primary with `extra` filler cards, an image SCI (EXTVER 1) with 12 data bytes, an image
    /// SCI (EXTVER 2) with BUNIT.
    fn product(extra: usize) -> Vec<u8> {
        let mut cards: Vec<String> = vec![
            "SIMPLE  =                    T".into(),
            "BITPIX  =                    8".into(),
            "NAXIS   =                    0".into(),
            "EXTEND  =                    T".into(),
            "EXP_TYPE= 'NRC_IMAGE'".into(),
            "LONGSTR = 'abc&'".into(),
            "CONTINUE  'def'".into(),
            "HISTORY first".into(),
            "HISTORY second".into(),
        ];
        for i in 0..extra {
            cards.push(format!("F{i:07}=                 {i:4}"));
        }
        let refs: Vec<&str> = cards.iter().map(String::as_str).collect();
        let mut f = block(&refs);
        for (ver, unit) in [(1, "DN/s"), (2, "MJy/sr")] {
            f.extend(block(&[
                "XTENSION= 'IMAGE   '",
                "BITPIX  =                   16",
                "NAXIS   =                    2",
                "NAXIS1  =                    3",
                "NAXIS2  =                    2",
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
                "EXTNAME = 'SCI     '",
                &format!("EXTVER  =                    {ver}"),
                &format!("BUNIT   = '{unit}'"),
            ]));
            let mut data = vec![0u8; 12];
            data.resize(BLOCK, 0);
            f.extend(data);
        }
        f
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jwstio-scan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(p: &Path, bytes: &[u8]) {
        let mut f = File::create(p).unwrap();
        f.write_all(bytes).unwrap();
    }

    fn specs(keys: &[&str]) -> Query {
        Query::parse(keys).unwrap()
    }

    #[test]
    fn parse_specs() {
        let cases = [
            ("EXP_TYPE", HduSel::Primary, "EXP_TYPE"),
            ("sci:BUNIT", HduSel::Name("SCI".into(), Some(1)), "BUNIT"),
            (
                "SCI,2:SRCNAME",
                HduSel::Name("SCI".into(), Some(2)),
                "SRCNAME",
            ),
            ("1:NAXIS", HduSel::Index(1), "NAXIS"),
            ("primary:X", HduSel::Primary, "X"),
            ("HIERARCH ESO X", HduSel::Primary, "HIERARCH ESO X"),
        ];
        for (text, hdu, key) in cases {
            let s = KeySpec::parse(text).unwrap();
            assert_eq!((s.hdu, s.key.as_str()), (hdu, key), "{text}");
        }
        for bad in ["", "SCI:", ":KEY", "SCI,x:KEY"] {
            assert!(KeySpec::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keeps_upper_cases_as_ascii() {
        let f = CardFilter::new(&[KeySpec::parse("AZ_09-Q").unwrap()]);
        for (head, kept) in [
            ("az_09-q = 1", true),
            ("AZ_09-Q = 1", true),
            ("Az_09-q = 1", true),
            ("  simple= T", true),
            ("\u{e0}z_09-q = 1", false),
            ("`z_09-q = 1", false),
            ("{z_09-q = 1", false),
            ("simple  = T", true),
            ("other   = 1", false),
        ] {
            let mut img = head.as_bytes().to_vec();
            img.resize(80, b' ');
            assert_eq!(f.keeps(&img), kept, "{head:?}");
        }
    }

    #[test]
    fn card_filter_keeps_every_lookup_result() {
        let images = [
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "naxis   =                    1",
            "NAXIS1  =                    0",
            "  LEAD  = 'leading blanks'",
            "\x1cFS     = 'a file separator before the keyword'",
            "AB= 2",
            "ABC     = 'abc&'",
            "CONTINUE  'def'",
            "DROPPED = 'x&'",
            "CONTINUE  'continues a dropped card'",
            "HIERARCH ESO DET CHIP = 7",
            "HIERARCH AB = 'short hierarch'",
            "HISTORY one",
            "COMMENT c",
            "HISTORY two",
            "AB      = 'second AB'",
            "EXTNAME = 'sci     '",
            "EXTVER  =                    2",
            "BROKEN  = what",
            "lower   = 'lower-case key'",
            "EXP_TYPE= 'NRC_IMAGE'",
            "EXP     = 'not EXP_TYPE'",
            "DP1     = 'NAXES: 2'",
            "DP1     = 'AXIS.1: 1' / axis",
            "DP1X    = 'AXIS.1: 5'",
            "dp3     = 'A: 1'",
            "DP4     = 'X: 1'",
            "DP4     = 'plain'",
        ];
        let mut full = Vec::new();
        for c in images {
            let mut b = c.as_bytes().to_vec();
            b.resize(CARD, b' ');
            full.extend(b);
        }
        let keys = [
            "AB",
            "ABC",
            "LEAD",
            "FS",
            "ESO DET CHIP",
            "HIERARCH ESO DET CHIP",
            "HISTORY",
            "COMMENT",
            "EXP",
            "EXP_TYPE",
            "LOWER",
            "BROKEN",
            "NAXIS1",
            "DROPPED",
            "MISSING",
            "DP1",
            "DP1.NAXES",
            "DP1.AXIS.1",
            "dp1.AXIS.1",
            "DP1X.AXIS.1",
            "DP3",
            "DP3.A",
            "DP4",
            "DP4.X",
        ];
        let whole = Header::from_cards(full.clone()).unwrap();
        for key in keys {
            let q = Query::parse(&[key]).unwrap();
            let kept = q.filter.apply(&full);
            assert!(kept.len() < full.len(), "{key}: nothing filtered");
            let part = Header::from_cards(kept).unwrap();
            assert_eq!(lookup(&part, key), lookup(&whole, key), "{key}");
            for s in STRUCTURE {
                assert_eq!(part.get(s), whole.get(s), "{key}: {s}");
            }
            let a = from_header(whole.clone(), 0, 0, BLOCK, BLOCK as u64)
                .unwrap()
                .0;
            let b = from_header(part, 0, 0, BLOCK, BLOCK as u64).unwrap().0;
            assert_eq!(
                (a.name, a.ver, a.naxes, a.data_len),
                (b.name, b.ver, b.naxes, b.data_len)
            );
        }
        // The values those lookups give on the whole header (so the test checks something).
        assert_eq!(whole.get("ABC"), Some(Value::Str("abcdef".into())));
        assert_eq!(whole.get("AB"), Some(Value::Int(2)));
        assert_eq!(whole.get("ESO DET CHIP"), Some(Value::Int(7)));
        // Record-valued cards: the field by its name, the raw value by the raw keyword (after
        // the cards that have that keyword).
        assert_eq!(whole.get("DP1.AXIS.1"), Some(Value::Float(1.0)));
        assert_eq!(whole.get("dp1.AXIS.1"), Some(Value::Float(1.0)));
        assert_eq!(whole.get("DP1"), Some(Value::Str("NAXES: 2".into())));
        assert_eq!(whole.get("DP4"), Some(Value::Str("plain".into())));
        assert_eq!(
            lookup(&whole, "HISTORY"),
            Some(Value::Text("one\ntwo".into()))
        );
    }

    #[test]
    fn values_and_hints() {
        let d = tmpdir("values");
        let small = d.join("a.fits");
        let big = d.join("b.fits");
        write(&small, &product(3));
        write(&big, &product(200));
        let sp = specs(&[
            "EXP_TYPE",
            "LONGSTR",
            "HISTORY",
            "SCI:BUNIT",
            "SCI,2:BUNIT",
            "NOPE",
            "DQ:X",
        ]);
        let mut hint = Hint::default();
        // Big then small: the small file is read with a too-large hint; values must not change.
        for p in [&big, &small, &big] {
            let r = scan_file(p, &sp, &mut hint);
            assert_eq!(r.error, None);
            let want = [
                Some(Value::Str("NRC_IMAGE".into())),
                Some(Value::Str("abcdef".into())),
                Some(Value::Text("first\nsecond".into())),
                Some(Value::Str("DN/s".into())),
                Some(Value::Str("MJy/sr".into())),
                None,
                None,
            ];
            assert_eq!(r.values, want, "{}", p.display());
        }
        assert!(hint.first >= 2 * BLOCK);
    }

    #[test]
    fn truncations_never_panic() {
        let d = tmpdir("trunc");
        let full = product(60);
        // Primary: 70 cards + END (END ends at 5600, header 5760); SCI 1 header 5760..8640 with
        // data 8640..8652; SCI 2 header 11520..14400 with data 14400..14412. A cut in a
        // header's padding is an error (as astropy); a cut in data padding is not.
        assert_eq!(full.len(), 17280);
        let sp = specs(&["EXP_TYPE", "SCI,2:BUNIT"]);
        let mut hint = Hint::default();
        let p = d.join("t.fits");
        for cut in (0..=full.len())
            .step_by(37)
            .chain([full.len() - 1, full.len()])
        {
            write(&p, &full[..cut]);
            let r = scan_file(&p, &sp, &mut hint);
            // A cut that only loses padding looks like a complete (shorter) file, as in astropy.
            let looks_shorter = (8652..11520).contains(&cut);
            let complete = cut >= 14412;
            if complete {
                assert_eq!(r.error, None, "cut {cut}");
                assert_eq!(r.values[1], Some(Value::Str("MJy/sr".into())));
            } else if looks_shorter {
                assert_eq!(r.error, None, "cut {cut}");
                assert_eq!(r.values, vec![Some(Value::Str("NRC_IMAGE".into())), None]);
            } else {
                let e = r.error.expect("truncated file must report an error");
                assert!(e.contains("t.fits"), "{e}");
            }
        }
    }

    #[test]
    fn walk_reports_everything() {
        let d = tmpdir("walk");
        write(&d.join("b.fits"), &product(1));
        write(&d.join("a.fits"), b"not fits at all");
        write(&d.join("notes.txt"), b"x");
        std::fs::create_dir_all(d.join("sub/dir.fits")).unwrap();
        write(&d.join("sub/c.fits"), &product(1));
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("gone"), d.join("link.fits")).unwrap();
        let g = glob_set(&["*.fits".into()]).unwrap();
        let e = walk(std::slice::from_ref(&d), &g, true);
        let names: Vec<String> = e
            .iter()
            .map(|x| x.path().strip_prefix(&d).unwrap().display().to_string())
            .collect();
        let mut want = vec![
            "a.fits",
            "b.fits",
            "link.fits",
            "sub/c.fits",
            "sub/dir.fits",
        ];
        if cfg!(not(unix)) {
            want.retain(|n| *n != "link.fits");
        }
        assert_eq!(names, want);
        let flat = walk(std::slice::from_ref(&d), &g, false);
        assert_eq!(flat.len(), want.len() - 2);

        let progress = Progress::default();
        let res = scan(
            &[d.clone(), d.join("missing.fits")],
            &["EXP_TYPE".into()],
            &["*.fits".into()],
            true,
            Some(2),
            &progress,
        )
        .unwrap();
        assert_eq!(res.len(), want.len() + 1);
        assert_eq!(progress.done.load(Ordering::Relaxed), res.len());
        let ok: Vec<bool> = res.iter().map(|r| r.error.is_none()).collect();
        let mut want_ok = vec![false, true, false, true, false, false];
        if cfg!(not(unix)) {
            want_ok.remove(2);
        }
        assert_eq!(ok, want_ok, "{res:?}");
        for r in &res {
            if let Some(e) = &r.error {
                let name = r.path.file_name().unwrap().to_string_lossy().to_string();
                assert!(e.contains(&name), "{e}");
            }
        }
    }
}
