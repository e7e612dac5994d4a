//! `phone::normalize` reading numbers in one region versus numbers of many regions in turn,
//! with wagw's regex cache and with the `phonenumber` crate's default of 100 regexes.
//!
//! The crate compiles its metadata's patterns on use into one process-wide LRU cache. Numbers
//! of one region reuse a few dozen regexes; numbers of many regions in turn (a CSV of
//! foreign numbers, tenants in several countries, the `phone_normalize` fuzz target) need
//! more than 100, and with the default size each call recompiles the regexes evicted since
//! that region's last use.
//!
//! `cargo bench -p wagw-core --bench phone_regions`
//!
//! Prints, per workload and cache size, the median over 15 samples of the time per
//! `normalize` call (each sample reads the workload's numbers once, after a warm-up pass), the
//! regexes compiled in the cache after it, and how much the resident memory grew since the
//! metadata was loaded (cumulative: the workloads run one after the other).

use std::hint::black_box;
use std::time::{Duration, Instant};

use phonenumber::metadata::DATABASE;
use wagw_core::phone::{Region, normalize};

const SAMPLES: usize = 15;

/// What a person types, and the region it is read in.
type Workload = Vec<(String, Region)>;

/// A workload's name and how to build it.
type Builder<'a> = (&'a str, Box<dyn Fn() -> Workload + 'a>);

/// 300 Indonesian mobiles typed nationally, read in `ID`.
fn one_region() -> Workload {
    (0..300)
        .map(|i| (format!("0812-3456-{i:04}"), Region::ID))
        .collect()
}

/// The example mobile number of each region in `ids`, typed nationally and read in its region
/// (the few examples `normalize` refuses, such as Kazakhstan's that reads as Russian, left out).
fn examples(ids: &[&str]) -> Workload {
    ids.iter()
        .filter_map(|id| {
            let meta = DATABASE.by_id(*id)?;
            let example = meta.descriptors().mobile()?.example()?;
            let region = Region::parse(id).ok()?;
            normalize(example, region).ok()?;
            Some((example.to_owned(), region))
        })
        .collect()
}

const BUILT_IN: [&str; 10] = ["ID", "MY", "SG", "PH", "TH", "VN", "IN", "US", "GB", "AU"];

fn all_ids() -> Vec<String> {
    let mut ids: Vec<String> = DATABASE
        .iter()
        .map(|m| m.id().to_owned())
        .filter(|id| Region::parse(id).is_ok())
        .collect();
    ids.sort();
    ids
}

/// Median time per call over [`SAMPLES`] passes over `work`, after one warm-up pass.
fn median_per_call(work: &Workload) -> Duration {
    let pass = || {
        for (input, region) in work {
            // Every input of these workloads is valid; a refusal would be a broken workload.
            let number = normalize(input, *region).expect("valid example number");
            black_box(number);
        }
    };
    pass();
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed() / u32::try_from(work.len()).unwrap_or(u32::MAX)
        })
        .collect();
    samples.sort();
    samples[SAMPLES / 2]
}

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn set_capacity(capacity: usize) {
    let cache = DATABASE.cache();
    let mut cache = cache.lock().expect("regex cache");
    cache.set_capacity(capacity);
}

fn main() {
    // The first call loads the metadata and sizes the cache.
    normalize("08123456789", Region::ID).expect("valid");
    let wagw_capacity = DATABASE.cache().lock().expect("regex cache").capacity();
    let rss_before = resident_bytes();

    let ids = all_ids();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // Built one by one: building an examples workload compiles its regions' regexes.
    let builders: [Builder<'_>; 3] = [
        ("one region (ID)", Box::new(one_region)),
        (
            "10 built-in regions in turn",
            Box::new(|| examples(&BUILT_IN)),
        ),
        ("all regions in turn", Box::new(|| examples(&id_refs))),
    ];

    println!("phone_regions: median time per normalize call ({SAMPLES} samples)");
    let mut workloads = Vec::new();
    for (name, build) in &builders {
        let work = build();
        let median = median_per_call(&work);
        // Compiled so far and the memory they hold (cumulative over the workloads).
        let compiled = DATABASE.cache().lock().expect("regex cache").len();
        let grown = resident_bytes().saturating_sub(rss_before);
        println!(
            "  cache {wagw_capacity:>5} | {name:<27} | {:>3} numbers | {:>9.1} µs/call | {compiled:>4} regexes compiled, +{:.1} MB resident",
            work.len(),
            median.as_secs_f64() * 1e6,
            grown as f64 / 1e6
        );
        workloads.push((name, work));
    }
    // The `phonenumber` crate's own size, which wagw used before.
    set_capacity(100);
    for (name, work) in &workloads {
        let median = median_per_call(work);
        println!(
            "  cache   100 | {name:<27} | {:>3} numbers | {:>9.1} µs/call",
            work.len(),
            median.as_secs_f64() * 1e6
        );
    }
}
