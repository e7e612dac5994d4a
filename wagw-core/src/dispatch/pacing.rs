//! Rate limits, with governor's keyed limiters: per number, per (number, recipient) pair, and
//! per campaign delay.
//!
//! Numbers with different throughput share one keyed limiter per rate, so a change of rate
//! (Meta's upgrade to 1,000/s, or the adaptive slow-down after a 130429) moves the number to
//! another limiter. The adaptive part is AIMD: a throttle cuts the number's rate by a quarter
//! and pauses it for the suggested delay; every ten calm seconds give a tenth back.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::ids::{CampaignId, ChannelId};
use crate::phone::PhoneNumber;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Meta's pair limit as a token bucket: `burst` messages, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairLimit {
    /// Time to earn one message.
    pub every: Duration,
    /// Messages allowed in a burst.
    pub burst: u32,
}

impl Default for PairLimit {
    /// One message per 6 s with bursts of 45, as Meta documents.
    fn default() -> Self {
        Self {
            every: Duration::from_secs(6),
            burst: 45,
        }
    }
}

/// The dispatcher was asked to stop while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

const CALM_PERIOD: Duration = Duration::from_secs(10);

struct ChannelPace {
    configured: u32,
    pinned: bool,
    effective: u32,
    /// The keyed limiter of the effective rate, kept here so a decision takes one lookup.
    limiter: Arc<Keyed<ChannelId>>,
    paused_until: Option<Instant>,
    calm_since: Instant,
    /// Jobs take the number's send slots in the order they arrive (tokio's mutex is fair):
    /// a reply that arrives behind two waiting blast jobs waits for those two, never for the
    /// ones that enter the lane after it.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ChannelPace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelPace")
            .field("configured", &self.configured)
            .field("effective", &self.effective)
            .finish_non_exhaustive()
    }
}

