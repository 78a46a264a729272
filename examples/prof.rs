use jwstio::{asdf, fits, mmap};
use std::time::Instant;
fn main() {
    let p = std::path::Path::new("/work/shared/fixtures/real/test1_cal.fits");
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        let m = mmap::Mapped::open(p).unwrap();
        std::hint::black_box(m.bytes().len());
    }
    println!(
        "mmap open {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let m = mmap::Mapped::open(p).unwrap();
    let buf = m.bytes();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(fits::hdu::index(buf).unwrap());
    }
    println!("index {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let hdus = fits::hdu::index(buf).unwrap();
    let a = &hdus[10];
    let start = a.data_start;
    let asdfb = &buf[start..start + 94887];
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(asdf::file::split(asdfb).unwrap());
    }
    println!("split {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let lay = asdf::file::split(asdfb).unwrap();
    let y = &asdfb[lay.yaml.clone().unwrap()];
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(asdf::parse_tree(y, true).unwrap());
    }
    println!(
        "parse lazy {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let tr = asdf::parse_tree(y, true).unwrap();
    let plan = tr.plan.as_ref().unwrap();
    println!(
        "plan text {} regions {}",
        plan.text.len(),
        plan.regions.len()
    );
    for r in &plan.regions {
        println!("  region line {} body {:?}", r.line, r.body.len());
    }
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(asdf::lazy::plan(
            y,
            asdf::lazy::MIN_BODY,
            asdf::lazy::Outer::default(),
        ));
    }
    println!(
        "plan only {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(asdf::parse_tree(y, false).unwrap());
    }
    println!(
        "parse eager {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / 200.0
    );
    let t = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(asdf::fast::events(y));
    }
    println!(
        "fast events full {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / 200.0
    );
    let t = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(asdf::yaml::slow_events(y).unwrap());
    }
    println!(
        "fast full some={} plan some={}",
        asdf::fast::events(y).is_some(),
        asdf::fast::events(&plan.text).is_some()
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(asdf::fast::events(&plan.text));
    }
    println!(
        "fast events plan text {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            asdf::yaml::compose_with(
                &plan.text,
                asdf::yaml::Options {
                    expect: Some(&plan.expect),
                    ..Default::default()
                },
            )
            .ok(),
        );
    }
    println!(
        "compose plan text {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "slow events full {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / 200.0
    );
}
#[allow(dead_code)]
fn _x() {}
