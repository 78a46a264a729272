use std::time::Instant;
use jwstio::{fits, mmap, metadata};
fn tm<T>(name: &str, n: usize, mut f: impl FnMut() -> T) {
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(f()); }
    println!("{name:20} {:.1} us", t.elapsed().as_secs_f64()*1e6/n as f64);
}
pub fn load_plan() -> metadata::KwPlan {
    let txt = std::fs::read_to_string("/tmp/plan_msm.txt").unwrap();
    let mut steps: Vec<(Option<Vec<String>>, Vec<metadata::PlanEntry>)> = Vec::new();
    for l in txt.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0] == "S" {
            steps.push((if f[1] == "-" { None } else { Some(f[1].split('\x1f').map(String::from).collect()) }, Vec::new()));
        } else {
            steps.last_mut().unwrap().1.push((f[1].split('\x1f').map(String::from).collect(), f[2].to_string(), if f[3] == "-" { None } else { Some(f[3].to_string()) }));
        }
    }
    metadata::KwPlan::new(steps)
}
fn main() {
    let p = std::path::Path::new("/work/shared/fixtures/real/test1_cal.fits");
    let m = mmap::Mapped::open(p).unwrap();
    let buf = m.bytes();
    let hdus = fits::hdu::index(buf).unwrap();
    let plan = load_plan();
    let n = 3000;
    tm("mmap", n, || mmap::Mapped::open(p).unwrap());
    tm("index", n, || fits::hdu::index(buf).unwrap());
    tm("fits_yaml", n, || metadata::fits_yaml(buf, &hdus).unwrap());
    let items = metadata::list_items(&hdus);
    tm("read_cards", n, || metadata::read_cards(&plan, &hdus, &items).unwrap());
    tm("read_fits (join)", n, || metadata::read_fits(buf, &hdus, &plan).unwrap());
    let (y, _) = metadata::read_fits(buf, &hdus, &plan).unwrap();
    tm("tree", n, || y.tree().unwrap());
    tm("null parse", n, || null_parse(y.text()).unwrap());
    tm("fits_tree", n, || metadata::fits_tree(&y, &plan, metadata::read_cards(&plan, &hdus, &items).unwrap()).unwrap());
    let t = metadata::fits_tree(&y, &plan, metadata::read_cards(&plan, &hdus, &items).unwrap()).unwrap();
    tm("flatten", n, || { let mut k = 0; metadata::flatten::<()>(&t, &mut |key, _| { k += key.len(); Ok(()) }).unwrap(); k });
}
struct Null;
impl<'a> jwstio::asdf::fast::Sink<'a> for Null {
    fn scalar(&mut self, _t: Option<jwstio::asdf::fast::TagRef<'a>>, v: std::borrow::Cow<'a, str>, _s: jwstio::asdf::yaml::ScalarStyle, _m: jwstio::asdf::yaml::Mark) -> Option<()> { std::hint::black_box(v); Some(()) }
    fn start(&mut self, _map: bool, _t: Option<jwstio::asdf::fast::TagRef<'a>>, _b: bool, _m: jwstio::asdf::yaml::Mark) -> Option<()> { Some(()) }
    fn end(&mut self, _map: bool, _m: jwstio::asdf::yaml::Mark) -> Option<()> { Some(()) }
}
pub fn null_parse(t: &[u8]) -> Option<()> { jwstio::asdf::fast::parse(t, &mut Null) }
