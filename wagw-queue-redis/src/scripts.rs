//! The Lua scripts, one per operation, each behind the shared prelude (queue layout, epoch
//! check, clock, helpers). `redis::Script` runs them by SHA and loads them again when Redis
//! answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
//!
//! Each script starts with a Redis 7 shebang. Without one, Redis runs a script in its
//! compatibility mode, which lets it touch keys of any slot on the node, even in cluster mode;
//! with one, Redis in cluster mode refuses a script that strays from the slot of its declared
//! key, so the cluster tests catch a key that left the queue's hash tag. A shebang also makes
//! the out-of-memory rule explicit: `allow-oom` on every script but enqueue, so a Redis at
//! `maxmemory` with `noeviction` refuses new jobs but still lets the fleet reserve, send and
//! settle the jobs it holds (which frees memory).

use std::sync::LazyLock;

use redis::Script;

/// A script: shebang, prelude, operation. The shebang is `allow-oom` unless given.
macro_rules! script {
    ($file:literal) => {
        script!($file, "#!lua flags=allow-oom")
    };
    ($file:literal, $shebang:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                $shebang,
                "\n",
                include_str!("scripts/prelude.lua"),
                "\n",
                include_str!(concat!("scripts/", $file))
            ))
        })
    };
}

pub(crate) static INIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "#!lua flags=allow-oom\n",
        include_str!("scripts/init.lua")
    ))
});
/// The one script that adds jobs: refused while Redis is out of memory.
pub(crate) static ENQUEUE: LazyLock<Script> = script!("enqueue.lua", "#!lua");
pub(crate) static RESERVE: LazyLock<Script> = script!("reserve.lua");
pub(crate) static ACK: LazyLock<Script> = script!("ack.lua");
pub(crate) static NACK: LazyLock<Script> = script!("nack.lua");
pub(crate) static RELEASE: LazyLock<Script> = script!("release.lua");
pub(crate) static EXTEND: LazyLock<Script> = script!("extend.lua");
pub(crate) static RECOVER: LazyLock<Script> = script!("recover.lua");
pub(crate) static STATS: LazyLock<Script> = script!("stats.lua");
pub(crate) static DEAD_PAGE: LazyLock<Script> = script!("dead_page.lua");
pub(crate) static RETRY_DEAD: LazyLock<Script> = script!("retry_dead.lua");
pub(crate) static SET_LIMIT: LazyLock<Script> = script!("set_limit.lua");
pub(crate) static THROTTLE: LazyLock<Script> = script!("throttle.lua");
pub(crate) static PAIR: LazyLock<Script> = script!("pair.lua");

/// Every script, to load at connect.
pub(crate) fn all() -> [&'static Script; 14] {
    [
        &INIT,
        &ENQUEUE,
        &RESERVE,
        &ACK,
        &NACK,
        &RELEASE,
        &EXTEND,
        &RECOVER,
        &STATS,
        &DEAD_PAGE,
        &RETRY_DEAD,
        &SET_LIMIT,
        &THROTTLE,
        &PAIR,
    ]
}
