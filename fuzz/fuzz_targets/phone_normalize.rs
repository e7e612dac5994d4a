//! `normalize` never panics; for any accepted input, the `+` E.164 form it gives normalises
//! to the same number in every region (issue 15 item 3). Checked per input in the
//! built-in regions plus two regions picked by the input from all 252, so the fuzzer
//! explores every region over a run.
//!
//! The first `normalize` loads libphonenumber's metadata (hundreds of patterns), seconds on
//! a loaded machine under ASan; `init` does it before the first input, so that load never
//! counts against `-timeout`.
#![no_main]

mod bounded_alloc;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wagw_core::phone::{PhoneNumber, Region, normalize};

fn all_regions() -> &'static [Region] {
    static REGIONS: OnceLock<Vec<Region>> = OnceLock::new();
    REGIONS.get_or_init(|| {
        let mut out = Vec::new();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = [a, b];
                if let Ok(region) = Region::parse(std::str::from_utf8(&code).unwrap_or("")) {
                    out.push(region);
                }
            }
        }
        out
    })
}

const BUILT_IN: [Region; 10] = [
    Region::ID,
    Region::MY,
    Region::SG,
    Region::PH,
    Region::TH,
    Region::VN,
    Region::IN,
    Region::US,
    Region::GB,
    Region::AU,
];

#[global_allocator]
static ALLOC: bounded_alloc::Bounded = bounded_alloc::Bounded;

fuzz_target!(init: {
    let _ = normalize("+628123456789", Region::ID);
}, |data: &[u8]| {
    let [first, second, third, rest @ ..] = data else {
        return;
    };
    let regions = all_regions();
    let pick = |byte: u8| regions[byte as usize % regions.len()];
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(number) = normalize(input, pick(*first)) else {
        return;
    };
    check(&number, &BUILT_IN);
    check(&number, &[pick(*second), pick(*third)]);
    // The digits-only storage form reads back through from_wa_id.
    assert_eq!(
        PhoneNumber::from_wa_id(number.as_str()).ok().as_ref(),
        Some(&number)
    );
});

fn check(number: &PhoneNumber, regions: &[Region]) {
    let e164 = number.e164();
    for &region in regions {
        match normalize(&e164, region) {
            Ok(again) => assert_eq!(
                &again,
                number,
                "{e164} read in {} is another number",
                region.as_str()
            ),
            Err(e) => panic!("{e164} refused in {}: {e}", region.as_str()),
        }
    }
}
