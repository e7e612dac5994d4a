//! Numbers wagw writes out read back as the same numbers: the `+` E.164 form
//! ([`PhoneNumber::e164`], what reports and exports write) of any number `normalize` accepts
//! normalises to that number again whatever the importing tenant's default region is.
//!
//! The inputs come from libphonenumber's own metadata: every region, every number type, its
//! example number and random numbers drawn from the type's national-number pattern.
#![cfg(feature = "phonenumber")]

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use wagw_core::phone::{PhoneNumber, Region, normalize};

/// Every region of the metadata that wagw knows as a [`Region`] (the metadata also holds
/// non-geographic entities such as `001`, which are not regions).
fn regions() -> Vec<(Region, &'static Metadata)> {
    DATABASE
        .iter()
        .filter_map(|m| Some((Region::parse(m.id()).ok()?, m)))
        .collect()
}

/// The number types of a region that have a pattern, by name.
fn number_types(m: &Metadata) -> Vec<(&'static str, &Descriptor)> {
    let d = m.descriptors();
    [
        ("fixed_line", d.fixed_line()),
        ("mobile", d.mobile()),
        ("toll_free", d.toll_free()),
        ("premium_rate", d.premium_rate()),
        ("shared_cost", d.shared_cost()),
        ("personal_number", d.personal_number()),
        ("voip", d.voip()),
        ("pager", d.pager()),
        ("uan", d.uan()),
        ("voicemail", d.voicemail()),
    ]
    .into_iter()
    .filter_map(|(name, desc)| Some((name, desc?)))
    .collect()
}

/// `n` exported (`+` form) and imported in `region` is `n`.
fn reads_back(n: &PhoneNumber, region: Region) -> Result<(), String> {
    match normalize(&n.e164(), region) {
        Ok(back) if &back == n => Ok(()),
        Ok(back) => Err(format!("{} read in {region} became {back}", n.e164())),
        Err(e) => Err(format!("{} read in {region} was refused: {e}", n.e164())),
    }
}

#[test]
fn every_example_number_reads_back_across_the_regions() {
    let regions = regions();
    assert!(regions.len() > 200, "only {} regions", regions.len());
    let mut accepted = 0;
    let mut failures = Vec::new();
    for (home, meta) in &regions {
        for (kind, desc) in number_types(meta) {
            let Some(example) = desc.example() else {
                continue;
            };
            // As people type it at home (national), and in international form.
            let typed = [
                example.to_owned(),
                format!("+{}{example}", meta.country_code()),
            ];
            for input in typed {
                let Ok(n) = normalize(&input, *home) else {
                    continue;
                };
                accepted += 1;
                // Home, the first users' region, and a rotation that visits every region
                // dozens of times over the run (every region for every number would be half
                // a million parses).
                let rotation = (0..4).map(|k| regions[(accepted * 7 + k * 61) % regions.len()].0);
                for region in [*home, Region::ID].into_iter().chain(rotation) {
                    if let Err(e) = reads_back(&n, region) {
                        failures.push(format!("{home} {kind} {input:?}: {e}"));
                    }
                }
            }
        }
    }
    // The metadata has more than two thousand example numbers; most of them are accepted.
    assert!(accepted > 1_500, "only {accepted} example numbers accepted");
    assert!(
        failures.is_empty(),
        "{} of the exports read back differently, e.g. {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

/// A region, a number drawn from one of its number types' national-number patterns, and a
/// region to import in.
fn drawn_number_and_regions() -> impl Strategy<Value = (Region, String, Region)> {
    let regions = regions();
    // ASCII digits only: `\d` would otherwise draw any Unicode digit.
    let patterns: Vec<(Region, String)> = regions
        .iter()
        .flat_map(|(home, meta)| {
            number_types(meta)
                .into_iter()
                .map(|(_, desc)| (*home, format!("(?-u){}", desc.national_number().as_str())))
                .collect::<Vec<_>>()
        })
        .filter(|(_, pattern)| proptest::string::string_regex(pattern).is_ok())
        .collect();
    assert!(patterns.len() > 1_000, "only {} patterns", patterns.len());
    let importers: Vec<Region> = regions.iter().map(|(r, _)| *r).collect();
    (
        prop::sample::select(patterns),
        prop::sample::select(importers),
    )
        .prop_flat_map(|((home, pattern), other)| {
            proptest::string::string_regex(&pattern)
                .expect("filtered above")
                .prop_map(move |digits| (home, digits, other))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Random numbers drawn from every region's and type's national-number pattern: whatever
    /// is accepted at home reads back as itself in any region.
    #[test]
    fn numbers_drawn_from_the_metadata_read_back_in_any_region(
        (home, digits, other) in drawn_number_and_regions(),
    ) {
        if let Ok(n) = normalize(&digits, home) {
            reads_back(&n, other).map_err(TestCaseError::fail)?;
            reads_back(&n, home).map_err(TestCaseError::fail)?;
        }
    }
}
