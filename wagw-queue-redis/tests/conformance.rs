//! wagw-core's queue conformance suite on Redis (when `WAGW_TEST_REDIS_URL` is set; required
//! when `CI=true`), each test on a key prefix of its own.

mod common;

wagw_core::queue_conformance_tests!(optional async { common::fresh_queue().await });
