//! The rate decision when the limiters refuse, beside the allowed case.
//!
//! 10,000 numbers and 1,000,000 recipients in the limiters' state, one decision per message
//! taken the way the dispatcher takes it: the pair limit first, then, if the pair may send,
//! the number's limiter. Four cases, each with its own [`Pacer`]:
//!
//! - `allowed`: numbers at 1,000,000/s and pairs with burst to spare; every decision is
//!   allowed (this is `dispatch/decision` in `dispatch.rs`, which also calls both checks);
//! - `number refuses`: 100 of the numbers, at 80/s, take all the decisions (the other 9,900
//!   hold state too), so nearly every decision is a refusal of the number's limiter (the pair
//!   allows);
//! - `numbers mixed`: all 10,000 numbers at 80/s hammered in turn; together they allow
//!   800,000 decisions/s, so on one core about half of the decisions are refusals;
//! - `pair refuses`: every pair's burst of 45 used up beforehand (numbers at 1,000,000/s), so
//!   nearly every decision is a refusal of the pair limit.
//!
//! Pairs earn a message back every 6 s, so `pair refuses` uses the pairs up again (untimed)
//! before each run, and some still send during it. Each case prints ns per decision and the share of refusals, median of the runs; the cases
//! alternate within each run.
//!
//! `cargo bench -p wagw-benches --bench decision_refusals`; `WAGW_BENCH_RUNS` (3) and
//! `WAGW_BENCH_DECISIONS` (5,000,000 per case and run) change the sizes.

use std::hint::black_box;
use std::time::Instant;

use wagw_benches::{env_size, median, phone};
use wagw_core::dispatch::{Pacer, PairLimit};
use wagw_core::ids::ChannelId;
use wagw_core::phone::PhoneNumber;

const NUMBERS: usize = 10_000;
const RECIPIENTS: usize = 1_000_000;
/// Visits the recipients in a scattered order, as a blast across many numbers does.
const STRIDE: usize = 7_919;

struct Case {
    name: &'static str,
    pacer: Pacer,
    channels: Vec<ChannelId>,
    /// The first `hot` numbers take the decisions.
    hot: usize,
    /// Pairs are used up again before each run.
    exhausted: bool,
    ns: Vec<f64>,
    refused: Vec<f64>,
}

impl Case {
    /// A pacer with the default pair limit, `NUMBERS` numbers at `rate` of which the first
    /// `hot` send, and every pair checked `warm` times (at least once, so all 1,000,000 hold
    /// state).
    fn new(
        name: &'static str,
        rate: u32,
        hot: usize,
        warm: usize,
        recipients: &[PhoneNumber],
    ) -> Self {
        let pacer = Pacer::new(Some(PairLimit::default()));
        let channels: Vec<_> = (0..NUMBERS).map(|_| ChannelId::new()).collect();
        for ch in &channels {
            pacer.observe(*ch, rate);
        }
        for (i, to) in recipients.iter().enumerate() {
            for _ in 0..warm.max(1) {
                let _ = pacer.check_pair(channels[i % hot], to);
            }
        }
        assert_eq!(pacer.tracked_pairs(), RECIPIENTS, "every pair holds state");
        Self {
            name,
            pacer,
            channels,
            hot,
            exhausted: warm > PairLimit::default().burst as usize,
            ns: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Uses up every pair's burst again (a pair earns a message back every 6 s, and time has
    /// passed since the last run). Not timed.
    fn exhaust_pairs(&self, recipients: &[PhoneNumber]) {
        for (i, to) in recipients.iter().enumerate() {
            while self
                .pacer
                .check_pair(self.channels[i % self.hot], to)
                .is_ok()
            {}
        }
    }

    /// `decisions` decisions, as the dispatcher takes them; records ns each and the refusals.
    fn run(&mut self, decisions: usize, recipients: &[PhoneNumber]) {
        if self.exhausted {
            self.exhaust_pairs(recipients);
        }
        let mut refused = 0usize;
        let mut i = 0usize;
        let started = Instant::now();
        for _ in 0..decisions {
            i = (i + STRIDE) % RECIPIENTS;
            let channel = self.channels[i % self.hot];
            let decision = self
                .pacer
                .check_pair(channel, &recipients[i])
                .and_then(|()| self.pacer.check_channel(channel));
            refused += usize::from(black_box(decision).is_err());
        }
        let ns = started.elapsed().as_secs_f64() * 1e9 / decisions as f64;
        let share = refused as f64 / decisions as f64;
        println!(
            "  {:<16} {:>7.1} ns/decision   {:>6.2} % refused",
            self.name,
            ns,
            share * 100.0
        );
        self.ns.push(ns);
        self.refused.push(share);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs = env_size("WAGW_BENCH_RUNS", 3);
    let decisions = env_size("WAGW_BENCH_DECISIONS", 5_000_000) as usize;
    let recipients: Vec<_> = (0..RECIPIENTS as u64).map(phone).collect();
    let setup = Instant::now();
    let burst = PairLimit::default().burst as usize;
    let mut cases = [
        Case::new("allowed", 1_000_000, NUMBERS, 1, &recipients),
        Case::new("number refuses", 80, 100, 1, &recipients),
        Case::new("numbers mixed", 80, NUMBERS, 1, &recipients),
        Case::new("pair refuses", 1_000_000, NUMBERS, burst + 1, &recipients),
    ];
    println!(
        "{NUMBERS} numbers, {RECIPIENTS} recipients, {decisions} decisions per case and run (setup {:.1} s)",
        setup.elapsed().as_secs_f64()
    );
    for run in 0..runs {
        println!("run {}:", run + 1);
        for case in &mut cases {
            case.run(decisions, &recipients);
        }
    }
    println!("medians over {runs} runs:");
    for case in &cases {
        println!(
            "  {:<16} {:>7.1} ns/decision   {:>6.2} % refused",
            case.name,
            median(&case.ns),
            median(&case.refused) * 100.0
        );
    }
}