/// The dispatcher's rate decisions: per number (adaptive), per (number, recipient) pair, and
/// per campaign delay. Exposed so the decision cost can be measured on its own.
pub struct Pacer {
    clock: DefaultClock,
    by_rate: Mutex<HashMap<u32, Arc<Keyed<ChannelId>>>>,
    by_delay: Mutex<HashMap<Duration, Arc<Keyed<CampaignId>>>>,
    pairs: Option<Keyed<(ChannelId, PhoneNumber)>>,
    channels: RwLock<HashMap<ChannelId, ChannelPace>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("channels", &self.channels.read().len())
            .finish_non_exhaustive()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Pacer {
    /// A pacer with the given pair limit (`None` turns it off).
    pub fn new(pair: Option<PairLimit>) -> Self {
        let clock = DefaultClock::default();
        let pairs = pair.and_then(|p| {
            Quota::with_period(p.every).map(|q| {
                RateLimiter::dashmap_with_clock(q.allow_burst(nonzero(p.burst)), clock.clone())
            })
        });
        Self {
            clock,
            by_rate: Mutex::new(HashMap::new()),
            by_delay: Mutex::new(HashMap::new()),
            pairs,
            channels: RwLock::new(HashMap::new()),
        }
    }

    /// Follows the channel record's throughput, unless a rate was pinned at run time.
    pub fn observe(&self, channel: ChannelId, rate: u32) {
        let mut channels = self.channels.write();
        match channels.get_mut(&channel) {
            Some(pace) if pace.pinned || pace.configured == rate => {}
            Some(pace) => {
                pace.configured = rate;
                self.set_effective(pace, rate);
            }
            None => {
                channels.insert(channel, self.new_pace(rate, false));
            }
        }
    }

    fn new_pace(&self, rate: u32, pinned: bool) -> ChannelPace {
        ChannelPace {
            configured: rate,
            pinned,
            effective: rate,
            limiter: self.channel_limiter(rate),
            paused_until: None,
            calm_since: Instant::now(),
            turn: Arc::default(),
        }
    }

    fn set_effective(&self, pace: &mut ChannelPace, rate: u32) {
        if pace.effective != rate {
            pace.effective = rate;
            pace.limiter = self.channel_limiter(rate);
        }
    }

    /// Sets a channel's rate at run time; it wins over the channel record.
    pub(crate) fn pin(&self, channel: ChannelId, rate: u32) {
        let mut channels = self.channels.write();
        let pace = channels
            .entry(channel)
            .or_insert_with(|| self.new_pace(rate, true));
        pace.pinned = true;
        pace.configured = rate;
        self.set_effective(pace, rate);
    }

    /// The rate a channel is configured for (its record, or a rate pinned at run time),
    /// before any slow-down after a throttle.
    pub(crate) fn configured_rate(&self, channel: ChannelId) -> Option<u32> {
        self.channels.read().get(&channel).map(|p| p.configured)
    }

    /// The rate a channel sends at now.
    pub(crate) fn effective_rate(&self, channel: ChannelId) -> Option<u32> {
        self.channels.read().get(&channel).map(|p| p.effective)
    }

    /// Channels paused after a throttle, as queue group names.
    pub(crate) fn paused_groups(&self) -> Vec<String> {
        let now = Instant::now();
        self.channels
            .read()
            .iter()
            .filter(|(_, p)| p.paused_until.is_some_and(|t| t > now))
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// The far side said the number sends too fast: slow down and pause.
    pub(crate) fn throttled(&self, channel: ChannelId, pause: Duration) {
        if let Some(pace) = self.channels.write().get_mut(&channel) {
            let slower = (pace.effective * 3 / 4).max(1);
            self.set_effective(pace, slower);
            pace.paused_until = Some(Instant::now() + pause);
            pace.calm_since = Instant::now();
        }
    }

    /// A send went through: after a calm period, win back some rate.
    pub(crate) fn succeeded(&self, channel: ChannelId) {
        if let Some(pace) = self.channels.write().get_mut(&channel)
            && pace.effective < pace.configured
            && pace.calm_since.elapsed() >= CALM_PERIOD
        {
            let faster = (pace.effective + (pace.configured / 10).max(1)).min(pace.configured);
            self.set_effective(pace, faster);
            pace.calm_since = Instant::now();
        }
    }

    fn channel_limiter(&self, rate: u32) -> Arc<Keyed<ChannelId>> {
        let mut by_rate = self.by_rate.lock();
        Arc::clone(by_rate.entry(rate).or_insert_with(|| {
            let quota = Quota::per_second(nonzero(rate)).allow_burst(nonzero(burst_for(rate)));
            Arc::new(RateLimiter::dashmap_with_clock(quota, self.clock.clone()))
        }))
    }

    /// Takes the channel's next send slot if it is free now; otherwise says how long to wait.
    pub fn check_channel(&self, channel: ChannelId) -> Result<(), Duration> {
        let channels = self.channels.read();
        let Some(pace) = channels.get(&channel) else {
            drop(channels);
            // Not observed yet: the most careful rate until the channel record is known.
            self.observe(channel, 1);
            return self.check_channel(channel);
        };
        if let Some(wait) = pace
            .paused_until
            .and_then(|t| t.checked_duration_since(Instant::now()))
        {
            return Err(wait);
        }
        pace.limiter
            .check_key(&channel)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Takes a message of the pair (number, recipient) if one is free now; otherwise says how
    /// long to wait.
    pub fn check_pair(&self, channel: ChannelId, to: &PhoneNumber) -> Result<(), Duration> {
        match &self.pairs {
            Some(pairs) => pairs
                .check_key(&(channel, to.clone()))
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => Ok(()),
        }
    }

    /// Forgets limiter state that no longer limits anything (pairs and campaigns idle long
    /// enough to be back at a full burst), so memory follows recent traffic, not history.
    pub(crate) fn prune(&self) {
        if let Some(pairs) = &self.pairs {
            pairs.retain_recent();
            pairs.shrink_to_fit();
        }
        for limiter in self.by_delay.lock().values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many (number, recipient) pairs hold limiter state.
    pub fn tracked_pairs(&self) -> usize {
        self.pairs.as_ref().map_or(0, |p| p.len())
    }

    /// Waits for the channel's next send slot.
    pub(crate) async fn acquire_channel(
        &self,
        channel: ChannelId,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let turn = loop {
            if let Some(pace) = self.channels.read().get(&channel) {
                break Arc::clone(&pace.turn);
            }
            // Not observed yet: the most careful rate until the channel record is known.
            self.observe(channel, 1);
        };
        if *stop.borrow() {
            return Err(Stopped);
        }
        let _turn = tokio::select! {
            guard = turn.lock() => guard,
            _ = stop.changed() => return Err(Stopped),
        };
        while let Err(wait) = self.check_channel(channel) {
            sleep_or_stop(wait, stop).await?;
        }
        Ok(())
    }

    /// Waits until the pair (number, recipient) may receive another message.
    pub(crate) async fn acquire_pair(
        &self,
        channel: ChannelId,
        to: &PhoneNumber,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        while let Err(wait) = self.check_pair(channel, to) {
            sleep_or_stop(wait, stop).await?;
        }
        Ok(())
    }

    /// Waits for a campaign's fixed delay between messages.
    pub(crate) async fn acquire_campaign(
        &self,
        campaign: CampaignId,
        delay: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let limiter = {
            let mut by_delay = self.by_delay.lock();
            match by_delay.get(&delay) {
                Some(l) => Arc::clone(l),
                None => {
                    let Some(quota) = Quota::with_period(delay) else {
                        return Ok(());
                    };
                    let l = Arc::new(RateLimiter::dashmap_with_clock(quota, self.clock.clone()));
                    by_delay.insert(delay, Arc::clone(&l));
                    l
                }
            }
        };
        while let Err(not_until) = limiter.check_key(&campaign) {
            sleep_or_stop(not_until.wait_time_from(self.clock.now()), stop).await?;
        }
        Ok(())
    }
}

/// The burst a number's rate allows: 1/20 s of traffic, and at least two sends from 2/s up.
/// The burst is what wins back a late wake-up: a send up to `burst - 1` periods late takes
/// the slot it was due for, not one a period after it. With a burst of one, every
/// millisecond of lateness (timers, a loaded machine) was lost for good: 9.53/s at 10/s. Two
/// sends still keep any one-second window within one send of the rate, which Meta's
/// one-second bucket allows. The same in process and fleet-wide.
pub(crate) fn burst_for(rate: u32) -> u32 {
    rate.div_ceil(20).max(2).min(rate.max(1))
}

pub(crate) async fn sleep_or_stop(
    wait: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Stopped> {
    if *stop.borrow() {
        return Err(Stopped);
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => Ok(()),
        _ = stop.changed() => Err(Stopped),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_cuts_the_rate_and_pauses() {
        let pacer = Pacer::new(None);
        let ch = ChannelId::new();
        pacer.observe(ch, 80);
        pacer.throttled(ch, Duration::from_secs(60));
        assert_eq!(pacer.effective_rate(ch), Some(60));
        assert_eq!(pacer.paused_groups(), vec![ch.to_string()]);
        pacer.succeeded(ch);
        assert_eq!(
            pacer.effective_rate(ch),
            Some(60),
            "no recovery before a calm period"
        );
    }

    #[test]
    fn a_pinned_rate_wins_over_the_record() {
        let pacer = Pacer::new(None);
        let ch = ChannelId::new();
        pacer.observe(ch, 80);
        pacer.pin(ch, 1_000);
        pacer.observe(ch, 80);
        assert_eq!(pacer.effective_rate(ch), Some(1_000));
    }

    #[tokio::test]
    async fn a_channel_gets_its_rate_and_no_more() {
        let pacer = Pacer::new(None);
        let ch = ChannelId::new();
        pacer.observe(ch, 40);
        let (_tx, mut stop) = watch::channel(false);
        let started = Instant::now();
        for _ in 0..22 {
            pacer.acquire_channel(ch, &mut stop).await.expect("acquire");
        }
        // 2 in the burst, then 20 at 25 ms each.
        assert!(
            started.elapsed() >= Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_late_send_at_a_low_rate_takes_the_slot_it_was_due_for() {
        let pacer = Pacer::new(None);
        let ch = ChannelId::new();
        pacer.observe(ch, 10);
        let started = Instant::now();
        pacer.check_channel(ch).expect("the first send is free");
        // The next slot is due at 100 ms; this caller wakes 30 ms late.
        std::thread::sleep(Duration::from_millis(130));
        pacer.check_channel(ch).expect("the slot due at 100 ms");
        assert_eq!(
            pacer.check_channel(ch),
            Ok(()),
            "the late wake-up is won back: the slot due at 200 ms is free already"
        );
        // The next send is free at 230 ms (100 ms after the two at 130 ms, a burst of two);
        // a thread descheduled past that would rightly be let through, so the refusal is
        // required only before it (with 10 ms to spare for the two clocks).
        let refused = pacer.check_channel(ch).is_err();
        let elapsed = started.elapsed();
        assert!(
            refused || elapsed >= Duration::from_millis(220),
            "and no more than that: a fourth send allowed {elapsed:?} after the first"
        );
    }

    #[test]
    fn bursts_follow_the_rate() {
        assert_eq!(burst_for(1), 1, "1/s never sends two at once");
        assert_eq!(burst_for(2), 2);
        assert_eq!(burst_for(10), 2);
        assert_eq!(burst_for(80), 4);
        assert_eq!(burst_for(1_000), 50);
    }

    #[test]
    fn pair_state_is_pruned_once_it_limits_nothing() {
        let pacer = Pacer::new(Some(PairLimit {
            every: Duration::from_millis(5),
            burst: 1,
        }));
        let ch = ChannelId::new();
        for n in 0..100u64 {
            let to = PhoneNumber::from_wa_id(&(628_120_000_000 + n).to_string()).expect("number");
            pacer.check_pair(ch, &to).expect("first message is free");
        }
        assert_eq!(pacer.tracked_pairs(), 100);
        std::thread::sleep(Duration::from_millis(20));
        pacer.prune();
        assert_eq!(pacer.tracked_pairs(), 0, "idle pairs are forgotten");
    }

    #[tokio::test]
    async fn stopping_interrupts_a_wait() {
        let pacer = Pacer::new(Some(PairLimit {
            every: Duration::from_secs(3_600),
            burst: 1,
        }));
        let (tx, mut stop) = watch::channel(false);
        let ch = ChannelId::new();
        let to = PhoneNumber::from_wa_id("628123456789").expect("number");
        pacer
            .acquire_pair(ch, &to, &mut stop)
            .await
            .expect("first is free");
        let waiting = tokio::spawn(async move { pacer.acquire_pair(ch, &to, &mut stop).await });
        tx.send(true).expect("send stop");
        assert_eq!(waiting.await.expect("join"), Err(Stopped));
    }
}
