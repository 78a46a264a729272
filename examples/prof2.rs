use jwstio::{fits, mmap, metadata};
fn main() {
    let p = std::path::Path::new("/work/shared/fixtures/real/test1_cal.fits");
    let m = mmap::Mapped::open(p).unwrap();
    let buf = m.bytes();
    let hdus = fits::hdu::index(buf).unwrap();
    let what = std::env::args().nth(1).unwrap_or_default();
    let y = metadata::fits_yaml(buf, &hdus).unwrap();
    for _ in 0..30000 {
        match what.as_str() {
            "tree" => { std::hint::black_box(y.tree().unwrap()); }
            "index" => { std::hint::black_box(fits::hdu::index(buf).unwrap()); }
            _ => { std::hint::black_box(metadata::fits_yaml(buf, &hdus).unwrap()); }
        }
    }
}
